"""One engine for every model of a run (dayplan/engine.py), on tiny random models on the CPU.

The swap path must give byte-identical completion files to one fresh engine a model, start a new engine
for a model of another architecture or tokenizer instead of a wrong swap, and resume a run killed in its
second model without redoing the first.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from dayplan.config import load_params
from dayplan.data import generate_splits
from dayplan.engine import Engines, evaluate_models, incompatibility, swap_signature
from dayplan.inference import WORKER_EXTENSION, ModelLoadError
from dayplan.modeling import build_tiny
from dayplan.swap import stop_ids

EVALUATE = SimpleNamespace(max_new_tokens=8, temperature=0.0, top_p=1.0, seed=0, batch_size=2, decoding="feasible")


def tiny_model(folder: Path, seed: int, **config: float) -> str:
    """build_tiny's model (SmolLM2's tokenizer, random weights from `seed`), with config fields changed.

    Weights drawn 25 times wider than build_tiny's: its models all repeat the prompt's last token, and
    the test must tell one model's answers from another's.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    build_tiny(folder, seed)
    changed = AutoConfig.from_pretrained(folder)
    for key, value in {"initializer_range": 0.5, **config}.items():
        setattr(changed, key, value)
    torch.manual_seed(seed)
    for old in folder.glob("*.safetensors"):
        old.unlink()
    AutoModelForCausalLM.from_config(changed).float().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "first": tiny_model(root / "first", seed=1),
        "second": tiny_model(root / "second", seed=2),
        "shallow": tiny_model(root / "shallow", seed=3, num_hidden_layers=1),
    }


@pytest.fixture(scope="module")
def rows(request) -> dict[str, list[dict]]:
    p = load_params(request.config.rootpath / "params.yaml").data
    rows: dict[str, list[dict]] = {"test": [], "test_novel": []}
    for split, row in generate_splits(p, {"test": 2, "test_novel": 2}):
        rows[split].append(row)
    return rows


def run(tmp_path: Path, models: dict[str, str], rows, start=None) -> tuple[Engines, dict[str, bytes]]:
    """evaluate_models into tmp_path: the Engines and every completions file's bytes (split/name.jsonl)."""
    out = tmp_path / "completions"
    engines = evaluate_models(models, rows, EVALUATE, "transformers", out, tmp_path / ".partial", start)
    return engines, {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def fresh(models, rows, tmp_path_factory) -> dict[str, bytes]:
    """The reference: each model in a run of its own, so from an engine started on it."""
    files = {}
    for name in ("first", "second", "shallow"):
        engines, made = run(tmp_path_factory.mktemp(f"fresh-{name}"), {name: models[name]}, rows)
        assert engines.starts == 1
        files.update(made)
    return files


def test_one_engine_gives_the_completions_of_one_engine_a_model(models, rows, fresh, tmp_path, capsys):
    engines, swapped = run(tmp_path, {"first": models["first"], "second": models["second"]}, rows)
    assert engines.starts == 1
    assert swapped == {k: v for k, v in fresh.items() if not k.endswith("shallow.jsonl")}
    # not vacuous: the two models answer differently, so the second's answers are its own weights'
    assert fresh["test/first.jsonl"] != fresh["test/second.jsonl"]
    first_rows = [json.loads(line) for line in fresh["test/first.jsonl"].splitlines()]
    second_rows = [json.loads(line) for line in fresh["test/second.jsonl"].splitlines()]
    assert [r["completion"] for r in first_rows] != [r["completion"] for r in second_rows]
    assert [r["test_set"] for r in first_rows] == [r["test_set"] for r in second_rows]
    out = capsys.readouterr().out
    assert "first: " in out and "engine start included" in out and "second: " in out
    assert "weight swap included" in out and "2 models, 1 engine start(s):" in out
    assert not (tmp_path / ".partial").exists()


def test_another_architecture_gets_a_new_engine(models, rows, fresh, tmp_path, capsys):
    engines, made = run(tmp_path, {"first": models["first"], "shallow": models["shallow"]}, rows)
    assert engines.starts == 2
    assert made["test/shallow.jsonl"] == fresh["test/shallow.jsonl"]
    assert made["test_novel/shallow.jsonl"] == fresh["test_novel/shallow.jsonl"]
    out = capsys.readouterr().out
    assert f"shallow: new engine (config.json num_hidden_layers differs, compared with {models['first']})" in out


def test_swap_compatibility_reads_config_and_tokenizer(models, tmp_path):
    first, second = swap_signature(models["first"]), swap_signature(models["second"])
    assert incompatibility(first, second) is None
    other = tmp_path / "other"
    shutil.copytree(models["second"], other)
    # a save that only changes the padding side (the warm-start's tokenizer does) still swaps
    config = json.loads((other / "tokenizer_config.json").read_text())
    (other / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "right"}))
    assert incompatibility(first, swap_signature(str(other))) is None
    (other / "chat_template.jinja").write_text("{{ messages }}")
    assert incompatibility(first, swap_signature(str(other))) == "chat_template.jinja differs"
    assert incompatibility(first, swap_signature("HuggingFaceTB/SmolLM2-135M-Instruct")) == (
        "not a local model folder with a config.json"
    )


