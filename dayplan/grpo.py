"""GRPO with TRL's GRPOTrainer and a LoRA adapter: config, data, resume, MLflow logging, outputs.

Checkpoints (adapter only) are written every epoch under models/grpo/checkpoint-<step>; epochs.json maps
each epoch to its folder for the merge stage. models/grpo persists across runs: a fingerprint of everything
that shapes training decides whether a restarted run resumes from the last checkpoint or starts afresh.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from dayplan.config import Params, TrainParams
from dayplan.io import atomic_path, write_json
from dayplan.modeling import ModelError, load_tokenizer, resolve_start_model  # noqa: F401 (re-exported)
from dayplan.rewards import reward_functions
from dayplan.task import chat_messages

REWARD_NAMES = ("format", "sorted", "score", "overlap")
FINGERPRINT_FILE = "fingerprint.json"
EPOCHS_FILE = "epochs.json"
# Files of a checkpoint worth keeping as MLflow artifacts (optimizer and RNG states only serve resuming).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json")
# TRL's step metrics copied as they are into reports/train/log.csv
STEP_METRICS = ("reward", "reward_std", "loss", "kl", "learning_rate", "frac_reward_zero_std")
LOG_COLUMNS = ["step", "epoch", *STEP_METRICS[:-1], "completion_length", STEP_METRICS[-1]] + [
    f"rewards_{name}_{stat}" for name in REWARD_NAMES for stat in ("mean", "std")
]
# Same rule as transformers' MLflowCallback: MLflow rejects other characters in metric names.
_METRIC_NAME_RE = re.compile(r"[^0-9A-Za-z_\-. :/]")


class TrainSetupError(ValueError):
    """A params/hardware mismatch found before training: the message is one line naming the key."""


# --- setup -------------------------------------------------------------------------------------------


def check_setup(train: TrainParams, cuda: bool) -> None:
    """Fail early, in one line, on settings this machine cannot run."""
    load_in_4bit, grpo = train.model_args.get("load_in_4bit"), train.grpo
    if load_in_4bit and not cuda:
        raise TrainSetupError("train.model_args.load_in_4bit: expected a CUDA GPU for 4-bit QLoRA, none found")
    if grpo.get("bf16", True) and not cuda:
        raise TrainSetupError(
            "train.grpo.bf16: expected a CUDA GPU for bf16 training, none found "
            "(set train.grpo.bf16=false train.grpo.use_cpu=true, as model=smollm2-135m does)"
        )
    if not grpo.get("use_cpu") and not cuda:
        raise TrainSetupError("train.grpo.use_cpu: expected true without a CUDA GPU")
    if grpo.get("use_vllm") and not cuda:
        raise TrainSetupError("train.grpo.use_vllm: expected a CUDA GPU for vLLM generation, none found")
    if load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise TrainSetupError(
                "train.model_args.load_in_4bit: bitsandbytes is not installed (pip install '.[gpu]')"
            ) from None
    if train.backend == "unsloth":
        try:
            import unsloth  # noqa: F401  (must come before trl so that it can patch it)
        except ImportError:
            raise TrainSetupError("train.backend: unsloth is not installed (pip install '.[unsloth]')") from None


# --- data --------------------------------------------------------------------------------------------


def prompt_length(tokenizer, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_dataset(rows: list[dict], tokenizer, max_prompt_length: int, limit: int | None = None):
    """TRL's conversational dataset (prompt + the columns the rewards read); returns (dataset, dropped)."""
    from datasets import Dataset

    records = []
    for row in rows[:limit] if limit else rows:
        messages = chat_messages(row["prompt"])
        # TRL 1.16 has no max_prompt_length: long prompts are dropped here instead of truncated mid-instance.
        if prompt_length(tokenizer, messages) <= max_prompt_length:
            records.append(
                {
                    "prompt": messages,
                    "events": row["events"],
                    "priority_events": row["priority_events"],
                    "optimal_score": row["optimal_score"],
                }
            )
    dropped = (min(limit, len(rows)) if limit else len(rows)) - len(records)
    return Dataset.from_list(records), dropped


# --- fingerprint and resume --------------------------------------------------------------------------


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def fingerprint(params: Params, start_model: Path, train_data: Path) -> str:
    """Hash of what shapes training: the model/train/reward params, the start model's files, the data."""
    digest = hashlib.sha256()
    # where the vLLM server listens does not shape training: a run may resume against a server moved elsewhere
    train = params.train.model_dump()
    train["grpo"] = {k: v for k, v in train["grpo"].items() if k not in ("vllm_server_host", "vllm_server_port")}
    shaping = {"model": params.model.model_dump(), "train": train, "reward": params.reward.model_dump()}
    digest.update(json.dumps(shaping, sort_keys=True).encode())
    # The whole folder, weights included: a retrained warm-start keeps its config.json but not its weights.
    for path in sorted(p for p in Path(start_model).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(start_model)).encode())
        _hash_file(digest, path)
    _hash_file(digest, Path(train_data))
    return digest.hexdigest()


