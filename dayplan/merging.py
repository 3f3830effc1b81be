"""Merge an epoch's LoRA adapter into the full-precision start model, checked logit for logit.

The merged folder is a plain transformers checkpoint (safetensors, config, tokenizer), what vLLM serves.
"""

from __future__ import annotations

from pathlib import Path

from dayplan.checkpoints import read_epochs
from dayplan.io import atomic_path, write_json
from dayplan.modeling import ModelError, load_tokenizer
from dayplan.task import Instance, chat_messages, solver_completion

# Merged logits must equal base+adapter logits within MERGE_ATOL + MERGE_RTOL * max|logit| (float32).
MERGE_ATOL = 1e-3
MERGE_RTOL = 1e-4
MERGE_ISSUE = "unslothai/unsloth#2009"

# Fixed instances for the merge check: no data dependency, so the check is the same in every run.
CHECK_INSTANCES = [
    Instance.from_row([["Gym", "07:00", "08:00"], ["Standup", "07:30", "08:15"], ["Lunch", "12:00", "13:00"]], ["Gym"]),
    Instance.from_row(
        [["Reading", "09:00", "10:30"], ["Call mom", "10:00", "10:45"], ["Dentist", "10:45", "11:30"],
         ["Yoga", "18:00", "19:00"], ["Dinner", "18:30", "20:00"]],
        ["Dentist", "Dinner"],
    ),
]  # fmt: skip


def check_prompts(tokenizer, max_tokens: int = 192) -> list:
    """Token ids of task chats with the solver's answer: system prompt, instance and answer tokens alike.

    Each is cut to its first and last max_tokens // 2 tokens: equivalence needs no long inputs, and a
    full forward of a 500-token prompt takes tens of seconds on a busy CPU.
    """
    prompts = []
    for instance in CHECK_INSTANCES:
        messages = chat_messages(instance.text()) + [{"role": "assistant", "content": solver_completion(instance)}]
        ids = tokenizer.apply_chat_template(messages, return_tensors="pt", return_dict=True)["input_ids"]
        if ids.shape[1] > max_tokens:
            ids = ids[:, list(range(max_tokens // 2)) + list(range(ids.shape[1] - max_tokens // 2, ids.shape[1]))]
        prompts.append(ids)
    return prompts


def find_adapter(grpo_dir: str | Path, epoch: int) -> Path:
    grpo_dir = Path(grpo_dir)
    epochs = read_epochs(grpo_dir)
    if str(epoch) not in epochs:
        available = ", ".join(sorted(epochs, key=int)) or "none"
        raise ModelError(f"{grpo_dir}: no checkpoint for epoch {epoch} (available epochs: {available})")
    adapter = grpo_dir / epochs[str(epoch)]
    if not (adapter / "adapter_config.json").exists():
        raise ModelError(f"{adapter}: no adapter_config.json (expected a PEFT adapter for epoch {epoch})")
    return adapter


def merge_weights(peft_model):
    """Fold the LoRA deltas into the base weights (a seam the tests use to corrupt a merge)."""
    return peft_model.merge_and_unload()


def merge_adapter(base: str | Path, adapter: str | Path, out: str | Path, device: str | None = None) -> dict:
    """Merge `adapter` into the full-precision `base`, check merged == base+adapter on fixed prompts, save to `out`.

    Both sides run in float32 on one model object (unmerged logits first, then merged in place), so the
    check needs one copy of the weights; the merged model is saved in the base's own dtype.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (Path(base) / "config.json").exists():
        raise ModelError(f"{base}: no config.json (expected the full model the adapter was trained on)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = load_tokenizer(base)
    save_dtype = AutoConfig.from_pretrained(str(base)).dtype or torch.float32
    save_dtype = getattr(torch, save_dtype) if isinstance(save_dtype, str) else save_dtype
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32).to(device).eval()
    model = PeftModel.from_pretrained(model, str(adapter)).eval()
    prompts = [ids.to(device) for ids in check_prompts(tokenizer)]
    with torch.no_grad():
        expected = [model(ids).logits.float() for ids in prompts]
        merged = merge_weights(model).eval()
        actual = [merged(ids).logits.float() for ids in prompts]
    diff = max((a - e).abs().max().item() for a, e in zip(actual, expected, strict=True))
    scale = max(e.abs().max().item() for e in expected)
    tolerance = MERGE_ATOL + MERGE_RTOL * scale
    check = {"adapter": str(adapter), "base": str(base), "max_abs_diff": diff, "tolerance": tolerance,
             "max_abs_logit": scale, "prompts": len(prompts), "check_dtype": "float32"}  # fmt: skip
    if not diff <= tolerance:
        raise ModelError(
            f"MERGE CHECK FAILED: merged logits differ from base+adapter by {diff:.4g} > {tolerance:.2g} "
            f"({adapter} into {base}; see {MERGE_ISSUE}); nothing written"
        )
    with atomic_path(out) as tmp:
        merged.to(dtype=save_dtype).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)  # transformers 5 saves no tokenizer with a merged model
        write_json(tmp / "merge_check.json", {**check, "saved_dtype": str(save_dtype).removeprefix("torch.")})
    return check
