"""Stage report: the report (markdown, HTML, figures), DVC metrics and plot data, and the evaluation in MLflow.

Inputs: --metrics, --scores and --completions, the folders the score and infer stages write, with
<split>/<model>.* for each of --splits (without --splits: <model>.*, the single test split), and
--train-live, the train stage's DVCLive folder (no reward curves without it). Outputs: --report (markdown), --html,
--figures (a folder), --summary (each split's means, 95 % intervals, rates and paired differences, for
`dvc metrics show`) and --plot-data (the first split's mean scores, CSV for `dvc plots`).
--models sets the compared models and their order (default: evaluate.models); each is paired with the one
before it. evaluate.baselines are reported beside them, never paired.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.io import write_json, write_text
from dayplan.report import markdown_to_html, render_markdown, run_context
from dayplan.report_figures import write_figures
from dayplan.report_inputs import load_splits, load_steps, report_models
from dayplan.report_mlflow import log_evaluation
from dayplan.report_stats import rounded, scores_csv, split_summary

INPUTS = ("--metrics", "--scores", "--completions", "--train-live")
OUTPUTS = ("--report", "--html", "--figures", "--summary", "--plot-data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in (*INPUTS, *OUTPUTS):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--splits", nargs="+", help="evaluated splits, each a folder in the input folders")
    parser.add_argument("--models", nargs="+", help="compared models, in order (default: evaluate.models)")
    args = parser.parse_args()
    params = load_params_or_exit()
    compared = args.models or list(params.evaluate.models)
    names = report_models(compared, params.evaluate.baselines)
    folders = {"metrics": args.metrics, "scores": args.scores, "completions": args.completions}
    results_by_split = load_splits(names, folders, args.splits)
    summaries = {split: split_summary(results, compared) for split, results in results_by_split.items()}
    first_split = next(iter(summaries))  # the split of the histograms, samples and plot data
    log = load_steps(args.train_live)
    has_rewards_plot = write_figures(args.figures, log, results_by_split[first_split], summaries)
    context = run_context(params, summaries, args.report, args.figures)
    markdown_text = render_markdown(results_by_split[first_split], summaries, log, context, has_rewards_plot)
    write_text(args.report, markdown_text)
    write_text(args.html, markdown_to_html(markdown_text))
    write_text(args.plot_data, scores_csv(summaries[first_split]))
    write_json(args.summary, rounded(summaries))
    log_evaluation(results_by_split, summaries, args.report, args.html, args.figures)
    print(f"{args.report}: {len(names)} models on {len(summaries)} split(s)")


if __name__ == "__main__":
    main()
