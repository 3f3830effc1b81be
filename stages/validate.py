"""Stage validate: Great Expectations checks of every split the pipeline reads (train, test, pool).

Writes Data Docs and a summary metric; exits non-zero with one line per failing expectation, so that
training never starts on bad data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.io import atomic_path, write_json
from dayplan.validation import SPLITS, expected_rows, read_splits, validate_rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for split in SPLITS:
        parser.add_argument(f"--{split}", type=Path, required=True, help=f"{split} split (parquet)")
    parser.add_argument("--docs", type=Path, required=True, help="Data Docs folder written")
    parser.add_argument("--summary", type=Path, required=True, help="summary JSON written")
    args = parser.parse_args(argv)
    p = load_params_or_exit().data
    try:
        splits = read_splits({split: getattr(args, split) for split in SPLITS})
    except ValueError as error:
        sys.exit(f"error: {error}")
    with atomic_path(args.docs) as docs_dir:
        summary, failures = validate_rows(splits, expected_rows(p), p.min_events, p.max_events, docs_dir)
    write_json(args.summary, summary)
    for split, info in summary["splits"].items():
        met = info["evaluated"] - info["failed"]
        print(f"{split}: {info['rows']} rows, {met}/{info['evaluated']} expectations met")
    print(f"Data Docs: {args.docs / 'index.html'}")
    if failures:
        sys.exit("error: data validation failed:\n" + "\n".join(f.line() for f in failures))


if __name__ == "__main__":
    main()
