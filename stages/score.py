"""Stage score: the judge over one model's completions -> per-row scores and DVC metrics, per split.

Pipeline use (dvc.yaml):  python -m stages.score --name epoch3 --splits test test_novel test_large
Any completions file:     python -m stages.score --data DATA --completions COMPLETIONS --out OUT
DATA is .parquet or .jsonl with the dataset's columns; COMPLETIONS is .jsonl with `id` (row index in
DATA) and `completion`, at most one a row. OUT gets one JSON line per row (id, score, broken_rule; a row
without a completion scores 0 as `missing`) and the aggregates go beside it, in OUT with the suffix
.metrics.json. The pipeline scores the first evaluate.rows rows of each split, as the infer stage answers them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.dataset import read_rows
from dayplan.io import read_jsonl, write_json, write_jsonl
from dayplan.scoring import CompletionsError, evaluate


def jobs(args, parser) -> list[tuple[str, str, Path, Path]]:
    """(data, completions, per-row scores out, metrics out) for each file to score."""
    if args.name:  # the pipeline's layout: <kind>/<split>/<name>
        return [
            (f"data/{split}.parquet", f"reports/completions/{split}/{args.name}.jsonl",
             Path(f"reports/scores/{split}/{args.name}.jsonl"), Path(f"reports/metrics/{split}/{args.name}.json"))
            for split in args.splits
        ]  # fmt: skip
    if args.data and args.completions and args.out:
        return [(args.data, args.completions, Path(args.out), Path(args.out).with_suffix(".metrics.json"))]
    parser.error("give --name, or all of --data, --completions and --out")


def evaluated_rows(args) -> int | None:
    """How many rows of a split the pipeline evaluates (evaluate.rows); all of DATA for any other file."""
    if not args.name:
        return None
    from dayplan.config import load_params_or_exit

    return load_params_or_exit().evaluate.rows


def read_or_exit(read, path: str) -> list[dict]:
    try:
        return read(path)
    except (OSError, ValueError) as error:
        sys.exit(f"error: {path}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", help="pipeline mode: score reports/completions/<split>/NAME.jsonl")
    parser.add_argument("--splits", nargs="+", default=["test"], help="pipeline mode: the evaluated splits")
    parser.add_argument("--data", help="dataset rows (.parquet or .jsonl)")
    parser.add_argument("--completions", help="completions .jsonl with id and completion")
    parser.add_argument("--out", help="per-row scores .jsonl")
    args = parser.parse_args()
    for data, completions, out, metrics_out in jobs(args, parser):
        rows = read_or_exit(read_rows, data)[: evaluated_rows(args)]
        try:
            scored, summary = evaluate(rows, read_or_exit(read_jsonl, completions))
        except CompletionsError as error:
            sys.exit(f"error: {completions}: {error}")
        write_jsonl(out, scored)
        write_json(metrics_out, summary)
        if "skipped" in summary:
            print(f"{completions}: not evaluated ({summary['skipped']}) -> {metrics_out}")
            continue
        if summary["broken_missing"]:
            print(f"warning: {summary['broken_missing']} of {summary['n']} rows have no completion (scored 0)")
        print(f"{completions}: mean score {summary['mean_score']:.2f} over {summary['n']} rows "
              f"({summary['completions']} completions, coverage {summary['coverage']:.0%}), "
              f"{summary['valid_schedules']} valid -> {out}, {metrics_out}")  # fmt: skip


if __name__ == "__main__":
    main()
