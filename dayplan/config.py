"""params.yaml + the selected recipe -> validated settings, with one-line errors naming the key.

The recipe (recipes/<model>/grpo.yaml) names the base model and overrides the params.yaml keys it
lists; everything else comes from params.yaml.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dayplan.task import parse_time


class ParamsError(ValueError):
    """A bad params.yaml or recipe: the message is one line naming the key and what was expected."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Strict):
    source: Literal["generate", "hub"]
    hub_dataset: str
    seed: int
    test_seed: int
    n_train: int = Field(ge=1)
    n_test: int = Field(ge=1)
    n_pool: int = Field(ge=0)
    min_events: int = Field(ge=2)
    max_events: int = Field(ge=2)
    duration_min: int = Field(ge=1)
    duration_max: int = Field(ge=1)
    duration_step: int = Field(ge=1)
    latest_start: str
    overlap_probability: float = Field(ge=0, le=1)
    max_overlap_ratio: float = Field(gt=0)
    priority_share_min: float = Field(ge=0, le=1)
    priority_share_max: float = Field(ge=0, le=1)

    @field_validator("latest_start")
    @classmethod
    def _is_time(cls, value: str) -> str:
        parse_time(value)
        return value

    @model_validator(mode="after")
    def _ranges(self):
        if self.min_events > self.max_events:
            raise ValueError("min_events must be <= max_events")
        if self.duration_min > self.duration_max:
            raise ValueError("duration_min must be <= duration_max")
        if self.priority_share_min > self.priority_share_max:
            raise ValueError("priority_share_min must be <= priority_share_max")
        return self


class RewardParams(Strict):
    format: float
    sorted: float
    score: float
    overlap: float
    touching_overlaps: bool

    def weights(self) -> dict[str, float]:
        return {"format": self.format, "sorted": self.sorted, "score": self.score, "overlap": self.overlap}


class WarmstartParams(Strict):
    enabled: bool
    method: Literal["lora", "full"] = "lora"
    epochs: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    max_length: int = Field(ge=64)
    lora_r: int = Field(ge=1)
    lora_alpha: int = Field(ge=1)
    check_rows: int = Field(ge=0)


class TrainParams(Strict):
    backend: Literal["trl", "unsloth"]
    seed: int
    rows: int | None = Field(default=None, ge=1)
    learning_rate: float = Field(gt=0)
    adam_beta1: float = Field(ge=0, lt=1)
    adam_beta2: float = Field(ge=0, lt=1)
    weight_decay: float = Field(ge=0)
    warmup_ratio: float = Field(ge=0, le=1)
    lr_scheduler_type: str
    optim: str
    per_device_train_batch_size: int = Field(ge=1)
    gradient_accumulation_steps: int = Field(ge=1)
    num_generations: int = Field(ge=2)
    max_prompt_length: int = Field(ge=16)
    max_seq_length: int = Field(ge=32)
    max_grad_norm: float = Field(gt=0)
    num_train_epochs: int = Field(ge=0)
    max_steps: int
    beta: float = Field(ge=0)
    loss_type: str
    scale_rewards: str
    temperature: float = Field(gt=0)
    load_in_4bit: bool
    bf16: bool
    gradient_checkpointing: bool
    use_vllm: bool
    vllm_mode: Literal["colocate", "server"]
    vllm_gpu_memory_utilization: float = Field(gt=0, le=1)
    logging_steps: int = Field(ge=1)
    log_samples_every: int = Field(ge=1)
    lora_r: int = Field(ge=1)
    lora_alpha: int = Field(ge=1)
    lora_dropout: float = Field(ge=0, lt=1)
    lora_target_modules: list[str]
    # Several GPUs: stages/train.py reruns itself under `accelerate launch` when num_processes > 1
    num_processes: int = Field(default=1, ge=1)
    accelerate_config: str | None = Field(default=None, min_length=1)
    # TRL's vLLM server mode (vllm_mode: server): where `trl vllm-serve` listens
    vllm_server_host: str = Field(default="127.0.0.1", min_length=1)
    vllm_server_port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _batch(self):
        generation_batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if generation_batch % self.num_generations:
            raise ValueError(
                f"num_generations ({self.num_generations}) must divide per_device_train_batch_size x "
                f"gradient_accumulation_steps ({generation_batch})"
            )
        if self.max_seq_length <= self.max_prompt_length:
            raise ValueError("max_seq_length must exceed max_prompt_length (completions get the difference)")
        if self.load_in_4bit and self.use_vllm:
            raise ValueError("load_in_4bit with use_vllm is broken in TRL 1.16 (trl#4973): use bf16 LoRA with vLLM")
        if self.num_processes > 1 and self.accelerate_config is None:
            raise ValueError(
                f"num_processes {self.num_processes} needs accelerate_config (an accelerate config file, "
                "e.g. recipes/accelerate/zero2.yaml)"
            )
        return self

    @property
    def max_completion_length(self) -> int:
        return self.max_seq_length - self.max_prompt_length


