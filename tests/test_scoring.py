"""The score stage and the infer stage's partial file: an evaluation is bound to the rows and model it covers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dayplan import inference
from dayplan.data import generate_splits, instance_row, row_instance
from dayplan.dataset import rows_fingerprint, write_split
from dayplan.io import write_jsonl
from dayplan.scoring import SKIPPED, evaluate
from dayplan.task import schedule_xml, solve, solver_completion
from stages import score
from tests.conftest import tiny_params

SPLITS = ("test", "test_novel", "test_large")


@pytest.fixture(scope="module")
def rows(request) -> list[dict]:
    from dayplan.config import load_params

    p = load_params(request.config.rootpath / "params.yaml").data
    return [row for _, row in generate_splits(p, {"test": 8})]


def optimal(row: dict) -> str:
    return "<think>solved</think>" + schedule_xml(solve(row_instance(row))[1])


def score_files(monkeypatch, data: str) -> None:
    """Command line of the stage on DATA, completions.jsonl -> scores.jsonl (in the working folder)."""
    argv = ["score", "--data", data, "--completions", "completions.jsonl", "--out", "scores.jsonl"]
    monkeypatch.setattr(sys, "argv", argv)


def run_score(tmp_path, monkeypatch, rows, completions) -> tuple[int, str, dict | None]:
    """The stage on DATA (rows) and COMPLETIONS: exit code, printed output, metrics (None when it stopped)."""
    write_split(tmp_path / "test.parquet", rows)
    write_jsonl(tmp_path / "completions.jsonl", completions)
    out = tmp_path / "scores.jsonl"
    monkeypatch.chdir(tmp_path)
    score_files(monkeypatch, "test.parquet")
    try:
        score.main()
    except SystemExit as exit_:
        return 1, str(exit_.code), None
    return 0, "", json.loads(out.with_suffix(".metrics.json").read_text())


def test_a_full_evaluation_reports_full_coverage(tmp_path, monkeypatch, rows, capsys):
    answers = [{"id": i, "completion": optimal(row)} for i, row in enumerate(rows)]
    code, _, metrics = run_score(tmp_path, monkeypatch, rows, answers)
    assert code == 0 and metrics["mean_score"] == 100.0 and metrics["n"] == 8
    assert metrics["coverage"] == 1.0 and metrics["test_set_sha256"] == rows_fingerprint(rows)
    assert "mean score 100.00 over 8 rows (8 completions, coverage 100%)" in capsys.readouterr().out


def test_copies_of_one_answer_are_refused(tmp_path, monkeypatch, rows):
    copies = [{"id": 0, "completion": optimal(rows[0])}] * 8
    code, message, _ = run_score(tmp_path, monkeypatch, rows, copies)
    assert (code, message) == (1, "error: completions.jsonl: line 2: id 0 appears twice (each row is scored once)")


def test_missing_rows_score_zero_and_lower_coverage(tmp_path, monkeypatch, rows, capsys):
    code, _, metrics = run_score(tmp_path, monkeypatch, rows, [{"id": 0, "completion": optimal(rows[0])}])
    assert code == 0 and metrics["mean_score"] == 12.5 and metrics["completions"] == 1
    assert metrics["coverage"] == 0.125 and metrics["broken_missing"] == 7 and metrics["share_missing"] == 0.875
    out = capsys.readouterr().out
    assert "warning: 7 of 8 rows have no completion (scored 0)" in out and "coverage 12%" in out
    scores = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [s["id"] for s in scores] == list(range(8)) and scores[1]["broken_rule"] == "missing"


@pytest.mark.parametrize(
    ("completions", "expected"),
    [
        ([], "no completions: expected one for each of the 8 test rows"),
        ([{"id": True, "completion": "x"}], "line 1: id must be a row index 0..7, got True"),
        ([{"id": 8, "completion": "x"}], "line 1: id must be a row index 0..7, got 8"),
        ([{"id": 0}], "line 1: missing field 'completion'"),
        ([{"id": 0, "completion": "x", "test_set": "ab" * 32}], "line 1: made for another test set (abababababab"),
    ],
)
def test_unscorable_completions_stop_with_one_line(tmp_path, monkeypatch, rows, completions, expected):
    code, message, _ = run_score(tmp_path, monkeypatch, rows, completions)
    assert code == 1 and message.startswith(f"error: completions.jsonl: {expected}") and "\n" not in message


def test_hostile_lines_stop_with_one_line(tmp_path, monkeypatch, rows):
    write_split(tmp_path / "test.parquet", rows)
    (tmp_path / "completions.jsonl").write_text('{"id": 0, "completion": "x"}\n' + "[" * 50_000 + "\n")
    monkeypatch.chdir(tmp_path)
    score_files(monkeypatch, "test.parquet")
    with pytest.raises(SystemExit) as exit_info:
        score.main()
    assert str(exit_info.value.code) == "error: completions.jsonl: line 2: JSON nested too deeply"


def test_a_row_worth_nothing_stops_before_scoring(tmp_path, monkeypatch, rows):
    zero = rows[0] | {"events": [["A", "09:00", "09:00"]], "priority_events": [], "optimal_score": 0}
    write_jsonl(tmp_path / "test.jsonl", [zero])
    write_jsonl(tmp_path / "completions.jsonl", [{"id": 0, "completion": "x"}])
    monkeypatch.chdir(tmp_path)
    score_files(monkeypatch, "test.jsonl")
    with pytest.raises(SystemExit) as exit_info:
        score.main()
    assert str(exit_info.value.code) == (
        "error: test.jsonl: row 0: events[0] ('A'): starts at or after its end (09:00 - 09:00)"
    )


def pipeline_argv(name: str, splits: tuple[str, ...] = SPLITS) -> list[str]:
    """The score stage's command line in dvc.yaml, for the model `name`."""
    argv = ["score", "--evaluate-rows", "--data", *(f"data/{split}.parquet" for split in splits)]
    for option, kind, suffix in (
        ("--completions", "completions", "jsonl"),
        ("--out", "scores", "jsonl"),
        ("--metrics", "metrics", "json"),
    ):
        argv += [option, *(f"reports/{kind}/{split}/{name}.{suffix}" for split in splits)]
    return argv


