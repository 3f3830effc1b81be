"""dvc.yaml passes the score and report stages exactly the paths it declares: DVC tracks what they read and write."""

from __future__ import annotations

import pytest
import yaml

STAGES = ("score", "score-baseline", "report")


def declared_paths(stage: dict) -> set[str]:
    """The stage's data dependencies (code left out) and everything it writes."""
    paths = {dep for dep in stage["deps"] if not dep.endswith(".py")}
    for kind in ("outs", "metrics", "plots"):
        paths |= {next(iter(entry)) if isinstance(entry, dict) else entry for entry in stage.get(kind, [])}
    return paths


@pytest.mark.parametrize("name", STAGES)
def test_the_command_passes_every_declared_path_and_no_other(repo_root, name):
    stage = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"][name]
    stage = stage.get("do", stage)  # a foreach stage's template
    passed = {token for token in stage["cmd"].split() if "/" in token}
    assert passed == declared_paths(stage)
