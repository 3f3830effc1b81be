"""The report: per split, each model's mean score with a 95 % bootstrap interval and its broken rules, and
paired comparisons of each model with the one before it; reward curves, score distributions, samples.

Inputs per split (split None: the single test split, as the pipeline wrote it before the extra splits):
reports/scores/<split>/<model>.jsonl (id, score, broken_rule), reports/metrics/<split>/<model>.json
(stages/score.py's aggregates; n = 0 marks a skipped model) and reports/completions/<split>/<model>.jsonl.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from dayplan.io import read_jsonl
from dayplan.stats import RESAMPLES, broken_rule_shares, mean_interval, optimal_rate, paired_difference
from dayplan.task import BROKEN_RULES

REWARDS = ("format", "sorted", "score", "overlap")
# Below this many evaluated rows the report says the intervals are wide (a smoke run).
SMALL_SPLIT_ROWS = 100
SPLIT_NOTES = {
    "test": "the reference experiment's test split (names from the reference list, 4-8 events)",
    "test_novel": "names from a held-out vocabulary that never occurs in training (4-8 events)",
    "test_large": "9-12 events (training has 4-8)",
}


def load_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def result_path(reports: Path, kind: str, split: str | None, name: str, suffix: str) -> Path:
    """reports/<kind>/<split>/<name><suffix>; split None: the single-split layout reports/<kind>/<name><suffix>."""
    folder = reports / kind if split is None else reports / kind / split
    return folder / f"{name}{suffix}"


def load_model_results(names: list[str], reports: Path, split: str | None = None) -> dict[str, dict]:
    """name -> {metrics, scores, completions} for every model that was evaluated (skipped ones left out)."""
    results = {}
    for name in names:
        metrics_path = result_path(reports, "metrics", split, name, ".json")
        if not metrics_path.exists():
            continue
        metrics = json.loads(metrics_path.read_text())
        if not metrics.get("n"):
            continue
        scores = read_jsonl(result_path(reports, "scores", split, name, ".jsonl"))
        completions = read_jsonl(result_path(reports, "completions", split, name, ".jsonl"))
        results[name] = {"metrics": metrics, "scores": scores, "completions": completions}
    return results


# --- Statistics per split ----------------------------------------------------------------------------


def model_summary(scores: list[dict], seed: int = 0) -> dict:
    """n, mean score with its 95 % bootstrap interval, valid and optimal rates, share of each broken rule."""
    values = [s["score"] for s in scores]
    interval = mean_interval(values, seed=seed)
    shares = broken_rule_shares([s["broken_rule"] for s in scores])
    summary = {
        "n": len(values),
        "mean": interval.mean,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "valid_rate": sum(s["broken_rule"] is None for s in scores) / len(scores),
        "optimal_rate": optimal_rate(values),
    }
    return summary | {f"share_{rule}": share for rule, share in shares.items()}


def consecutive_pairs(names: list[str]) -> list[tuple[str, str]]:
    """(new, old) for each model and the one before it: warmstart vs base, epoch2 vs warmstart, ..."""
    return list(zip(names[1:], names[:-1]))


def aligned_scores(new: list[dict], old: list[dict]) -> tuple[list[float], list[float]]:
    """Both models' scores on the rows both were scored on, in row order."""
    new_by_id, old_by_id = ({s["id"]: s["score"] for s in scores} for scores in (new, old))
    shared = sorted(new_by_id.keys() & old_by_id.keys())
    return [new_by_id[i] for i in shared], [old_by_id[i] for i in shared]


def paired_summary(new: list[dict], old: list[dict], seed: int = 0) -> dict | None:
    """new - old on the shared rows: mean difference, its interval, p(diff <= 0); None without shared rows."""
    new_scores, old_scores = aligned_scores(new, old)
    if not new_scores:
        return None
    diff = paired_difference(new_scores, old_scores, seed=seed)
    return {"n": diff.n, "diff": diff.mean, "ci_low": diff.low, "ci_high": diff.high, "p_not_better": diff.p_not_better}


