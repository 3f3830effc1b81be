"""Completions for the test prompts: vLLM when it is installed and a GPU is present, else transformers.

Either backend writes the same rows: id (row index in the test split), completion, the generation
settings and the fingerprint of the test rows. Finished completions are appended to a partial file, so a
run that dies half-way resumes there, but only for the same model files, test rows and settings: the
partial file's first line holds that key, and any other key starts over.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dayplan.io import no_space_exits

WORKER_EXTENSION = "dayplan.engine.WeightSwap"  # a dotted name: vLLM imports it in its worker processes


class ModelLoadError(ValueError):
    """The model (folder or Hub id) cannot be loaded: one line naming it and why."""


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
        "decoding": evaluate.decoding,
    }


def constraint_of(instance, decoding: str) -> tuple[str, str]:
    """An instance's constraint as (kind, text): the grounded regex or the feasible grammar (dayplan.rules)."""
    from dayplan.rules.feasibility import feasible_grammar
    from dayplan.rules.grounding import grounded_regex

    if decoding == "grounded":
        return "regex", grounded_regex(instance)
    if decoding == "feasible":
        return "grammar", feasible_grammar(instance)
    raise ValueError(f"decoding: {decoding} has no constraint (expected grounded or feasible)")


def decoding_constraints(conversations: Sequence[list[dict]], decoding: str) -> list[tuple[str, str]]:
    """Each conversation's constraint_of; GrammarError (one line) for a conversation without events."""
    from dayplan.constrain import GrammarError
    from dayplan.rules.grounding import conversation_instance

    try:
        return [constraint_of(conversation_instance(c), decoding) for c in conversations]
    except ValueError as error:
        raise GrammarError(f"{decoding} decoding: {error}") from None


def vllm_constraint_class() -> tuple[str, type]:
    """(SamplingParams field, its class) for a regex or grammar constraint in the installed vLLM.

    Newer vLLM takes `structured_outputs=StructuredOutputsParams(regex=... | grammar=...)`; older releases took
    `guided_decoding=GuidedDecodingParams(...)` with the same fields.
    """
    from dayplan.constrain import GrammarError

    try:
        from vllm.sampling_params import StructuredOutputsParams

        return "structured_outputs", StructuredOutputsParams
    except ImportError:
        pass
    try:
        from vllm.sampling_params import GuidedDecodingParams

        return "guided_decoding", GuidedDecodingParams
    except ImportError:
        raise GrammarError(
            "evaluate.decoding: this vLLM has neither StructuredOutputsParams nor GuidedDecodingParams; "
            "set evaluate.decoding=free"
        ) from None


def prompt_token_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """A conversation's prompt as the model reads it: the chat template (which writes the special tokens
    itself, hence none added) and the assistant's header."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def vllm_sampling_params(settings: dict, conversations: Sequence[list[dict]]):
    """One SamplingParams for every conversation, or, constrained, a list of one per conversation (its own)."""
    from vllm import SamplingParams

    common = {
        "temperature": settings["temperature"],
        "top_p": settings["top_p"],
        "max_tokens": settings["max_new_tokens"],
        "seed": settings["seed"],
    }
    if settings["decoding"] == "free":
        return SamplingParams(**common)
    field, constraint = vllm_constraint_class()
    return [
        SamplingParams(**common, **{field: constraint(**{kind: text})})
        for kind, text in decoding_constraints(conversations, settings["decoding"])
    ]


def generate_transformers(model_dir: str, conversations: Sequence[list[dict]], settings: dict, batch_size: int):
    """Yield one completion per conversation, in order, batch by batch, from a model loaded for this call."""
    from dayplan.engine import TransformersEngine

    yield from TransformersEngine(model_dir, settings, batch_size).generate(conversations)


def tensor_parallel_sizes(heads: int, kv_heads: int) -> list[int]:
    """The GPU counts vLLM can split a model across: each takes as many attention heads, and the key-value
    heads are split as evenly or copied whole (SmolLM2-135M, 9 and 3: 1, 3, 9; Qwen2.5-Coder-7B, 28 and 4:
    1, 2, 4, 28)."""
    return [n for n in range(1, heads + 1) if heads % n == 0 and (kv_heads % n == 0 or n % kv_heads == 0)]


def check_tensor_parallel(models: dict[str, str], size: int) -> None:
    """evaluate.tensor_parallel_size against every local model's heads, before any engine starts (vLLM would
    stop after loading); Hub ids are vLLM's to check."""
    for model in models.values():
        config = Path(model) / "config.json"
        if not config.is_file():
            continue
        shape = json.loads(config.read_text())
        heads = shape.get("num_attention_heads")
        kv_heads = shape.get("num_key_value_heads") or heads
        if heads and size not in (sizes := tensor_parallel_sizes(heads, kv_heads)):
            raise ModelLoadError(
                f"evaluate.tensor_parallel_size={size} cannot split the {heads} attention heads ({kv_heads} "
                f"key-value) of {model}: use one of {', '.join(map(str, sizes))}"
            )


