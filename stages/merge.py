"""Stage merge: fold the GRPO adapter of one epoch into the full-precision start model.

The merged model must reproduce base+adapter: its logits are checked on fixed prompts before anything is
written (merging into quantized weights silently changes outputs, unslothai/unsloth#2009).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.merging import find_adapter, merge_adapter
from dayplan.modeling import ModelError, resolve_start_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epoch", type=int, required=True, help="training epoch whose adapter is merged")
    parser.add_argument("--run", type=Path, required=True, help="the train stage's folder (epoch checkpoints)")
    parser.add_argument("--start", type=Path, required=True, help="warm-start output the adapter was trained on")
    parser.add_argument("--out", type=Path, required=True, help="merged model folder written")
    args = parser.parse_args(argv)
    try:
        adapter = find_adapter(args.run, args.epoch)
        base = resolve_start_model(args.start)
        print(f"merge: {adapter} into {base} -> {args.out}")
        check = merge_adapter(base, adapter, args.out)
    except ModelError as error:
        sys.exit(f"error: {error}")
    print(f"merge: check passed (max |logit diff| {check['max_abs_diff']:.2e} <= {check['tolerance']:.1e})")
    print(f"merge: wrote {args.out}")


if __name__ == "__main__":
    main()