def test_config_special_token_ids_count_only_without_a_generation_config(models, tmp_path):
    """The stop ids come from generation_config.json where there is one (their set is compared), not from
    config.json."""
    first = swap_signature(models["first"])
    other = tmp_path / "other"
    shutil.copytree(models["second"], other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "eos_token_id": 0}))
    assert incompatibility(first, swap_signature(str(other))) is None
    generation = json.loads((other / "generation_config.json").read_text())
    # transformers' Trainer saves the tokenizer's end-of-text id first, even where the list already holds it
    stops = stop_ids(generation["eos_token_id"])
    (other / "generation_config.json").write_text(json.dumps({**generation, "eos_token_id": [stops[-1], *stops]}))
    assert incompatibility(first, swap_signature(str(other))) is None
    (other / "generation_config.json").write_text(json.dumps({**generation, "eos_token_id": [0]}))
    assert incompatibility(first, swap_signature(str(other))) == "generation_config.json differs"
    (other / "generation_config.json").unlink()
    assert incompatibility(first, swap_signature(str(other))) == "config.json eos_token_id differs"


def test_weights_that_do_not_fit_are_a_one_line_error_naming_the_model(models, rows, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(models["second"], broken)
    weights = load_file(broken / "model.safetensors")
    weights.pop("model.norm.weight")
    save_file(weights, broken / "model.safetensors")
    with pytest.raises(ModelLoadError) as error:
        run(tmp_path, {"first": models["first"], "broken": str(broken)}, rows)
    message = str(error.value)
    assert message.startswith(f"broken: {broken}: cannot swap its weights into the engine (") and "\n" not in message
    assert "model.norm.weight" in message


class DiesInside:
    """A real engine whose completions stop with KeyboardInterrupt (a kill) after `after` of model `model`."""

    def __init__(self, engine, model: str, started_on: str, after: int):
        self.engine, self.model, self.loaded, self.after = engine, model, started_on, after

    def swap(self, model_dir: str) -> None:
        self.engine.swap(model_dir)
        self.loaded = model_dir

    def generate(self, conversations):
        for number, text in enumerate(self.engine.generate(conversations)):
            if self.loaded == self.model and number == self.after:
                raise KeyboardInterrupt
            yield text

    def close(self) -> None:
        self.engine.close()


def test_a_run_killed_in_the_second_model_keeps_the_first(models, rows, fresh, tmp_path, capsys):
    pair = {"first": models["first"], "second": models["second"]}
    real = Engines({"backend": "transformers", **vars(EVALUATE)}, EVALUATE)._start

    def dying(model: str):
        return DiesInside(real(model), models["second"], model, after=2)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, pair, rows, start=dying)
    assert sorted(p.name for p in (tmp_path / ".partial").iterdir()) == ["first.jsonl", "second.jsonl"]
    shutil.rmtree(tmp_path / "completions")  # as DVC does before it reruns the stage
    capsys.readouterr()

    started: list[str] = []

    def counted(model: str):
        started.append(model)
        return real(model)

    engines, made = run(tmp_path, pair, rows, start=counted)
    assert made == {k: v for k, v in fresh.items() if not k.endswith("shallow.jsonl")}
    assert started == [models["second"]] and engines.starts == 1  # the first model needed no engine
    out = capsys.readouterr().out
    assert "first: resuming after 4 completions" in out and "second: resuming after 2 completions" in out
    assert not (tmp_path / ".partial").exists()


def test_the_vllm_worker_extension_is_importable_by_its_dotted_name():
    module, name = WORKER_EXTENSION.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name).load_folder_weights)


def test_the_stage_takes_both_name_and_model_or_neither(monkeypatch, capsys):
    from stages import infer

    monkeypatch.setattr("sys.argv", ["infer", "--data", "data", "--out", "reports/completions", "--name", "base"])
    with pytest.raises(SystemExit) as exit_info:
        infer.main()
    assert exit_info.value.code == 2 and "give both --name and --model, or neither" in capsys.readouterr().err


