"""Completions for the test prompts: vLLM when it is installed and a GPU is present, else transformers.

Either backend writes the same rows: id (row index in the test split), completion, and the generation
settings. Finished batches are appended to a partial file, so a run that dies half-way resumes there.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from dayplan.io import read_jsonl


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def pick_backend(requested: str) -> str:
    """'auto' -> vllm when importable and a GPU is present; an impossible request is a one-line error."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    if requested == "auto":
        return "vllm" if has_vllm and cuda_available() else "transformers"
    if requested == "vllm" and not has_vllm:
        raise SystemExit("error: evaluate.backend: vllm is not installed (pip install '.[gpu]'), or use auto")
    if requested == "vllm" and not cuda_available():
        raise SystemExit("error: evaluate.backend: vllm needs a CUDA GPU, none found; use auto or transformers")
    return requested


def generation_settings(evaluate, backend: str) -> dict:
    return {
        "backend": backend,
        "max_new_tokens": evaluate.max_new_tokens,
        "temperature": evaluate.temperature,
        "top_p": evaluate.top_p,
        "seed": evaluate.seed,
    }


def generate_transformers(model_dir: str, conversations: Sequence[list[dict]], settings: dict, batch_size: int):
    """Yield one completion per conversation, in order, batch by batch."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    torch.manual_seed(settings["seed"])
    sampling = {"do_sample": settings["temperature"] > 0}
    if sampling["do_sample"]:
        sampling.update(temperature=settings["temperature"], top_p=settings["top_p"])
    for start in range(0, len(conversations), batch_size):
        texts = [
            tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations[start : start + batch_size]
        ]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.no_grad():
            output = model.generate(
                **inputs,
                max_new_tokens=settings["max_new_tokens"],
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        yield from tokenizer.batch_decode(new_tokens, skip_special_tokens=True)


def vllm_llm_kwargs(model_dir: str, evaluate, adapter: str | None = None) -> dict:
    """vLLM's LLM(...) arguments from the evaluate params (kept apart so that tests need no vLLM)."""
    return {
        "model": model_dir,
        "max_model_len": evaluate.max_model_len,
        "tensor_parallel_size": evaluate.tensor_parallel_size,
        "enforce_eager": evaluate.enforce_eager,
        "seed": evaluate.seed,
        "enable_lora": adapter is not None,
        "max_lora_rank": 64,
    }


def generate_vllm(
    model_dir: str, conversations: Sequence[list[dict]], settings: dict, evaluate, adapter: str | None = None
):
    """All completions in one vLLM call (it batches internally); an adapter is served with LoRARequest."""
    # the parent already touched CUDA (backend check), so vLLM's workers must not be forked from it
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    llm = LLM(**vllm_llm_kwargs(model_dir, evaluate, adapter))
    sampling = SamplingParams(
        temperature=settings["temperature"],
        top_p=settings["top_p"],
        max_tokens=settings["max_new_tokens"],
        seed=settings["seed"],
    )
    lora = LoRARequest("adapter", 1, adapter) if adapter else None
    outputs = llm.chat(list(conversations), sampling, lora_request=lora, use_tqdm=True)
    for output in outputs:
        yield output.outputs[0].text


def _partial_rows(partial: Path, settings: dict) -> list[dict]:
    """Rows a killed run already produced with the same settings (else start over)."""
    if not partial.exists():
        return []
    rows = read_jsonl(partial)
    if rows and all(all(row.get(k) == v for k, v in settings.items()) for row in rows):
        return rows
    return []


def complete_all(
    model_dir: str,
    conversations: Sequence[list[dict]],
    settings: dict,
    evaluate,
    partial: Path,
    name: str,
) -> list[dict]:
    """Completions in order, resuming from `partial`; `evaluate` (params) sizes batches and the vLLM engine."""
    done = _partial_rows(partial, settings)
    if done:
        print(f"{name}: resuming after {len(done)} completions found in {partial}")
    todo = conversations[len(done) :]
    if settings["backend"] == "vllm":
        stream = generate_vllm(model_dir, todo, settings, evaluate)
    else:
        stream = tqdm(generate_transformers(model_dir, todo, settings, evaluate.batch_size), total=len(todo), desc=name)
    partial.parent.mkdir(parents=True, exist_ok=True)
    first_id = len(done)
    with open(partial, "a" if done else "w") as handle:
        for offset, text in enumerate(stream):
            row = {"id": first_id + offset, "completion": text, "model": name, **settings}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            done.append(row)
    return done


def count_tokens(model_dir: str, texts: Sequence[str]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])
