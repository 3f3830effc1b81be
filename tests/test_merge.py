"""The merge stage: adapter + full-precision base -> merged model, checked logit for logit before it is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dayplan import merging
from dayplan.checkpoints import read_epochs
from dayplan.config import ModelSpec
from dayplan.merging import find_adapter, merge_adapter
from dayplan.modeling import ModelError, build_base


def merge_args(epoch: int) -> list[str]:
    """dvc.yaml's arguments for merge@<epoch>."""
    return ["--epoch", str(epoch), "--run", "models/grpo", "--start", "models/warmstart",
            "--out", f"models/merged/epoch{epoch}"]  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A working dir as the train stage leaves it: models/base, a skipped warm-start, one adapter per epoch."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    work = tmp_path_factory.mktemp("work")
    build_base(ModelSpec(name="test", source="tiny"), work / "models/base", seed=1)
    (work / "models/warmstart").mkdir(parents=True)
    (work / "models/warmstart/SKIPPED.json").write_text(json.dumps({"base": "models/base"}))
    model = AutoModelForCausalLM.from_pretrained(str(work / "models/base"))
    # init_lora_weights=False: random non-zero B, so the adapter really changes the outputs.
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    for step, epoch in ((2, 1), (4, 2)):
        folder = work / f"models/grpo/checkpoint-{step}"
        peft_model.save_pretrained(folder)
        (folder / "trainer_state.json").write_text(json.dumps({"epoch": float(epoch), "global_step": step}))
    (work / "models/grpo/epochs.json").write_text(json.dumps({"1": "checkpoint-2", "2": "checkpoint-4"}))
    return work


def test_merge_stage_writes_a_checked_model(workdir, monkeypatch, capsys):
    from stages import merge as stage

    monkeypatch.chdir(workdir)
    stage.main(merge_args(1))
    out = workdir / "models/merged/epoch1"
    check = json.loads((out / "merge_check.json").read_text())
    assert check["max_abs_diff"] <= check["tolerance"] <= 1.1e-3
    assert check["adapter"] == "models/grpo/checkpoint-2" and check["base"] == "models/base"
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in out.iterdir()
    }
    merged = load_file(out / "model.safetensors")
    base = load_file(workdir / "models/base/model.safetensors")
    assert merged.keys() == base.keys()  # a plain model: no lora_ tensors left
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(merged[key], base[key])  # the adapter was folded in
    assert "check passed" in capsys.readouterr().out


def test_merged_model_matches_base_plus_adapter(workdir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merge_adapter(workdir / "models/base", workdir / "models/grpo/checkpoint-4", tmp_path / "merged")
    ids = torch.tensor([[1, 504, 3180, 2]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged")).eval()(ids).logits
        base = AutoModelForCausalLM.from_pretrained(str(workdir / "models/base"))
        unmerged = PeftModel.from_pretrained(base, str(workdir / "models/grpo/checkpoint-4")).eval()(ids).logits
    assert (merged - unmerged).abs().max() < 1e-3


def test_a_corrupted_merge_fails_loudly_and_writes_nothing(workdir, tmp_path, monkeypatch):
    real_merge = merging.merge_weights

    def corrupted(peft_model):
        merged = real_merge(peft_model)
        with torch.no_grad():
            merged.model.layers[1].mlp.down_proj.weight.add_(0.05)
        return merged

    monkeypatch.setattr(merging, "merge_weights", corrupted)
    with pytest.raises(ModelError, match=r"MERGE CHECK FAILED.*unslothai/unsloth#2009") as raised:
        merge_adapter(workdir / "models/base", workdir / "models/grpo/checkpoint-2", tmp_path / "merged")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "merged").exists() and list(tmp_path.iterdir()) == []


def test_missing_epoch_lists_the_available_ones(workdir, monkeypatch):
    from stages import merge as stage

    monkeypatch.chdir(workdir)
    with pytest.raises(SystemExit, match=r"^error: models/grpo: no checkpoint for epoch 3 \(available epochs: 1, 2\)$"):
        stage.main(merge_args(3))
    assert not (workdir / "models/merged/epoch3").exists()


def test_epochs_fall_back_to_trainer_state(workdir, tmp_path):
    grpo = tmp_path / "grpo"
    for name in ("checkpoint-2", "checkpoint-4", "checkpoint-5"):
        (grpo / name).mkdir(parents=True)
    (grpo / "checkpoint-2/trainer_state.json").write_text(json.dumps({"epoch": 1.0}))
    (grpo / "checkpoint-4/trainer_state.json").write_text(json.dumps({"epoch": 2.0}))
    (grpo / "checkpoint-5/trainer_state.json").write_text(json.dumps({"epoch": 2.5}))  # mid-epoch: not an epoch
    assert read_epochs(grpo) == {"1": "checkpoint-2", "2": "checkpoint-4"}
    assert read_epochs(workdir / "models/grpo") == {"1": "checkpoint-2", "2": "checkpoint-4"}
    with pytest.raises(ModelError, match="no adapter_config.json"):
        find_adapter(grpo, 1)
    with pytest.raises(ModelError, match="run the train stage first"):
        find_adapter(tmp_path / "absent", 1)
