"""A sweep as the README runs it: queued with a Hydra sweep override, run, compared with exp show and plots diff."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.mark.slow
def test_queued_sweep_runs_one_experiment_per_value(tiny_pipeline, tmp_path):
    from conftest import pipeline_env, run_ok

    work = tmp_path / "repo"
    shutil.copytree(tiny_pipeline[0], work, symlinks=True)
    env = pipeline_env(work)
    # reward.overlap reruns only train and what follows; 0 is the fixture's own value, so that one is all cached
    queued = run_ok(["dvc", "exp", "run", "--queue", "-S", "reward.overlap=0,1"], work, env)
    assert queued.stdout.count("Queued experiment") == 2
    run_ok(["dvc", "exp", "run", "--run-all"], work, env)  # the queue, in the foreground

    shown = json.loads(run_ok(["dvc", "exp", "show", "--json"], work, env).stdout)
    experiments = {exp["name"]: exp for baseline in shown for exp in baseline.get("experiments") or []}
    assert len(experiments) == 2 and {exp["executor"]["state"] for exp in experiments.values()} == {"success"}
    data = {name: exp["revs"][0]["data"] for name, exp in experiments.items()}
    by_overlap = {d["params"]["params.yaml"]["data"]["reward"]["overlap"]: name for name, d in data.items()}
    assert sorted(by_overlap) == [0, 1]
    assert all("mean_score" in d["metrics"]["reports/metrics/test/epoch3.json"]["data"] for d in data.values())

    keep = r"Experiment|reward\.overlap|reports/metrics/test/epoch3\.json:mean_score"
    table = run_ok(["dvc", "exp", "show", "--md", "--drop", ".*", "--keep", keep], work, env).stdout
    header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
    assert header == ["Experiment", "reports/metrics/test/epoch3.json:mean_score", "reward.overlap"]
    assert all(f"[{name}]" in table for name in experiments)

    run_ok(["dvc", "plots", "diff", by_overlap[0], by_overlap[1]], work, env)
    page = (work / "dvc_plots" / "index.html").read_text()
    assert all(f'"rev": "{name}"' in page for name in experiments)  # both reward curves and score bars
    assert '"title": "reward"' in page and '"title": "mean_score"' in page
