"""dvc.yaml passes the score and report stages exactly the paths it declares: DVC tracks what they read and write.

The train stage's DVCLive folder too: passed, declared, and the folder of the step plots."""

from __future__ import annotations

import pytest
import yaml

STAGES = ("score", "score-baseline", "report")
CODE = ("dayplan/", "stages/")  # code folders (dayplan/rules) are dependencies, never arguments


def declared_paths(stage: dict) -> set[str]:
    """The stage's data dependencies (code left out) and everything it writes."""
    paths = {dep for dep in stage["deps"] if not dep.endswith(".py") and not dep.startswith(CODE)}
    for kind in ("outs", "metrics", "plots"):
        paths |= {next(iter(entry)) if isinstance(entry, dict) else entry for entry in stage.get(kind, [])}
    return paths


@pytest.mark.parametrize("name", STAGES)
def test_the_command_passes_every_declared_path_and_no_other(repo_root, name):
    stage = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"][name]
    stage = stage.get("do", stage)  # a foreach stage's template
    passed = {token for token in stage["cmd"].split() if "/" in token}
    assert passed == declared_paths(stage)


def test_the_train_stage_writes_its_dvclive_folder_and_the_step_plots_read_it(repo_root):
    dvc = yaml.safe_load((repo_root / "dvc.yaml").read_text())
    train, report = dvc["stages"]["train"], dvc["stages"]["report"]
    tokens = train["cmd"].split()
    live = tokens[tokens.index("--live") + 1]
    assert {live: {"cache": False}} in train["outs"]  # in git, so that `dvc plots diff` finds it per experiment
    assert live in report["deps"] and f"--train-live {live}" in " ".join(report["cmd"].split())
    step_plots = [spec for plot in dvc["plots"] if isinstance(plot, dict) for spec in plot.values()]
    files = {path for spec in step_plots for path in spec["y"]}
    assert {spec["x"] for spec in step_plots} == {"step"}
    assert {"reward.tsv", "reward_std.tsv", "completions/mean_length.tsv"} == {
        path.removeprefix(f"{live}/plots/metrics/") for path in files
    }
