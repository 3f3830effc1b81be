"""Tracking: a tracking server that is down ends a stage at once with one line."""

from __future__ import annotations

import socket

import pytest

from dayplan import registry, tracking


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expected_line(port: int) -> str:
    return (
        f"error: MLFLOW_TRACKING_URI: no tracking server answers at http://127.0.0.1:{port} (Connection refused); "
        "start it, or unset MLFLOW_TRACKING_URI to track in ./mlflow.db"
    )


def test_a_stage_run_stops_with_one_line(monkeypatch, closed_port):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:secret@127.0.0.1:{closed_port}")
    with pytest.raises(SystemExit) as exit_info, tracking.pipeline_run(run_name="down"):
        pass
    assert str(exit_info.value) == expected_line(closed_port)  # and the password is not printed


def test_the_registry_client_stops_with_one_line(monkeypatch, closed_port):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(SystemExit) as exit_info:
        registry.client()
    assert str(exit_info.value) == expected_line(closed_port)


def test_a_listening_server_and_local_stores_pass():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert tracking.check_reachable(f"http://127.0.0.1:{server.getsockname()[1]}") is None
    assert tracking.check_reachable("sqlite:///mlflow.db") is None
    assert tracking.check_reachable("file:///tmp/mlruns") is None
