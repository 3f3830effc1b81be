"""Stage warmstart: LoRA SFT on the exact solver's answers for data/pool.parquet, merged into the base.

Writes models/warmstart (full merged model + tokenizer + warmstart_log.json) and
reports/warmstart/metrics.json; with warmstart.enabled false, only a SKIPPED.json marker pointing at
the base, so that the train stage starts from models/base.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_rows
from dayplan.io import atomic_path, write_json

BASE_DIR = Path("models/base")
POOL = Path("data/pool.parquet")
OUT_DIR = Path("models/warmstart")
METRICS = Path("reports/warmstart/metrics.json")


def write_skipped() -> None:
    with atomic_path(OUT_DIR) as tmp:
        tmp.mkdir()
        marker = {"base": str(BASE_DIR), "reason": "warmstart.enabled is false"}
        (tmp / "SKIPPED.json").write_text(json.dumps(marker, indent=2) + "\n")
    write_json(METRICS, {"enabled": False})
    print(f"warmstart: skipped (warmstart.enabled is false); {OUT_DIR}/SKIPPED.json points at {BASE_DIR}")


def main() -> None:
    params = load_params_or_exit()
    if not params.warmstart.enabled:
        write_skipped()
        return
    if not (BASE_DIR / "config.json").exists():
        sys.exit(f"error: {BASE_DIR}: no model found (run `python -m stages.base` first)")
    try:
        rows = read_rows(POOL)
    except FileNotFoundError as error:
        sys.exit(f"error: {POOL}: {error} (run `python -m stages.generate` first)")
    except (OSError, ValueError) as error:
        sys.exit(f"error: {POOL}: {error}")
    if len(rows) < 2:
        sys.exit(f"error: {POOL}: {len(rows)} rows; warmstart needs data.n_pool >= 2")

    from dayplan.sft import warmstart  # torch/transformers: only when there is work to do

    with atomic_path(OUT_DIR) as tmp:
        try:
            result = warmstart(BASE_DIR, rows, params, tmp)
        except ValueError as error:
            sys.exit(f"error: {POOL}: {error}")
        (tmp / "warmstart_log.json").write_text(json.dumps(result.log_history, indent=2) + "\n")
    write_json(METRICS, result.metrics)
    m = result.metrics
    print(
        f"warmstart: {m['examples']} examples x {m['epochs']} epochs = {m['steps']} steps in {m['runtime_s']} s, "
        f"loss {m['first_loss']:.3f} -> {m['final_loss']:.3f}; held-out format {m['format_rate']}, "
        f"mean score {m['mean_score']} ({m['eval_rows']} rows) -> {OUT_DIR}"
    )


if __name__ == "__main__":
    main()
