"""params.yaml -> validated settings, with one-line errors naming the key.

params.yaml is what DVC records and what runs: DVC composes it from conf/ (Hydra) on `dvc exp run -S`,
and `python -m dayplan.config [overrides]` recomposes it by hand. The TRL sections (model_args, sft,
grpo) are mappings handed to TRL's own config classes, which check them when the stage builds them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dayplan.io import atomic_path
from dayplan.rewards import REWARD_NAMES
from dayplan.task import TRACES, parse_time


class ParamsError(ValueError):
    """A bad params.yaml or conf/ file: the message is one line naming the key and what was expected."""


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
    n_test_novel: int = Field(ge=1)
    n_test_large: int = Field(ge=1)
    names: Literal["open", "reference"]
    large_min_events: int = Field(ge=2)
    large_max_events: int = Field(ge=2)
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
        if self.large_min_events > self.large_max_events:
            raise ValueError("large_min_events must be <= large_max_events")
        from dayplan.data import GenerationError, check_feasible  # pure Python, no cycle

        try:
            check_feasible(self)
        except GenerationError as error:
            raise ValueError(str(error).removeprefix("data.")) from None
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
        return {name: getattr(self, name) for name in REWARD_NAMES}


# Keys of the TRL configs that the stages set themselves: outputs, reward weights and logging are the
# pipeline's, not knobs (DVC declares the outputs, reward.* holds the weights).
RESERVED_SFT_KEYS = ("output_dir", "save_strategy", "report_to")
RESERVED_GRPO_KEYS = ("output_dir", "reward_weights", "save_strategy", "report_to", "model_init_kwargs")


def _refuse_reserved(mapping: dict, reserved: tuple[str, ...], section: str) -> dict:
    for key in reserved:
        if key in mapping:
            raise ValueError(f"{section}.{key} is set by the stage, not in params")
    return mapping


class WarmstartParams(Strict):
    enabled: bool
    check_rows: int = Field(ge=0)
    trace: Literal[TRACES] = "conflicts"  # the reasoning the solver's answers show (dayplan/rules/solver.py)
    model_args: dict[str, Any]  # trl.ModelConfig: use_peft (LoRA merged into the base) or all weights
    sft: dict[str, Any]  # trl.SFTConfig, passed as it is

    @field_validator("sft")
    @classmethod
    def _sft(cls, sft: dict) -> dict:
        return _refuse_reserved(sft, RESERVED_SFT_KEYS, "sft")


class TrainParams(Strict):
    backend: Literal["trl", "unsloth"]
    rows: int | None = Field(default=None, ge=1)
    min_events: int = Field(default=0, ge=0)  # GRPO prompts: only instances with at least this many events
    max_prompt_length: int = Field(ge=16)
    log_samples_every: int = Field(ge=1)
    # how GRPO samples: free, or under evaluate.decoding's constraints (colocated vLLM; dayplan/grpo_decoding.py)
    decoding: Literal["free", "grounded", "feasible"] = "free"
    # Several GPUs: stages/train.py reruns itself under `accelerate launch` when num_processes > 1
    num_processes: int = Field(default=1, ge=1)
    accelerate_config: str | None = Field(default=None, min_length=1)
    vllm_engine: dict[str, Any] = {}  # vllm.LLM arguments of the colocated engine, over TRL's (dayplan/grpo.py)
    cast_lora_inputs: bool = True  # PEFT's copy of each LoRA layer's input to the adapter's float32 (grpo.py)
    model_args: dict[str, Any]  # trl.ModelConfig: LoRA (get_peft_config), 4-bit (get_quantization_config), dtype
    grpo: dict[str, Any]  # trl.GRPOConfig, passed as it is

    @field_validator("grpo")
    @classmethod
    def _grpo(cls, grpo: dict) -> dict:
        return _refuse_reserved(grpo, RESERVED_GRPO_KEYS, "grpo")

    @model_validator(mode="after")
    def _combinations(self):
        if self.model_args.get("load_in_4bit") and self.grpo.get("use_vllm"):
            raise ValueError(
                "model_args.load_in_4bit with grpo.use_vllm is broken in TRL 1.16 (trl#4973): use bf16 LoRA with vLLM"
            )
        if self.vllm_engine and not (
            self.grpo.get("use_vllm") and self.grpo.get("vllm_mode", "colocate") == "colocate"
        ):
            raise ValueError("vllm_engine: only for the colocated engine (grpo.use_vllm true, grpo.vllm_mode colocate)")
        if self.num_processes > 1 and self.accelerate_config is None:
            raise ValueError(
                f"num_processes {self.num_processes} needs accelerate_config (an accelerate config file, "
                "e.g. recipes/accelerate/zero2.yaml)"
            )
        return self


class EvaluateParams(Strict):
    models: dict[str, str]
    checkpoints: list[int]
    baselines: dict[str, str]
    rows: int | None = Field(default=None, ge=1)
    backend: Literal["auto", "vllm", "transformers"]
    max_new_tokens: int = Field(ge=1)
    temperature: float = Field(ge=0)
    top_p: float = Field(gt=0, le=1)
    # free | grounded (only the prompt's events) | feasible (a valid schedule of them): dayplan/rules
    decoding: Literal["free", "grounded", "feasible"] = "feasible"
    batch_size: int = Field(ge=1)
    seed: int
    max_model_len: int = Field(ge=64)
    tensor_parallel_size: int = Field(default=1, ge=1)  # GPUs that vLLM splits one model across
    enforce_eager: bool = False  # vLLM: no CUDA graphs / torch.compile, so a faster start
    max_num_seqs: int | None = Field(default=None, ge=1)  # vLLM: sequences decoded together (None: its default)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)  # vLLM: share of each GPU it may take
    vllm_engine: dict[str, Any] = {}  # vllm.LLM arguments over those above (dayplan/inference.py)


class RetrainParams(Strict):
    candidate: str  # the evaluate.models entry that challenges the champion
    registered_model: str = Field(min_length=1)
    margin: float = Field(ge=0)
    rule_tolerance: float = Field(ge=0)
    data_seed_strategy: Literal["increment", "keep"]


class ModelSpec(Strict):
    """The base model: conf/model/<name>.yaml, picked with `model=<name>`."""

    name: str = Field(min_length=1)
    source: Literal["hub", "pypi-gguf", "tiny"]
    id: str | None = None
    package: str | None = None
    file: str | None = None
    sha256: str | None = None


class Params(Strict):
    model: ModelSpec
    data: DataParams
    reward: RewardParams
    warmstart: WarmstartParams
    train: TrainParams
    evaluate: EvaluateParams
    retrain: RetrainParams


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose(overrides: list[str] | tuple[str, ...] = (), conf_dir: str | Path = CONF_DIR) -> dict:
    """conf/ composed as `dvc exp run -S` composes it (Hydra), with the given overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
            config = hydra_compose(config_name="config", overrides=list(overrides))
        return OmegaConf.to_container(config, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        raise ParamsError(f"{conf_dir}: {str(error).splitlines()[0]}") from None


def write_params(path: str | Path, overrides: list[str] | tuple[str, ...] = (), conf_dir: str | Path = CONF_DIR):
    """Recompose params.yaml with DVC's own Hydra composition (the file `dvc exp run -S ...` writes)."""
    from dvc.utils.hydra import compose_and_dump

    compose(overrides, conf_dir)  # a bad override or config: one line, before anything is written
    compose_and_dump(path, str(Path(conf_dir).resolve()), None, "config", "", list(overrides))


def read_yaml(path: Path) -> dict:
    from omegaconf import OmegaConf

    # OmegaConf reads numbers as YAML 1.2 does (1e-5 is a float), like the params.yaml DVC writes
    try:
        loaded = OmegaConf.to_container(OmegaConf.load(path))
    except FileNotFoundError as error:
        raise ParamsError(f"{path}: file not found") from error
    except Exception as error:  # yaml and OmegaConf parse errors alike
        raise ParamsError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return loaded


def override_value(text: str):
    """A `-S key=value` value as DVC reads it: Hydra's override grammar (1e-5 a float, 21:59 a string)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([f"key={text}"])[0].value()


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


def validate(raw: dict, source: str) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise _first_error(error, source) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    return validate(read_yaml(path), str(path))


def load_params_or_exit(path: str | Path = "params.yaml") -> Params:
    """For stage entry points: a bad config ends the process with its one-line message."""
    try:
        return load_params(os.environ.get("DAYPLAN_PARAMS", path))
    except ParamsError as error:
        sys.exit(f"error: {error}")


def as_dict(params: Params) -> dict[str, Any]:
    return params.model_dump(mode="json")


def main(argv: list[str] | None = None) -> None:
    """`python -m dayplan.config [override ...]`: recompose params.yaml without running the pipeline."""
    overrides = sys.argv[1:] if argv is None else argv
    if overrides[:1] in (["-h"], ["--help"]):
        print("usage: python -m dayplan.config [key=value | model=<name> ...]  (rewrites params.yaml from conf/)")
        return
    try:
        with atomic_path("params.yaml") as composed:  # params.yaml is replaced only by valid params
            write_params(composed, overrides)
            validate(read_yaml(composed), "params.yaml")
    except ParamsError as error:
        sys.exit(f"error: {error}")
    print(f"params.yaml composed from conf/ with {overrides or 'no overrides'}")


if __name__ == "__main__":
    main()