# --- the vLLM path's calls, with a stand-in vllm module (as tests/test_launch.py): no vLLM or GPU here -----


class StandInEngine:
    """vLLM's LLMEngine as the engine drives it: queued requests, two finished a step, the later first."""

    def __init__(self, calls: list):
        self.queued, self.calls = [], calls
        self.engine_core = SimpleNamespace(shutdown=lambda: calls.append("shutdown"))

    def add_request(self, request_id, prompt, params):
        self.queued.append((request_id, prompt["prompt_token_ids"]))

    def has_unfinished_requests(self):
        return bool(self.queued)

    def step(self):
        done, self.queued = self.queued[:2][::-1], self.queued[2:]
        return [SimpleNamespace(request_id=r, finished=True, outputs=[SimpleNamespace(text=f"answer to {ids}")])
                for r, ids in done]  # fmt: skip

    def abort_request(self, request_ids):
        self.calls.append(("abort", list(request_ids)))


class StandInTokenizer:
    def apply_chat_template(self, conversation, tokenize, add_generation_prompt):
        return conversation[-1]["content"]

    def __call__(self, text, add_special_tokens):
        return {"input_ids": [len(text)]}


class StandInLLM:
    """Records what the engine asks of vLLM; `unset` is what each worker's load_folder_weights returns."""

    built: list[StandInLLM] = []
    unset: list[list[str]] = [[]]

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []
        self.llm_engine = StandInEngine(self.calls)
        StandInLLM.built.append(self)

    def get_tokenizer(self):
        return StandInTokenizer()

    def collective_rpc(self, method, args=()):
        self.calls.append((method, args))
        return StandInLLM.unset

    def reset_prefix_cache(self):
        self.calls.append("reset_prefix_cache")
        return True


@pytest.fixture
def stand_in_vllm(monkeypatch):
    import sys
    import types

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = StandInLLM, lambda **kwargs: kwargs
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setenv("VLLM_WORKER_MULTIPROC_METHOD", "spawn")  # VllmEngine sets it; restored afterwards
    monkeypatch.setattr(StandInLLM, "built", [])
    return StandInLLM


def vllm_engines() -> Engines:
    evaluate = SimpleNamespace(
        **vars(EVALUATE),
        max_model_len=2048,
        tensor_parallel_size=1,
        enforce_eager=True,
        max_num_seqs=None,
        gpu_memory_utilization=0.9,
        vllm_engine={},
    )
    settings = {"backend": "vllm", "max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0, "decoding": "free"}
    return Engines(settings, evaluate)


def test_vllm_swaps_in_every_worker_then_resets_the_prefix_cache(models, stand_in_vllm):
    engines = vllm_engines()
    assert [engines.load(n, models[n]) for n in ("first", "second", "shallow")] == ["start", "swap", "start"]
    first, shallow = stand_in_vllm.built
    assert first.kwargs["model"] == models["first"] and first.kwargs["worker_extension_cls"] == WORKER_EXTENSION
    folder = str(Path(models["second"]).resolve())
    assert first.calls == [("load_folder_weights", (folder,)), "reset_prefix_cache", "shutdown"]
    assert shallow.kwargs["model"] == models["shallow"] and shallow.calls == []


def test_vllm_weights_left_unset_are_a_one_line_error(models, stand_in_vllm, monkeypatch):
    monkeypatch.setattr(StandInLLM, "unset", [["model.norm.weight"], ["model.norm.weight"]])
    engines = vllm_engines()
    engines.load("first", models["first"])
    with pytest.raises(ModelLoadError, match=r"^\S+second: cannot swap its weights into the engine \(1 param"):
        engines.load("second", models["second"])


def test_vllm_answers_come_in_order_as_they_finish_and_the_rest_is_aborted(models, stand_in_vllm):
    """Requests finish out of order; each answer is given once those before it are, so that the caller can
    save it at once; when the caller stops reading (a kill), the requests still queued are aborted."""
    engines = vllm_engines()
    engines.load("first", models["first"])
    conversations = [[{"role": "user", "content": "x" * n}] for n in (1, 2, 3, 4, 5)]
    assert list(engines.generate(conversations)) == [f"answer to [{n}]" for n in (1, 2, 3, 4, 5)]
    stream = engines.generate(conversations)
    assert [next(stream), next(stream)] == ["answer to [1]", "answer to [2]"]
    stream.close()
    assert stand_in_vllm.built[0].calls == [("abort", ["2-2", "2-3", "2-4"])]
