"""GRPO with TRL's GRPOTrainer: hardware checks, the prompt dataset, TRL's configs from params, the trainer.

The run's folder (fingerprint, resume, epochs) is dayplan/checkpoints.py; what it logs, dayplan/train_log.py.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dayplan.config import Params, TrainParams
from dayplan.inference import prompt_token_ids, unknown_vllm_engine_arg
from dayplan.rewards import REWARD_NAMES, instance_column, reward_functions
from dayplan.task import chat_messages


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
    if not train.cast_lora_inputs and not grpo.get("bf16", True):
        raise TrainSetupError(
            "train.cast_lora_inputs: false needs bf16 autocast (train.grpo.bf16 true): without it the adapters' "
            "float32 weights meet the model's bf16 inputs"
        )
    if train.decoding != "free":
        _check_constrained_sampling(train.decoding, grpo)
    if load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise TrainSetupError(
                "train.model_args.load_in_4bit: bitsandbytes is not installed (pip install '.[gpu]')"
            ) from None
    if grpo.get("use_liger_kernel") and importlib.util.find_spec("liger_kernel") is None:
        raise TrainSetupError("train.grpo.use_liger_kernel: liger-kernel is not installed (pip install '.[gpu]')")
    if train.backend == "unsloth" and not cuda:
        raise TrainSetupError("train.backend: unsloth needs a CUDA GPU, none found (use train.backend=trl)")
    if train.backend == "unsloth":
        try:
            import unsloth  # noqa: F401  (must come before trl so that it can patch it)
        except ImportError:
            raise TrainSetupError("train.backend: unsloth is not installed (pip install '.[unsloth]')") from None


def import_unsloth_first(train: TrainParams) -> None:
    """Import Unsloth before transformers, peft and trl, so that it can patch them (train.backend: unsloth).

    Only where it can run: without a GPU or without the package, check_setup says so in one line.
    """
    if train.backend != "unsloth":
        return
    import torch

    if torch.cuda.is_available():
        try:
            import unsloth  # noqa: F401
        except ImportError:
            pass


def _check_constrained_sampling(decoding: str, grpo: dict) -> None:
    if not (grpo.get("use_vllm") and grpo.get("vllm_mode", "colocate") == "colocate"):
        raise TrainSetupError(
            f"train.decoding: {decoding} needs train.grpo.use_vllm=true with vllm_mode=colocate (or free)"
        )


# --- data --------------------------------------------------------------------------------------------


def prompt_length(tokenizer, messages: list[dict[str, str]]) -> int:
    return len(prompt_token_ids(tokenizer, messages))


def prompt_dataset(rows: list[dict], tokenizer, max_prompt_length: int, limit: int | None = None, min_events: int = 0):
    """TRL's conversational dataset (prompt + the columns the rewards read); returns (dataset, dropped).

    Only rows with at least `min_events` events are taken (then the first `limit` of them): a warm-started
    model answers small instances the same way in every sample, so their groups have no reward spread to learn from.
    """
    from datasets import Dataset

    rows = [row for row in rows if len(row["events"]) >= min_events]
    records = []
    for row in rows[:limit] if limit else rows:
        messages = chat_messages(row["prompt"])
        # TRL 1.16 has no max_prompt_length: long prompts are dropped here instead of truncated mid-instance.
        if prompt_length(tokenizer, messages) <= max_prompt_length:
            records.append({"prompt": messages, "instance": instance_column(row)})
    dropped = (min(limit, len(rows)) if limit else len(rows)) - len(records)
    return Dataset.from_list(records), dropped


def model_config(t: TrainParams):
    """trl.ModelConfig from train.model_args: the LoRA adapter, 4-bit loading and the load dtype."""
    from trl import ModelConfig

    return ModelConfig(**t.model_args)


def model_init_kwargs(model_args) -> dict[str, Any]:
    """What the trainer's from_pretrained takes from train.model_args: the load dtype and, where set, the
    attention kernel (TRL reads neither from its ModelConfig)."""
    kwargs = {"dtype": model_args.dtype}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    return kwargs


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
        model_init_kwargs=model_init_kwargs(model_config(params.train)),
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


def _unsloth_model(start_model: Path, t: TrainParams, args, model_args):
    """Unsloth's patched model with its LoRA adapter (GPU only); `args` is the GRPOConfig it trains with."""
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(start_model),
        max_seq_length=t.max_prompt_length + args.max_completion_length,
        load_in_4bit=model_args.load_in_4bit,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=list(model_args.lora_target_modules),
        use_gradient_checkpointing="unsloth" if t.grpo.get("gradient_checkpointing") else False,
        random_state=args.seed,
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


@contextmanager
def colocated_engine_args(engine_args: dict[str, Any]):
    """Within it, TRL's colocated vLLM engine is built with train.vllm_engine's arguments over TRL's own.

    TRL 1.16 calls vllm.LLM itself (trl/generation/vllm_generation.py) with fixed arguments and no way to add
    any; the engine is built once, in GRPOTrainer's constructor, so the name is swapped back after it.
    """
    from trl.generation import vllm_generation

    trl_llm = getattr(vllm_generation, "LLM", None)  # None without vllm: TRL then says so itself
    if not engine_args or trl_llm is None:
        yield
        return
    if unknown := unknown_vllm_engine_arg(engine_args):
        raise TrainSetupError(f"train.vllm_engine: {unknown} is not a vLLM engine argument (vllm.EngineArgs)")

    def llm(**trl_args):
        return trl_llm(**{**trl_args, **engine_args})

    vllm_generation.LLM = llm
    try:
        yield
    finally:
        vllm_generation.LLM = trl_llm


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
        model, tokenizer = _unsloth_model(start_model, t, args, model_args)
        kwargs = {}
    with colocated_engine_args(t.vllm_engine):
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[funcs[name] for name in REWARD_NAMES],
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=list(callbacks),
            **kwargs,
        )
    if not t.cast_lora_inputs:
        skip_lora_input_casts(trainer.model)
    if t.decoding != "free":
        from dayplan.grpo_decoding import constrain_generation

        constrain_generation(trainer, tokenizer, dataset, t.decoding)
    return trainer


def skip_lora_input_casts(model) -> None:
    """Each LoRA layer takes its input as it comes, not copied to the adapter's float32 first (train.cast_lora_inputs).

    Under bf16 autocast the adapter's matmuls run in bf16 whatever the input, so PEFT's copy to float32 and
    autocast's copy back cost two passes over every activation a layer and change nothing: the log-probabilities
    are the same (tests/test_train.py). The flag is the one peft.helpers.disable_input_dtype_casting sets.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = False
