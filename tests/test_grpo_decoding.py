"""GRPO sampling under the evaluation's constraints (dayplan/grpo_decoding.py), with a stand-in vLLM module.

The colocated engine TRL calls gets one SamplingParams a prompt, each carrying that prompt's own regex or
grammar, found from the prompt's token ids; everything else reaches the engine untouched. vLLM itself runs
only on a GPU, so its LLM and SamplingParams are stand-ins here (as in tests/test_grounding.py).
"""

from __future__ import annotations

import copy
import sys
import types

import pytest

from dayplan.grpo_decoding import ConstrainedEngine, PromptConstraints, TrainDecodingError, constrain_generation
from dayplan.task import Instance, chat_messages, feasible_grammar, grounded_regex


class SamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def clone(self):
        return copy.deepcopy(self)


class Engine:
    """Records what generate() was given; sleeps and syncs as an LLM would."""

    def __init__(self):
        self.calls, self.slept = [], False

    def generate(self, prompts, sampling_params=None, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        return [f"out{i}" for i in range(len(prompts))]

    def sleep(self, level):
        self.slept = level


class CharTokenizer:
    """Token ids are code points, so that decode gives back the chat text exactly."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids) -> str:
        return "".join(map(chr, ids))


@pytest.fixture
def vllm(monkeypatch):
    module, sampling = types.ModuleType("vllm"), types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = lambda **kwargs: ("structured", kwargs)
    module.SamplingParams, module.sampling_params = SamplingParams, sampling
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)


A = Instance.from_row([["Stand-up", "09:00", "09:15"], ["Gym", "09:10", "10:00"]], ["Gym"])
B = Instance.from_row([["Lunch (team)", "12:00", "13:00"], ["Call", "12:30", "12:45"]], [])


def prompt_ids(instance: Instance) -> dict:
    messages = chat_messages(instance.text())
    chat = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return {"prompt_token_ids": CharTokenizer().encode(chat + "<|im_start|>assistant\n")}


@pytest.mark.parametrize(("decoding", "kind", "build"), [("feasible", "grammar", feasible_grammar),
                                                         ("grounded", "regex", grounded_regex)])  # fmt: skip
def test_each_prompt_is_sampled_under_its_own_constraint(vllm, decoding, kind, build):
    engine = Engine()
    constrained = ConstrainedEngine(engine, CharTokenizer(), PromptConstraints([A, B], decoding))
    shared = SamplingParams(temperature=1.0, max_tokens=8)
    out = constrained.generate([prompt_ids(B), prompt_ids(A), prompt_ids(B)], sampling_params=shared, use_tqdm=False)
    assert out == ["out0", "out1", "out2"]
    ((_, given),) = engine.calls
    assert [p.structured_outputs for p in given] == [("structured", {kind: build(i)}) for i in (B, A, B)]
    assert all(p.temperature == 1.0 and p.max_tokens == 8 for p in given)
    assert not hasattr(shared, "structured_outputs")  # TRL's own params are left as they were
    constrained.sleep(level=2)  # weight sync and sleep mode reach the engine itself
    assert engine.slept == 2


def test_a_prompt_of_no_known_instance_is_a_one_line_error(vllm):
    constrained = ConstrainedEngine(Engine(), CharTokenizer(), PromptConstraints([A], "feasible"))
    with pytest.raises(TrainDecodingError, match=r"^train.decoding: a generation prompt holds none"):
        constrained.generate([prompt_ids(B)], sampling_params=SamplingParams())


def test_only_a_colocated_vllm_engine_can_be_constrained():
    trainer = types.SimpleNamespace(vllm_generation=types.SimpleNamespace(mode="server", llm=None))
    with pytest.raises(TrainDecodingError, match=r"^train.decoding: feasible needs train.grpo.use_vllm=true"):
        constrain_generation(trainer, CharTokenizer(), {"prompt": [chat_messages(A.text())]}, "feasible")
    with pytest.raises(TrainDecodingError, match="vllm_mode=colocate"):
        constrain_generation(types.SimpleNamespace(), CharTokenizer(), {"prompt": []}, "grounded")


def test_constrained_sampling_without_colocated_vllm_is_refused_before_training():
    from pathlib import Path

    from dayplan import grpo
    from dayplan.config import load_params

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert params.train.decoding == "free"  # the default: the CPU run samples with transformers
    train = params.train.model_copy(update={"decoding": "feasible"})
    with pytest.raises(grpo.TrainSetupError) as caught:
        grpo.check_setup(train, cuda=False)
    assert str(caught.value) == (
        "train.decoding: feasible needs train.grpo.use_vllm=true with vllm_mode=colocate (or free)"
    )
