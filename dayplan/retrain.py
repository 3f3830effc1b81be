"""Retrain: a new DVC experiment on fresh data, gated against the MLflow Model Registry's champion.

Takes a lock (one retrain at a time), picks the data seed (retrain.data_seed_strategy), runs the whole
pipeline with `dvc exp run`, then compares the challenger (reports/metrics/test/<retrain.candidate>.json) with
the registered champion (dayplan/gate.py) and registers it: alias `champion` if it wins, `challenger` with
a `rejected_reason` tag if not. The decision goes to reports/retrain/<time>.json, reports/retrain/latest.json
and the pipeline's MLflow run. Nothing touches the registry before the experiment has finished, so a
retrain killed half-way leaves the champion as it was; rerunning it with the same options resumes it
(same experiment name and data seed; the train stage resumes from its checkpoints).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import filelock

from dayplan import gate, model_card, registry
from dayplan.config import load_params_or_exit, override_value, read_yaml
from dayplan.io import write_json, write_text
from dayplan.tracking import recorded_run_id

STATE_DIR = Path(".dvc/tmp")  # git-ignored by DVC
LOCK_FILE = STATE_DIR / "retrain.lock"
PENDING_FILE = STATE_DIR / "retrain-pending.json"
MODEL_CARD = "model_card.md"  # the latest registered version's card, beside the decisions


# --- one retrain at a time ------------------------------------------------------------------------------


def _read_holder(fd: int) -> dict:
    """Who holds the lock, as the holder wrote it (a bare pid in older lock files)."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {"pid": holder}


def _write_holder(fd: int, holder: dict) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)


@contextlib.contextmanager
def retrain_lock(path: Path) -> Iterator[int]:
    """An exclusive flock on `path` (filelock's primitive over our own descriptor), yielding the descriptor.

    The kernel drops the lock when the last process holding the descriptor ends. run_experiment passes it
    to `dvc exp run`, which waits for its stages: killing only this process keeps the lock until the
    experiment ends too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not filelock.lock_descriptor(fd, blocking=False):
            holder = _read_holder(fd)
            pids = ", ".join(f"{key} {value}" for key, value in holder.items()) or "pid ?"
            sys.exit(f"error: another retrain is running ({pids}, lock {path}); wait for it to finish")
        _write_holder(fd, {"pid": os.getpid()})
        yield fd
    finally:
        os.close(fd)


def run_experiment(command: list[str], env: dict, lock_fd: int) -> int:
    """Run `command` holding the lock too (see retrain_lock); its exit status."""
    child = subprocess.Popen(command, env=env, pass_fds=(lock_fd,))
    _write_holder(lock_fd, {"pid": os.getpid(), "experiment pid": child.pid})
    return child.wait()


# --- the plan: overrides and data seed ------------------------------------------------------------------


def parse_overrides(overrides: list[str]) -> dict[str, object]:
    """`key=value` -> {key: YAML value}, for the keys of params.yaml this script reads itself."""
    parsed = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            sys.exit(f"error: -S {item}: expected key=value")
        if ":" not in key:  # `file.yaml:key` overrides are passed to DVC untouched
            parsed[key] = override_value(value)
        # else: another params file, nothing this script reads
    return parsed


def next_seed(params, user: dict, mlflow_client) -> int | None:
    """The data seed of this retrain, or None to keep params.yaml's."""
    if "data.seed" in user:
        return None  # the user's own -S data.seed=... wins
    strategy = user.get("retrain.data_seed_strategy", params.retrain.data_seed_strategy)
    if strategy == "keep":
        return None
    if strategy != "increment":
        sys.exit(f"error: -S retrain.data_seed_strategy: expected increment or keep, got {strategy!r}")
    # never reuse a seed a registered version was trained on, even a rejected one
    return max([params.data.seed, *registry.recorded_seeds(mlflow_client, params.retrain.registered_model)]) + 1


