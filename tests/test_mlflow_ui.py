"""The MLflow UI, in a real headless Chromium, over the tiny pipeline's run and a retrain's promotion, and the
charts of a finished training run's step metrics.

Needs a Chromium binary (Debian: `apt-get install -y chromium`); Playwright drives it (the Python package
only: no `playwright install`, the system browser is used).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from dayplan.report_inputs import load_steps

ROOT = Path(__file__).resolve().parents[1]
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MODEL = "dayplan-scheduler"
# The step metrics of the last finished training run, as the train stage's DVCLive callback wrote them
STEP_LIVE = ROOT / "reports" / "train" / "live"
# The charts of the README's screenshot: the reward, its spread, and one reward function's mean and spread
CHART_QUERY = r"^(reward|reward_std|frac_reward_zero_std)$|^rewards/score_reward/"
pytestmark = pytest.mark.slow


def browser_binary() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 90.0) -> None:
    """Bounded polling of /health (each attempt blocks at most 1 s in the connection)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)  # not listening yet: connection refused returns at once
    raise AssertionError(f"mlflow server at {url} did not answer /health within {timeout:.0f} s")


@pytest.fixture(scope="module")
def promoted(tiny_pipeline, tmp_path_factory):
    """A copy of the tiny pipeline's repository after a retrain (same data) that promoted its epoch3 model."""
    from conftest import pipeline_env

    if browser_binary() is None:
        pytest.skip("no Chromium binary found (/usr/bin/chromium): apt-get install -y chromium")
    source, _ = tiny_pipeline
    work = tmp_path_factory.mktemp("ui") / "repo"
    shutil.copytree(source, work, symlinks=True)
    env = pipeline_env(work)
    result = subprocess.run(
        [sys.executable, "-m", "stages.retrain", "-S", "retrain.data_seed_strategy=keep", "--name", "ui"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"retrain failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert f"promoted {MODEL} v1" in result.stdout
    return work


@contextlib.contextmanager
def serve(db: Path, cwd: Path, log_path: Path):
    """`mlflow server` over the SQLite store db on a free port (its output in log_path); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{db}"]
        + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def chromium():
    """The module's one browser: Playwright's sync API allows one running instance per thread."""
    from playwright.sync_api import sync_playwright

    if browser_binary() is None:
        pytest.skip("no Chromium binary found (/usr/bin/chromium): apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_binary(), args=BROWSER_ARGS, headless=True)
        yield browser
        browser.close()


@contextlib.contextmanager
def browser_page(browser, **context_options):
    """A page in a context of its own (viewport, scale), closed on the way out."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def server(promoted):
    with serve(promoted / "mlflow.db", promoted, promoted.parent / "mlflow-server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server, chromium):
    with browser_page(chromium, viewport={"width": 1600, "height": 1200}) as page:
        yield page


def _ids(work: Path) -> tuple[str, str]:
    run_id = json.loads((work / "models" / "grpo" / "mlflow_run.json").read_text())["run_id"]
    with sqlite3.connect(work / "mlflow.db") as db:
        (experiment_id,) = db.execute("select experiment_id from runs where run_uuid = ?", (run_id,)).fetchone()
    return str(experiment_id), run_id


def _metric_keys(work: Path, run_id: str) -> set[str]:
    with sqlite3.connect(work / "mlflow.db") as db:
        return {key for (key,) in db.execute("select distinct key from metrics where run_uuid = ?", (run_id,))}


def _screenshot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)


def test_experiment_and_run_are_listed(page, server, promoted, tmp_path):
    experiment_id, run_id = _ids(promoted)
    page.goto(f"{server}/#/experiments/{experiment_id}/runs")  # (the bare experiment page is GenAI's overview)
    page.get_by_text("dayplan", exact=True).first.wait_for()
    run_name = page.get_by_text("grpo-tiny").first
    run_name.wait_for()
    _screenshot(page, tmp_path, "experiment.png")
    assert run_name.is_visible()


def test_run_shows_reward_and_eval_metrics(page, server, promoted, tmp_path):
    experiment_id, run_id = _ids(promoted)
    keys = _metric_keys(promoted, run_id)
    reward = next(k for k in sorted(keys) if k.startswith("rewards/") and k.endswith("/mean"))
    wanted = [reward, "eval.epoch2.mean_score", "eval.epoch3.mean_score"]
    assert set(wanted) <= keys
    page.goto(f"{server}/#/experiments/{experiment_id}/runs/{run_id}")
    page.get_by_text(run_id).first.wait_for()
    for name in wanted:
        # the run page's metrics table has a filter box: type each name so that a long table cannot hide it
        search = page.get_by_placeholder("Search metrics")
        if search.count():
            search.first.fill(name)
        page.get_by_text(name, exact=True).first.wait_for()
    _screenshot(page, tmp_path, "run.png")


def test_registered_model_has_champion_alias(page, server, promoted, tmp_path):
    page.goto(f"{server}/#/models/{MODEL}")
    page.get_by_text(MODEL).first.wait_for()
    page.get_by_text("Version 1").first.wait_for()
    champion = page.get_by_text("@ champion").or_(page.get_by_text("champion", exact=True)).first
    champion.wait_for()
    assert champion.is_visible()
    _screenshot(page, tmp_path, "model.png")
    # reports/mlflow_ui.png (committed) is refreshed on request only: a test run leaves the tree as it was
    refresh = os.environ.get("DAYPLAN_UPDATE_SCREENSHOT") == "1"
    shot = (ROOT / "reports" if refresh else tmp_path) / "mlflow_ui.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


# --- the run's metric charts, over the step metrics of a real training run (no tiny pipeline needed) -------


def step_entries(live_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) per step of the train stage's DVCLive folder: TRL's names, as transformers' MLflowCallback
    logs them at the trainer's global step."""
    return [(row["step"], {k: v for k, v in row.items() if k != "step"}) for row in load_steps(live_dir)]


@pytest.fixture(scope="module")
def charted_run(tmp_path_factory):
    """(store folder, experiment id, run id, run name, steps): a fresh tracking store holding one run named,
    tagged and parametrized as the train stage opens it, with STEP_LIVE's step metrics logged at their steps."""
    if browser_binary() is None:
        pytest.skip("no Chromium binary found (/usr/bin/chromium): apt-get install -y chromium")
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from dayplan.tracking import EXPERIMENT, flatten, run_tags

    entries = step_entries(STEP_LIVE)
    assert len(entries) >= 2, f"{STEP_LIVE} holds {len(entries)} logged steps: no curve to chart"
    folder = tmp_path_factory.mktemp("charts")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment_id = client.create_experiment(EXPERIMENT)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    run = client.create_run(experiment_id, run_name=f"grpo-{params['model']['name']}", tags=run_tags())
    flat = [Param(key, value) for key, value in flatten(params).items()]
    for first in range(0, len(flat), 100):  # log_batch takes at most 100 parameters
        client.log_batch(run.info.run_id, params=flat[first : first + 100])
    start = run.info.start_time
    for step, metrics in entries:
        batch = [Metric(key, value, start + 1000 * step, step) for key, value in metrics.items()]
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
    return folder, experiment_id, run.info.run_id, run.info.run_name, len(entries)


def test_run_metric_charts(charted_run, chromium):
    """The run page's Model metrics tab charts each step metric against the step: what a user watches."""
    from playwright.sync_api import expect

    folder, experiment_id, run_id, run_name, steps = charted_run
    # 1600x1000 CSS pixels drawn at 0.8: a 1280x800 PNG that holds two rows of charts
    with (
        serve(folder / "mlflow.db", folder, folder / "mlflow-server.log") as url,
        browser_page(chromium, viewport={"width": 1600, "height": 1000}, device_scale_factor=0.8) as page,
    ):
        # workflowType: the navigation for training runs (GenAI's, the default, files this run under Evaluations)
        page.goto(f"{url}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning")
        tab = page.get_by_role("tab", name="Model metrics")
        tab.wait_for(timeout=60_000)  # the first page of a fresh server and browser loads the whole UI bundle
        tab.click()
        search = page.get_by_placeholder("Search metric charts")
        search.wait_for()
        close = page.get_by_role("button", name="Close", exact=True)  # the assistant's side panel: room for charts
        if close.count() == 1:
            close.click()
        search.fill(CHART_QUERY)
        page.get_by_text("rewards/score_reward", exact=True).first.wait_for()
        for title in ("reward", "reward_std", "frac_reward_zero_std", "mean", "std"):
            page.get_by_text(title, exact=True).first.wait_for()
        # each chart drawn with one point per logged step (Plotly's markers); the legend names run and metric
        for metric in (
            "reward",
            "reward_std",
            "frac_reward_zero_std",
            *(f"rewards/score_reward/{s}" for s in ("mean", "std")),
        ):
            card = page.get_by_test_id("experiment-view-compare-runs-card").filter(has_text=f"{run_name} ({metric})")
            expect(card.locator(".js-plotly-plot .scatterlayer .point")).to_have_count(steps, timeout=30_000)
        refresh = os.environ.get("DAYPLAN_UPDATE_SCREENSHOT") == "1"
        shot = (ROOT / "docs" if refresh else folder) / "mlflow_metric_charts.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
