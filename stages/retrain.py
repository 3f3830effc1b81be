"""Retrain: a new DVC experiment on fresh data, gated against the MLflow Model Registry's champion.

    python -m stages.retrain [-S key=value ...] [--name EXP]

Takes a lock (one retrain at a time), picks the data seed (retrain.data_seed_strategy), runs the whole
pipeline with `dvc exp run`, then compares the challenger (reports/metrics/test/<retrain.candidate>.json) with
the registered champion (retrain.margin, retrain.rule_tolerance) and registers it: alias `champion` if it
wins, `challenger` with a `rejected_reason` tag if not. The decision goes to reports/retrain/<time>.json,
reports/retrain/latest.json and the pipeline's MLflow run. Nothing touches the registry before the
experiment has finished, so a retrain killed half-way leaves the champion as it was; rerunning it with
the same options resumes it (same experiment name and data seed; the train stage resumes from its
checkpoints).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from dayplan import registry
from dayplan.config import load_params_or_exit, override_value, read_yaml
from dayplan.io import write_json
from dayplan.modeling import sha256_file
from dayplan.tracking import recorded_run_id

STATE_DIR = Path(".dvc/tmp")  # git-ignored by DVC
LOCK_FILE = STATE_DIR / "retrain.lock"
PENDING_FILE = STATE_DIR / "retrain-pending.json"
DECISIONS_DIR = Path("reports/retrain")
TEST_DATA = Path("data/test.parquet")


@contextlib.contextmanager
def retrain_lock(path: Path) -> Iterator[None]:
    """An flock: the kernel drops it when the holder dies, so a killed retrain never leaves a stale lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held for the whole retrain)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        sys.exit(f"error: another retrain is running (pid {holder}, lock {path}); wait for it to finish")
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


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


def make_plan(args, params, mlflow_client) -> dict:
    """The experiment to run; an interrupted retrain with the same options is resumed as it was planned."""
    pending = json.loads(PENDING_FILE.read_text()) if PENDING_FILE.exists() else None
    if pending and pending["user_overrides"] == args.set_param and args.name in (None, pending["exp_name"]):
        print(f"retrain: resuming the interrupted experiment {pending['exp_name']} (started {pending['started']})")
        return pending | {"resumed": True}
    seed = next_seed(params, parse_overrides(args.set_param), mlflow_client)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    plan = {
        "exp_name": args.name or f"retrain-{stamp}",
        "user_overrides": args.set_param,
        "overrides": ([f"data.seed={seed}"] if seed is not None else []) + args.set_param,
        "started": registry.now(),
    }
    write_json(PENDING_FILE, plan)
    return plan


def exp_exists(name: str) -> bool:
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps"], capture_output=True, text=True, check=False
    ).stdout.split()
    return any(ref.rsplit("/", 1)[-1] == name for ref in refs)


def _dvc(*args: str) -> None:
    dvc = Path(sys.executable).with_name("dvc")
    command = [str(dvc) if dvc.exists() else "dvc", *args]
    print("retrain: " + " ".join(command[1:]), flush=True)
    # the stages' `python` must be this environment's, activated or not
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    code = subprocess.run(command, check=False, env=env).returncode
    if code:
        sys.exit(
            f"error: `dvc {' '.join(args[:2])}` failed (exit {code}); the champion is unchanged. "
            "Rerun `python -m stages.retrain` with the same options to resume."
        )


def dvc_exp_run(name: str, overrides: list[str]) -> None:
    _dvc("exp", "run", "--name", name, *[arg for item in overrides for arg in ("-S", item)])


def dvc_repro_and_save(name: str) -> None:
    """Finish an interrupted experiment: `dvc exp run` would first check out the baseline's outputs, the
    persisted models/grpo included, and so lose the checkpoints that `dvc repro` resumes from."""
    _dvc("repro")
    _dvc("exp", "save", "--force", "--name", name)


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


def read_metrics(path: Path) -> dict:
    try:
        metrics = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as error:
        sys.exit(f"error: {path}: expected the challenger's metrics from the experiment ({error})")
    if not isinstance(metrics.get("mean_score"), (int, float)):
        sys.exit(f"error: {path}: mean_score: expected a number")
    return metrics


def gate_and_register(params, plan: dict, mlflow_client) -> dict:
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
    decision = registry.decide(metrics, champion_metrics, r.margin, r.rule_tolerance)
    test_set = sha256_file(TEST_DATA)
    champion_test_set = champion.tags.get("test_set_sha256") if champion else None
    tags = {
        **registry.metric_tags(metrics),
        "candidate": r.candidate,
        "data_seed": str(params.data.seed),
        "dvc_experiment": plan["exp_name"],
        "test_set_sha256": test_set,
        "registered_at": registry.now(),
    }
    version = registry.register(mlflow_client, r.registered_model, run_id, model_dir, tags)
    if decision.promote:
        registry.promote(mlflow_client, r.registered_model, version.version, champion)
    else:
        registry.reject(mlflow_client, r.registered_model, version.version, decision.reason)
    return {
        "time": registry.now(),
        "decision": "promoted" if decision.promote else "rejected",
        "reason": decision.reason,
        "registered_model": r.registered_model,
        "exp_name": plan["exp_name"],
        "overrides": plan["overrides"],
        "gate": {"margin": r.margin, "rule_tolerance": r.rule_tolerance},
        "challenger": {
            "version": str(version.version),
            "run_id": run_id,
            "candidate": r.candidate,
            "data_seed": params.data.seed,
            "test_set_sha256": test_set,
            "metrics": metrics,
        },
        "champion": None
        if champion is None
        else {
            "version": str(champion.version),
            "run_id": champion.run_id,
            "test_set_sha256": champion_test_set,
            "metrics": champion_metrics,
        },
        # data.seed reseeds the test split too: scores on different test sets are less comparable
        "same_test_set": None if champion is None else champion_test_set == test_set,
        "champion_version_after": str(version.version) if decision.promote else (champion and str(champion.version)),
    }


def record(record_: dict, mlflow_client) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = DECISIONS_DIR / f"{stamp}-{record_['exp_name']}.json"
    write_json(path, record_)
    write_json(DECISIONS_DIR / "latest.json", record_)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, as dvc exp run -S")
    parser.add_argument("--name", help="DVC experiment name (default retrain-<UTC time>)")
    args = parser.parse_args()
    params = checked_params()

    with retrain_lock(LOCK_FILE):
        mlflow_client = registry.client()
        plan = make_plan(args, params, mlflow_client)
        name = plan["exp_name"]
        if exp_exists(name):  # finished before an interruption of the gate: run (a no-op) under a new name
            name = plan["exp_name"] = f"{name}-{datetime.now(UTC).strftime('%H%M%S')}"
        if plan.get("resumed") and overrides_applied(plan["overrides"]):
            dvc_repro_and_save(name)
        else:
            dvc_exp_run(name, plan["overrides"])
        params = checked_params()  # the workspace's params.yaml now holds the -S values
        decision = gate_and_register(params, plan, mlflow_client)
        path = record(decision, mlflow_client)
        PENDING_FILE.unlink(missing_ok=True)
    print(
        f"retrain: {decision['decision']} {params.retrain.registered_model} v{decision['challenger']['version']} "
        f"({decision['reason']}); champion is v{decision['champion_version_after']}; {path}"
    )


if __name__ == "__main__":
    main()