def make_plan(set_param: list[str], name: str | None, params, mlflow_client) -> dict:
    """The experiment to run; an interrupted retrain with the same options is resumed as it was planned."""
    pending = json.loads(PENDING_FILE.read_text()) if PENDING_FILE.exists() else None
    if pending and pending["user_overrides"] == set_param and name in (None, pending["exp_name"]):
        print(f"retrain: resuming the interrupted experiment {pending['exp_name']} (started {pending['started']})")
        return pending | {"resumed": True}
    seed = next_seed(params, parse_overrides(set_param), mlflow_client)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    plan = {
        "exp_name": name or f"retrain-{stamp}",
        "user_overrides": set_param,
        "overrides": ([f"data.seed={seed}"] if seed is not None else []) + set_param,
        "started": registry.now(),
    }
    write_json(PENDING_FILE, plan)
    return plan


def overrides_applied(overrides: list[str]) -> bool:
    """Whether the interrupted `dvc exp run` had already written every -S value into params.yaml."""
    if any(":" in item.partition("=")[0] for item in overrides):
        return False  # another params file: not checked, run the experiment again
    raw = read_yaml(Path("params.yaml"))
    for key, value in parse_overrides(overrides).items():
        node = raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        if node != value:
            return False
    return True


# --- running the experiment -----------------------------------------------------------------------------


def exp_exists(name: str) -> bool:
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps"], capture_output=True, text=True, check=False
    ).stdout.split()
    return any(ref.rsplit("/", 1)[-1] == name for ref in refs)


def _dvc(lock_fd: int, *args: str) -> None:
    dvc = Path(sys.executable).with_name("dvc")
    command = [str(dvc) if dvc.exists() else "dvc", *args]
    print("retrain: " + " ".join(command[1:]), flush=True)
    # the stages' `python` must be this environment's, activated or not
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    code = run_experiment(command, env, lock_fd)
    if code:
        sys.exit(
            f"error: `dvc {' '.join(args[:2])}` failed (exit {code}); the champion is unchanged. "
            "Rerun `python -m stages.retrain` with the same options to resume."
        )


def dvc_exp_run(name: str, overrides: list[str], lock_fd: int) -> None:
    _dvc(lock_fd, "exp", "run", "--name", name, *[arg for item in overrides for arg in ("-S", item)])


def dvc_repro_and_save(name: str, lock_fd: int) -> None:
    """Finish an interrupted experiment: `dvc exp run` would first check out the baseline's outputs, the
    persisted models/grpo included, and so lose the checkpoints that `dvc repro` resumes from."""
    _dvc(lock_fd, "repro")
    _dvc(lock_fd, "exp", "save", "--force", "--name", name)


def run_plan(plan: dict, lock_fd: int) -> None:
    if exp_exists(plan["exp_name"]):  # finished before an interruption of the gate: run (a no-op) under a new name
        plan["exp_name"] = f"{plan['exp_name']}-{datetime.now(UTC).strftime('%H%M%S')}"
    if plan.get("resumed") and overrides_applied(plan["overrides"]):
        dvc_repro_and_save(plan["exp_name"], lock_fd)
    else:
        dvc_exp_run(plan["exp_name"], plan["overrides"], lock_fd)


# --- the gate and the registry --------------------------------------------------------------------------


def read_metrics(path: Path) -> dict:
    try:
        metrics = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as error:
        sys.exit(f"error: {path}: expected the challenger's metrics from the experiment ({error})")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("mean_score"), (int, float)):
        sys.exit(f"error: {path}: mean_score: expected a number")
    return metrics


def _evaluation(version, metrics: dict) -> dict:
    return {
        "version": str(version.version),
        "run_id": version.run_id,
        "test_set_sha256": metrics.get("test_set_sha256"),
        "metrics": metrics,
    }


