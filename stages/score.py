"""Stage score: the judge over completions files -> per-row scores and DVC metrics, one file at a time.

Any completions file:  python -m stages.score --data DATA --completions COMPLETIONS --out OUT
The pipeline (dvc.yaml) scores a model's test splits in one run: each option takes one path a split.
DATA is .parquet or .jsonl with the dataset's columns; COMPLETIONS is .jsonl with `id` (row index in
DATA) and `completion`, at most one a row. OUT gets one JSON line per row (id, score, broken_rule; a row
without a completion scores 0 as `missing`) and METRICS the aggregates (default: OUT with the suffix
.metrics.json). --evaluate-rows scores the first evaluate.rows rows of DATA, those the infer stage answers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_rows
from dayplan.io import write_json, write_jsonl
from dayplan.score_files import InputError, outcome, read_input, score_file


def evaluated_rows(from_params: bool) -> int | None:
    """evaluate.rows, read after DATA so that a run from the wrong folder names that file, not params.yaml."""
    return load_params_or_exit().evaluate.rows if from_params else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, help="dataset rows (.parquet or .jsonl)")
    parser.add_argument("--completions", nargs="+", required=True, help="completions .jsonl with id and completion")
    parser.add_argument("--out", nargs="+", required=True, help="per-row scores .jsonl")
    parser.add_argument("--metrics", nargs="+", help="aggregates .json (default: OUT with .metrics.json)")
    parser.add_argument("--evaluate-rows", action="store_true", help="only the first evaluate.rows rows of DATA")
    args = parser.parse_args()
    metrics = args.metrics or [Path(out).with_suffix(".metrics.json") for out in args.out]
    if not len(args.data) == len(args.completions) == len(args.out) == len(metrics):
        parser.error("--data, --completions, --out and --metrics take as many paths each, one a file to score")
    for data, completions, out, metrics_out in zip(args.data, args.completions, args.out, metrics):
        try:
            rows = read_input(read_rows, data)[: evaluated_rows(args.evaluate_rows)]
            scored, summary = score_file(rows, completions)
        except InputError as error:
            sys.exit(f"error: {error}")
        write_jsonl(out, scored)
        write_json(metrics_out, summary)
        print(outcome(summary, completions, out, metrics_out))


if __name__ == "__main__":
    main()