def test_pipeline_mode_scores_the_evaluated_rows_of_each_split(tmp_path, monkeypatch, rows, capsys):
    tiny_params(tmp_path, "evaluate.rows=4")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    for split in SPLITS:
        write_split(tmp_path / f"data/{split}.parquet", rows)
        answers = [{"id": i, "completion": optimal(row)} for i, row in enumerate(rows[:4])]
        write_jsonl(tmp_path / f"reports/completions/{split}/epoch3.jsonl", answers)
    monkeypatch.setattr(sys, "argv", pipeline_argv("epoch3"))
    score.main()
    for split in SPLITS:
        metrics = json.loads((tmp_path / f"reports/metrics/{split}/epoch3.json").read_text())
        assert (metrics["n"], metrics["coverage"], metrics["mean_score"]) == (4, 1.0, 100.0)
        assert metrics["test_set_sha256"] == rows_fingerprint(rows[:4])
        assert len((tmp_path / f"reports/scores/{split}/epoch3.jsonl").read_text().splitlines()) == 4
    assert capsys.readouterr().out.count("mean score 100.00 over 4 rows") == len(SPLITS)


def test_each_option_takes_one_path_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        sys,
        "argv",
        ["score", "--data", "a.parquet", "b.parquet", "--completions", "a.jsonl", "--out", "a_scores.jsonl"],
    )
    with pytest.raises(SystemExit) as exit_info:
        score.main()
    assert exit_info.value.code == 2 and "take as many paths each" in capsys.readouterr().err


def test_pipeline_mode_from_another_folder_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    monkeypatch.setattr(sys, "argv", pipeline_argv("epoch3"))
    with pytest.raises(SystemExit) as exit_info:
        score.main()
    assert str(exit_info.value.code) == (
        f"error: data/test.parquet: file not found in {tmp_path} (run from the repository root)"
    )


