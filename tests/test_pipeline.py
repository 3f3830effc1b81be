"""End to end: `dvc repro` on the tiny configuration in a temporary copy of the repository."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from conftest import run_ok

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tiny_pipeline):
    """The session's tiny `dvc repro` (tests/conftest.py), with the output of a second `dvc repro`."""
    work, env = tiny_pipeline
    return work, env, run_ok(["dvc", "repro"], work, env)


def test_repro_writes_metrics_for_every_model(pipeline):
    work, _, _ = pipeline
    for name in ("base", "warmstart", "epoch2", "epoch3"):
        metrics = json.loads((work / "reports" / "metrics" / "test" / f"{name}.json").read_text())
        assert metrics["n"] == 4
        assert 0.0 <= metrics["mean_score"] <= 100.0
        assert (
            sum(
                metrics[f"broken_{r}"]
                for r in ("format", "fewer_than_2_events", "unknown_or_repeated_event", "not_chronological", "overlap")
            )
            + metrics["valid_schedules"]
            == 4
        )


def test_repro_writes_report_and_figures(pipeline):
    work, _, _ = pipeline
    report = (work / "reports" / "report.md").read_text()
    for name in ("base", "warmstart", "epoch2", "epoch3"):
        assert f"| {name} |" in report
    assert "figures/rewards.png" in report
    assert (work / "reports" / "figures" / "rewards.png").stat().st_size > 1000
    assert (work / "reports" / "report.html").read_text().startswith("<!doctype html>")


def test_mlflow_run_has_params_steps_and_evaluation(pipeline):
    work, _, _ = pipeline
    run_id = json.loads((work / "models" / "grpo" / "mlflow_run.json").read_text())["run_id"]
    with sqlite3.connect(work / "mlflow.db") as db:
        keys = {k for (k,) in db.execute("select key from metrics where run_uuid = ?", (run_id,))}
        params = {k for (k,) in db.execute("select key from params where run_uuid = ?", (run_id,))}
    assert "eval.epoch2.mean_score" in keys and "eval.epoch3.mean_score" in keys
    assert any(k.startswith("reward") for k in keys)
    assert "train.grpo.learning_rate" in params


def test_second_repro_is_a_no_op(pipeline):
    _, _, again = pipeline
    assert "Running stage" not in again.stdout


def test_exp_run_override_is_what_the_trainer_ran(tiny_pipeline, tmp_path):
    """`dvc exp run -S` on keys the model configuration sets: DVC records them and the train stage uses them."""
    source, env = tiny_pipeline
    work = tmp_path / "repo"
    shutil.copytree(source, work, symlinks=True)
    env = {**env, "PYTHONPATH": str(work), "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    run_ok(["dvc", "exp", "run", "-n", "lr-probe", "-S", "train.grpo.learning_rate=3e-4", "-S",
            "train.model_args.lora_r=2"], work, env)  # fmt: skip

    shown = json.loads(run_ok(["dvc", "exp", "show", "--json"], work, env).stdout)
    experiments = [exp for row in shown for exp in (row.get("experiments") or [])]
    (probe,) = [exp for exp in experiments if exp.get("name") == "lr-probe"]
    params = probe["revs"][0]["data"]["params"]["params.yaml"]["data"]
    assert params["train"]["grpo"]["learning_rate"] == 3e-4 and params["train"]["model_args"]["lora_r"] == 2

    run_id = json.loads((work / "models" / "grpo" / "mlflow_run.json").read_text())["run_id"]
    with sqlite3.connect(work / "mlflow.db") as db:
        logged = dict(db.execute("select key, value from params where run_uuid = ?", (run_id,)).fetchall())
    assert float(logged["learning_rate"]) == 3e-4  # what transformers' MLflowCallback read from the trainer's args
    adapters = sorted((work / "models" / "grpo").glob("checkpoint-*/adapter_config.json"))
    assert adapters and all(json.loads(path.read_text())["r"] == 2 for path in adapters)
