"""Stage infer: the completions of every evaluated model for every split, from as few engine starts as possible.

The models of evaluate.models (one architecture: base, warm-start, merged epochs) share one engine, their
weights swapped in turn; each model of evaluate.baselines (the Hub) gets an engine of its own (dayplan/engine.py).
Completions go per split to reports/completions/<split>/<name>.jsonl, `id` the row index in that split and
`test_set` the fingerprint of the rows answered, so that the judge can refuse them for other rows.

    python -m stages.infer --data data --splits test test_novel test_large --out reports/completions  # every model
    python -m stages.infer --data data --out reports/completions --name NAME --model FOLDER_OR_HUB_ID  # one

A model run by hand adds its files to the stage's output folder, which `dvc status` then reports changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.constrain import GrammarError
from dayplan.dataset import read_rows
from dayplan.engine import evaluate_models
from dayplan.inference import ModelLoadError, check_tensor_parallel, check_vllm_engine_args, pick_backend


def read_split(path: Path, limit: int | None) -> list[dict]:
    try:
        return read_rows(path)[:limit]
    except (OSError, ValueError) as error:
        sys.exit(f"error: {path}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", help="one model only: its name in the report (default: every evaluated model)")
    parser.add_argument("--model", help="one model only: its folder or Hub id")
    parser.add_argument("--data", type=Path, required=True, help="folder of the <split>.parquet files")
    parser.add_argument("--splits", nargs="+", default=["test"], help="splits to complete (<data>/<split>.parquet)")
    parser.add_argument("--out", type=Path, required=True, help="completions folder written (<split>/<name>.jsonl)")
    args = parser.parse_args()
    if (args.name is None) != (args.model is None):
        parser.error("give both --name and --model, or neither (every model of evaluate.models and baselines)")
    params = load_params_or_exit()
    models = {args.name: args.model} if args.name else {**params.evaluate.models, **params.evaluate.baselines}
    rows = {split: read_split(args.data / f"{split}.parquet", params.evaluate.rows) for split in args.splits}
    backend = pick_backend(params.evaluate.backend)
    try:
        if backend == "vllm":
            check_tensor_parallel(models, params.evaluate.tensor_parallel_size)
            check_vllm_engine_args(params.evaluate.vllm_engine)
        # partial files sit beside the output folder, which DVC empties before it reruns the stage
        evaluate_models(models, rows, params.evaluate, backend, args.out, args.out.parent / ".partial")
    except (ModelLoadError, GrammarError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