def gate_and_register(params, plan: dict, mlflow_client, decisions_dir: Path) -> dict:
    """Compare, register, move the alias: the only step that changes the registry, run at the very end."""
    r = params.retrain
    metrics = read_metrics(Path(f"reports/metrics/test/{r.candidate}.json"))
    run_id = recorded_run_id()
    if run_id is None:
        sys.exit("error: models/grpo/mlflow_run.json: expected the pipeline's MLflow run id (did train run?)")
    model_dir = Path(params.evaluate.models[r.candidate])
    if not (model_dir / "config.json").exists():
        sys.exit(f"error: {model_dir}: expected the merged {r.candidate} model (config.json)")

    champion = registry.champion_version(mlflow_client, r.registered_model)
    champion_metrics = registry.tag_metrics(champion.tags) if champion else None
    decision = gate.decide(metrics, champion_metrics, r.margin, r.rule_tolerance)
    tags = {
        **registry.metric_tags(metrics),
        "candidate": r.candidate,
        "data_seed": str(params.data.seed),
        "dvc_experiment": plan["exp_name"],
        "test_set_sha256": str(metrics.get("test_set_sha256")),
        "registered_at": registry.now(),
    }
    version = registry.register(mlflow_client, r.registered_model, run_id, model_dir, tags)
    if decision.promote:
        registry.promote(mlflow_client, r.registered_model, version.version, champion)
    else:
        registry.reject(mlflow_client, r.registered_model, version.version, decision.reason)
    outcome = "promoted" if decision.promote else "rejected"
    train_seconds = mlflow_client.get_run(run_id).data.metrics.get("train_runtime")
    card = model_card.render(params, str(version.version), outcome, decision.reason, plan["exp_name"], train_seconds)
    mlflow_client.update_model_version(r.registered_model, version.version, description=card)
    write_text(decisions_dir / MODEL_CARD, card)
    challenger = _evaluation(version, metrics) | {"candidate": r.candidate, "data_seed": params.data.seed}
    return {
        "time": registry.now(),
        "decision": "promoted" if decision.promote else "rejected",
        "reason": decision.reason,
        "registered_model": r.registered_model,
        "exp_name": plan["exp_name"],
        "overrides": plan["overrides"],
        "gate": {"margin": r.margin, "rule_tolerance": r.rule_tolerance},
        "challenger": challenger,
        "champion": None if champion is None else _evaluation(champion, champion_metrics),
        "same_test_set": None
        if champion is None
        else champion_metrics.get("test_set_sha256") == metrics.get("test_set_sha256"),
        "champion_version_after": str(version.version) if decision.promote else (champion and str(champion.version)),
    }


def record(record_: dict, mlflow_client, decisions_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = decisions_dir / f"{stamp}-{record_['exp_name']}.json"
    write_json(path, record_)
    write_json(decisions_dir / "latest.json", record_)
    run_id = record_["challenger"]["run_id"]
    for key in ("decision", "reason", "exp_name"):
        mlflow_client.set_tag(run_id, f"retrain.{key}", str(record_[key])[:5000])
    mlflow_client.set_tag(run_id, "retrain.version", record_["challenger"]["version"])
    mlflow_client.log_dict(run_id, record_, "retrain/decision.json")
    return path


def checked_params():
    params = load_params_or_exit()
    if params.retrain.candidate not in params.evaluate.models:
        sys.exit(
            f"error: params.yaml: retrain.candidate: expected one of {sorted(params.evaluate.models)}, "
            f"got {params.retrain.candidate!r}"
        )
    return params


def retrain(set_param: list[str], name: str | None, decisions_dir: Path) -> tuple[dict, Path]:
    """The whole retrain (module docstring): the decision record and where in decisions_dir it was written."""
    params = checked_params()
    with retrain_lock(LOCK_FILE) as lock_fd:
        mlflow_client = registry.client()
        plan = make_plan(set_param, name, params, mlflow_client)
        run_plan(plan, lock_fd)
        params = checked_params()  # the workspace's params.yaml now holds the -S values
        decision = gate_and_register(params, plan, mlflow_client, decisions_dir)
        path = record(decision, mlflow_client, decisions_dir)
        PENDING_FILE.unlink(missing_ok=True)
    return decision, path
