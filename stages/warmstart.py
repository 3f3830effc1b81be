"""Stage warmstart: SFT on the exact solver's answers for the pool, merged into the base model.

Writes the model folder (full merged model + tokenizer + warmstart_log.json) and a metrics file; with
warmstart.enabled false, only a SKIPPED.json marker pointing at the base, so that training starts from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.warmstart import WarmstartError, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="base model folder")
    parser.add_argument("--pool", type=Path, required=True, help="warm-start pool split (parquet)")
    parser.add_argument("--out", type=Path, required=True, help="model folder written")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON written")
    args = parser.parse_args(argv)
    params = load_params_or_exit()
    try:
        m = run(params, args.base, args.pool, args.out, args.metrics)
    except WarmstartError as error:
        sys.exit(f"error: {error}")
    if not m["enabled"]:
        print(f"warmstart: skipped (warmstart.enabled is false); {args.out}/SKIPPED.json points at {args.base}")
        return
    print(
        f"warmstart: {m['examples']} examples x {m['epochs']} epochs = {m['steps']} steps in {m['runtime_s']} s, "
        f"loss {m['first_loss']:.3f} -> {m['final_loss']:.3f}; held-out format {m['format_rate']}, "
        f"mean score {m['mean_score']} ({m['eval_rows']} rows) -> {args.out}"
    )


if __name__ == "__main__":
    main()
