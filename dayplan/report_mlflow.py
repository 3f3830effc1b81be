"""The evaluation in MLflow, in the pipeline's run: metrics per split and model (side by side in the UI),
per-row scores as tables, and the report with its figures as artifacts.
"""

from __future__ import annotations

from pathlib import Path

from dayplan import tracking
from dayplan.report_inputs import SINGLE_SPLIT


def mlflow_metrics(split: str, summary: dict, results: dict[str, dict]) -> dict[str, float]:
    """eval.<model>.<metric> for the test split, eval.<split>.<model>.<metric> for the others.

    The test split keeps the keys without a split so that its charts line up with runs that had no other split.
    """
    prefix = "eval." if split == SINGLE_SPLIT else f"eval.{split}."
    metrics = {}
    for name, result in results.items():
        numbers = {k: v for k, v in result["metrics"].items() if isinstance(v, (int, float))}
        numbers |= {key: summary["models"][name][key] for key in ("ci_low", "ci_high", "optimal_rate")}
        metrics |= {f"{prefix}{name}.{key}": float(value) for key, value in numbers.items()}
    for pair, d in summary["paired"].items():
        metrics |= {f"{prefix}{pair}.{key}": float(d[key]) for key in ("diff", "ci_low", "ci_high", "p_not_better")}
    return metrics


def log_evaluation(
    results_by_split: dict[str, dict], summaries: dict[str, dict], report: Path, html: Path, figures: Path
) -> None:
    """Metrics and per-row scores of every split and model, and the report (markdown, HTML, figures)."""
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
        mlflow.log_artifact(str(report), "report")
        mlflow.log_artifact(str(html), "report")
        mlflow.log_artifacts(str(figures), "report/figures")
