"""Reading the splits: every reader refuses a row of the wrong shape or one that contradicts itself."""

from __future__ import annotations

import copy
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dayplan.data import instance_row
from dayplan.dataset import read_rows, read_typed_rows, rows_fingerprint, write_split
from dayplan.task import Instance, parse_instance_text


@pytest.fixture
def row(small_instance) -> dict:
    return instance_row(small_instance)


def write_jsonl_rows(path, rows: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def refused(tmp_path, rows: list) -> str:
    path = tmp_path / "rows.jsonl"
    write_jsonl_rows(path, rows)
    with pytest.raises(ValueError) as error:
        read_rows(path)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_a_valid_row_is_read_back_from_parquet_and_jsonl(tmp_path, row):
    write_split(tmp_path / "rows.parquet", [row])
    write_jsonl_rows(tmp_path / "rows.jsonl", [row])
    assert read_rows(tmp_path / "rows.parquet") == [row] == read_rows(tmp_path / "rows.jsonl")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("prompt", None, "row 1: prompt: expected a string, got None"),
        ("events", None, "row 1: events: expected a list of [name, start, end] strings, got None"),
        ("events", [["A", "09:00"]], "row 1: events: expected a list of [name, start, end] strings"),
        ("priority_events", "A", "row 1: priority_events: expected a list of event names, got 'A'"),
        ("optimal_score", True, "row 1: optimal_score: expected an integer, got True"),
        ("optimal_score", 179, "row 1: optimal_score is 179, the optimum is 180"),
        ("priority_events", ["Z"], "row 1: priority_events: 'Z' is not one of the row's events"),
    ],
)
def test_wrong_values_are_refused_naming_row_and_column(tmp_path, row, column, value, expected):
    bad = copy.deepcopy(row) | {column: value}
    assert refused(tmp_path, [row, bad]).startswith(expected)


def test_a_prompt_listing_other_events_is_refused(tmp_path, row):
    other = instance_row(Instance.from_row([["X", "08:00", "09:00"], ["Y", "08:30", "10:00"]], ["X"]))
    bad = row | {"prompt": other["prompt"]}
    assert refused(tmp_path, [bad]) == (
        "row 0: prompt: expected the row's events and priorities (as Instance.text writes them)"
    )


def test_a_row_worth_nothing_is_refused(tmp_path, row):
    empty = row | {"events": [], "priority_events": [], "optimal_score": 0}
    assert refused(tmp_path, [empty]) == "row 0: events: expected at least one event"
    zero_length = row | {"events": [["A", "09:00", "09:00"]], "priority_events": [], "optimal_score": 0}
    assert refused(tmp_path, [zero_length]) == "row 0: events[0] ('A'): starts at or after its end (09:00 - 09:00)"


def test_a_jsonl_line_that_is_not_an_object_is_refused(tmp_path, row):
    message = refused(tmp_path, [row, [1, 2]])
    assert message == "line 2: expected a JSON object, got list"


def test_the_validate_stage_reader_leaves_content_to_great_expectations(tmp_path, row):
    path = tmp_path / "rows.jsonl"
    write_jsonl_rows(path, [row | {"optimal_score": 1}])
    assert read_typed_rows(path)[0]["optimal_score"] == 1


def test_a_missing_file_names_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        read_rows("data/test.parquet")
    assert str(error.value) == f"file not found in {tmp_path} (run from the repository root)"


def test_a_corrupt_parquet_file_is_one_line(tmp_path):
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match=r"^not a readable Parquet file \(") as error:
        read_rows(path)
    assert "\n" not in str(error.value)


def test_parquet_with_other_column_types_is_refused(tmp_path, row):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([row | {"prompt": row["prompt"].encode()}]), path)
    with pytest.raises(ValueError, match=r"^row 0: prompt: expected a string, got b'Events:"):
        read_rows(path)


def test_prompt_parsing_round_trips_any_order(small_instance):
    text = small_instance.text()
    assert parse_instance_text(text).same_as(small_instance)
    lines = text.splitlines()
    reordered = "\n".join([lines[0], lines[3], lines[1], lines[2], *lines[4:]]) + "\n"
    assert parse_instance_text(reordered).same_as(small_instance)
    for other_layout in ("Events:\n- A at nine\n\nPriorities:", "no layout"):
        with pytest.raises(ValueError):
            parse_instance_text(other_layout)


def test_fingerprint_follows_content_not_file_bytes(row, small_instance):
    assert rows_fingerprint([row]) == rows_fingerprint([dict(reversed(row.items()))])
    assert rows_fingerprint([row]) != rows_fingerprint([row, row])
