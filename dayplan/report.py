"""The report's text: per split, a table of each model's mean score with its 95 % interval, rates and broken
rules, and a table of paired comparisons; the run it describes, reward curves, figures and sample completions.
Markdown, and the same as one HTML page.

The numbers come from dayplan.report_stats, the figures from dayplan.report_figures.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from dayplan.report_inputs import SINGLE_SPLIT
from dayplan.stats import RESAMPLES
from dayplan.task import BROKEN_RULES, DECODINGS

# Below this many evaluated rows the report says the intervals are wide (a smoke run).
SMALL_SPLIT_ROWS = 100
SPLIT_NOTES = {
    "test": "the reference experiment's test split (names from the reference list, 4-8 events)",
    "test_novel": "names from a held-out vocabulary that never occurs in training (4-8 events)",
    "test_large": "9-12 events (training has 4-8)",
}


def run_context(params, summaries: dict[str, dict], report: Path, figures: Path) -> dict:
    """What the report's first lines say about the run, and where its figures are from the report's folder."""
    train_rows = params.train.rows or params.data.n_train
    rows = {split: max((m["n"] for m in s["models"].values()), default=0) for split, s in summaries.items()}
    test_rows = rows.get(SINGLE_SPLIT, 0)
    subset = 0 < test_rows < params.data.n_test  # evaluated on a subset: the CPU default
    return {
        "model": params.model.name,
        "eval_rows": ", ".join(f"{n} `{split}` rows" for split, n in rows.items()),
        "train_rows": train_rows,
        "epochs": params.train.grpo.get("num_train_epochs"),
        "generation": (
            f"{params.evaluate.max_new_tokens} new tokens, temperature {params.evaluate.temperature}, "
            + DECODINGS[params.evaluate.decoding]
        ),
        "subset_note": (
            f"A smoke run sized for a laptop: {train_rows} of {params.data.n_train} train rows, {test_rows} of "
            f"{params.data.n_test} test rows. It checks that every stage runs, not what GRPO learns: that is the "
            "GPU configuration's job (`model=smollm2-135m-dpl-grpo`, where GRPO gains 19.1 points over its warm-start "
            "on `test_novel`; docs/results-gpu.md)."
            if subset
            else ""
        ),
        "figures": Path(os.path.relpath(figures, report.parent)).as_posix(),
    }


def comparison_table(summary: dict) -> str:
    """One split's models: mean [95 % CI], valid, optimal, and the share of each first broken rule."""
    header = ["model", "rows", "mean [95% CI]", "valid", "optimal", *BROKEN_RULES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in summary["models"].items():
        cells = [name, str(m["n"]), f"{m['mean']:.1f} [{m['ci_low']:.1f}, {m['ci_high']:.1f}]"]
        cells += [f"{m['valid_rate']:.0%}", f"{m['optimal_rate']:.0%}"]
        cells += [f"{m[f'share_{rule}']:.0%}" for rule in BROKEN_RULES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def probability(p: float) -> str:
    """A bootstrap share; 0 means below the resolution of the resamples, not impossible."""
    return f"< {1 / RESAMPLES:g}" if p == 0 else f"{p:.4f}"


def paired_table(summary: dict) -> str:
    lines = ["| comparison | rows | mean difference [95% CI] | p(difference <= 0) |", "|---|---|---|---|"]
    for key, d in summary["paired"].items():
        interval = f"{d['diff']:+.1f} [{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]"
        lines.append(f"| {key.replace('_vs_', ' vs ')} | {d['n']} | {interval} | {probability(d['p_not_better'])} |")
    return "\n".join(lines)


def small_split_note(summary: dict, split: str) -> str:
    """A line saying the intervals are wide when the split was evaluated on a small subset."""
    rows = max((m["n"] for m in summary["models"].values()), default=0)
    if not rows or rows >= SMALL_SPLIT_ROWS:
        return ""
    return (
        f"Only {rows} rows of `{split}` were evaluated, a subset for a smoke run (the CPU default): "
        f"the 95% intervals are wide."
    )


def samples(result: dict) -> list[tuple[str, dict, dict]]:
    """Best, typical (median score) and worst completion of one model (rows without one are left out)."""
    by_id = {completion["id"]: completion for completion in result["completions"]}
    answered = [(score, by_id[score["id"]]) for score in result["scores"] if score["id"] in by_id]
    ranked = sorted(answered, key=lambda pair: pair[0]["score"])
    if not ranked:
        return []
    picks = {"best": ranked[-1], "typical": ranked[len(ranked) // 2], "worst": ranked[0]}
    return [(label, score, completion) for label, (score, completion) in picks.items()]


def split_section(split: str, summary: dict) -> list[str]:
    parts = [f"### `{split}`", ""]
    if split in SPLIT_NOTES:
        parts += [f"{SPLIT_NOTES[split].capitalize()}.", ""]
    note = small_split_note(summary, split)
    if note:
        parts += [f"> {note}", ""]
    parts += [comparison_table(summary), ""]
    if summary["paired"]:
        parts += ["Paired comparisons on the same rows (each model minus the one before it):", ""]
        parts += [paired_table(summary), ""]
    return parts


def render_markdown(
    results: dict[str, dict], summaries: dict[str, dict], log: list[dict], context: dict, has_rewards_plot: bool
) -> str:
    """The report in Markdown.

    results: the first split's models (samples, histograms); summaries: split -> split_summary; context:
    run_context(); has_rewards_plot: whether plot_rewards drew the training curves.
    """
    parts = ["# Day-planning GRPO report", ""]
    parts.append(
        f"Model configuration `{context['model']}`; evaluated on {context['eval_rows']}; "
        f"GRPO on {context['train_rows']} train rows for {context['epochs']} epoch(s) ({len(log)} logged steps). "
        f"Generation: {context['generation']}."
    )
    if context.get("subset_note"):
        parts.append("")
        parts.append(f"> {context['subset_note']}")
    parts += ["", "## Comparison", ""]
    parts.append(
        "Score: 100 x weighted duration / optimum for a valid schedule, 0 when any rule is broken "
        "(rules checked in the order of the columns, each column the share of answers that broke it first). "
        "Touching events do not overlap. Intervals: 95% percentile bootstrap over the rows (10,000 resamples); "
        "p(difference <= 0): the share of paired resamples in which the newer model is not better."
    )
    parts.append("")
    for split, summary in summaries.items():
        parts += split_section(split, summary)
    figures = context["figures"]
    parts += [f"![score intervals]({figures}/score_intervals.png)", ""]
    if has_rewards_plot:
        first, last = log[0], log[-1]
        parts += ["## Training curves", "", f"![rewards]({figures}/rewards.png)", ""]
        parts.append(
            f"Total reward {first.get('reward', float('nan')):.2f} at step {int(first['step'])} -> "
            f"{last.get('reward', float('nan')):.2f} at step {int(last['step'])}; mean over the run "
            f"{statistics.fmean(r.get('reward', 0.0) for r in log):.2f}."
        )
        parts.append("")
    first_split = next(iter(summaries), "test")
    parts += [f"## Scores and broken rules (`{first_split}`)", "", f"![scores]({figures}/scores.png)", ""]
    if results:
        name = list(results)[-1]
        parts += [f"## Sample completions ({name}, `{first_split}`)", ""]
        for label, score, completion in samples(results[name]):
            rule = score["broken_rule"] or "none"
            parts += [f"### {label}: row {score['id']}, score {score['score']:.1f}, broken rule: {rule}", ""]
            parts += ["```xml", completion["completion"].strip()[:3000], "```", ""]
    return "\n".join(parts) + "\n"


def markdown_to_html(markdown_text: str) -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"])
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}pre{background:#f6f6f6;padding:8px;overflow:auto}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Report</title><style>{style}</style>"
        f"</head><body>{body}</body></html>\n"
    )
