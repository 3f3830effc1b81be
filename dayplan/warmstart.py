"""The warmstart stage's work: SFT on the pool into a merged model, or a marker that points at the base.

With warmstart.enabled false the output folder holds only SKIPPED.json ({"base": ...}), so that the train
stage starts from the base model (dayplan/modeling.py resolve_start_model).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dayplan.config import Params
from dayplan.dataset import read_rows
from dayplan.io import atomic_path, write_json
from dayplan.launch import keep_first_gpu


class WarmstartError(ValueError):
    """A reason not to warm-start, in one line naming the file."""


def write_skipped(base_dir: Path, out_dir: Path, metrics_file: Path) -> dict:
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        marker = {"base": str(base_dir), "reason": "warmstart.enabled is false"}
        (tmp / "SKIPPED.json").write_text(json.dumps(marker, indent=2) + "\n")
    metrics = {"enabled": False}
    write_json(metrics_file, metrics)
    return metrics


def read_pool(pool: Path) -> list[dict]:
    try:
        rows = read_rows(pool)
    except FileNotFoundError as error:
        raise WarmstartError(f"{pool}: {error} (run `dvc repro generate` first)") from None
    except (OSError, ValueError) as error:
        raise WarmstartError(f"{pool}: {error}") from None
    if len(rows) < 2:
        raise WarmstartError(f"{pool}: {len(rows)} rows; warmstart needs data.n_pool >= 2")
    return rows


def run(params: Params, base_dir: Path, pool: Path, out_dir: Path, metrics_file: Path) -> dict:
    """Warm-start (or skip, per warmstart.enabled) into out_dir; returns the metrics written to metrics_file."""
    if not params.warmstart.enabled:
        return write_skipped(base_dir, out_dir, metrics_file)
    if not (base_dir / "config.json").exists():
        raise WarmstartError(f"{base_dir}: no model found (run `dvc repro base` first)")
    rows = read_pool(pool)
    if hidden := keep_first_gpu(os.environ):
        print(f"warmstart: one process on the first visible GPU; GPUs {hidden} stay idle", flush=True)

    from dayplan.sft import warmstart  # torch/transformers: only when there is work to do

    with atomic_path(out_dir) as tmp:
        try:
            result = warmstart(base_dir, rows, params, tmp)
        except ValueError as error:
            raise WarmstartError(f"{pool}: {error}") from None
        (tmp / "warmstart_log.json").write_text(json.dumps(result.log_history, indent=2) + "\n")
    write_json(metrics_file, result.metrics)
    return result.metrics
