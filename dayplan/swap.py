"""Which model folders can share one inference engine, and the weights a swap loads into it.

Two folders are swap-compatible when their config.json (less the keys that do not change the computation)
and their tokenizer files agree: the models of a run (base, warm-start, merged epochs) are full-weight
folders of one architecture, so their weights can replace each other in a running engine.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dayplan.inference import ModelLoadError

# config.json keys that say how a folder was saved or trained, not what the network computes
CONFIG_IGNORED = {
    "_name_or_path",
    "_model_name_or_path",
    "transformers_version",
    "use_cache",
    "initializer_range",
    "attention_dropout",
    "hidden_dropout",
    "embd_pdrop",
    "resid_pdrop",
}
# config.json's special-token ids, which transformers' Trainer aligns with the tokenizer before training: where a
# folder has a generation_config.json (compared below), vLLM and transformers' generate take the ids from there
SPECIAL_TOKEN_IDS = {"bos_token_id", "eos_token_id", "pad_token_id"}
# the tokenizer and what vLLM reads besides the weights: the chat template and the end-of-turn tokens
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
)
# tokenizer_config.json / generation_config.json keys that do not change a greedy completion's text
TOKENIZER_IGNORED = {"padding_side", "truncation_side", "name_or_path", "transformers_version"}


# --- which models can share an engine -------------------------------------------------------------------


def swap_signature(model: str) -> dict | None:
    """What two models must share to be served by one engine; None for anything but a local folder."""
    folder = Path(model)
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    files = {}
    for name in TOKENIZER_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if path.suffix == ".json":
            content = json.loads(path.read_text())
            if isinstance(content, dict):
                content = {k: v for k, v in content.items() if k not in TOKENIZER_IGNORED}
                if name == "generation_config.json" and "eos_token_id" in content:
                    content["eos_token_id"] = stop_ids(content["eos_token_id"])
            files[name] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        else:
            files[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"config": {k: v for k, v in config.items() if k not in CONFIG_IGNORED}, "files": files}


def stop_ids(eos_token_id: int | list[int] | None) -> list[int]:
    """generation_config.json's eos_token_id as the stop ids it names, in order: the same set stops generation
    alike, and transformers' Trainer puts the tokenizer's end-of-text id first even where the list holds it."""
    if eos_token_id is None:
        return []
    return sorted({eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id))


def incompatibility(loaded: dict | None, candidate: dict | None) -> str | None:
    """Why `candidate` cannot take over the engine serving `loaded` (one phrase), or None when it can."""
    if candidate is None:
        return "not a local model folder with a config.json"
    if loaded is None:
        return "the engine's model is not a local model folder"
    both_generation_configs = all("generation_config.json" in signature["files"] for signature in (loaded, candidate))
    for key in sorted(set(loaded["config"]) | set(candidate["config"])):
        if both_generation_configs and key in SPECIAL_TOKEN_IDS:
            continue
        if loaded["config"].get(key) != candidate["config"].get(key):
            return f"config.json {key} differs"
    for name in sorted(set(loaded["files"]) | set(candidate["files"])):
        if loaded["files"].get(name) != candidate["files"].get(name):
            return f"{name} differs"
    return None


def folder_state_dict(model_dir: str) -> dict:
    """Every tensor of the folder's safetensors shards, on the CPU."""
    from safetensors.torch import load_file

    shards = sorted(Path(model_dir).glob("*.safetensors"))
    if not shards:
        raise ModelLoadError(f"{model_dir}: no .safetensors files to load the weights from")
    state = {}
    for shard in shards:
        state.update(load_file(str(shard)))
    return state
