"""Retraining: the champion/challenger gate (fast, on fake pipeline outputs) and real retrains (slow, tiny)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dayplan import gate, registry, retrain
from stages import retrain as retrain_stage

ROOT = Path(__file__).resolve().parents[1]
RULES = ("format", "fewer_than_2_events", "unknown_or_repeated_event", "not_chronological", "overlap")


TEST_SET = "7e57" * 16


def fake_metrics(mean_score: float, **shares: float) -> dict:
    metrics = {"mean_score": mean_score, "n": 4, "valid_schedules": 0, "share_optimal": 0.0}
    metrics |= {"completions": 4, "coverage": 1.0, "test_set_sha256": TEST_SET}
    for rule in RULES:
        metrics[f"broken_{rule}"] = 0
        metrics[f"share_{rule}"] = shares.get(rule, 0.0)
    return metrics


# --- the gate (pure) -----------------------------------------------------------------------------------


def test_no_champion_promotes():
    assert gate.decide(fake_metrics(0.0), None, 0.5, 0.0) == gate.Decision(True, "no champion yet")


def test_equal_score_loses_by_the_margin():
    decision = gate.decide(fake_metrics(40.0), fake_metrics(40.0), 0.5, 0.0)
    assert not decision.promote and "margin 0.5" in decision.reason


def test_better_score_but_more_broken_rules_loses():
    decision = gate.decide(fake_metrics(60.0, overlap=0.3), fake_metrics(40.0, overlap=0.1), 0.5, 0.1)
    assert not decision.promote and decision.reason.startswith("share_overlap 0.3 > champion 0.1")


def test_better_score_within_the_tolerance_wins():
    decision = gate.decide(fake_metrics(60.0, overlap=0.15), fake_metrics(40.0, overlap=0.1), 0.5, 0.1)
    assert decision.promote and "mean_score 60" in decision.reason


def test_share_optimal_is_not_a_broken_rule():
    assert "optimal" not in gate.broken_rules(fake_metrics(1.0))
    assert gate.broken_rules(fake_metrics(1.0)) == sorted(RULES)


def test_partial_evaluation_never_wins():
    one_row = fake_metrics(100.0) | {"n": 8, "completions": 1, "coverage": 0.125}
    for champion in (None, fake_metrics(60.0)):
        decision = gate.decide(one_row, champion, 0.5, 0.0)
        assert not decision.promote
        assert decision.reason == "challenger answered 1 of 8 test rows: the gate compares full evaluations only"


def test_evaluations_of_other_test_rows_are_not_compared():
    champion = fake_metrics(60.0) | {"n": 100}
    decision = gate.decide(fake_metrics(100.0), champion, 0.5, 0.0)
    assert decision == gate.Decision(False, "challenger scored on 4 test rows, the champion on 100: not comparable")
    other_rows = fake_metrics(60.0) | {"test_set_sha256": "0" * 64}
    decision = gate.decide(fake_metrics(100.0), other_rows, 0.5, 0.0)
    assert not decision.promote and decision.reason.startswith("challenger scored on test set 7e577e577e57, the")


def test_a_champion_from_before_coverage_is_compared_on_n():
    legacy = {k: v for k, v in fake_metrics(40.0).items() if k not in ("coverage", "test_set_sha256")}
    assert gate.decide(fake_metrics(60.0), legacy, 0.5, 0.0).promote


def test_metric_tags_round_trip():
    metrics = fake_metrics(12.5, format=0.25)
    assert registry.tag_metrics({**registry.metric_tags(metrics), "other": "x"}) == metrics


# --- lock, overrides, seed -----------------------------------------------------------------------------


def test_second_lock_exits_with_one_line(tmp_path):
    lock = tmp_path / "retrain.lock"
    with retrain.retrain_lock(lock):
        with pytest.raises(SystemExit) as exit_info, retrain.retrain_lock(lock):
            pass
        assert str(exit_info.value) == f"error: another retrain is running (pid {os.getpid()}, lock {lock}); " + (
            "wait for it to finish"
        )
    with retrain.retrain_lock(lock):  # released: takes it again
        assert json.loads(lock.read_text()) == {"pid": os.getpid()}


# holds the retrain lock (argv[1]) and runs an experiment that waits for its stdin to close
LOCK_HOLDER = """
import sys
from pathlib import Path
from dayplan.retrain import retrain_lock, run_experiment
worker = "import sys; print('working', flush=True); sys.stdin.read()"
with retrain_lock(Path(sys.argv[1])) as fd:
    run_experiment([sys.executable, "-c", worker], {}, fd)