def checkpoints(output_dir: Path) -> list[Path]:
    found = [p for p in Path(output_dir).glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


def can_resume(output_dir: Path, digest: str) -> bool:
    """Same fingerprint and a checkpoint to resume from; reads only (the other training processes ask this)."""
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir)
    try:
        recorded = json.loads((output_dir / FINGERPRINT_FILE).read_text())["fingerprint"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        recorded = None
    return recorded == digest and output_dir.is_dir() and get_last_checkpoint(str(output_dir)) is not None


def prepare_output(output_dir: Path, digest: str) -> bool:
    """True to resume (same fingerprint and a checkpoint); otherwise wipe output_dir and start fresh."""
    output_dir = Path(output_dir)
    if can_resume(output_dir, digest):
        return True
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    write_json(output_dir / FINGERPRINT_FILE, {"fingerprint": digest})
    return False


# --- trainer -----------------------------------------------------------------------------------------


def model_config(t: TrainParams):
    """trl.ModelConfig from train.model_args: the LoRA adapter, 4-bit loading and the load dtype."""
    from trl import ModelConfig

    return ModelConfig(**t.model_args)


def grpo_config(params: Params, output_dir: Path, report_to: str = "mlflow"):
    """trl.GRPOConfig: train.grpo as it is, plus what the pipeline owns (outputs, reward weights, logging).

    report_to="mlflow": transformers' MLflowCallback logs the step metrics into the pipeline's active run.
    """
    from trl import GRPOConfig

    weights = params.reward.weights()
    return GRPOConfig(
        **params.train.grpo,
        output_dir=str(output_dir),
        reward_weights=[weights[name] for name in REWARD_NAMES],
        model_init_kwargs={"dtype": model_config(params.train).dtype},
        save_strategy="epoch",  # the merge stage maps epochs to checkpoints
        report_to=report_to,
    )


def trl_configs(params: Params, output_dir: Path, report_to: str = "mlflow"):
    """(GRPOConfig, ModelConfig), with TRL's own errors turned into one line naming the params section."""
    try:
        return grpo_config(params, output_dir, report_to), model_config(params.train)
    except TypeError as error:  # an unknown key: "...__init__() got an unexpected keyword argument 'x'"
        key = str(error).rsplit(" ", 1)[-1].strip("'")
        raise TrainSetupError(f"train.grpo / train.model_args: {key}: unknown key for TRL 1.16") from None
    except ValueError as error:
        raise TrainSetupError(f"train.grpo: {str(error).splitlines()[0]}") from None


def _unsloth_model(start_model: Path, t: TrainParams, model_args):
    """Unsloth's patched model with its LoRA adapter (GPU only)."""
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(start_model),
        max_seq_length=t.max_prompt_length + t.max_completion_length,
        load_in_4bit=model_args.load_in_4bit,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=list(model_args.lora_target_modules),
        use_gradient_checkpointing="unsloth" if t.grpo.get("gradient_checkpointing") else False,
        random_state=t.seed,
    )
    return model, tokenizer


def score_completions_only_on_cpu() -> None:
    """Make TRL's fused log-prob head score only the completion tokens on the CPU too.

    TRL 1.16 scores every position (prompt included) on devices without Triton, to keep tile shapes fixed for
    compilers (Neuron); eager CPU has no such concern, and with ~450-token prompts against short completions
    most of the vocabulary projection would be wasted. Results are the same: prompt positions are masked out.
    """
    import trl.trainer.utils as trl_utils

    use_triton = getattr(trl_utils, "_use_triton", None)
    if use_triton is None or getattr(use_triton, "dayplan_patched", False):
        return

    def compact(device) -> bool:
        return device.type == "cpu" or use_triton(device)

    compact.dayplan_patched = True
    trl_utils._use_triton = compact


def build_trainer(params: Params, start_model: Path, tokenizer, dataset, output_dir: Path, cuda: bool, callbacks=(),
                  report_to: str = "mlflow"):  # fmt: skip
    t = params.train
    if t.backend == "unsloth":
        import unsloth  # noqa: F401  (before trl)
    from trl import GRPOTrainer, get_peft_config, get_quantization_config

    if not cuda:
        score_completions_only_on_cpu()
    funcs = reward_functions(params.reward.touching_overlaps)
    args, model_args = trl_configs(params, output_dir, report_to)
    kwargs: dict[str, Any] = {
        "peft_config": get_peft_config(model_args),
        "quantization_config": get_quantization_config(model_args),
    }
    model: Any = str(start_model)
    if t.backend == "unsloth":
        model, tokenizer = _unsloth_model(start_model, t, model_args)
        kwargs = {}
    return GRPOTrainer(
        model=model,
        reward_funcs=[funcs[name] for name in REWARD_NAMES],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
        **kwargs,
    )


# --- outputs -----------------------------------------------------------------------------------------


def write_epochs(output_dir: Path) -> dict[str, str]:
    """epochs.json: epoch ("1", "2", ...) -> checkpoint folder name, read from each trainer_state.json.

    A checkpoint cut mid-epoch by train.max_steps has no whole epoch and is left out.
    """
    epochs = {}
    for checkpoint in checkpoints(output_dir):
        epoch = json.loads((checkpoint / "trainer_state.json").read_text())["epoch"]
        if abs(epoch - round(epoch)) < 1e-6:
            epochs[str(round(epoch))] = checkpoint.name
    write_json(Path(output_dir) / EPOCHS_FILE, epochs)
    return epochs


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


# --- MLflow ------------------------------------------------------------------------------------------


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
