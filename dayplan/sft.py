"""Supervised warm-start: fine-tuning on solver-written answers (LoRA merged into the base, or full).

A 135M model never writes the <schedule> format unaided, so every GRPO completion scores the same
and the group advantage is zero. Distilling the exact solver's answers first gives GRPO something
to rank. The loss covers the assistant completion only (TRL's prompt-completion format).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from tqdm import tqdm
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase, set_seed
from trl import GRPOConfig, ModelConfig, SFTConfig, SFTTrainer, get_peft_config

from dayplan.config import Params, WarmstartParams
from dayplan.data import row_instance
from dayplan.modeling import load_tokenizer
from dayplan.rewards import format_reward
from dayplan.task import chat_messages, judge, solver_completion

EVAL_ROWS = 8  # held-out pool rows for the quick format check (kept short on the CPU)


def sft_example(row: dict, trace: str = "conflicts") -> dict:
    """A conversational prompt-completion example: the task's chat prompt and the solver's answer."""
    completion = solver_completion(row_instance(row), trace)
    return {"prompt": chat_messages(row["prompt"]), "completion": [{"role": "assistant", "content": completion}]}


def load_model(path: str | Path) -> PreTrainedModel:
    # float32 so that LoRA trains and merges in full precision (bf16 autocast on a GPU is mixed precision)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def _chat_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict], generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    return list(encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded)


def split_rows(rows: list[dict], check_rows: int = EVAL_ROWS) -> tuple[list[dict], list[dict]]:
    """(train, held out): the last few pool rows stay out of training for the format check."""
    held_out = min(check_rows, len(rows) // 4)
    return rows[: len(rows) - held_out], rows[len(rows) - held_out :]


def fitting_examples(
    rows: list[dict],
    tokenizer: PreTrainedTokenizerBase,
    max_prompt_length: int,
    max_length: int,
    trace: str,
) -> tuple[list[dict], list[int]]:
    """Examples whose prompt fits GRPO's prompt budget and whose whole sequence fits max_length, and
    their completion lengths in tokens.

    Truncating instead would cut off the answer's end (</schedule> and the end-of-turn token), the
    very part the model must learn.
    """
    kept, completion_lengths = [], []
    for row in rows:
        example = sft_example(row, trace)
        prompt = _chat_ids(tokenizer, example["prompt"], generation_prompt=True)
        full = _chat_ids(tokenizer, example["prompt"] + example["completion"], generation_prompt=False)
        if len(prompt) <= max_prompt_length and len(full) <= max_length:
            kept.append(example)
            completion_lengths.append(len(full) - len(prompt))
    return kept, completion_lengths


def sft_config(p: WarmstartParams, output_dir: str | Path) -> SFTConfig:
    """trl.SFTConfig: warmstart.sft as it is, plus the outputs the stage owns."""
    return SFTConfig(
        **p.sft,
        output_dir=str(output_dir),
        save_strategy="no",  # the stage saves the merged model itself
        report_to="none",  # the train stage logs warmstart_log.json into the pipeline's MLflow run
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def build_trainer(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: list[dict], p: WarmstartParams, output_dir
) -> SFTTrainer:
    return SFTTrainer(
        model=model,
        args=sft_config(p, output_dir),
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        # None (model_args.use_peft false): all weights, which a small model learns the format from faster
        peft_config=get_peft_config(ModelConfig(**p.model_args)),
    )


@torch.no_grad()
def format_check(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict], max_new_tokens: int
) -> dict:
    """Greedy completions for held-out rows: share with the strict format, and the judge's mean score."""
    if not rows:
        return {"eval_rows": 0, "format_rate": None, "mean_score": None, "valid": 0}
    model.eval()
    tokenizer.padding_side = "left"  # decoder-only batched generation
    texts = [
        tokenizer.apply_chat_template(chat_messages(r["prompt"]), tokenize=False, add_generation_prompt=True)
        for r in rows
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    output = model.generate(
        **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    completions = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    formatted = sum(reward > 0 for reward in format_reward(completions))
    verdicts = [judge(c, row_instance(r), r["optimal_score"]) for c, r in zip(completions, rows)]
    return {
        "eval_rows": len(rows),
        "format_rate": formatted / len(rows),
        "mean_score": sum(v.score for v in verdicts) / len(rows),
        "valid": sum(v.broken_rule is None for v in verdicts),
        "sample_completion": completions[0],
    }


@dataclass
class WarmstartResult:
    metrics: dict
    log_history: list[dict]


def _loss_summary(log_history: list[dict]) -> dict:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return {"first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None}


def warmstart(base_dir: str | Path, rows: list[dict], params: Params, out_dir: Path) -> WarmstartResult:
    """Fine-tune on the solver's answers (LoRA merged into the base, or all weights); save in out_dir."""
    p = params.warmstart
    tokenizer = load_tokenizer(base_dir)
    tokenizer.padding_side = "right"  # training batches; format_check generates with left padding
    train_rows, held_out = split_rows(rows, p.check_rows)
    # unset keys take TRL's defaults, read from its config classes rather than copied here
    max_length = p.sft.get("max_length", SFTConfig.max_length)
    train_budget = params.train.grpo.get("max_completion_length", GRPOConfig.max_completion_length)
    examples, completion_lengths = fitting_examples(
        train_rows, tokenizer, params.train.max_prompt_length, max_length, p.trace
    )
    use_peft = p.model_args.get("use_peft", ModelConfig.use_peft)
    if not examples:
        raise ValueError(
            f"no pool row fits train.max_prompt_length={params.train.max_prompt_length} and "
            f"warmstart.sft.max_length={max_length} (of {len(train_rows)} training rows)"
        )
    set_seed(p.sft.get("seed", SFTConfig.seed))  # LoRA's A matrices are drawn when the trainer wraps the model
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="warmstart-") as output_dir:
        trainer = build_trainer(load_model(base_dir), tokenizer, examples, p, output_dir)
        train_output = trainer.train()
        log_history = list(trainer.state.log_history)
        merged = trainer.model.merge_and_unload() if use_peft else trainer.model
    runtime = time.monotonic() - started
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)  # a merged model saves no tokenizer; vLLM and the next stages need it
    check_started = time.monotonic()
    # with warmstart.check_rows 0 nothing is held out and the check costs nothing (the infer stage evaluates it)
    check = format_check(merged, tokenizer, held_out, params.evaluate.max_new_tokens)
    check["check_runtime_s"] = round(time.monotonic() - check_started, 1)
    metrics = {
        "enabled": True,
        "method": "lora" if use_peft else "full",
        "examples": len(examples),
        "dropped_too_long": len(train_rows) - len(examples),
        "epochs": p.sft.get("num_train_epochs"),
        "steps": train_output.global_step,
        "completion_tokens_mean": round(sum(completion_lengths) / len(completion_lengths), 1),
        "completion_tokens_max": max(completion_lengths),
        # answers longer than a generation budget get cut off there (evaluation, GRPO)
        "completions_over_eval_budget": sum(n > params.evaluate.max_new_tokens for n in completion_lengths),
        "completions_over_train_budget": sum(n > train_budget for n in completion_lengths),
        "runtime_s": round(runtime, 1),
        **_loss_summary(log_history),
        **{k: v for k, v in check.items() if k != "sample_completion"},
    }
    tqdm.write(f"sample held-out completion:\n{check.get('sample_completion', '')}")
    return WarmstartResult(metrics, log_history)
