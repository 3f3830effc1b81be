"""Fault injection on the tiny pipeline: kill -9 at a stage boundary and in the middle of a stage, rerun,
and get what an uninterrupted run gives (the session's `dvc repro`, tests/conftest.py).

Training killed mid-stage and resumed: tests/test_train.py and tests/test_retrain.py. Hostile data and
completions files: tests/test_dataset.py, tests/test_scoring.py. The gate fed partial and mismatched
evaluations: tests/test_retrain.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pipeline_env, run_ok

from dayplan.config import write_params

pytestmark = pytest.mark.slow
EPOCH3_OUTPUTS = [f"{kind}/{split}/epoch3.{ext}" for kind, ext in (("completions", "jsonl"), ("scores", "jsonl"),
                  ("metrics", "json")) for split in ("test", "test_novel", "test_large")]  # fmt: skip


def copy_pipeline(tiny_pipeline, tmp_path) -> tuple[Path, dict]:
    source, _ = tiny_pipeline
    work = tmp_path / "repo"
    shutil.copytree(source, work, symlinks=True)
    return work, pipeline_env(work)


def run_until(args: list[str], cwd: Path, env: dict, marker: str) -> list[str]:
    """Run `args`, SIGKILL its whole process group as soon as it prints a line containing `marker`."""
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines = []
    try:
        for line in process.stdout:  # blocking reads: the kill follows the marker line at once
            lines.append(line)
            if marker in line:
                os.killpg(process.pid, signal.SIGKILL)
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, f"ended before {marker!r}:\n{''.join(lines)[-3000:]}"
    return lines


def leftovers(work: Path) -> list[str]:
    """Files a killed run may leave: temporaries of atomic writes and partial completions."""
    return sorted(str(p.relative_to(work)) for p in work.rglob(".*") if ".tmp-" in p.name or "partial" in p.name)


def test_repro_killed_at_a_stage_boundary_reruns_to_the_same_results(tiny_pipeline, tmp_path):
    work, env = copy_pipeline(tiny_pipeline, tmp_path)
    rerun = ["dvc", "repro", "--force", "--no-run-cache", "--downstream", "infer"]
    run_until(rerun, work, env, "Running stage 'score@epoch3'")  # infer done, score@epoch3 not yet
    run_ok(["dvc", "repro", "--no-run-cache"], work, env)
    status = run_ok(["dvc", "status"], work, env)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    source, _ = tiny_pipeline
    for name in EPOCH3_OUTPUTS:
        assert (work / "reports" / name).read_bytes() == (source / "reports" / name).read_bytes(), name
    assert leftovers(work) == []


def probe_params(work: Path) -> Path:
    """params.yaml with evaluate.batch_size 2, so that a kill can fall between two batches."""
    folder = work / "probe-params"
    folder.mkdir()
    write_params(folder / "params.yaml", ["evaluate.batch_size=2"], work / "conf")
    return folder / "params.yaml"


def test_infer_killed_mid_stage_resumes_only_the_same_model(tiny_pipeline, tmp_path):
    work, env = copy_pipeline(tiny_pipeline, tmp_path)
    env = env | {"DAYPLAN_PARAMS": str(probe_params(work))}

    def infer(model: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "stages.infer",
            "--data",
            "data",
            "--out",
            "reports/completions",
            "--name",
            "probe",
            "--model",
            model,
        ]

    run_until(infer("models/base"), work, env, "probe: 2/4 completions saved")
    other_model = run_until(infer("models/merged/epoch3"), work, env, "probe: 2/4 completions saved")
    assert any("nothing to reuse" in line for line in other_model), other_model  # the base's rows are not kept
    resumed = run_ok(infer("models/merged/epoch3"), work, env).stdout
    assert "probe: resuming after 2 completions" in resumed
    probe = [json.loads(line) for line in (work / "reports/completions/test/probe.jsonl").read_text().splitlines()]
    source, _ = tiny_pipeline
    reference = [
        json.loads(line) for line in (source / "reports/completions/test/epoch3.jsonl").read_text().splitlines()
    ]
    assert [(r["id"], r["completion"], r["test_set"]) for r in probe] == [
        (r["id"], r["completion"], r["test_set"]) for r in reference
    ]
    assert leftovers(work) == []
