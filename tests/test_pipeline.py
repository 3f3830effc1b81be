"""End to end: `dvc repro` on the tiny configuration in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [line for line in listed.stdout.splitlines() if (REPO / line).is_file()]


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("repo")
    for name in _tracked_files():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, work / name)
    params = (work / "params.yaml").read_text()
    (work / "params.yaml").write_text(params.replace("model: smollm2-135m", "model: tiny", 1))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(work),
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
    }
    env.pop("MLFLOW_RUN_ID", None)
    _run(["git", "init", "-q"], work, env)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], work, env)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], work, env)
    first = _run(["dvc", "repro"], work, env)
    return work, env, first


def test_repro_writes_metrics_for_every_model(pipeline):
    work, _, _ = pipeline
    for name in ("base", "warmstart", "epoch2", "epoch3"):
        metrics = json.loads((work / "reports" / "metrics" / f"{name}.json").read_text())
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
    assert "train.learning_rate" in params


def test_second_repro_is_a_no_op(pipeline):
    work, env, _ = pipeline
    again = _run(["dvc", "repro"], work, env)
    assert "Running stage" not in again.stdout
