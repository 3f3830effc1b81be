"""The validate stage: valid splits pass; each corruption fails, naming its expectation."""

from __future__ import annotations

import copy
import json

import pytest

from dayplan.config import load_params
from dayplan.data import generate_splits, instance_row
from dayplan.dataset import write_split
from dayplan.task import Instance
from tests.conftest import tiny_params

pytest.importorskip("great_expectations")

from stages import validate  # noqa: E402

STAGE_ARGS = [  # dvc.yaml's
    *("--train", "data/train.parquet", "--test", "data/test.parquet", "--pool", "data/pool.parquet"),
    *("--docs", "reports/validation/data_docs", "--summary", "reports/validation/summary.json"),
]


@pytest.fixture(scope="module")
def clean_splits(request, tmp_path_factory):
    """The tiny recipe's train/test/pool rows (24, 8 and 8)."""
    p = load_params(tiny_params(tmp_path_factory.mktemp("params"))).data
    splits = {"train": [], "test": [], "pool": []}
    for split, row in generate_splits(p, {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}):
        splits[split].append(row)
    return splits


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo_root):
    tiny_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    return tmp_path


def run_stage(workdir, splits) -> tuple[int, str, dict]:
    for split, rows in splits.items():
        write_split(workdir / "data" / f"{split}.parquet", rows)
    try:
        validate.main(STAGE_ARGS)
        code, message = 0, ""
    except SystemExit as exit_:
        code, message = (1 if exit_.code else 0), str(exit_.code or "")
    summary = json.loads((workdir / "reports/validation/summary.json").read_text())
    return code, message, summary


def test_valid_splits_pass(workdir, clean_splits, capsys):
    code, message, summary = run_stage(workdir, clean_splits)
    assert code == 0 and message == ""
    assert summary["success"] is True
    assert summary["splits"]["train"] == {"rows": 24, "success": True, "evaluated": 11, "failed": 0}
    assert summary["splits"]["test"]["rows"] == 8 and summary["splits"]["pool"]["rows"] == 8
    assert summary["expectations"]["train"]["table__expect_table_row_count_to_equal"]["observed"] == 24
    assert (workdir / "reports/validation/data_docs/index.html").is_file()
    assert "24 rows, 11/11 expectations met" in capsys.readouterr().out


def _set_events(row: dict, events: list[list[str]]) -> None:
    """Replace a row's events keeping the other columns consistent, so that only the intended rule breaks."""
    fresh = instance_row(Instance.from_row(events, [events[0][0]]))
    row.update(fresh)


def _too_few(splits):
    events = splits["train"][0]["events"]
    _set_events(splits["train"][0], [events[0], events[1], ["Overlapper", events[0][1], events[0][2]]])


def _no_overlap(splits):
    _set_events(
        splits["train"][0],
        [["a", "08:00", "09:00"], ["b", "09:00", "10:00"], ["c", "11:00", "12:00"], ["d", "13:00", "14:00"]],
    )


def _edit_event(index: int, value: str):
    def corrupt(splits):
        splits["train"][1]["events"][0][index] = value

    return corrupt


def _end_before_start(splits):
    event = splits["train"][1]["events"][0]
    event[1], event[2] = event[2], event[1]


def _duplicate_name(splits):
    events = splits["train"][2]["events"]
    events[1][0] = events[0][0]


CASES = {
    "row_count": (lambda s: s["train"].pop(), "expect_table_row_count_to_equal(table)"),
    "too_few_events": (_too_few, "expect_column_values_to_be_between(n_events): 1 bad rows"),
    "bad_time": (_edit_event(1, "25:00"), "expect_column_values_to_be_in_set(times_valid): 1 bad rows"),
    "end_before_start": (_end_before_start, "expect_column_values_to_be_in_set(starts_before_ends): 1 bad rows"),
    "duplicate_name": (_duplicate_name, "expect_column_values_to_be_in_set(names_unique): 1 bad rows"),
    "unknown_priority": (
        lambda s: s["test"][0]["priority_events"].append("Nobody"),
        "expect_column_values_to_be_in_set(priorities_known): 1 bad rows",
    ),
    "wrong_optimum": (
        lambda s: s["test"][1].update(optimal_score=s["test"][1]["optimal_score"] + 1),
        "expect_column_values_to_be_in_set(optimal_score_correct): 1 bad rows",
    ),
    "no_overlap": (_no_overlap, "expect_column_values_to_be_between(overlapping_pairs): 1 bad rows"),
    "prompt_lists_other_events": (
        lambda s: s["train"][4].update(prompt=s["train"][5]["prompt"]),
        "expect_column_values_to_be_in_set(prompt_matches_events): 1 bad rows",
    ),
    "pool_wrong_optimum": (
        lambda s: s["pool"][0].update(optimal_score=1),
        "expect_column_values_to_be_in_set(optimal_score_correct): 1 bad rows",
    ),
    "shared_prompt": (
        lambda s: s["test"][0].update(prompt=s["train"][3]["prompt"]),
        "expect_column_values_to_be_in_set(prompt_in_other_split): 1 bad rows",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_corruption_is_reported(case, workdir, clean_splits):
    corrupt, expected_line = CASES[case]
    splits = copy.deepcopy(clean_splits)
    corrupt(splits)
    code, message, summary = run_stage(workdir, splits)
    assert code == 1
    assert summary["success"] is False
    lines = message.splitlines()
    assert lines[0] == "error: data validation failed:"
    split = {"unknown_priority": "test", "wrong_optimum": "test", "pool_wrong_optimum": "pool"}.get(case, "train")
    assert any(line.startswith(f"{split}: {expected_line}") for line in lines[1:]), message
    if case in ("row_count", "too_few_events", "wrong_optimum", "no_overlap", "pool_wrong_optimum"):
        assert len(lines) == 2, message  # nothing else broke


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("prompt", None, "prompt: expected a string, got None"),
        ("prompt", b"Events:", "prompt: expected a string, got b'Events:'"),
        ("events", None, "events: expected a list of [name, start, end] strings, got None"),
    ],
)
def test_wrong_types_are_one_line_naming_split_row_and_column(workdir, clean_splits, column, value, expected):
    splits = copy.deepcopy(clean_splits)
    for split, rows in splits.items():
        write_split(workdir / "data" / f"{split}.parquet", rows)
    rows = [dict(row) for row in splits["pool"]]
    rows[0][column] = value
    write_split_unchecked(workdir / "data" / "pool.parquet", rows)
    with pytest.raises(SystemExit) as caught:
        validate.main(STAGE_ARGS)
    assert str(caught.value.code) == f"error: data/pool.parquet: row 0: {expected}"


def write_split_unchecked(path, rows: list[dict]) -> None:
    """Parquet whose columns take any type (a hostile data file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def test_missing_split_is_one_line(workdir):
    with pytest.raises(SystemExit) as caught:
        validate.main(STAGE_ARGS)
    assert str(caught.value.code).startswith("error: data/train.parquet")