def vllm_llm_kwargs(model_dir: str, evaluate, adapter: str | None = None) -> dict:
    """vLLM's LLM(...) arguments from the evaluate params (kept apart so that tests need no vLLM)."""
    return {
        "model": model_dir,
        "max_model_len": evaluate.max_model_len,
        "tensor_parallel_size": evaluate.tensor_parallel_size,
        "enforce_eager": evaluate.enforce_eager,
        **({"max_num_seqs": evaluate.max_num_seqs} if evaluate.max_num_seqs else {}),
        "gpu_memory_utilization": evaluate.gpu_memory_utilization,
        "seed": evaluate.seed,
        "enable_lora": adapter is not None,
        "max_lora_rank": 64,
        # in every worker: the method that loads another folder's weights (dayplan/engine.py)
        "worker_extension_cls": WORKER_EXTENSION,
        **evaluate.vllm_engine,
    }


def unknown_vllm_engine_arg(engine_args: dict) -> str | None:
    """The first of these names that vLLM's engine arguments lack (vllm.LLM passes them on to EngineArgs)."""
    import dataclasses

    from vllm import EngineArgs

    unknown = sorted(set(engine_args) - {field.name for field in dataclasses.fields(EngineArgs)})
    return unknown[0] if unknown else None


def check_vllm_engine_args(engine_args: dict) -> None:
    """evaluate.vllm_engine's names, before any engine starts."""
    if engine_args and (unknown := unknown_vllm_engine_arg(engine_args)):
        raise ModelLoadError(f"evaluate.vllm_engine: {unknown} is not a vLLM engine argument (vllm.EngineArgs)")


def generate_vllm(
    model_dir: str, conversations: Sequence[list[dict]], settings: dict, evaluate, adapter: str | None = None
):
    """All completions in one vLLM call (it batches internally); an adapter is served with LoRARequest."""
    # the parent already touched CUDA (backend check), so vLLM's workers must not be forked from it
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    from vllm import LLM
    from vllm.lora.request import LoRARequest

    llm = LLM(**vllm_llm_kwargs(model_dir, evaluate, adapter))
    sampling = vllm_sampling_params(settings, conversations)
    lora = LoRARequest("adapter", 1, adapter) if adapter else None
    outputs = llm.chat(list(conversations), sampling, lora_request=lora, use_tqdm=True)
    for output in outputs:
        yield output.outputs[0].text


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def model_fingerprint(model: str) -> str:
    """Which model files these are: each file's path, size and modification time; a Hub id stands for itself.

    Hashing the weights of a 7B model would take longer than a resume saves; a retrain or a checkout
    writes new files, and so changes the fingerprint.
    """
    folder = Path(model)
    if not folder.is_dir():
        return f"hub:{model}"
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def partial_key(settings: dict, model: str, test_set: str) -> dict:
    """What completions in a partial file must have been made with to be reused."""
    return {"settings": settings, "model": model_fingerprint(model), "test_set": test_set}


def _partial_rows(partial: Path, key: dict) -> list[dict]:
    """Rows a killed run already produced under the same key, in id order (else none: start over)."""
    if not partial.exists():
        return []
    rows = []
    with open(partial) as handle:
        try:
            if json.loads(handle.readline()) != {"partial_key": key}:
                return []
            for line in handle:
                if not line.endswith("\n"):  # the last line, cut by the kill
                    break
                rows.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return []
    if [row.get("id") for row in rows] != list(range(len(rows))):
        return []
    return rows


def complete_all(
    model_dir: str,
    conversations: Sequence[list[dict]],
    settings: dict,
    evaluate,
    partial: Path,
    name: str,
    key: dict,
    generate: Callable[[Sequence[list[dict]]], Iterable[str]] | None = None,
) -> list[dict]:
    """Completions in order, resuming from `partial` when its key is `key` (see partial_key).

    `evaluate` (params) sizes batches and the vLLM engine. A line per saved batch says how far it got.
    `generate` (conversations -> texts) serves them from an engine that is already running (dayplan.engine);
    without it, an engine starts for this model alone. Neither is asked when nothing is left to do.
    """
    done = _partial_rows(partial, key)
    if done:
        print(f"{name}: resuming after {len(done)} completions found in {partial}")
    elif partial.exists():
        print(f"{name}: nothing to reuse in {partial} (another model, test set or settings): starting over")
    todo = conversations[len(done) :]
    if not todo:
        stream = iter(())
    elif generate is not None:
        stream = generate(todo)
    elif settings["backend"] == "vllm":
        stream = generate_vllm(model_dir, todo, settings, evaluate)
    else:
        stream = generate_transformers(model_dir, todo, settings, evaluate.batch_size)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with no_space_exits(partial), open(partial, "w") as handle:  # rewritten: drops a line cut by a kill
        handle.write(json.dumps({"partial_key": key}) + "\n")
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in done)
        for text in stream:
            row = {"id": len(done), "completion": text, "model": name, **settings, "test_set": key["test_set"]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            done.append(row)
            if len(done) % evaluate.batch_size == 0 or len(done) == len(conversations):
                print(f"{name}: {len(done)}/{len(conversations)} completions saved", flush=True)
    return done


def count_tokens(model_dir: str, texts: Sequence[str]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])
