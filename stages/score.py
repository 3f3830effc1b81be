"""Stage score: the judge over one model's completions -> per-row scores and DVC metrics.

Pipeline use (dvc.yaml):  python -m stages.score --name epoch3 --splits test test_novel test_large
Any completions file:     python -m stages.score --data DATA --completions COMPLETIONS --out OUT
DATA is .parquet or .jsonl with the dataset's columns; COMPLETIONS is .jsonl with `id` (row index in
DATA) and `completion`. OUT gets one JSON line per completion (id, score, broken_rule) and the
aggregates go beside it, in OUT with the suffix .metrics.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.data import row_instance
from dayplan.dataset import check_optima, read_rows
from dayplan.io import read_jsonl, write_json, write_jsonl
from dayplan.task import BROKEN_RULES, aggregate, judge


def score_rows(rows: list[dict], completions: list[dict], source: str) -> list[dict]:
    scored = []
    for number, item in enumerate(completions, 1):
        row_id = item.get("id")
        if not isinstance(row_id, int) or not 0 <= row_id < len(rows):
            raise ValueError(f"{source}: line {number}: id must be a row index 0..{len(rows) - 1}, got {row_id!r}")
        if "completion" not in item:
            raise ValueError(f"{source}: line {number}: missing field 'completion'")
        row = rows[row_id]
        verdict = judge(item["completion"], row_instance(row), row["optimal_score"])
        scored.append({"id": row_id, "score": verdict.score, "broken_rule": verdict.broken_rule})
    return scored


def metrics(scored: list[dict]) -> dict:
    """Aggregates for DVC: mean score, valid schedules, share optimal, and the share of each broken rule."""
    from dayplan.task import Verdict

    summary = aggregate([Verdict(s["score"], s["broken_rule"], 0) for s in scored])
    n = summary["n"]
    for rule in BROKEN_RULES:
        summary[f"share_{rule}"] = summary[f"broken_{rule}"] / n if n else 0.0
    return summary


def run(data: str, completions_path: str, out: Path, metrics_out: Path) -> dict:
    rows = read_rows(data)
    check_optima(rows, data)
    completions = read_jsonl(completions_path)
    scored = score_rows(rows, completions, completions_path)
    summary = metrics(scored)
    write_jsonl(out, scored)
    write_json(metrics_out, summary)
    return summary


def jobs(args, parser) -> list[tuple[str, str, Path, Path]]:
    """(data, completions, scores out, metrics out) for each file to score."""
    if args.name:  # pipeline layout: <kind>/<split>/<name>
        return [
            (f"data/{split}.parquet", f"reports/completions/{split}/{args.name}.jsonl",
             Path(f"reports/scores/{split}/{args.name}.jsonl"), Path(f"reports/metrics/{split}/{args.name}.json"))
            for split in args.splits
        ]  # fmt: skip
    if args.data and args.completions and args.out:
        return [(args.data, args.completions, Path(args.out), Path(args.out).with_suffix(".metrics.json"))]
    parser.error("give --name, or all of --data, --completions and --out")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", help="pipeline mode: score reports/completions/<split>/NAME.jsonl")
    parser.add_argument("--splits", nargs="+", default=["test"], help="pipeline mode: the evaluated splits")
    parser.add_argument("--data", help="dataset rows (.parquet or .jsonl)")
    parser.add_argument("--completions", help="completions .jsonl with id and completion")
    parser.add_argument("--out", help="per-completion scores .jsonl")
    args = parser.parse_args()
    for data, completions, out, metrics_out in jobs(args, parser):
        try:
            summary = run(data, completions, out, metrics_out)
        except (ValueError, FileNotFoundError) as error:
            sys.exit(f"error: {error}")
        print(
            f"{completions}: mean score {summary['mean_score']:.2f} over {summary['n']} completions, "
            f"{summary['valid_schedules']} valid -> {out}, {metrics_out}"
        )


if __name__ == "__main__":
    main()
