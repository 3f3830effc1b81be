"""What a GRPO run leaves for people: its step metrics in a DVCLive folder (DVC plots) and MLflow artifacts.

Step metrics reach MLflow through transformers' MLflowCallback (report_to="mlflow") and the DVCLive folder
through its DVCLiveCallback (StepPlots); this module adds what they do not log: TRL's sample-completion
tables, the warm-start's loss curve and the epoch adapters.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from transformers import TrainerCallback
from transformers.integrations import DVCLiveCallback

# Files of a checkpoint worth keeping as MLflow artifacts (optimizer and RNG states only serve resuming).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json")
# Same rule as transformers' MLflowCallback: MLflow rejects other characters in metric names.
_METRIC_NAME_RE = re.compile(r"[^0-9A-Za-z_\-. :/]")


class StepPlots(DVCLiveCallback):
    """transformers' DVCLive callback writing the step metrics, under TRL's names, into `folder`.

    Each metric goes to folder/plots/metrics/<name>.tsv at the trainer's global step, as MLflow's do (the
    built-in counts its own steps from 0). dvc.yaml declares the folder and its plots, so DVCLive writes no
    dvc.yaml of its own and saves no experiment: `dvc exp run` commits the folder with the others.
    """

    def __init__(self, folder: Path):
        from dvclive import Live

        # Started afresh even when resuming: the killed run may have logged steps past its last checkpoint,
        # which the resumed run logs again; the checkpoint's own history is replayed in on_train_begin.
        super().__init__(live=Live(str(folder), save_dvc_exp=False, dvcyaml=None))

    def on_train_begin(self, args, state, control, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)
        for entry in state.log_history:  # a resumed run's steps up to its checkpoint; empty otherwise
            self.log_at(entry["step"], args, state, control, {k: v for k, v in entry.items() if k != "step"})

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.log_at(state.global_step, args, state, control, logs)

    def log_at(self, step: int, args, state, control, logs: dict) -> None:
        self.live.step = step
        super().on_log(args, state, control, logs=logs)


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
