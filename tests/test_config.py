"""dayplan.config: params.yaml is conf/ composed; every model configuration validates and builds TRL's
configs; bad values give one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dayplan import grpo
from dayplan.config import Params, ParamsError, as_dict, compose, load_params, read_yaml, validate, write_params

MODELS = sorted(path.stem for path in (Path(__file__).parent.parent / "conf" / "model").glob("*.yaml"))


def error_of(raw: dict) -> str:
    with pytest.raises(ParamsError) as caught:
        validate(raw, "params.yaml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_params_yaml_is_conf_composed(repo_root):
    """The committed params.yaml is exactly what `dvc exp run` would compose from conf/ without overrides."""
    assert read_yaml(repo_root / "params.yaml") == compose()


def test_write_params_matches_compose(tmp_path):
    path = tmp_path / "params.yaml"
    write_params(path, ["model=tiny", "train.grpo.learning_rate=1e-5"])
    assert read_yaml(path) == compose(["model=tiny", "train.grpo.learning_rate=1e-5"])
    assert load_params(path).train.grpo["learning_rate"] == 1e-5


@pytest.mark.parametrize("model", MODELS)
def test_every_model_builds_trl_configs(model, tmp_path, monkeypatch):
    """Each configuration's TRL mappings are valid GRPOConfig / ModelConfig / SFTConfig arguments."""
    import importlib.util

    from trl import ModelConfig

    from dayplan.sft import sft_config

    on_cpu = [
        "train.grpo.bf16=false",
        "train.grpo.use_cpu=true",
        "warmstart.sft.bf16=false",
        "warmstart.sft.use_cpu=true",
    ]
    params = validate(compose([f"model={model}", *on_cpu]), model)  # GPU configurations, checked on this CPU
    assert params.model.name == model
    grpo_args = grpo.grpo_config(params, tmp_path, report_to="none")
    assert grpo_args.learning_rate == params.train.grpo["learning_rate"]
    assert grpo_args.generation_batch_size % grpo_args.num_generations == 0
    if not params.train.model_args.get("load_in_4bit"):  # 4-bit needs bitsandbytes, a GPU-only extra
        # the stage's refusals never meet a shipped recipe as shipped (bf16), Liger (the GPU extra's) installed
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: name == "liger_kernel" or find_spec(name, *a))
        grpo.check_setup(validate(compose([f"model={model}"]), model).train, cuda=True)
    ModelConfig(**params.train.model_args)
    ModelConfig(**params.warmstart.model_args)
    assert sft_config(params.warmstart, tmp_path).max_length == params.warmstart.sft["max_length"]


def test_override_reaches_the_trainer_config_under_the_default_model(tmp_path):
    """`-S train.grpo.learning_rate=...` under the default model is the value GRPOConfig gets (no hidden layer)."""
    params = validate(compose(["train.grpo.learning_rate=1.5e-5", "train.model_args.lora_r=8"]), "params.yaml")
    assert params.model.name == "smollm2-135m"
    assert grpo.grpo_config(params, tmp_path, report_to="none").learning_rate == 1.5e-5
    assert grpo.model_config(params.train).lora_r == 8


def test_model_configuration_sets_keys(repo_root):
    tiny = validate(compose(["model=tiny"]), "tiny")
    assert (tiny.model.source, tiny.data.n_train, tiny.train.grpo["num_generations"]) == ("tiny", 24, 2)
    reference = validate(compose(["model=qwen2.5-coder-7b"]), "reference")
    assert reference.model.id == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert reference.train.grpo["learning_rate"] == 8e-6  # conf/config.yaml's defaults as written


@pytest.fixture
def raw() -> dict:
    return compose(["model=tiny"])


def test_unknown_key(raw):
    raw["train"]["foo"] = 1
    message = error_of(raw)
    assert "train.foo" in message and "unknown key" in message


def test_unknown_top_level_key(raw):
    raw["colour"] = "blue"
    message = error_of(raw)
    assert "colour" in message and "unknown key" in message


