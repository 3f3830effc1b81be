"""Instance generation: reproducible, within the reference distribution, splits disjoint, optima exact."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys

import pytest

from dayplan.config import compose, load_params, validate
from dayplan.data import GenerationError, check_feasible, draw_instance, generate_split, generate_splits, row_instance
from dayplan.dataset import HubDataError, load_hub_splits
from dayplan.names import CATEGORIES, word_tokens
from dayplan.task import count_overlapping_pairs, judge, parse_time, solve, solver_completion
from stages import generate

# The reference experiment's 100 test prompts under params.yaml's data section: the drawing of `test` is frozen.
TEST_PROMPTS_SHA256 = "4e2cf79f6d8a194a6790d22fb530ad96b990a88f7f9070629a9a5dc48516150f"
REFERENCE_NAMES = {name for names in CATEGORIES.values() for name in names}


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
    env = {k: v for k, v in os.environ.items() if k != "DAYPLAN_PARAMS"}
    env["PYTHONPATH"] = str(repo_root)
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "stages.generate", "--out", "data"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / "data").glob("*.parquet"))})
    splits = ("train", "test", "test_novel", "test_large", "pool")
    assert set(outputs[0]) == {f"{split}.parquet" for split in splits}
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


@pytest.fixture(scope="module")
def new_splits(params):
    p = params.data
    sizes = {"test": p.n_test, "test_novel": 200, "test_large": 200, "train": p.n_train, "pool": 200}
    splits: dict[str, list[dict]] = {split: [] for split in sizes}
    for split, row in generate_splits(p, sizes):
        splits[split].append(row)
    return splits


def event_names(rows: list[dict]) -> set[str]:
    return {event[0] for row in rows for event in row["events"]}


def test_the_test_split_keeps_the_reference_drawing(new_splits):
    prompts = "\n".join(row["prompt"] for row in new_splits["test"])
    assert hashlib.sha256(prompts.encode()).hexdigest() == TEST_PROMPTS_SHA256
    assert event_names(new_splits["test"]) <= REFERENCE_NAMES


def test_train_and_pool_names_are_mostly_composed(new_splits):
    names = event_names(new_splits["train"] + new_splits["pool"])
    assert len(names - REFERENCE_NAMES) > 5 * len(REFERENCE_NAMES)


def test_reference_names_option_draws_train_from_the_reference_list(params):
    rows = generate_split("train", 50, params.data, names="reference")
    assert event_names(rows) <= REFERENCE_NAMES


def test_novel_split_shares_no_word_with_train_pool_or_test(new_splits):
    novel = set().union(*(word_tokens(name) for name in event_names(new_splits["test_novel"])))
    seen = event_names(new_splits["train"] + new_splits["pool"] + new_splits["test"])
    assert novel.isdisjoint(set().union(*(word_tokens(name) for name in seen)))


@pytest.mark.parametrize(("split", "low", "high"), [("test_novel", 4, 8), ("test_large", 9, 12)])
def test_new_test_splits_follow_the_rules(new_splits, split, low, high):
    for row in new_splits[split]:
        instance = row_instance(row)
        assert low <= len(row["events"]) <= high
        assert len({e.name for e in instance.events}) == len(instance.events)
        assert 1 <= count_overlapping_pairs(instance.events) <= 0.4 * len(instance.events)
        assert row["optimal_score"] == solve(instance)[0]
        assert row["prompt"] == instance.text()
    assert {len(row["events"]) for row in new_splits[split]} == set(range(low, high + 1))


@pytest.mark.parametrize("split", ["test_novel", "test_large"])
def test_new_test_splits_parse_and_score_like_any_other(new_splits, split):
    for row in new_splits[split]:
        verdict = judge(solver_completion(row_instance(row)), row_instance(row), row["optimal_score"])
        assert (verdict.score, verdict.broken_rule) == (100.0, None)


def test_test_splits_do_not_depend_on_the_seed_or_on_other_splits(params, new_splits):
    reseeded = params.data.model_copy(update={"seed": params.data.seed + 1})
    for split in ("test", "test_novel", "test_large"):
        assert generate_split(split, len(new_splits[split]), reseeded) == new_splits[split]


def test_no_prompt_is_shared_across_the_five_splits(new_splits):
    prompts = [row["prompt"] for rows in new_splits.values() for row in rows]
    assert len(set(prompts)) == len(prompts)


# --- settings no instance can satisfy: one line, never a hang -------------------------------------------

PROBE = {"min_events": 2, "max_events": 2, "latest_start": "00:00", "duration_min": 2000, "duration_max": 2000}


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (PROBE | {"max_overlap_ratio": 0.01}, "data.max_overlap_ratio: no instance of 2-2 events has between 1 and"),
        ({"max_events": 100}, "data.max_events: expected <= 32 (the fewest event names of a category), got 100"),
        ({"latest_start": "23:59"}, "data.latest_start: expected <= 23:58 (events end by 23:59), got '23:59'"),
        ({"max_overlap_ratio": 0.1}, "data.max_overlap_ratio: no instance of 4-8 events has between 1 and 0.1"),
    ],
)
def test_impossible_settings_are_refused_with_one_line(params, update, expected):
    with pytest.raises(GenerationError) as error:
        check_feasible(params.data.model_copy(update=update))
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_every_model_configuration_can_generate(repo_root):
    for model in sorted(p.stem for p in (repo_root / "conf" / "model").glob("*.yaml")):
        check_feasible(validate(compose([f"model={model}"]), model).data)


def test_draws_are_bounded(params):
    hopeless = params.data.model_copy(update=PROBE | {"max_overlap_ratio": 0.01})
    with pytest.raises(GenerationError, match="no draw of 50 had between 1 and 0.01"):
        draw_instance(random.Random(0), hopeless, attempts=50)


def test_too_few_distinct_instances_end_with_one_line(params, monkeypatch):
    from dayplan import names

    monkeypatch.setattr(names, "CATEGORIES", {"pair": ["a", "b"]})  # 2 names: a handful of distinct prompts
    p = params.data.model_copy(update=PROBE | {"duration_min": 60, "duration_max": 60, "max_overlap_ratio": 1.0})
    with pytest.raises(GenerationError, match=r"^data.n_train: 1000 draws in a row repeated earlier prompts"):
        list(generate_splits(p, {"train": 50}, names="reference"))


def test_generate_stage_exits_with_one_line(repo_root, tmp_path, monkeypatch):
    text = (repo_root / "params.yaml").read_text().replace("max_overlap_ratio: 0.4", "max_overlap_ratio: 0.01")
    text = text.replace("min_events: 4", "min_events: 2").replace("max_events: 8", "max_events: 2")
    (tmp_path / "params.yaml").write_text(text.replace('latest_start: "21:59"', 'latest_start: "00:00"'))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--out", "data"])
    assert str(exit_info.value.code).startswith("error: params.yaml: data: max_overlap_ratio: no instance of 2-2")
    assert not (tmp_path / "data").exists()


def test_offline_hub_dataset_is_one_line(monkeypatch):
    pytest.importorskip("datasets")
    import datasets

    def offline(name):
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(HubDataError) as error:
        load_hub_splits("anakin87/events-scheduling")
    assert str(error.value) == (
        "data.hub_dataset: cannot load 'anakin87/events-scheduling' (Couldn't reach 'anakin87/events-scheduling' "
        "on the Hub (OfflineModeIsEnabled)); go online or set data.source: generate"
    )


def test_hub_rows_are_checked(monkeypatch, rows):
    pytest.importorskip("datasets")
    import datasets

    good = [row for _, row in rows[:3]]
    bad = [good[0] | {"prompt": good[1]["prompt"]}]
    monkeypatch.setattr(datasets, "load_dataset", lambda name: {"train": good, "test": bad})
    with pytest.raises(HubDataError, match=r"^data.hub_dataset: hub/x \[test\]: row 0: prompt: expected the row's"):
        load_hub_splits("hub/x")
