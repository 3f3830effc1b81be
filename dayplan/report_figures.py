"""The report's figures: reward curves per GRPO step, score distributions and broken rules, score intervals.

Each plot_* function writes one PNG. matplotlib is imported when a figure is drawn, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path

from dayplan.io import atomic_path
from dayplan.task import BROKEN_RULES

REWARDS = ("format", "sorted", "score", "overlap")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # figures go to files: no display needed
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def plot_rewards(log: list[dict], path: Path) -> bool:
    """Reward per function and total reward per GRPO step; False, and no file, without a training log."""
    if not log:
        return False
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 3.8))
    steps = [row["step"] for row in log]
    for name in REWARDS:
        key = f"rewards/{name}_reward/mean"  # TRL names the metric after the function: format_reward
        if any(key in row for row in log):
            axes[0].plot(steps, [row.get(key, float("nan")) for row in log], marker=".", label=name)
    axes[0].set(title="Reward per function (unweighted mean)", xlabel="GRPO step", ylabel="points")
    axes[0].legend()
    axes[1].plot(steps, [row.get("reward", float("nan")) for row in log], marker=".", label="total (weighted)")
    axes[1].plot(steps, [row.get("reward_std", float("nan")) for row in log], marker=".", label="std in group")
    axes[1].set(title="Total reward", xlabel="GRPO step")
    axes[1].legend()
    save(fig, path)
    return True


def plot_reward_curves(curves: dict[str, list[tuple[int, float]]], path: Path) -> bool:
    """Total reward per GRPO step, one line a run (a benchmark's variants side by side); False, and no file,
    when no run logged a reward."""
    if not any(curves.values()):
        return False
    fig, ax = pyplot().subplots(figsize=(8, 4.2))
    for name, curve in curves.items():
        if curve:
            ax.plot(*zip(*curve), marker=".", label=name)
    ax.set(title="Total reward per GRPO step", xlabel="GRPO step", ylabel="reward (weighted)")
    ax.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
    ax.legend(fontsize=7)
    with atomic_path(path) as png:
        save(fig, png)
    return True


def plot_scores(results: dict[str, dict], path: Path) -> None:
    """One split's score histogram per model, and each model's completions stacked by first broken rule."""
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 3.8))
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
    save(fig, path)


def plot_intervals(summaries: dict[str, dict], path: Path) -> None:
    """Mean score and its 95 % interval, per split (groups) and model (colours)."""
    splits = list(summaries)
    models = list(dict.fromkeys(name for summary in summaries.values() for name in summary["models"]))
    fig, ax = pyplot().subplots(figsize=(max(5.0, 1.6 * len(splits) * max(1, len(models)) / 2), 3.8))
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
    save(fig, path)


def write_figures(folder: Path, log: list[dict], results: dict[str, dict], summaries: dict[str, dict]) -> bool:
    """The three figures, replacing `folder` at once; results: the first split's. Whether rewards.png exists."""
    with atomic_path(folder) as figures:
        figures.mkdir()
        has_rewards_plot = plot_rewards(log, figures / "rewards.png")
        plot_scores(results, figures / "scores.png")
        plot_intervals(summaries, figures / "score_intervals.png")
    return has_rewards_plot
