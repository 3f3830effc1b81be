"""Stage report: reports/report.md and .html with figures, DVC metrics and plot data, and the evaluation in MLflow.

    python -m stages.report                                  # the test split: reports/<kind>/<model>.*
    python -m stages.report --splits test test_novel test_large  # reports/<kind>/<split>/<model>.*

--models sets the compared models and their order (default: evaluate.models); each is paired with the one
before it. evaluate.baselines are reported beside them, never paired. reports/summary.json holds each
split's means, 95 % intervals, rates and paired differences, for `dvc metrics show`.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from dayplan import tracking
from dayplan.config import load_params_or_exit
from dayplan.io import atomic_path, write_json, write_text
from dayplan.report import (
    load_log,
    load_model_results,
    markdown_to_html,
    plot_intervals,
    plot_rewards,
    plot_scores,
    render_markdown,
    rounded,
    split_summary,
)

REPORTS = Path("reports")
SINGLE_SPLIT = "test"  # the name of the split in the layout without split folders


def scores_csv(summary: dict) -> str:
    """The first split's models, for DVC's bar plot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "mean_score", "ci_low", "ci_high", "valid_rate", "share_optimal"])
    for name, m in summary["models"].items():
        numbers = (m["mean"], m["ci_low"], m["ci_high"], m["valid_rate"], m["optimal_rate"])
        writer.writerow([name, *(round(number, 4) for number in numbers)])
    return buffer.getvalue()


def mlflow_metrics(split: str, summary: dict, results: dict[str, dict]) -> dict[str, float]:
    """eval.<model>.<metric> for the test split (as before the extra splits), eval.<split>.<model>.<metric> else."""
    prefix = "eval." if split == SINGLE_SPLIT else f"eval.{split}."
    metrics = {}
    for name, result in results.items():
        numbers = {k: v for k, v in result["metrics"].items() if isinstance(v, (int, float))}
        numbers |= {key: summary["models"][name][key] for key in ("ci_low", "ci_high", "optimal_rate")}
        metrics |= {f"{prefix}{name}.{key}": float(value) for key, value in numbers.items()}
    for pair, d in summary["paired"].items():
        metrics |= {f"{prefix}{pair}.{key}": float(d[key]) for key in ("diff", "ci_low", "ci_high", "p_not_better")}
    return metrics


def log_to_mlflow(results_by_split: dict[str, dict], summaries: dict[str, dict]) -> None:
    """Evaluation metrics per split and model (side by side in the UI), per-row scores, and the report."""
    with tracking.joined_run() as mlflow:
        if mlflow is None:
            print("no MLflow run recorded (models/grpo/mlflow_run.json): evaluation not logged")
            return
        for split, results in results_by_split.items():
            mlflow.log_metrics(mlflow_metrics(split, summaries[split], results))
            folder = "eval" if split == SINGLE_SPLIT else f"eval/{split}"
            for name, result in results.items():
                mlflow.log_table(
                    data={k: [s[k] for s in result["scores"]] for k in ("id", "score", "broken_rule")},
                    artifact_file=f"{folder}/{name}_scores.json",
                )
        mlflow.log_artifact(str(REPORTS / "report.md"), "report")
        mlflow.log_artifact(str(REPORTS / "report.html"), "report")
        mlflow.log_artifacts(str(REPORTS / "figures"), "report/figures")


def context(params, summaries: dict[str, dict]) -> dict:
    train_rows = params.train.rows or params.data.n_train
    rows = {split: max((m["n"] for m in s["models"].values()), default=0) for split, s in summaries.items()}
    test_rows = rows.get(SINGLE_SPLIT, 0)
    subset = 0 < test_rows < params.data.n_test  # evaluated on a subset: the CPU default
    return {
        "model": params.model.name,
        "eval_rows": ", ".join(f"{n} `{split}` rows" for split, n in rows.items()),
        "train_rows": train_rows,
        "epochs": params.train.grpo.get("num_train_epochs"),
        "generation": f"{params.evaluate.max_new_tokens} new tokens, temperature {params.evaluate.temperature}",
        "subset_note": (
            f"A smoke run sized for a laptop: {train_rows} of {params.data.n_train} train rows, {test_rows} of "
            f"{params.data.n_test} test rows. It checks that every stage runs, not what GRPO learns: that is the "
            "GPU configuration's job (`model=smollm2-135m-quality`, docs/results-gpu.md)."
            if subset
            else ""
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", nargs="+", help="evaluated splits, each with its own folders under reports/")
    parser.add_argument("--models", nargs="+", help="compared models, in order (default: evaluate.models)")
    args = parser.parse_args()
    params = load_params_or_exit()
    compared = args.models or list(params.evaluate.models)
    names = [*compared, *(b for b in params.evaluate.baselines if b not in compared)]
    folders = {split: split for split in args.splits} if args.splits else {SINGLE_SPLIT: None}
    results_by_split = {split: load_model_results(names, REPORTS, folder) for split, folder in folders.items()}
    summaries = {split: split_summary(results, compared) for split, results in results_by_split.items()}
    first_split = next(iter(summaries))
    log = load_log(REPORTS / "train" / "log.csv")
    with atomic_path(REPORTS / "figures") as figures:
        figures.mkdir()
        has_rewards_plot = plot_rewards(log, figures / "rewards.png")
        plot_scores(results_by_split[first_split], figures / "scores.png")
        plot_intervals(summaries, figures / "score_intervals.png")
    markdown_text = render_markdown(
        results_by_split[first_split], summaries, log, context(params, summaries), has_rewards_plot
    )
    write_text(REPORTS / "report.md", markdown_text)
    write_text(REPORTS / "report.html", markdown_to_html(markdown_text))
    write_text(REPORTS / "plots" / "scores.csv", scores_csv(summaries[first_split]))
    write_json(REPORTS / "summary.json", rounded(summaries))
    log_to_mlflow(results_by_split, summaries)
    print(f"reports/report.md: {len(names)} models on {len(summaries)} split(s)")


if __name__ == "__main__":
    main()
