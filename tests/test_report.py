"""The report: per-split statistics on known scores, pairing by row, and the stage on a fake evaluation."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import pytest

from dayplan.report import comparison_table, paired_table, small_split_note
from dayplan.report_stats import aligned_scores, model_summary, split_summary
from dayplan.scoring import metrics as scoring_metrics
from dayplan.task import BROKEN_RULES


def metrics(scores: list[dict]) -> dict:
    return scoring_metrics(scores, test_set="rows")


MODELS = ("base", "warmstart", "epoch2", "epoch3")
SPLITS = ("test", "test_novel", "test_large")
# the paths dvc.yaml's report stage passes
PATHS = (
    "--metrics", "reports/metrics", "--scores", "reports/scores", "--completions", "reports/completions",
    "--train-live", "reports/train/live", "--report", "reports/report.md", "--html", "reports/report.html",
    "--figures", "reports/figures", "--summary", "reports/summary.json", "--plot-data", "reports/plots/scores.csv",
)  # fmt: skip


def scored(values: list[tuple[float, str | None]]) -> list[dict]:
    return [{"id": i, "score": score, "broken_rule": rule} for i, (score, rule) in enumerate(values)]


def result(scores: list[dict]) -> dict:
    return {"metrics": metrics(scores), "scores": scores, "completions": []}


def test_model_summary_on_known_scores():
    summary = model_summary(scored([(100.0, None), (100.0, None), (0.0, "overlap"), (50.0, None)]))
    assert (summary["n"], summary["mean"], summary["valid_rate"], summary["optimal_rate"]) == (4, 62.5, 0.75, 0.5)
    assert summary["share_overlap"] == 0.25 and summary["share_format"] == 0.0
    assert 0.0 <= summary["ci_low"] <= 62.5 <= summary["ci_high"] <= 100.0


def test_scores_are_paired_by_row_id():
    new = [{"id": 2, "score": 30.0}, {"id": 0, "score": 10.0}, {"id": 5, "score": 99.0}]
    old = [{"id": 0, "score": 1.0}, {"id": 1, "score": 2.0}, {"id": 2, "score": 3.0}]
    assert aligned_scores(new, old) == ([10.0, 30.0], [1.0, 3.0])


def test_each_model_is_paired_with_the_previous_evaluated_one():
    results = {name: result(scored([(10.0 * i, None)] * 5)) for i, name in enumerate(("base", "epoch2", "epoch3"))}
    summary = split_summary(results, list(MODELS))  # warmstart skipped
    assert list(summary["paired"]) == ["epoch2_vs_base", "epoch3_vs_epoch2"]
    assert summary["paired"]["epoch2_vs_base"]["diff"] == 10.0
    assert summary["paired"]["epoch2_vs_base"]["p_not_better"] == 0.0
    assert "| epoch2 vs base | 5 | +10.0 [+10.0, +10.0] | < 0.0001 |" in paired_table(summary)


def test_tables_show_intervals_rates_and_rule_shares():
    results = {
        "base": result(scored([(0.0, "format")] * 3 + [(100.0, None)])),
        "warmstart": result(scored([(100.0, None)] * 4)),
    }
    summary = split_summary(results, ["base", "warmstart"])
    table = comparison_table(summary)
    # resamples of (0, 0, 0, 100): mean 75 or more with probability 13/256 > 2.5 %, 100 with 1/256 < 2.5 %
    assert "| base | 4 | 25.0 [0.0, 75.0] | 25% | 25% | 75% | 0% |" in table
    assert "| warmstart | 4 | 100.0 [100.0, 100.0] | 100% | 100% |" in table
    assert table.splitlines()[0].count("|") == 6 + len(BROKEN_RULES)
    assert "| warmstart vs base | 4 | +75.0 [" in paired_table(summary)


@pytest.mark.parametrize(("rows", "noted"), [(20, True), (99, True), (100, False), (1000, False)])
def test_small_splits_are_said_to_have_wide_intervals(rows, noted):
    summary = split_summary({"base": result(scored([(50.0, None)] * rows))}, ["base"])
    note = small_split_note(summary, "test_novel")
    assert bool(note) == noted
    assert not noted or f"Only {rows} rows of `test_novel`" in note


def write_fake_evaluation(reports, split: str | None, rows: int) -> None:
    """Scores, metrics and completions of the four models, each a little better than the one before."""
    rng = random.Random(split)
    for level, name in enumerate(MODELS):
        values = [(100.0, None) if rng.random() < 0.2 * (level + 1) else (0.0, "overlap") for _ in range(rows)]
        scores = scored(values)
        completions = [{"id": s["id"], "completion": f"<schedule>{name}</schedule>"} for s in scores]
        for kind, suffix, content in (
            ("scores", ".jsonl", "".join(json.dumps(s) + "\n" for s in scores)),
            ("completions", ".jsonl", "".join(json.dumps(c) + "\n" for c in completions)),
            ("metrics", ".json", json.dumps(metrics(scores))),
        ):
            folder = reports / kind if split is None else reports / kind / split
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}{suffix}").write_text(content)


def write_fake_training(live_dir) -> None:
    """Three GRPO steps as the train stage's DVCLive callback writes them, under TRL's metric names."""
    from dvclive import Live

    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None) as live:
        for step in (1, 2, 3):
            live.step = step
            for name, value in (("reward", 2.0 * step), ("reward_std", 1.0), ("rewards/format_reward/mean", 1.0)):
                live.log_metric(name, value)
            live.next_step()


def run_report(work, repo_root, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAYPLAN_PARAMS"}
    env["PYTHONPATH"] = str(repo_root)
    done = subprocess.run(
        [sys.executable, "-m", "stages.report", *PATHS, *args], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def work(tmp_path, repo_root):
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(repo_root / "recipes", tmp_path / "recipes")
    return tmp_path


def test_stage_reports_every_split_side_by_side(work, repo_root):
    for split in SPLITS:
        write_fake_evaluation(work / "reports", split, rows=40)
    write_fake_training(work / "reports" / "train" / "live")
    run_report(work, repo_root, "--splits", *SPLITS)
    report = (work / "reports" / "report.md").read_text()
    assert "(3 logged steps)" in report
    assert "Total reward 2.00 at step 1 -> 6.00 at step 3; mean over the run 4.00." in report
    assert (work / "reports" / "figures" / "rewards.png").stat().st_size > 1000
    for split in SPLITS:
        assert f"### `{split}`" in report
        assert f"Only 40 rows of `{split}`" in report
    for name in MODELS:
        assert f"| {name} | 40 |" in report
    for pair in ("warmstart vs base", "epoch2 vs warmstart", "epoch3 vs epoch2"):
        assert report.count(f"| {pair} | 40 |") == len(SPLITS)
    summary = json.loads((work / "reports" / "summary.json").read_text())
    assert set(summary) == set(SPLITS)
    base = summary["test_novel"]["models"]["base"]
    assert base["ci_low"] <= base["mean"] <= base["ci_high"] and 0 <= base["optimal_rate"] <= 1
    assert set(summary["test_large"]["paired"]) == {"warmstart_vs_base", "epoch2_vs_warmstart", "epoch3_vs_epoch2"}
    assert (work / "reports" / "figures" / "score_intervals.png").stat().st_size > 1000
    assert "![score intervals](figures/score_intervals.png)" in report  # relative to report.md


def test_stage_without_splits_reads_the_single_test_split(work, repo_root):
    write_fake_evaluation(work / "reports", None, rows=100)
    run_report(work, repo_root)
    report = (work / "reports" / "report.md").read_text()
    assert "### `test`" in report and "Only " not in report
    assert "## Training curves" not in report  # no DVCLive folder: no training yet
    summary = json.loads((work / "reports" / "summary.json").read_text())
    assert set(summary) == {"test"} and summary["test"]["models"]["epoch3"]["n"] == 100
    header = (work / "reports" / "plots" / "scores.csv").read_text().splitlines()[0]
    assert header == "model,mean_score,ci_low,ci_high,valid_rate,share_optimal"
