"""The dataset on disk: Parquet splits under data/ with the published dataset's columns.

Every reader gets rows that the task's rules can use: `read_rows` refuses, with one line naming the row
and column, a row of the wrong shape or one that contradicts itself (bad times, unknown priorities, a
wrong optimum, a prompt that lists other events than the row's). The model learns from the prompt and is
rewarded against the events, so the two must agree.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dayplan.data import COLUMNS, row_instance
from dayplan.io import atomic_path, read_jsonl
from dayplan.task import parse_instance_text, parse_time, solve

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


def _is_strings(value: object, length: int | None = None) -> bool:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        return False
    return all(isinstance(item, str) for item in value)


def schema_problem(row: object) -> str | None:
    """What makes a row unusable by any rule (a missing column, a wrong type), or None."""
    if not isinstance(row, dict):
        return f"expected an object with {', '.join(COLUMNS)}"
    missing = [column for column in COLUMNS if column not in row]
    if missing:
        return f"missing column(s) {', '.join(missing)}"
    events = row["events"]
    if not isinstance(events, list) or not all(_is_strings(event, 3) for event in events):
        return f"events: expected a list of [name, start, end] strings, got {_short(events)}"
    if not _is_strings(row["priority_events"]):
        return f"priority_events: expected a list of event names, got {_short(row['priority_events'])}"
    score = row["optimal_score"]
    if not isinstance(score, int) or isinstance(score, bool):
        return f"optimal_score: expected an integer, got {_short(score)}"
    if not isinstance(row["prompt"], str):
        return f"prompt: expected a string, got {_short(row['prompt'])}"
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _event_problem(events: list[list[str]]) -> str | None:
    for index, (name, start, end) in enumerate(events):
        try:
            if parse_time(start) >= parse_time(end):
                return f"events[{index}] ({name!r}): starts at or after its end ({start} - {end})"
        except ValueError as error:
            return f"events[{index}] ({name!r}): {error}"
    names = [name for name, _, _ in events]
    if len(set(names)) != len(names):
        return "events: an event name appears twice"
    return None


def content_problem(row: dict) -> str | None:
    """What a well-typed row gets wrong about the task (see the module docstring), or None."""
    if not row["events"]:
        return "events: expected at least one event"
    problem = _event_problem(row["events"])
    if problem:
        return problem
    unknown = sorted(set(row["priority_events"]) - {name for name, _, _ in row["events"]})
    if unknown:
        return f"priority_events: {unknown[0]!r} is not one of the row's events"
    instance = row_instance(row)
    optimum = solve(instance)[0]
    if row["optimal_score"] != optimum:
        return f"optimal_score is {row['optimal_score']}, the optimum is {optimum}"
    try:
        listed = parse_instance_text(row["prompt"])
    except ValueError:
        listed = None
    if listed is None or not listed.same_as(instance):
        return "prompt: expected the row's events and priorities (as Instance.text writes them)"
    return None


def row_problem(row: object) -> str | None:
    return schema_problem(row) or content_problem(row)


def first_row_problem(rows: list) -> str | None:
    """'row N: what is wrong' for the first unusable row, or None."""
    for index, row in enumerate(rows):
        problem = row_problem(row)
        if problem:
            return f"row {index}: {problem}"
    return None


def _load(path: Path) -> list:
    if not path.exists():
        raise FileNotFoundError(f"file not found in {Path.cwd()} (run from the repository root)")
    if path.suffix == ".parquet":
        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"not a readable Parquet file ({str(error).splitlines()[0]})") from None
    if path.suffix in (".jsonl", ".json"):
        return read_jsonl(path)
    raise ValueError("expected a .parquet or .jsonl file")


def read_typed_rows(path: str | Path) -> list[dict]:
    """Rows with the dataset's columns and types, their content unchecked (the validate stage reports it)."""
    path = Path(path)
    rows = _load(path)
    for index, row in enumerate(rows):
        problem = schema_problem(row)
        if problem:
            raise ValueError(f"row {index}: {problem}")
    return rows


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a .parquet or .jsonl file that every rule can use; ValueError naming the first bad row.

    Messages leave out the path: the stages print `error: PATH: message`.
    """
    rows = read_typed_rows(path)
    problem = first_row_problem(rows)
    if problem:
        raise ValueError(problem)
    return rows


def rows_fingerprint(rows: list[dict]) -> str:
    """sha256 of the rows' content (not of the file's bytes, which change with the Parquet writer)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps({c: row[c] for c in COLUMNS}, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


class HubDataError(ValueError):
    """The published dataset cannot be used: one line naming it and why."""


def load_hub_splits(name: str) -> dict[str, list[dict]]:
    """train and test of a Hub dataset, every row checked as read_rows does."""
    import datasets  # only for the Hub source

    try:
        loaded = datasets.load_dataset(name)
    except OSError as error:  # offline, unknown name, no access: ConnectionError, FileNotFoundError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HubDataError(
            f"data.hub_dataset: cannot load {name!r} ({reason}); go online or set data.source: generate"
        ) from None
    splits = {}
    for split in ("train", "test"):
        if split not in loaded:
            raise HubDataError(f"data.hub_dataset: {name!r} has no {split} split (it has {sorted(loaded)})")
        splits[split] = [dict(row) for row in loaded[split]]
        problem = first_row_problem(splits[split])
        if problem:
            raise HubDataError(f"data.hub_dataset: {name} [{split}]: {problem}")
    return splits