def test_a_skipped_model_is_reported_as_skipped(rows):
    scored, metrics = evaluate(rows, [{SKIPPED: "warmstart.enabled is false"}])
    assert scored == [] and metrics["n"] == 0 and metrics[SKIPPED] == "warmstart.enabled is false"


# --- the infer stage's partial file: resumed only for the same model, test rows and settings -------------

SETTINGS = {"backend": "transformers", "max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0}
EVALUATE = SimpleNamespace(batch_size=2)


def fake_backend(monkeypatch, answer: str, dies_after: int | None = None) -> list[int]:
    """generate_transformers stand-in: `answer` for each conversation, dying after `dies_after` of them."""
    asked = []

    def generate(model_dir, conversations, settings, batch_size):
        asked.append(len(conversations))
        for number, _ in enumerate(conversations):
            if number == dies_after:
                raise KeyboardInterrupt  # a killed run: what it wrote so far stays in the partial file
            yield answer

    monkeypatch.setattr(inference, "generate_transformers", generate)
    return asked


def complete(tmp_path, model: Path, conversations: int, test_set: str = "rows-a") -> list[dict]:
    key = inference.partial_key(SETTINGS, str(model), test_set)
    partial = tmp_path / ".m.partial.jsonl"
    return inference.complete_all(str(model), [[]] * conversations, SETTINGS, EVALUATE, partial, "m", key)


@pytest.fixture
def models(tmp_path) -> tuple[Path, Path]:
    first, second = tmp_path / "base", tmp_path / "epoch3"
    for folder, weights in ((first, b"1"), (second, b"22")):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(weights)
    return first, second


def test_a_killed_run_resumes_with_the_same_model(tmp_path, monkeypatch, models, capsys):
    fake_backend(monkeypatch, "first", dies_after=2)
    with pytest.raises(KeyboardInterrupt):
        complete(tmp_path, models[0], 4)
    asked = fake_backend(monkeypatch, "first")
    rows = complete(tmp_path, models[0], 4)
    assert asked == [2] and [r["id"] for r in rows] == [0, 1, 2, 3]
    assert "m: resuming after 2 completions" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["model", "test set"])
def test_a_killed_run_is_not_resumed_for_another_model_or_test_set(tmp_path, monkeypatch, models, change, capsys):
    fake_backend(monkeypatch, "first", dies_after=2)
    with pytest.raises(KeyboardInterrupt):
        complete(tmp_path, models[0], 4)
    asked = fake_backend(monkeypatch, "second")
    model, test_set = (models[1], "rows-a") if change == "model" else (models[0], "rows-b")
    rows = complete(tmp_path, model, 4, test_set)
    assert asked == [4] and [r["completion"] for r in rows] == ["second"] * 4
    assert all(r["test_set"] == test_set for r in rows)
    assert "nothing to reuse" in capsys.readouterr().out


def test_a_line_cut_by_the_kill_is_dropped(tmp_path, monkeypatch, models):
    fake_backend(monkeypatch, "first", dies_after=2)
    with pytest.raises(KeyboardInterrupt):
        complete(tmp_path, models[0], 4)
    partial = tmp_path / ".m.partial.jsonl"
    partial.write_text(partial.read_text() + '{"id": 2, "compl')
    asked = fake_backend(monkeypatch, "first")
    assert [r["id"] for r in complete(tmp_path, models[0], 4)] == [0, 1, 2, 3] and asked == [2]


def test_rewritten_model_files_change_the_fingerprint(models):
    before = inference.model_fingerprint(str(models[0]))
    (models[0] / "model.safetensors").write_bytes(b"3")
    assert inference.model_fingerprint(str(models[0])) != before
    assert inference.model_fingerprint("HuggingFaceTB/SmolLM2-135M") == "hub:HuggingFaceTB/SmolLM2-135M"