def test_wrong_type(raw):
    raw["train"]["max_prompt_length"] = "long"
    message = error_of(raw)
    assert "train.max_prompt_length" in message and "'long'" in message


def test_missing_key(raw):
    raw["train"].pop("max_prompt_length")
    message = error_of(raw)
    assert "train.max_prompt_length" in message and "missing" in message


@pytest.mark.parametrize("key", ["output_dir", "reward_weights", "report_to"])
def test_stage_owned_grpo_keys_are_refused(raw, key):
    raw["train"]["grpo"][key] = "x"
    message = error_of(raw)
    assert f"grpo.{key} is set by the stage" in message


def test_4bit_with_vllm_refused(raw):
    raw["train"]["model_args"]["load_in_4bit"] = True
    raw["train"]["grpo"]["use_vllm"] = True
    assert "trl#4973" in error_of(raw)


def test_vllm_engine_args_without_the_colocated_engine_refused(raw):
    raw["train"]["vllm_engine"] = {"max_num_batched_tokens": 16384}
    raw["train"]["grpo"]["use_vllm"] = False
    assert "train: vllm_engine: only for the colocated engine" in error_of(raw)
    raw["train"]["grpo"].update(use_vllm=True, vllm_mode="server")
    assert "train: vllm_engine: only for the colocated engine" in error_of(raw)


def test_trl_rejects_bad_grpo_values_in_one_line(tmp_path):
    bad_batch = validate(compose(["model=tiny", "train.grpo.num_generations=3"]), "params.yaml")
    with pytest.raises(grpo.TrainSetupError) as caught:
        grpo.trl_configs(bad_batch, tmp_path, report_to="none")
    assert str(caught.value).startswith("train.grpo: ") and "\n" not in str(caught.value)
    unknown = validate(compose(["model=tiny", "+train.grpo.colour=blue"]), "params.yaml")
    with pytest.raises(grpo.TrainSetupError, match="colour: unknown key"):
        grpo.trl_configs(unknown, tmp_path, report_to="none")


def test_unknown_model():
    with pytest.raises(ParamsError) as caught:
        compose(["model=gpt-9"])
    assert "gpt-9" in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_override_key():
    with pytest.raises(ParamsError, match="colour"):
        compose(["train.colour=blue"])  # Hydra: new keys need a leading +, so typos fail


def test_bad_time_and_range(raw):
    raw["data"]["latest_start"] = "25:00"
    message = error_of(raw)
    assert "data.latest_start" in message and "'25:00'" in message
    raw["data"].update(latest_start="21:59", min_events=9)
    assert "min_events must be <= max_events" in error_of(raw)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")


def test_config_cli_recomposes_params(tmp_path, monkeypatch, repo_root):
    from dayplan import config

    monkeypatch.chdir(tmp_path)
    config.main(["model=tiny", "evaluate.rows=2"])
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["evaluate"]["rows"] == 2
    with pytest.raises(SystemExit, match="error: .*gpt-9"):
        config.main(["model=gpt-9"])
    with pytest.raises(SystemExit, match="error: params.yaml: evaluate.gpu_memory_utilization: .*1.5"):
        config.main(["evaluate.gpu_memory_utilization=1.5"])
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["evaluate"]["rows"] == 2  # left as it was


def test_params_model_round_trip():
    params = validate(compose(), "params.yaml")
    assert isinstance(params, Params) and Params.model_validate(as_dict(params)) == params


def test_gpu_check_settings_are_valid_params(tmp_path, repo_root):
    """The GPU check's variants, README's 7B card settings and the tensor-parallel runs (scripts/gpu_check.py)
    compose into valid params."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", repo_root / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    runs = [("smollm2-135m-gpu", v) for v in gpu_check.VARIANTS.values()]
    runs += [("qwen2.5-coder-7b", c) for c in gpu_check.CARDS.values()]
    runs += [("qwen2.5-coder-7b", gpu_check.tensor_parallel_settings(n)) for n in gpu_check.tensor_parallel_choices()]
    for model, overrides in runs:
        params = validate(compose([f"model={model}", *overrides]), model)
        assert params.model.name == model
