"""dayplan.config: the real params.yaml loads with every recipe; bad values give one line naming the key."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from dayplan.config import Params, ParamsError, load_params

RECIPES = ("smollm2-135m", "qwen2.5-coder-7b", "tiny")


@pytest.fixture
def write_params(tmp_path, repo_root):
    """Write a modified copy of the real params.yaml; return a loader using the repo's recipes/."""

    def write(model: str, edit=None) -> Path:
        raw = yaml.safe_load((repo_root / "params.yaml").read_text())
        raw["model"] = model
        if edit:
            edit(raw)
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    return write


def load(path: Path, repo_root: Path) -> Params:
    return load_params(path, recipes_dir=repo_root / "recipes")


def error_of(path: Path, repo_root: Path) -> str:
    with pytest.raises(ParamsError) as caught:
        load(path, repo_root)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_real_params_yaml_loads(repo_root):
    params = load_params(repo_root / "params.yaml")
    assert params.model in RECIPES


@pytest.mark.parametrize("model", RECIPES)
def test_every_recipe_loads(model, write_params, repo_root):
    params = load(write_params(model), repo_root)
    assert params.model == model
    train = params.train
    assert (train.per_device_train_batch_size * train.gradient_accumulation_steps) % train.num_generations == 0
    assert train.max_completion_length > 0
    assert params.data.min_events <= params.data.max_events


def test_recipe_overrides_apply(write_params, repo_root):
    tiny = load(write_params("tiny"), repo_root)
    assert (tiny.base.source, tiny.data.n_train, tiny.train.num_generations) == ("tiny", 24, 2)
    reference = load(write_params("qwen2.5-coder-7b"), repo_root)
    assert reference.base.id == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert reference.train.learning_rate == 8e-6  # no overrides: params.yaml as written


def test_unknown_key(write_params, repo_root):
    message = error_of(write_params("tiny", lambda r: r["train"].update(foo=1)), repo_root)
    assert "train.foo" in message and "unknown key" in message


def test_unknown_top_level_key(write_params, repo_root):
    message = error_of(write_params("tiny", lambda r: r.update(colour="blue")), repo_root)
    assert "colour" in message and "unknown key" in message


def test_wrong_type(write_params, repo_root):
    # the reference recipe overrides nothing, so params.yaml's value is the one checked
    path = write_params("qwen2.5-coder-7b", lambda r: r["train"].update(learning_rate="fast"))
    message = error_of(path, repo_root)
    assert "train.learning_rate" in message and "'fast'" in message and "number" in message


def test_missing_key(write_params, repo_root):
    message = error_of(write_params("tiny", lambda r: r["train"].pop("seed")), repo_root)
    assert "train.seed" in message and "missing" in message


def test_num_generations_must_divide_the_batch(write_params, repo_root):
    path = write_params("qwen2.5-coder-7b", lambda r: r["train"].update(num_generations=3))
    message = error_of(path, repo_root)
    assert "train" in message and "num_generations (3) must divide" in message and "(8)" in message


def test_unknown_model(write_params, repo_root):
    message = error_of(write_params("gpt-9"), repo_root)
    assert "model" in message and "'gpt-9'" in message
    assert all(name in message for name in RECIPES)


def test_bad_time_and_range(write_params, repo_root):
    message = error_of(write_params("tiny", lambda r: r["data"].update(latest_start="25:00")), repo_root)
    assert "data.latest_start" in message and "'25:00'" in message
    message = error_of(write_params("tiny", lambda r: r["data"].update(min_events=9)), repo_root)
    assert "min_events must be <= max_events" in message


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")


def gpu_check_module(repo_root: Path):
    spec = importlib.util.spec_from_file_location("gpu_check", repo_root / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_settings_are_valid_params(write_params, repo_root):
    """The GPU check's variants and README's 7B card settings (scripts/gpu_check.py) load as params."""
    gpu_check = gpu_check_module(repo_root)
    runs = [("smollm2-135m-gpu", v) for v in gpu_check.VARIANTS.values()]
    runs += [("qwen2.5-coder-7b", c) for c in gpu_check.CARDS.values()]
    for model, settings in runs:
        train = load(write_params(model, lambda raw, s=settings: raw["train"].update(s)), repo_root).train
        assert all(getattr(train, key) == value for key, value in settings.items())
