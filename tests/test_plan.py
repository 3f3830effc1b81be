"""Trying a model on one's own day (python -m stages.plan): events files, model choice, the printed verdict."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dayplan import plan
from dayplan.task import Instance, check_instance, parse_instance_text, solve, solver_completion, user_prompt
from stages import plan as plan_stage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "day.json"


def test_prompt_text_round_trips(small_instance):
    assert parse_instance_text(small_instance.text()) == small_instance
    assert parse_instance_text(user_prompt(small_instance.text())) == small_instance  # a whole user prompt too
    with pytest.raises(ValueError, match=r"line 3: expected '- Name \(HH:MM - HH:MM\)', got 'B 09:30-11:00'"):
        parse_instance_text("Events:\n- A (09:00 - 10:00)\nB 09:30-11:00\n")
    assert plan.read_instance(ROOT / "examples" / "day.txt") == plan.read_instance(EXAMPLE)  # both example formats


@pytest.mark.parametrize(
    ("events", "priorities", "message"),
    [
        ([["A", "09:00", "10:00"]], [], "need at least 2 events, got 1"),
        ([["A", "09:00", "10:00"], ["A", "11:00", "12:00"]], [], "duplicate event name 'A'"),
        ([["A", "09:00", "10:00"], ["B", "12:00", "11:00"]], [], "event 'B' ends at 11:00, not after its start 12:00"),
        ([["A", "09:00", "10:00"], ["B", "9:30", "11:00"]], [], "expected a time 'HH:MM' (00:00-23:59), got '9:30'"),
        ([["A", "09:00", "10:00"], ["<B>", "10:00", "11:00"]], [], "event name '<B>': expected non-empty text"),
        ([["A", "09:00", "10:00"], ["B", "10:00", "11:00"]], ["C"], "priority 'C' is not one of the events"),
    ],
)
def test_check_instance_names_the_first_problem(events, priorities, message):
    with pytest.raises(ValueError) as error:
        check_instance(Instance.from_row(events, priorities))
    assert str(error.value).startswith(message)


def _exit_line(monkeypatch, tmp_path, *argv: str) -> str:
    monkeypatch.chdir(tmp_path)  # no params.yaml, no models: only the file is read
    monkeypatch.setattr(sys, "argv", ["plan", *argv])
    with pytest.raises(SystemExit) as exit_info:
        plan_stage.main()
    message = str(exit_info.value.code)
    assert "\n" not in message and message.startswith("error: ")
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "error: day.json: No such file or directory"),
        ('{"events": [["A", "09:00", "10:00"],', "error: day.json: not valid JSON: "),
        ('{"events": [["A", "09:00"]]}', 'error: day.json: "events" must be a list of ["name", "HH:MM", "HH:MM"]'),
        ('{"events": [["A", "09:00", "10:00"], ["B", "10:00", "25:00"]]}', "error: day.json: expected a time"),
        ('{"events": [["A", "09:00", "10:00"], ["A", "10:00", "11:00"]]}', "error: day.json: duplicate event name"),
        ('{"events": [["A", "09:00", "10:00"], ["B", "11:00", "10:30"]]}', "error: day.json: event 'B' ends at"),
        ('{"events": [["A", "09:00", "10:00"]], "priorities": ["A"]}', "error: day.json: need at least 2 events"),
        ("Events:\n- A (09:00 - 10:00)\n- B 10:00\n", "error: day.json: line 3: expected '- Name (HH:MM - HH:MM)'"),
        ("A, 09:00, 10:00\n", "error: day.json: expected a line 'Events:'"),
    ],
)
def test_bad_events_file_is_one_line(monkeypatch, tmp_path, content, expected):
    if content is not None:
        (tmp_path / "day.json").write_text(content)
    assert _exit_line(monkeypatch, tmp_path, "day.json").startswith(expected)


def test_priorities_option_replaces_the_files(monkeypatch, tmp_path):
    instance = plan.read_instance(EXAMPLE, ["Gym"])
    assert instance.priorities == {"Gym"} and len(instance.events) == 6
    shutil.copy(EXAMPLE, tmp_path / "day.json")
    assert _exit_line(monkeypatch, tmp_path, "day.json", "--priorities", "Nap") == (
        "error: day.json: priority 'Nap' is not one of the events"
    )
    assert _exit_line(monkeypatch, tmp_path, "day.json", "--model", "nowhere") == (
        "error: --model nowhere: no model folder there (config.json missing)"
    )
    assert _exit_line(monkeypatch, tmp_path, "day.json").startswith("error: no model: no champion registered")


def test_one_line_on_stderr_from_the_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "stages.plan", str(tmp_path / "missing.json")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'missing.json'}: No such file or directory"]


def test_report_shows_schedule_verdict_and_optimum():
    instance = plan.read_instance(EXAMPLE)
    optimum, best = solve(instance)
    perfect = plan.report(instance, solver_completion(instance))
    assert "Verdict: score 100.00 / 100 (weighted duration 345 of 345)" in perfect
    assert perfect.count("  11:30-12:30  Dentist  (priority)") == 2  # the model's schedule and the optimum
    garbage = plan.report(instance, "lorem ipsum")
    assert "(no <event> parsed) raw answer: 'lorem ipsum'" in garbage
    assert "Verdict: score 0.00 / 100, broken rule: format" in garbage
    assert "\n  (no answer)\n" in plan.report(instance, " \n")
    assert garbage.endswith("\n".join(plan.schedule_lines(best, instance))) and optimum == 345


def test_newest_pipeline_model_and_champion_layouts(tmp_path):
    for folder in ("models/base", "models/warmstart", "models/merged/epoch2", "models/merged/epoch10"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "config.json").write_text("{}")
    assert plan.pipeline_model(tmp_path / "models") == tmp_path / "models/merged/epoch10"
    shutil.rmtree(tmp_path / "models/merged")
    assert plan.pipeline_model(tmp_path / "models") == tmp_path / "models/warmstart"
    # an MLflow transformers model: weights in model/, tokenizer in components/tokenizer/
    logged = tmp_path / "download" / "model"
    (logged / "model").mkdir(parents=True)
    (logged / "components" / "tokenizer").mkdir(parents=True)
    (logged / "MLmodel").write_text("flavors: {transformers: {}}")
    (logged / "model" / "config.json").write_text("{}")
    (logged / "components" / "tokenizer" / "tokenizer.json").write_text("{}")
    folder = plan.hf_folder(tmp_path / "download")
    assert folder == logged / "model" and (folder / "tokenizer.json").exists()
    assert plan.hf_folder(tmp_path / "models") == tmp_path / "models/warmstart"  # plain artifacts: as they are


# --- on the tiny pipeline's models (slow) --------------------------------------------------------------


def _plan(work: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "stages.plan", *args], cwd=work, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"plan failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


@pytest.mark.slow
def test_plan_with_the_newest_pipeline_model(tiny_pipeline):
    work, env = tiny_pipeline  # read only: no champion is registered there, nothing is downloaded
    out = _plan(work, env, str(EXAMPLE)).stdout
    assert out.startswith("Model: models/merged/epoch3 (newest pipeline model; no champion registered)\n")
    assert "\nModel's schedule:\n" in out and "\nVerdict: score " in out  # the random model writes garbage
    assert out.endswith("\n".join(["Optimum (weighted duration 345):", *_optimum_lines()]) + "\n")


def _optimum_lines() -> list[str]:
    instance = plan.read_instance(EXAMPLE)
    return plan.schedule_lines(solve(instance)[1], instance)


@pytest.mark.slow
def test_plan_with_the_registered_champion(tiny_pipeline, tmp_path, monkeypatch):
    from conftest import pipeline_env

    from dayplan import registry

    work = tmp_path / "repo"
    shutil.copytree(tiny_pipeline[0], work, symlinks=True)
    env = pipeline_env(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    client = registry.client()
    # its own experiment, so that the version's artifacts stay in this copy (not the shared fixture's folder)
    experiment = client.create_experiment("plan-test", artifact_location=(work / "mlartifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    version = registry.register(client, "dayplan-scheduler", run_id, work / "models/merged/epoch2", {})
    registry.promote(client, "dayplan-scheduler", str(version.version), None)
    day = work / "day.txt"  # the prompt's text format this time
    day.write_text(plan.read_instance(EXAMPLE).text())
    out = _plan(work, env, "day.txt", "--max-new-tokens", "8").stdout
    assert out.startswith("Model: .cache/champion/dayplan-scheduler-v1 (models:/dayplan-scheduler@champion, version 1)")
    assert json.loads((work / ".cache/champion/dayplan-scheduler-v1/config.json").read_text())["num_hidden_layers"]
    assert "\nVerdict: score " in out and "Optimum (weighted duration 345):" in out
