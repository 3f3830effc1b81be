"""Stage validate: Great Expectations checks of every split the pipeline reads (data/{train,test,pool}.parquet).

Writes Data Docs (reports/validation/data_docs/) and a summary metric (reports/validation/summary.json);
exits non-zero with one line per failing expectation, so that training never starts on bad data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_typed_rows
from dayplan.io import atomic_path, write_json
from dayplan.validation import SPLITS, validate_rows

DATA_DIR = Path("data")
OUT_DIR = Path("reports/validation")


def expected_rows(p) -> dict[str, int | None]:
    """Generated splits must have the sizes asked for; a published dataset's train/test sizes are its own."""
    if p.source == "generate":
        return {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}
    return {"train": None, "test": None, "pool": p.n_pool}  # the pool is generated either way


def main() -> None:
    p = load_params_or_exit().data
    splits = {}
    for split in SPLITS:
        path = DATA_DIR / f"{split}.parquet"
        try:
            splits[split] = read_typed_rows(path)
        except (OSError, ValueError) as error:
            sys.exit(f"error: {path}: {error}")
    with atomic_path(OUT_DIR / "data_docs") as docs_dir:
        summary, failures = validate_rows(splits, expected_rows(p), p.min_events, p.max_events, docs_dir)
    write_json(OUT_DIR / "summary.json", summary)
    for split, info in summary["splits"].items():
        met = info["evaluated"] - info["failed"]
        print(f"{split}: {info['rows']} rows, {met}/{info['evaluated']} expectations met")
    print(f"Data Docs: {OUT_DIR / 'data_docs' / 'index.html'}")
    if failures:
        sys.exit("error: data validation failed:\n" + "\n".join(f.line() for f in failures))


if __name__ == "__main__":
    main()
