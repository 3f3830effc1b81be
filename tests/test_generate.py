"""Instance generation: reproducible, within the reference distribution, splits disjoint, optima exact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from dayplan.config import load_params
from dayplan.data import generate_splits, row_instance
from dayplan.task import count_overlapping_pairs, parse_time, solve


@pytest.fixture(scope="module")
def params(request):
    root = request.config.rootpath
    return load_params(root / "params.yaml")


@pytest.fixture(scope="module")
def rows(params):
    p = params.data
    return list(generate_splits(p, {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}))


def test_reproducible(params, rows):
    p = params.data
    assert list(generate_splits(p, {"train": p.n_train, "test": p.n_test, "pool": p.n_pool})) == rows


def test_split_sizes(params, rows):
    p = params.data
    sizes = {split: sum(s == split for s, _ in rows) for split in ("train", "test", "pool")}
    assert sizes == {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}


def test_instances_follow_the_distribution(params, rows):
    p = params.data
    durations = set(range(15, 121, 15))
    for _, row in rows:
        events = row["events"]
        n = len(events)
        assert 4 <= n <= 8
        starts = [parse_time(e[1]) for e in events]
        assert starts == sorted(starts)
        for _, start, end in events:
            assert parse_time(end) - parse_time(start) in durations or parse_time(end) == 24 * 60 - 1
            assert parse_time(start) <= parse_time(p.latest_start)
        assert len({e[0] for e in events}) == n
        pairs = count_overlapping_pairs(row_instance(row).events)
        assert 1 <= pairs <= 0.4 * n
        priorities = row["priority_events"]
        assert 1 <= len(priorities) and set(priorities) <= {e[0] for e in events}
        assert 0.2 * n - 0.5 <= len(priorities) <= 0.4 * n + 0.5  # 20-40 %, rounded
        assert row["optimal_score"] == solve(row_instance(row))[0]
        assert row["prompt"] == row_instance(row).text()


def test_no_prompt_shared(rows):
    prompts = [row["prompt"] for _, row in rows]
    assert len(set(prompts)) == len(prompts)


def test_stage_is_byte_identical(tmp_path, repo_root):
    pytest.importorskip("datasets")
    import datasets

    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(repo_root / "recipes", tmp_path / "recipes")
    env = {k: v for k, v in os.environ.items() if k != "DAYPLAN_PARAMS"}
    env["PYTHONPATH"] = str(repo_root)
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "stages.generate"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / "data").glob("*.parquet"))})
    assert set(outputs[0]) == {"train.parquet", "test.parquet", "pool.parquet"}
    assert outputs[0] == outputs[1]
    loaded = datasets.load_dataset(
        "parquet",
        data_files={s: str(tmp_path / "data" / f"{s}.parquet") for s in ("train", "test")},
        cache_dir=str(tmp_path / "hf_cache"),
    )
    assert set(loaded["train"].column_names) == {"events", "priority_events", "optimal_score", "prompt"}
    assert loaded["train"][0]["optimal_score"] > 0


def test_a_new_seed_changes_train_but_keeps_the_test_split(params, rows):
    p = params.data
    reseeded = list(generate_splits(p.model_copy(update={"seed": p.seed + 1}), {"train": p.n_train, "test": p.n_test}))
    test_rows = [row for split, row in rows if split == "test"]
    assert [row for split, row in reseeded if split == "test"] == test_rows
    assert [row for split, row in reseeded if split == "train"] != [row for split, row in rows if split == "train"]
