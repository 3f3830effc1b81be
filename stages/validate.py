"""Stage validate: Great Expectations checks of data/train.parquet and data/test.parquet.

Writes Data Docs (reports/validation/data_docs/) and a summary metric (reports/validation/summary.json);
exits non-zero with one line per failing expectation, so that training never starts on bad data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_rows
from dayplan.io import atomic_path, write_json
from dayplan.validation import SPLITS, validate_rows

DATA_DIR = Path("data")
OUT_DIR = Path("reports/validation")


def main() -> None:
    params = load_params_or_exit()
    p = params.data
    splits = {}
    for split in SPLITS:
        path = DATA_DIR / f"{split}.parquet"
        try:
            splits[split] = read_rows(path)
        except (OSError, ValueError) as error:
            sys.exit(f"error: {path}: {error}")
    # The published dataset's sizes are its own; generated splits must have the sizes asked for.
    expected = {"train": p.n_train, "test": p.n_test} if p.source == "generate" else dict.fromkeys(SPLITS)
    with atomic_path(OUT_DIR / "data_docs") as docs_dir:
        summary, failures = validate_rows(splits, expected, p.min_events, p.max_events, docs_dir)
    write_json(OUT_DIR / "summary.json", summary)
    for split, info in summary["splits"].items():
        met = info["evaluated"] - info["failed"]
        print(f"{split}: {info['rows']} rows, {met}/{info['evaluated']} expectations met")
    print(f"Data Docs: {OUT_DIR / 'data_docs' / 'index.html'}")
    if failures:
        sys.exit("error: data validation failed:\n" + "\n".join(f.line() for f in failures))


if __name__ == "__main__":
    main()
