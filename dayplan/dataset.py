"""The dataset on disk: Parquet splits under data/ with the published dataset's columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dayplan.data import COLUMNS, row_instance
from dayplan.io import atomic_path, read_jsonl
from dayplan.task import solve

SCHEMA = pa.schema(
    [
        ("events", pa.list_(pa.list_(pa.string()))),
        ("priority_events", pa.list_(pa.string())),
        ("optimal_score", pa.int64()),
        ("prompt", pa.string()),
    ]
)


def write_split(path: str | Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in rows], schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a .parquet or .jsonl file with the dataset's columns; ValueError naming what is missing."""
    path = Path(path)
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    elif path.suffix in (".jsonl", ".json"):
        rows = read_jsonl(path)
    else:
        raise ValueError(f"{path}: expected a .parquet or .jsonl file")
    for index, row in enumerate(rows):
        missing = [c for c in ("events", "priority_events", "optimal_score") if c not in row]
        if missing:
            raise ValueError(f"{path}: row {index}: missing column(s) {', '.join(missing)}")
    return rows


def check_optima(rows: list[dict], source: str) -> None:
    """Stop on the first row whose optimal_score disagrees with the recomputed optimum."""
    for index, row in enumerate(rows):
        expected = solve(row_instance(row))[0]
        if row["optimal_score"] != expected:
            raise ValueError(
                f"{source}: row {index}: optimal_score is {row['optimal_score']}, the optimum is {expected}"
            )
