"""The report: comparison table, reward curves, score distributions, broken rules, sample completions."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from dayplan.task import BROKEN_RULES

REWARDS = ("format", "sorted", "score", "overlap")


def load_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def load_model_results(names: list[str], reports: Path) -> dict[str, dict]:
    """name -> {metrics, scores, completions} for every model that was evaluated (skipped ones left out)."""
    results = {}
    for name in names:
        metrics_path = reports / "metrics" / f"{name}.json"
        if not metrics_path.exists():
            continue
        metrics = json.loads(metrics_path.read_text())
        if not metrics.get("n"):
            continue
        scores = [json.loads(line) for line in (reports / "scores" / f"{name}.jsonl").read_text().splitlines()]
        completions = [
            json.loads(line) for line in (reports / "completions" / f"{name}.jsonl").read_text().splitlines()
        ]
        results[name] = {"metrics": metrics, "scores": scores, "completions": completions}
    return results


def comparison_table(results: dict[str, dict]) -> str:
    header = ["model", "mean score", "valid", "optimal", *BROKEN_RULES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, result in results.items():
        m = result["metrics"]
        cells = [name, f"{m['mean_score']:.2f}", f"{m['valid_schedules']}/{m['n']}", f"{m['share_optimal']:.0%}"]
        cells += [str(m[f"broken_{rule}"]) for rule in BROKEN_RULES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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


def samples(result: dict) -> list[tuple[str, dict, dict]]:
    """Best, typical (median score) and worst completion of one model (rows without one are left out)."""
    by_id = {completion["id"]: completion for completion in result["completions"]}
    answered = [(score, by_id[score["id"]]) for score in result["scores"] if score["id"] in by_id]
    ranked = sorted(answered, key=lambda pair: pair[0]["score"])
    if not ranked:
        return []
    picks = {"best": ranked[-1], "typical": ranked[len(ranked) // 2], "worst": ranked[0]}
    return [(label, score, completion) for label, (score, completion) in picks.items()]


def render_markdown(results: dict[str, dict], log: list[dict], context: dict, has_rewards_plot: bool) -> str:
    parts = ["# Day-planning GRPO report", ""]
    parts.append(
        f"Model configuration `{context['model']}`; evaluated on the first {context['eval_rows']} test rows; "
        f"GRPO on {context['train_rows']} train rows for {context['epochs']} epoch(s) ({len(log)} logged steps). "
        f"Generation: {context['generation']}."
    )
    if context.get("subset_note"):
        parts.append("")
        parts.append(f"> {context['subset_note']}")
    parts += ["", "## Comparison", "", comparison_table(results), ""]
    parts.append(
        "Score: 100 x weighted duration / optimum for a valid schedule, 0 when any rule is broken "
        "(rules checked in the order of the columns). Touching events do not overlap."
    )
    if has_rewards_plot:
        first, last = log[0], log[-1]
        parts += ["", "## Training curves", "", "![rewards](figures/rewards.png)", ""]
        parts.append(
            f"Total reward {first.get('reward', float('nan')):.2f} at step {int(first['step'])} -> "
            f"{last.get('reward', float('nan')):.2f} at step {int(last['step'])}; mean over the run "
            f"{statistics.fmean(r.get('reward', 0.0) for r in log):.2f}."
        )
    parts += ["", "## Scores and broken rules", "", "![scores](figures/scores.png)", ""]
    if results:
        name = list(results)[-1]
        parts += [f"## Sample completions ({name})", ""]
        for label, score, completion in samples(results[name]):
            rule = score["broken_rule"] or "none"
            parts += [f"### {label}: test row {score['id']}, score {score['score']:.1f}, broken rule: {rule}", ""]
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
