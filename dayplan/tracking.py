"""MLflow: one run per pipeline execution, opened by the train stage, joined by the later stages.

Local by default (SQLite in the repository root: mlflow.db, ignored by git); any tracking server by
MLFLOW_TRACKING_URI. The train stage records the run id in models/grpo/mlflow_run.json.

A tracking server that does not accept a connection within CONNECT_TIMEOUT_S ends the stage with one
line before anything runs: MLflow's own retries (MLFLOW_HTTP_REQUEST_MAX_RETRIES, 7 by default) take
about 4 minutes to give up on it. They stay as they are for the calls that follow, so that a server
restarting during a long training run does not end it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

EXPERIMENT = os.environ.get("MLFLOW_EXPERIMENT_NAME", "dayplan")
RUN_FILE = Path("models/grpo/mlflow_run.json")
CONNECT_TIMEOUT_S = 5.0


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('mlflow.db').resolve()}"


def check_reachable(uri: str) -> None:
    """Exit with one line unless an http(s) tracking server at `uri` accepts a connection (other URIs pass).

    Any stage that tracks needs its server, so this ends the process wherever it is called.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    server = f"{parts.scheme}://{parts.hostname}:{port}"  # no credentials in the message
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise SystemExit(
            f"error: MLFLOW_TRACKING_URI: no tracking server answers at {server} ({reason}); "
            "start it, or unset MLFLOW_TRACKING_URI to track in ./mlflow.db"
        ) from None


class _Untracked:
    """Stands in for mlflow where it is not installed (a bare GPU box): every logging call does nothing."""

    def active_run(self):
        return SimpleNamespace(info=SimpleNamespace(run_id="untracked"))

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _mlflow():
    try:
        import mlflow
    except ImportError:
        print("notice: mlflow is not installed, this run is not tracked")
        return None

    check_reachable(tracking_uri())
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def run_tags() -> dict[str, str]:
    tags = {"dvc.experiment": os.environ.get("DVC_EXP_NAME", "workspace")}
    with contextlib.suppress(Exception):
        tags["git.commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return tags


def flatten(params: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat


@contextlib.contextmanager
def pipeline_run(run_id: str | None = None, run_name: str | None = None, tracked: bool = True) -> Iterator[object]:
    """Open (or, given run_id, re-open) the pipeline's run; yields the mlflow module.

    tracked=False (a training process other than the main one) yields a stand-in that logs nothing.
    """
    mlflow = _mlflow() if tracked else None
    if mlflow is None:
        yield _Untracked()
        return
    with mlflow.start_run(run_id=run_id, run_name=run_name, tags=None if run_id else run_tags()):
        yield mlflow


def recorded_run_id(run_file: Path = RUN_FILE) -> str | None:
    """The run the train stage opened, or None (no training yet, e.g. scoring the base model alone)."""
    try:
        return json.loads(run_file.read_text())["run_id"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def joined_run() -> Iterator[object | None]:
    """For stages after training: the pipeline's run if one is recorded, else no tracking (None)."""
    run_id = recorded_run_id()
    if run_id in (None, "untracked"):
        yield None
        return
    with pipeline_run(run_id) as mlflow:
        yield mlflow
