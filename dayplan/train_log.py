"""What a GRPO run leaves for people: reports/train/log.csv (DVC plots) and MLflow artifacts.

Step metrics reach MLflow through transformers' MLflowCallback (report_to="mlflow"); this module adds what
it does not log: TRL's sample-completion tables, the warm-start's loss curve and the epoch adapters.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

from transformers import TrainerCallback

from dayplan.io import atomic_path
from dayplan.rewards import REWARD_NAMES

# Files of a checkpoint worth keeping as MLflow artifacts (optimizer and RNG states only serve resuming).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json")
# TRL's step metrics copied as they are into reports/train/log.csv
STEP_METRICS = ("reward", "reward_std", "loss", "kl", "learning_rate", "frac_reward_zero_std")
LOG_COLUMNS = ["step", "epoch", *STEP_METRICS[:-1], "completion_length", STEP_METRICS[-1]] + [
    f"rewards_{name}_{stat}" for name in REWARD_NAMES for stat in ("mean", "std")
]
# Same rule as transformers' MLflowCallback: MLflow rejects other characters in metric names.
_METRIC_NAME_RE = re.compile(r"[^0-9A-Za-z_\-. :/]")


def log_rows(log_history: list[dict]) -> list[dict]:
    """One row per logged training step, in LOG_COLUMNS, blanks where a metric is absent."""
    rows = []
    for entry in log_history:
        if "reward" not in entry:
            continue  # the end-of-training summary and the like
        row = {
            "step": entry.get("step"),
            "epoch": entry.get("epoch"),
            "completion_length": entry.get("completions/mean_length"),
            **{key: entry.get(key) for key in STEP_METRICS},
        }
        for name in REWARD_NAMES:
            for stat in ("mean", "std"):
                # TRL names the metric after the function: rewards/format_reward/mean
                row[f"rewards_{name}_{stat}"] = entry.get(f"rewards/{name}_reward/{stat}")
        rows.append({key: "" if row.get(key) is None else row[key] for key in LOG_COLUMNS})
    return rows


def write_log_csv(path: Path, log_history: list[dict]) -> int:
    rows = log_rows(log_history)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def metric_name(name: str) -> str:
    return _METRIC_NAME_RE.sub("_", name)


def numeric_metrics(logs: dict, prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, float]:
    return {
        metric_name(prefix + key): float(value)
        for key, value in logs.items()
        if key not in skip and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }


def log_warmstart(mlflow, warmstart_dir: Path) -> int:
    """The warm-start's training log (warmstart_log.json) as warmstart/* metrics at their own steps."""
    path = Path(warmstart_dir) / "warmstart_log.json"
    if not path.exists():
        return 0
    entries = json.loads(path.read_text())
    for entry in entries:
        metrics = numeric_metrics(entry, "warmstart/", skip=("step",))
        if metrics:
            mlflow.log_metrics(metrics, step=int(entry.get("step", 0)))
    return len(entries)


def completions_table(path: Path):
    """TRL's completions_<step>.parquet with the chat messages flattened to text for MLflow's table view."""
    import pandas as pd

    frame = pd.read_parquet(path)
    for column in ("prompt", "completion"):
        frame[column] = [_messages_text(value) for value in frame[column]]
    return pd.DataFrame(frame)


def _messages_text(value) -> str:
    if isinstance(value, str):
        return value
    # conversational: a list of {"role", "content"}; the prompt's last message holds the instance
    messages = list(value)
    return str(messages[-1]["content"]) if messages else ""


class SampleTables(TrainerCallback):
    """Every `samples_every` steps, TRL's table of sample completions into the active MLflow run.

    Step metrics reach MLflow through transformers' MLflowCallback (report_to="mlflow"); TRL sends its
    completion tables only to wandb/trackio, so this callback logs the parquet files TRL writes.
    """

    def __init__(self, mlflow, output_dir: Path, samples_every: int):
        self.mlflow = mlflow
        self.completions_dir = Path(output_dir) / "completions"
        self.samples_every = samples_every
        self.logged: set[str] = set()
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        # when resuming, tables up to the checkpoint were logged by the earlier run
        self.first_step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        self.log_samples()  # TRL writes a step's table after the callbacks' on_log, so pick it up a step later

    def on_train_end(self, args, state, control, **kwargs):
        self.log_samples()

    def log_samples(self) -> None:
        for path in sorted(self.completions_dir.glob("completions_*.parquet")):
            step = int(path.stem.rsplit("_", 1)[1])
            if path.name in self.logged or step <= self.first_step or step % self.samples_every:
                continue
            self.mlflow.log_table(completions_table(path), artifact_file=f"completions/step_{step:05d}.json")
            self.logged.add(path.name)


def log_checkpoints(mlflow, output_dir: Path, epochs: dict[str, str]) -> None:
    for epoch, folder in epochs.items():
        for name in ADAPTER_FILES:
            path = Path(output_dir) / folder / name
            if path.exists():
                mlflow.log_artifact(str(path), f"checkpoints/epoch{epoch}")