def split_summary(results: dict[str, dict], compared: list[str], seed: int = 0) -> dict:
    """{models: {name: model_summary}, paired: {"new_vs_old": paired_summary}} for one split.

    Each model in `compared` is paired with the one before it among those evaluated, so that a skipped
    warm-start gives "epoch2 vs base" rather than no comparison.
    """
    models = {name: model_summary(result["scores"], seed) for name, result in results.items()}
    paired = {}
    for new, old in consecutive_pairs([name for name in compared if name in results]):
        comparison = paired_summary(results[new]["scores"], results[old]["scores"], seed)
        if comparison is not None:
            paired[f"{new}_vs_{old}"] = comparison
    return {"models": models, "paired": paired}


def rounded(tree, digits: int = 4):
    """The summary with floats rounded, for a metrics file that diffs cleanly."""
    if isinstance(tree, dict):
        return {key: rounded(value, digits) for key, value in tree.items()}
    return round(tree, digits) if isinstance(tree, float) else tree


# --- Tables ---------------------------------------------------------------------------------------------


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


def plot_rewards(log: list[dict], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not log:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    steps = [row["step"] for row in log]
    for name in REWARDS:
        key = f"rewards_{name}_mean"
        if any(key in row for row in log):
            axes[0].plot(steps, [row.get(key, float("nan")) for row in log], marker=".", label=name)
    axes[0].set(title="Reward per function (unweighted mean)", xlabel="GRPO step", ylabel="points")
    axes[0].legend()
    axes[1].plot(steps, [row.get("reward", float("nan")) for row in log], marker=".", label="total (weighted)")
    axes[1].plot(steps, [row.get("reward_std", float("nan")) for row in log], marker=".", label="std in group")
    axes[1].set(title="Total reward", xlabel="GRPO step")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_scores(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    bins = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99.999, 100.001]
    for name, result in results.items():
        axes[0].hist([s["score"] for s in result["scores"]], bins=bins, histtype="step", linewidth=2, label=name)
    axes[0].set(title="Score distribution (100 = optimal)", xlabel="score", ylabel="completions")
    axes[0].legend()
    bottom = [0] * len(results)
    names = list(results)
    for rule in (*BROKEN_RULES, "valid"):
        key = "valid_schedules" if rule == "valid" else f"broken_{rule}"
        counts = [results[n]["metrics"][key] for n in names]
        axes[1].bar(names, counts, bottom=bottom, label=rule)
        bottom = [b + c for b, c in zip(bottom, counts)]
    axes[1].set(title="First broken rule per completion", ylabel="completions")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_intervals(summaries: dict[str, dict], path: Path) -> None:
    """Mean score and its 95 % interval, per split (groups) and model (colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(summaries)
    models = list(dict.fromkeys(name for summary in summaries.values() for name in summary["models"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(splits) * max(1, len(models)) / 2), 3.8))
    width = 0.8 / max(1, len(models))
    for index, name in enumerate(models):
        xs, means, errors = [], [], [[], []]
        for position, split in enumerate(splits):
            m = summaries[split]["models"].get(name)
            if m is None:
                continue
            xs.append(position - 0.4 + width * (index + 0.5))
            means.append(m["mean"])
            errors[0].append(m["mean"] - m["ci_low"])
            errors[1].append(m["ci_high"] - m["mean"])
        ax.errorbar(xs, means, yerr=errors, fmt="o", capsize=4, label=name)
    ax.set_xticks(range(len(splits)), splits)
    ax.set(title="Mean score with 95% bootstrap interval", ylabel="score (100 = optimal)", ylim=(-2, 102))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    """results: the first split's models (samples, histograms); summaries: split -> split_summary."""
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
    parts += ["![score intervals](figures/score_intervals.png)", ""]
    if has_rewards_plot:
        first, last = log[0], log[-1]
        parts += ["## Training curves", "", "![rewards](figures/rewards.png)", ""]
        parts.append(
            f"Total reward {first.get('reward', float('nan')):.2f} at step {int(first['step'])} -> "
            f"{last.get('reward', float('nan')):.2f} at step {int(last['step'])}; mean over the run "
            f"{statistics.fmean(r.get('reward', 0.0) for r in log):.2f}."
        )
        parts.append("")
    first_split = next(iter(summaries), "test")
    parts += [f"## Scores and broken rules (`{first_split}`)", "", "![scores](figures/scores.png)", ""]
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
