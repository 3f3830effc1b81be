"""Stage report: reports/report.md and .html with figures, DVC plot data, and the evaluation in MLflow."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dayplan import tracking
from dayplan.config import load_params_or_exit
from dayplan.io import atomic_path, write_text
from dayplan.report import load_log, load_model_results, markdown_to_html, plot_rewards, plot_scores, render_markdown

REPORTS = Path("reports")


def scores_csv(results: dict[str, dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "mean_score", "valid_schedules", "share_optimal"])
    for name, result in results.items():
        m = result["metrics"]
        writer.writerow([name, round(m["mean_score"], 4), m["valid_schedules"], round(m["share_optimal"], 4)])
    return buffer.getvalue()


def log_to_mlflow(results: dict[str, dict]) -> None:
    """Evaluation metrics per model (eval.<model>.<metric>, side by side in the UI) and the report."""
    with tracking.joined_run() as mlflow:
        if mlflow is None:
            print("no MLflow run recorded (models/grpo/mlflow_run.json): evaluation not logged")
            return
        for name, result in results.items():
            numbers = {k: v for k, v in result["metrics"].items() if isinstance(v, (int, float))}
            mlflow.log_metrics({f"eval.{name}.{key}": float(value) for key, value in numbers.items()})
            mlflow.log_table(
                data={k: [s[k] for s in result["scores"]] for k in ("id", "score", "broken_rule")},
                artifact_file=f"eval/{name}_scores.json",
            )
        mlflow.log_artifact(str(REPORTS / "report.md"), "report")
        mlflow.log_artifact(str(REPORTS / "report.html"), "report")
        mlflow.log_artifacts(str(REPORTS / "figures"), "report/figures")


def main() -> None:
    params = load_params_or_exit()
    names = [*params.evaluate.models, *params.evaluate.baselines]
    results = load_model_results(names, REPORTS)
    log = load_log(REPORTS / "train" / "log.csv")
    eval_rows = max((r["metrics"]["n"] for r in results.values()), default=0)
    context = {
        "model": params.model.name,
        "eval_rows": eval_rows,
        "train_rows": params.train.rows or params.data.n_train,
        "epochs": params.train.grpo.get("num_train_epochs"),
        "generation": f"{params.evaluate.max_new_tokens} new tokens, temperature {params.evaluate.temperature}",
        "subset_note": (
            f"Sized for a laptop: a subset of the data ({params.train.rows or params.data.n_train} of "
            f"{params.data.n_train} train rows, {eval_rows} of {params.data.n_test} test rows)."
            if (params.train.rows or params.data.n_train) < params.data.n_train or eval_rows < params.data.n_test
            else ""
        ),
    }
    with atomic_path(REPORTS / "figures") as figures:
        figures.mkdir()
        has_rewards_plot = plot_rewards(log, figures / "rewards.png")
        plot_scores(results, figures / "scores.png")
    markdown_text = render_markdown(results, log, context, has_rewards_plot)
    write_text(REPORTS / "report.md", markdown_text)
    write_text(REPORTS / "report.html", markdown_to_html(markdown_text))
    write_text(REPORTS / "plots" / "scores.csv", scores_csv(results))
    log_to_mlflow(results)
    print(f"reports/report.md: {len(results)} models compared")


if __name__ == "__main__":
    main()