"""


def test_killing_only_the_retrain_keeps_the_lock_while_its_experiment_runs(tmp_path):
    lock = tmp_path / "retrain.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(lock)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"working\n"  # the experiment runs
        holder.kill()
        holder.wait()
        experiment = json.loads(lock.read_text())["experiment pid"]
        with pytest.raises(SystemExit) as exit_info, retrain.retrain_lock(lock):
            pass
        assert str(exit_info.value) == (
            f"error: another retrain is running (pid {holder.pid}, experiment pid {experiment}, lock {lock}); "
            "wait for it to finish"
        )
    finally:
        holder.stdin.close()  # the experiment reads EOF and ends
        holder.stdout.close()


def test_parse_overrides_reads_yaml_values_and_skips_other_files():
    parsed = retrain.parse_overrides(["data.seed=7", "retrain.data_seed_strategy=keep", "other.yaml:x=1"])
    assert parsed == {"data.seed": 7, "retrain.data_seed_strategy": "keep"}
    with pytest.raises(SystemExit, match="expected key=value"):
        retrain.parse_overrides(["data.seed"])


def test_next_seed_never_reuses_a_registered_seed(monkeypatch):
    from dayplan.config import load_params

    params = load_params(ROOT / "params.yaml")
    monkeypatch.setattr(registry, "recorded_seeds", lambda client, name: [params.data.seed + 5])
    assert retrain.next_seed(params, {}, None) == params.data.seed + 6
    assert retrain.next_seed(params, {"retrain.data_seed_strategy": "keep"}, None) is None
    assert retrain.next_seed(params, {"data.seed": 1}, None) is None


def test_overrides_applied_compares_params_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        "data:\n  seed: 7\n  latest_start: '21:59'\ntrain:\n  learning_rate: 2.0e-05\n"
    )
    assert retrain.overrides_applied(["data.seed=7", "train.learning_rate=2e-5", "data.latest_start=21:59"])
    assert not retrain.overrides_applied(["data.seed=8"])
    assert not retrain.overrides_applied(["train.missing=1"])
    assert not retrain.overrides_applied(["other.yaml:x=1"])


# --- the whole stage on fake pipeline outputs, with a real (SQLite) registry ---------------------------


@pytest.fixture
def fake_workspace(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # MLflow looks for the model's licence on the Hub otherwise
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.parquet").write_bytes(b"fake test split")
    return tmp_path


@functools.cache
def tiny_model() -> Path:
    """A tiny random model (the tests' base model), built once for the fake experiments."""
    from dayplan.modeling import build_tiny

    folder = Path(tempfile.mkdtemp(prefix="retrain-tiny-")) / "model"
    build_tiny(folder, seed=0)
    return folder


def fake_experiment(workspace: Path, mean_score: float, evaluation: dict | None = None, **shares: float):
    """Stands in for `dvc exp run`: the outputs retrain reads, and a fresh pipeline run in MLflow."""

    def run(name: str, overrides: list[str], lock_fd: int) -> None:
        client = registry.client()
        experiment = client.get_experiment_by_name("dayplan") or client.get_experiment(
            client.create_experiment("dayplan")
        )
        run_id = client.create_run(experiment.experiment_id).info.run_id
        (workspace / "models" / "grpo").mkdir(parents=True, exist_ok=True)
        (workspace / "models" / "grpo" / "mlflow_run.json").write_text(json.dumps({"run_id": run_id}))
        model = workspace / "models" / "merged" / "epoch3"
        shutil.rmtree(model, ignore_errors=True)
        shutil.copytree(tiny_model(), model)  # registered as an MLflow transformers model: a real one
        (workspace / "reports" / "metrics" / "test").mkdir(parents=True, exist_ok=True)
        metrics = fake_metrics(mean_score, **shares) | (evaluation or {})
        (workspace / "reports" / "metrics" / "test" / "epoch3.json").write_text(json.dumps(metrics))
        for item in overrides:  # as DVC does: -S values land in the workspace's params.yaml
            if item.startswith("data.seed="):
                params = workspace / "params.yaml"
                seed = f"  seed: {item.split('=')[1]}"
                params.write_text(re.sub(r"(?m)^  seed: \d+$", seed, params.read_text(), count=1))
        run.calls.append((name, overrides))

    run.calls = []
    return run


def test_retrain_promotes_rejects_then_promotes(fake_workspace, monkeypatch, capsys):
    def retrain_with(score: float, *argv: str, **shares: float) -> dict:
        fake = fake_experiment(fake_workspace, score, **shares)
        monkeypatch.setattr(retrain, "dvc_exp_run", fake)
        monkeypatch.setattr(sys, "argv", ["retrain", *argv])
        retrain_stage.main()
        assert not retrain.PENDING_FILE.exists()
        return json.loads((fake_workspace / "reports" / "retrain" / "latest.json").read_text()) | {"calls": fake.calls}

    first = retrain_with(10.0, "--name", "first")
    assert first["decision"] == "promoted" and first["reason"] == "no champion yet" and first["champion"] is None
    assert first["calls"] == [("first", ["data.seed=2026"])]  # params.yaml's seed 2025, incremented
    second = retrain_with(10.2, "-S", "train.grpo.learning_rate=1e-9")
    assert second["decision"] == "rejected" and "margin 0.5" in second["reason"]
    assert second["calls"][0][1] == ["data.seed=2027", "train.grpo.learning_rate=1e-9"]  # seed 2026 is registered
    assert second["champion"]["version"] == "1" and second["same_test_set"] is True
    third = retrain_with(50.0, "-S", "retrain.data_seed_strategy=keep")
    assert third["decision"] == "promoted" and third["calls"][0][1] == ["retrain.data_seed_strategy=keep"]
    assert "promoted dayplan-scheduler v3" in capsys.readouterr().out

    client = registry.client()
    name = "dayplan-scheduler"
    assert str(client.get_model_version_by_alias(name, "champion").version) == "3"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    v1, v2, v3 = (client.get_model_version(name, str(v)).tags for v in (1, 2, 3))
    assert "champion_from" in v1 and "champion_until" in v1 and "champion_from" in v3
    assert v3["previous_champion"] == "1" and v2["rejected_reason"] == second["reason"]
    assert registry.tag_metrics(v2)["mean_score"] == 10.2
    assert len(list((fake_workspace / "reports" / "retrain").glob("*.json"))) == 4  # 3 decisions + latest.json
    run_tags = client.get_run(third["challenger"]["run_id"]).data.tags
    assert run_tags["retrain.decision"] == "promoted" and run_tags["retrain.version"] == "3"

    import mlflow

    champion = mlflow.transformers.load_model(f"models:/{name}@champion")  # one call, a ready pipeline
    reply = champion([{"role": "user", "content": "Plan my day"}], max_new_tokens=3)[0]["generated_text"]
    assert reply[-1]["role"] == "assistant"


def test_partial_or_foreign_evaluations_are_registered_but_never_promoted(fake_workspace, monkeypatch):
    def retrain_with(score: float, evaluation: dict | None = None) -> dict:
        monkeypatch.setattr(retrain, "dvc_exp_run", fake_experiment(fake_workspace, score, evaluation))
        monkeypatch.setattr(sys, "argv", ["retrain", "-S", "retrain.data_seed_strategy=keep"])
        retrain_stage.main()
        return json.loads((fake_workspace / "reports" / "retrain" / "latest.json").read_text())

    one_row = retrain_with(100.0, {"n": 8, "completions": 1, "coverage": 0.125})
    assert one_row["decision"] == "rejected" and one_row["reason"].startswith("challenger answered 1 of 8 test rows")
    assert retrain_with(60.0)["decision"] == "promoted"
    other_rows = retrain_with(100.0, {"test_set_sha256": "0" * 64})
    assert other_rows["decision"] == "rejected" and other_rows["same_test_set"] is False
    assert "not comparable" in other_rows["reason"]
    champion = registry.champion_version(registry.client(), "dayplan-scheduler")
    assert str(champion.version) == "2"


def test_failed_experiment_leaves_the_champion_and_resumes_the_plan(fake_workspace, monkeypatch):
    def dies(name, overrides, lock_fd):
        sys.exit("error: `dvc exp run` failed (exit 137); the champion is unchanged.")

    monkeypatch.setattr(retrain, "dvc_exp_run", dies)
    monkeypatch.setattr(sys, "argv", ["retrain", "-S", "train.seed=1"])
    with pytest.raises(SystemExit, match="champion is unchanged"):
        retrain_stage.main()
    pending = json.loads(retrain.PENDING_FILE.read_text())
    assert registry.champion_version(registry.client(), "dayplan-scheduler") is None

    fake = fake_experiment(fake_workspace, 1.0)
    monkeypatch.setattr(retrain, "dvc_exp_run", fake)
    retrain_stage.main()  # same options: the same experiment name and data seed as the interrupted one
    assert fake.calls == [(pending["exp_name"], pending["overrides"])]
    assert str(registry.champion_version(registry.client(), "dayplan-scheduler").version) == "1"


# --- real retrains on the tiny pipeline (slow) ---------------------------------------------------------


def _retrain(work: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "stages.retrain", *args], cwd=work, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"retrain failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def _copy(tiny_pipeline, tmp_path) -> tuple[Path, dict]:
    from conftest import pipeline_env

    source, _ = tiny_pipeline
    work = tmp_path / "repo"
    shutil.copytree(source, work, symlinks=True)
    return work, pipeline_env(work)


def _versions(work: Path, name: str) -> dict[str, dict[str, str]]:
    with sqlite3.connect(work / "mlflow.db") as db:
        rows = db.execute("select version, key, value from model_version_tags where name = ?", (name,)).fetchall()
    versions: dict[str, dict[str, str]] = {}
    for version, key, value in rows:
        versions.setdefault(str(version), {})[key] = value
    return versions


@pytest.mark.slow
def test_two_retrains_first_promotes_second_is_rejected(tiny_pipeline, tmp_path):
    work, env = _copy(tiny_pipeline, tmp_path)
    model = "retrain-test-a"
    # same data as the fixture's run (data refresh: see the fast tests), so that only what changes reruns
    common = ("-S", f"retrain.registered_model={model}", "-S", "retrain.data_seed_strategy=keep")
    first = _retrain(work, env, *common, "--name", "first")
    assert f"promoted {model} v1" in first.stdout
    # one new token per answer: nothing parses, so the challenger cannot beat the champion + margin
    second = _retrain(work, env, *common, "-S", "evaluate.max_new_tokens=1", "--name", "second")
    assert f"rejected {model} v2" in second.stdout and "champion is v1" in second.stdout
    latest = json.loads((work / "reports" / "retrain" / "latest.json").read_text())
    assert latest["decision"] == "rejected" and latest["exp_name"] == "second"
    assert latest["challenger"]["metrics"]["share_format"] == 1.0
    decisions = [json.loads(p.read_text()) for p in (work / "reports" / "retrain").glob("2*.json")]
    assert sorted(d["decision"] for d in decisions) == ["promoted", "rejected"]
    versions = _versions(work, model)
    assert "rejected_reason" in versions["2"] and "champion_from" in versions["1"]
    with sqlite3.connect(work / "mlflow.db") as db:
        aliases = dict(db.execute("select alias, version from registered_model_aliases where name = ?", (model,)))
    assert aliases == {"champion": 1, "challenger": 2}
    exps = subprocess.run(["dvc", "exp", "list", "--name-only"], cwd=work, env=env, capture_output=True, text=True)
    assert {"first", "second"} <= set(exps.stdout.split())


@pytest.mark.slow
def test_killed_retrain_leaves_the_champion_and_rerun_completes(tiny_pipeline, tmp_path):
    work, env = _copy(tiny_pipeline, tmp_path)
    model = "retrain-test-kill"
    args = ("-S", f"retrain.registered_model={model}", "-S", "retrain.data_seed_strategy=keep")
    args += ("-S", "train.grpo.learning_rate=2e-5")  # retrains from the warm-started model
    grpo_dir = work / "models" / "grpo"
    old_fingerprint = (grpo_dir / "fingerprint.json").read_text()
    process = subprocess.Popen(
        [sys.executable, "-m", "stages.retrain", *args],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        # the new train stage has written its first epoch checkpoint (bounded polling of the filesystem)
        while time.monotonic() < deadline and process.poll() is None:
            fingerprint = grpo_dir / "fingerprint.json"
            if (
                fingerprint.exists()
                and fingerprint.read_text() != old_fingerprint
                and list(grpo_dir.glob("checkpoint-*/trainer_state.json"))  # complete, as scan_epochs reads them
            ):
                break
            time.sleep(0.05)
        assert process.poll() is None, "retrain ended before it could be killed during training"
        trained = (grpo_dir / "epochs.json").exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert _versions(work, model) == {}  # nothing registered, no champion
    assert not (work / "reports" / "retrain" / "latest.json").exists()

    rerun = _retrain(work, env, *args)
    assert "resuming the interrupted experiment" in rerun.stdout and "retrain: exp save" in rerun.stdout
    if not trained:
        assert "train: resuming from" in rerun.stdout + rerun.stderr
    assert f"promoted {model} v1" in rerun.stdout
    assert set(_versions(work, model)) == {"1"}
    exps = subprocess.run(["dvc", "exp", "list", "--name-only"], cwd=work, env=env, capture_output=True, text=True)
    assert json.loads((work / "reports" / "retrain" / "latest.json").read_text())["exp_name"] in exps.stdout.split()