@pytest.fixture
def trace_audit(repo_root):
    """scripts/trace_audit.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location("trace_audit", repo_root / "scripts" / "trace_audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trace_audit_counts_wrong_weights(trace_audit, small_instance):
    """scripts/trace_audit.py: the solver's answers state every weight right; one wrong weight is counted;
    a dp trace that concludes the optimum is counted, and whether its Schedule line and its answer list it."""
    rows = [instance_row(small_instance)] * 2
    right = solver_completion(small_instance)
    completions = [{"id": 0, "completion": right}, {"id": 1, "completion": right.replace("B (90)", "B (45)")}]
    result = trace_audit.audit(rows, completions)
    assert (result["weights stated"], result["wrong"]) == (4, 1)
    assert result["no weight wrong"] == [1, 1] and result["a weight wrong"] == [1, 1]  # both answers optimal
    assert result["trace concludes the optimum"] == [0, 0, 0]  # the conflicts form concludes nothing to read
    assert result["by events"] == {len(small_instance.events): [2, 2]}
    dp = solver_completion(small_instance, "dp")
    copied_wrong = dp.replace("<name>C</name>\n<start>11:00</start>\n<end>12:00</end>\n</event>\n", "")
    line_wrong = dp.replace("Schedule: A, C.", "Schedule: B, C.")
    completions = [{"id": 0, "completion": dp}, {"id": 1, "completion": copied_wrong}]
    assert trace_audit.audit(rows, completions)["trace concludes the optimum"] == [2, 1, 2]
    completions = [{"id": 0, "completion": line_wrong}, {"id": 1, "completion": dp}]
    assert trace_audit.audit(rows, completions)["trace concludes the optimum"] == [1, 2, 2]


def test_trace_audit_finds_where_an_answer_leaves_the_trace(trace_audit, small_instance):
    """scripts/trace_audit.py --trace: the first line where an answer differs from the solver's, by section;
    only answers that are not exactly optimal are counted."""
    right = solver_completion(small_instance, "dpm")
    edits = {
        "none": ("", ""),
        "By start time: the events it overlaps": ("B 09:30-11:00, overlaps A", "B 09:30-11:00"),
        "By start time: its priority mark": ("A 09:00-10:00, priority", "A 09:00-10:00"),
        "By start time: the event (name, times, order)": ("C 11:00-12:00\n", "C 11:00-12:30\n"),
        "Weighted minutes of the overlapping events": ("x2 = 120.", "x2 = 100."),
        "Best by end time": ("B 90: 90 vs 120, keep A.", "B 90: 90 vs 120, keep B."),
        "Kept": ("Kept: A.", "Kept: B."),
        "Schedule": ("Schedule: A, C.", "Schedule: B, C."),
    }
    for where, (old, new) in edits.items():
        assert trace_audit.first_departure(right.replace(old, new), small_instance, "dpm") == where
    wrong = right.replace("Kept: A.", "Kept: B.").replace(
        "<name>A</name>\n<start>09:00</start>\n<end>10:00</end>",
        "<name>B</name>\n<start>09:30</start>\n<end>11:00</end>",
    )
    completions = [{"id": 0, "completion": right}, {"id": 1, "completion": wrong}]
    result = trace_audit.audit([instance_row(small_instance)] * 2, completions, "dpm")
    assert result["first departures"] == {"Kept": 1}
    assert result["by events"] == {len(small_instance.events): [1, 2]}


def test_trace_audit_holds_a_dpl_trace_to_its_own_letters(trace_audit, small_instance):
    """A dpl trace whose letters are not the solver's leaves the trace where its reasoning does, not at
    its first letter; one that skips an event in its list leaves it there."""
    own = solver_completion(small_instance, "dpl", ["X", "Y", "Z"])
    assert trace_audit.first_departure(own, small_instance, "dpl") == "none"
    assert trace_audit.first_departure(own.replace("Kept: X.", "Kept: Y."), small_instance, "dpl") == "Kept"
    skipped = "\n".join(line for line in own.split("\n") if not line.startswith("Y "))
    assert (
        trace_audit.first_departure(skipped, small_instance, "dpl") == "By start time: the event (name, times, order)"
    )
