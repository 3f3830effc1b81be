"""Shared fixtures: the repository root and a small hand-checked instance."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dayplan.config import write_params
from dayplan.task import Instance

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny random model (SmolLM2's tokenizer) and its tokenizer, as the transformers engine loads them."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dayplan.modeling import build_tiny

    folder = tmp_path_factory.mktemp("tiny")
    build_tiny(folder, seed=5)
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    return AutoModelForCausalLM.from_pretrained(folder).eval(), tokenizer, str(folder)


@pytest.fixture
def small_instance() -> Instance:
    """A (09:00-10:00, priority) overlaps B (09:30-11:00); C touches B; optimum A + C = 2*60 + 60 = 180."""
    return Instance.from_row(
        [["A", "09:00", "10:00"], ["B", "09:30", "11:00"], ["C", "11:00", "12:00"]],
        ["A"],
    )


class ReferenceDataParams:
    """The reference distribution's generation knobs (params.yaml data.*), for drawing instances directly."""

    min_events, max_events = 4, 8
    duration_min, duration_max, duration_step = 15, 120, 15
    latest_start = "21:59"
    overlap_probability, max_overlap_ratio = 0.2, 0.4
    priority_share_min, priority_share_max = 0.2, 0.4


def tiny_params(folder: Path, *overrides: str) -> Path:
    """folder/params.yaml composed from conf/ for model=tiny (plus Hydra overrides), as `dvc exp run -S` would."""
    path = folder / "params.yaml"
    write_params(path, ["model=tiny", *overrides])
    return path


@pytest.fixture
def fingerprint_inputs(tmp_path) -> tuple[Path, Path]:
    """A start model folder (config.json only) and a train data file, for checkpoints.fingerprint."""
    model, data = tmp_path / "model", tmp_path / "train.parquet"
    model.mkdir()
    (model / "config.json").write_text("{}")
    data.write_bytes(b"rows")
    return model, data


# --- the tiny pipeline, once per session (tests/test_mlflow_ui.py, tests/test_retrain.py) ----------------


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [line for line in listed.stdout.splitlines() if (ROOT / line).is_file()]


def run_ok(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def pipeline_env(work: Path) -> dict:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(work),
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
    }
    env.pop("MLFLOW_RUN_ID", None)
    return env


def copy_repo(work: Path) -> None:
    """The working tree (tracked + untracked, not ignored) in a fresh one-commit git repository, whose default
    model configuration is tiny (so that `dvc exp run -S key=value` there composes the tiny pipeline)."""
    for name in tracked_files():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, work / name)
    config = work / "conf" / "config.yaml"
    config.write_text(re.sub(r"(?m)^  - model: \S+", "  - model: tiny", config.read_text(), count=1))
    write_params(work / "params.yaml", [], work / "conf")
    env = pipeline_env(work)
    run_ok(["git", "init", "-q"], work, env)
    run_ok(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], work, env)
    run_ok(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], work, env)


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> tuple[Path, dict]:
    """(work_dir, env): a temporary copy of the repository after `dvc repro` on the tiny model.

    Shared: tests that change the copy (new experiments, registry entries) copy it first (shutil.copytree).
    """
    work = tmp_path_factory.mktemp("tiny-repo")
    copy_repo(work)
    env = pipeline_env(work)
    run_ok(["dvc", "repro"], work, env)
    return work, env