class EvaluateParams(Strict):
    models: dict[str, str]
    checkpoints: list[int]
    baselines: dict[str, str]
    rows: int | None = Field(default=None, ge=1)
    backend: Literal["auto", "vllm", "transformers"]
    max_new_tokens: int = Field(ge=1)
    temperature: float = Field(ge=0)
    top_p: float = Field(gt=0, le=1)
    batch_size: int = Field(ge=1)
    seed: int
    max_model_len: int = Field(ge=64)
    tensor_parallel_size: int = Field(default=1, ge=1)  # GPUs that vLLM splits one model across
    enforce_eager: bool = False  # vLLM: no CUDA graphs / torch.compile, so a faster start


class RetrainParams(Strict):
    candidate: str  # the evaluate.models entry that challenges the champion
    registered_model: str = Field(min_length=1)
    margin: float = Field(ge=0)
    rule_tolerance: float = Field(ge=0)
    data_seed_strategy: Literal["increment", "keep"]


class BaseModelSpec(Strict):
    source: Literal["hub", "pypi-gguf", "tiny"]
    id: str | None = None
    package: str | None = None
    file: str | None = None
    sha256: str | None = None


class Params(Strict):
    model: str
    data: DataParams
    reward: RewardParams
    warmstart: WarmstartParams
    train: TrainParams
    evaluate: EvaluateParams
    retrain: RetrainParams
    base: BaseModelSpec | None = None  # from the recipe


FOREACH_KEYS = ("models", "checkpoints", "baselines")


def deep_merge(base: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and value:
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML with YAML 1.2's numbers: `dvc exp run -S` rewrites params.yaml as YAML 1.2 (`21:59` unquoted,
    `2e-05`), which YAML 1.1 reads as 1319 (base 60) and as a string."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _read_yaml(path: Path) -> dict:
    try:
        loaded = yaml.load(path.read_text(), Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader)
    except FileNotFoundError as error:
        raise ParamsError(f"{path}: file not found") from error
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(loaded, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return loaded


def _first_error(error: ValidationError, source: str) -> ParamsError:
    detail = error.errors()[0]
    key = ".".join(str(part) for part in detail["loc"]) or "(top level)"
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message = "unknown key"
    elif detail["type"] == "missing":
        message = "missing key"
    elif "input" in detail and detail["type"] not in ("value_error",):
        message += f", got {detail['input']!r}"
    return ParamsError(f"{source}: {key}: {message}")


def load_params(path: str | Path = "params.yaml", recipes_dir: str | Path | None = None) -> Params:
    path = Path(path)
    raw = _read_yaml(path)
    model = raw.get("model")
    if not isinstance(model, str):
        raise ParamsError(f"{path}: model: expected a recipe name (a folder of recipes/), got {model!r}")
    recipes_dir = Path(recipes_dir) if recipes_dir else path.parent / "recipes"
    recipe_path = recipes_dir / model / "grpo.yaml"
    if not recipe_path.exists():
        known = (
            sorted(p.name for p in recipes_dir.iterdir() if (p / "grpo.yaml").exists()) if recipes_dir.exists() else []
        )
        raise ParamsError(f"{path}: model: expected one of {known}, got {model!r}")
    recipe = _read_yaml(recipe_path)
    unknown = set(recipe) - {"base", "overrides"}
    if unknown:
        raise ParamsError(f"{recipe_path}: {sorted(unknown)[0]}: unknown key (expected base, overrides)")
    overrides = recipe.get("overrides") or {}
    for section in overrides:
        if section not in raw or not isinstance(raw[section], dict):
            raise ParamsError(f"{recipe_path}: overrides.{section}: unknown params section")
    for key in FOREACH_KEYS:
        if key in (overrides.get("evaluate") or {}):
            raise ParamsError(f"{recipe_path}: overrides.evaluate.{key}: set it in params.yaml (dvc.yaml reads it)")
    # params.yaml alone must be valid too, else a recipe would hide a bad value there
    try:
        Params.model_validate(raw)
    except ValidationError as error:
        raise _first_error(error, str(path)) from None
    merged = deep_merge(raw, overrides)
    merged["base"] = recipe.get("base")
    try:
        return Params.model_validate(merged)
    except ValidationError as error:
        raise _first_error(error, f"{path} (+ {recipe_path})") from None


def load_params_or_exit(path: str | Path = "params.yaml") -> Params:
    """For stage entry points: a bad config ends the process with its one-line message."""
    try:
        return load_params(os.environ.get("DAYPLAN_PARAMS", path))
    except ParamsError as error:
        sys.exit(f"error: {error}")


def as_dict(params: Params) -> dict[str, Any]:
    return params.model_dump(mode="json")
