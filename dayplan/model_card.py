"""The model card of a registered version: what it is, how it was made, how it scores, why it was promoted.

Rendered as Markdown into the version's description (the MLflow UI shows it on the version's page) and
written beside the report, from params.yaml, the report's reports/summary.json and the gate's decision.
"""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY = Path("reports/summary.json")


def _base(model) -> str:
    where = model.id if model.source == "hub" else f"{model.package}, {model.file}" if model.package else model.source
    return f"`{model.name}` ({model.source}: {where})"


def _scores(summary: dict, candidate: str) -> list[str]:
    lines = ["| split | rows | mean [95% CI] | valid | optimal | broken rules (share of answers) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for split, result in summary.items():
        m = result.get("models", {}).get(candidate)
        if m is None:
            continue
        rules = ", ".join(f"{k.removeprefix('share_')} {v:.1%}" for k, v in m.items() if k.startswith("share_") and v)
        lines.append(f"| `{split}` | {m['n']} | {m['mean']:.1f} [{m['ci_low']:.1f}, {m['ci_high']:.1f}] | "
                     f"{m['valid_rate']:.0%} | {m['optimal_rate']:.0%} | {rules or 'none'} |")  # fmt: skip
    return lines


def render(params, version: str, decision: str, reason: str, exp_name: str, train_seconds: float | None) -> str:
    """The card of `version` of params.retrain.registered_model (the candidate params.retrain.candidate)."""
    r, g = params.retrain, params.train.grpo
    lines = [
        f"# {r.registered_model} v{version}",
        "",
        f"**Decision: {decision}** ({reason}).",
        "",
        f"- Base model: {_base(params.model)}; model configuration `{params.model.name}`, DVC experiment `{exp_name}`",
        f"- Data: seed {params.data.seed} (train, warm-start pool), test seed {params.data.test_seed}; "
        f"{params.train.rows or params.data.n_train} GRPO prompts, {params.data.n_pool} warm-start answers",
        f"- Training: warm-start {'on' if params.warmstart.enabled else 'off'}; GRPO {g.get('num_train_epochs')} "
        f"epochs, learning rate {g.get('learning_rate')}, {g.get('num_generations')} completions a prompt, "
        f"reward weights {params.reward.weights()}"
        + (f"; {train_seconds / 60:.1f} minutes of GRPO" if train_seconds else ""),
        f"- Registered: the merged `{r.candidate}` model; gate: margin {r.margin}, rule tolerance {r.rule_tolerance}",
        "",
    ]
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else None
    if summary:
        lines += ["Scores (100 x weighted duration / optimum, 0 for a broken rule):", ""]
        lines += _scores(summary, r.candidate)
    else:
        lines.append(f"No per-split summary ({SUMMARY} is missing).")
    return "\n".join(lines) + "\n"
