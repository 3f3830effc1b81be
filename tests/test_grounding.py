"""Grounded decoding: the completion regex (dayplan/rules/grounding.py) and the constrained generation with it.

The regex must allow every solver answer (the warm-start's targets) and no answer that renames, invents or
re-times an event, for any name a user or the name generator can write. On a tiny real model, the
constraint keeps each batch row to its own regex, and leaves a greedy answer that already matches unchanged.
"""

from __future__ import annotations

import random
import re

import pytest
from conftest import ReferenceDataParams
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dayplan.data import draw_instance
from dayplan.names import NAME_SOURCES
from dayplan.rules.grounding import (
    conversation_instance,
    conversation_regex,
    escape,
    grounded_regex,
    is_grounded,
)
from dayplan.task import (
    Event,
    Instance,
    chat_messages,
    feasible_grammar,
    format_time,
    schedule_xml,
    solver_completion,
)

# any text an event name may hold (check_instance: no '<', no line break), regex metacharacters first
TRICKY = "\\^$.|?*+()[]{}/'\"#%&-:, éàüñ’ß0"
NAME_TEXT = st.text(
    alphabet=st.sampled_from(TRICKY) | st.characters(blacklist_characters="<\n\r", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=24,
).filter(lambda name: name.strip())
TIMES = st.integers(0, 23 * 60 - 1)


@st.composite
def instances(draw) -> Instance:
    names = draw(st.lists(NAME_TEXT, min_size=2, max_size=6, unique=True))
    events = []
    for name in names:
        start = draw(TIMES)
        end = draw(st.integers(start + 1, min(start + 240, 24 * 60 - 1)))
        events.append(Event(name, format_time(start), format_time(end)))
    priorities = draw(st.sets(st.sampled_from(names)))
    return Instance(tuple(events), frozenset(priorities))


def answer(events: list[Event], trace: str = "reasoning") -> str:
    return f"<think>{trace}</think>\n{schedule_xml(events)}"


# --- the regex ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(instance=instances())
def test_the_solver_answer_matches_for_any_names(instance):
    assert is_grounded(solver_completion(instance), instance)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), source=st.sampled_from(sorted(NAME_SOURCES)))
def test_the_solver_answer_matches_for_generated_instances(seed, source):
    instance = draw_instance(random.Random(seed), ReferenceDataParams, NAME_SOURCES[source])
    assert is_grounded(solver_completion(instance), instance)
    # the instance read back from the prompt is the one posed, so the regex inference builds is this one
    assert conversation_regex(chat_messages(instance.text())) == grounded_regex(instance)


@settings(max_examples=200, deadline=None)
@given(instance=instances(), data=st.data())
def test_any_subset_in_any_order_matches(instance, data):
    chosen = data.draw(st.lists(st.sampled_from(instance.events), max_size=8))
    assert is_grounded(answer(chosen), instance)


@settings(max_examples=200, deadline=None)
@given(instance=instances(), data=st.data(), renamed=NAME_TEXT)
def test_a_renamed_event_does_not_match(instance, data, renamed):
    event = data.draw(st.sampled_from(instance.events))
    assume(renamed not in {e.name for e in instance.events})
    others = [e for e in instance.events if e != event]
    assert not is_grounded(answer([*others, Event(renamed, event.start, event.end)]), instance)


@settings(max_examples=200, deadline=None)
@given(instance=instances(), data=st.data())
def test_an_event_with_another_events_times_does_not_match(instance, data):
    event, other = data.draw(st.permutations(instance.events))[:2]
    assume((other.start, other.end) != (event.start, event.end))
    assert not is_grounded(answer([Event(event.name, other.start, other.end)]), instance)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_escape_matches_exactly_the_text(text):
    assert re.fullmatch(escape(text), text)
    assert not re.fullmatch(escape(text), text + "x")


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Lot 12 (north)", "lot 12 (north)"),  # the renamings seen on the novel split
        ("Nebula", "Nebra"),
        ("Neolithic", "N Neolithic"),
        ("Q3 review.", "Q3 reviewX"),  # '.' is a literal, not any character
        ("C++ sync", "C sync"),  # '+' is a literal, not a repetition
        ("Café 'Ørsted' #4 50%", "Cafe 'Ørsted' #4 50%"),
        ("a|b", "a"),  # '|' is a literal, not an alternative
    ],
)
def test_known_renamings_and_metacharacters(name, written):
    instance = Instance.from_row([[name, "09:00", "10:00"], ["Other", "10:00", "11:00"]], [])
    kept = Event(name, "09:00", "10:00")
    assert is_grounded(answer([kept, instance.events[1]]), instance)
    assert not is_grounded(answer([Event(written, "09:00", "10:00"), instance.events[1]]), instance)


def test_the_format_around_the_schedule_is_the_solvers(small_instance):
    good = solver_completion(small_instance)
    assert is_grounded(good, small_instance)
    assert not is_grounded(good + "\n", small_instance)  # nothing after </schedule>
    assert not is_grounded(good.replace("</think>\n", "</think>\n\n"), small_instance)
    assert not is_grounded(good.replace("<think>", "<think><b>"), small_instance)  # the trace holds no tag
    assert not is_grounded(good.replace("<schedule>\n<event>", "<schedule><event>"), small_instance)


def test_the_regex_uses_no_lookaround_backreference_or_flag(small_instance):
    pattern = grounded_regex(Instance.from_row([["(?=x) \\1 (?i)", "09:00", "10:00"], ["B", "10:00", "11:00"]], []))
    assert not re.search(r"(?<!\\)\((?!\?:)\?", pattern) and not re.search(r"(?<!\\)\\[1-9]", pattern)


def test_a_conversation_without_events_is_a_one_line_error():
    with pytest.raises(ValueError, match="Events:"):
        conversation_instance([{"role": "user", "content": "plan my day"}])
    with pytest.raises(ValueError, match="no user message"):
        conversation_instance([{"role": "system", "content": "x"}])


def test_each_decoding_names_its_constraint_and_free_has_none(small_instance):
    from dayplan.inference import constraint_of

    assert constraint_of(small_instance, "grounded") == ("regex", grounded_regex(small_instance))
    assert constraint_of(small_instance, "feasible")[0] == "grammar"
    with pytest.raises(ValueError, match="decoding: free has no constraint"):
        constraint_of(small_instance, "free")


# --- constrained generation on a tiny model -------------------------------------------------------------


def greedy(tiny, prompts: list[str], max_new_tokens: int, regexes: list[str] | None = None) -> list[str]:
    import torch
    from transformers import LogitsProcessorList

    from dayplan.constrain import Constraint

    model, tokenizer, _ = tiny
    inputs = tokenizer(prompts, return_tensors="pt", padding=True)
    extra = {}
    if regexes is not None:
        constraints = [("regex", regex) for regex in regexes]
        extra["logits_processor"] = LogitsProcessorList([Constraint(model, tokenizer).processor(constraints)])
    with torch.no_grad():
        output = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id, **extra
        )
    return tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_each_row_follows_its_own_regex(tiny, small_instance):
    """Literal regexes force every token: each row writes its own instance's solver answer, then stops."""
    other = Instance.from_row([["Lot 12 (a+b)", "08:00", "08:30"], ["Café 'x' #3", "08:15", "09:00"]], [])
    # the answers' schedule ends, names with regex metacharacters included: long enough to differ per row
    wanted = [solver_completion(small_instance)[-160:], solver_completion(other)[-160:]]
    prompts = ["Plan my day", "A longer prompt, so that the rows are padded differently"]
    assert greedy(tiny, prompts, 200, [escape(text) for text in wanted]) == wanted


def test_a_matching_greedy_answer_is_left_unchanged(tiny):
    """Whenever the free greedy answer already matches the regex, the constrained one is the same text."""
    prompts = ["Events:", "Plan the meeting with Nebula at noon"]
    free = greedy(tiny, prompts, 12)
    # each row's regex allows its free answer among other texts, so the mask is active at every step
    regexes = [f"(?:{escape(text)}|{escape(text[:3])}zz[^<]*|<think>[^<]*)" for text in free]
    assert greedy(tiny, prompts, 12, regexes) == free
    forced = greedy(tiny, prompts, 12, [escape("<think>") + "[^<]*" for _ in prompts])
    assert all(text.startswith("<think>") for text in forced) and forced != free


def test_the_engine_grounds_each_conversation(tiny, small_instance):
    """TransformersEngine with grounded settings: every answer is a prefix the regex allows (here cut short)."""
    from dayplan.engine import TransformersEngine

    other = Instance.from_row([["Nebula", "08:00", "08:30"], ["Neolithic", "08:15", "09:00"]], ["Nebula"])
    conversations = [chat_messages(small_instance.text()), chat_messages(other.text())]
    settings_ = {"max_new_tokens": 6, "temperature": 0.0, "top_p": 1.0, "seed": 0}
    engine = TransformersEngine(tiny[2], {**settings_, "decoding": "grounded"}, batch_size=2)
    grounded = list(engine.generate(conversations))
    free = list(TransformersEngine(tiny[2], {**settings_, "decoding": "free"}, batch_size=2).generate(conversations))
    assert all("<think>".startswith(text) or text.startswith("<think>") for text in grounded), grounded
    assert grounded != free  # the random model's free answer does not start with <think>


# --- the vLLM path's sampling params, with a stand-in vllm module (as tests/test_engine.py): no vLLM here -----


def stand_in_vllm(monkeypatch, constraint_class: str | None) -> None:
    import sys
    import types

    vllm, sampling_params = types.ModuleType("vllm"), types.ModuleType("vllm.sampling_params")
    vllm.SamplingParams = lambda **kwargs: kwargs
    if constraint_class:
        setattr(sampling_params, constraint_class, lambda **kwargs: (constraint_class, kwargs))
    vllm.sampling_params = sampling_params
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling_params)


SETTINGS = {"backend": "vllm", "max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0}


@pytest.mark.parametrize(
    ("field", "constraint_class"),
    [("structured_outputs", "StructuredOutputsParams"), ("guided_decoding", "GuidedDecodingParams")],
)
def test_vllm_gets_one_sampling_params_a_prompt_with_its_own_regex(
    monkeypatch, small_instance, field, constraint_class
):
    from dayplan.inference import vllm_sampling_params

    stand_in_vllm(monkeypatch, constraint_class)
    other = Instance.from_row([["Nebula", "08:00", "08:30"], ["Neolithic", "08:15", "09:00"]], [])
    conversations = [chat_messages(small_instance.text()), chat_messages(other.text())]
    made = vllm_sampling_params({**SETTINGS, "decoding": "grounded"}, conversations)
    common = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "seed": 0}
    assert made == [
        {**common, field: (constraint_class, {"regex": grounded_regex(small_instance)})},
        {**common, field: (constraint_class, {"regex": grounded_regex(other)})},
    ]
    feasible = vllm_sampling_params({**SETTINGS, "decoding": "feasible"}, conversations)
    assert feasible == [
        {**common, field: (constraint_class, {"grammar": feasible_grammar(small_instance)})},
        {**common, field: (constraint_class, {"grammar": feasible_grammar(other)})},
    ]
    assert vllm_sampling_params({**SETTINGS, "decoding": "free"}, conversations) == common  # one for all


def test_a_vllm_without_regex_constraints_is_a_one_line_error(monkeypatch, small_instance):
    from dayplan.constrain import GrammarError
    from dayplan.inference import vllm_sampling_params

    stand_in_vllm(monkeypatch, None)
    with pytest.raises(GrammarError, match=r"^evaluate.decoding: this vLLM has neither .*decoding=free$"):
        vllm_sampling_params({**SETTINGS, "decoding": "feasible"}, [chat_messages(small_instance.text())])


def test_the_setting_is_recorded_and_keys_the_resume():
    from types import SimpleNamespace

    from dayplan.inference import generation_settings, partial_key

    made = {
        decoding: generation_settings(
            SimpleNamespace(max_new_tokens=8, temperature=0.0, top_p=1.0, seed=0, decoding=decoding), "transformers"
        )
        for decoding in ("free", "grounded", "feasible")
    }
    assert {decoding: settings_["decoding"] for decoding, settings_ in made.items()} == {d: d for d in made}
    keys = [partial_key(settings_, "hub:x", "t") for settings_ in made.values()]
    assert all(a != b for i, a in enumerate(keys) for b in keys[i + 1 :])


@pytest.fixture(scope="module")
def xgrammar_compiler():
    """xgrammar's compiler for SmolLM2's tokenizer (what both the transformers and vLLM paths use)."""
    import xgrammar
    from transformers import AutoTokenizer

    from dayplan.modeling import TOKENIZER_ASSET

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_ASSET)
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, stop_token_ids=[tokenizer.eos_token_id])
    return xgrammar, xgrammar.GrammarCompiler(info, max_threads=1), tokenizer.eos_token_id


def xgrammar_full_match(xgrammar_compiler, regex: str, text: str) -> bool:
    xgrammar, compiler, eos = xgrammar_compiler
    matcher = xgrammar.GrammarMatcher(compiler.compile_regex(regex))
    return matcher.accept_string(text) and matcher.accept_token(eos)  # the end of turn only where the regex ends


@settings(max_examples=40, deadline=None)
@given(instance=instances(), data=st.data(), renamed=NAME_TEXT)
def test_xgrammar_reads_the_regex_as_python_does(xgrammar_compiler, instance, data, renamed):
    """The escaping holds in xgrammar's dialect too: the solver's answer passes, a renamed event does not."""
    regex = grounded_regex(instance)
    assert xgrammar_full_match(xgrammar_compiler, regex, solver_completion(instance))
    event = data.draw(st.sampled_from(instance.events))
    assume(renamed not in {e.name for e in instance.events})
    assert not xgrammar_full_match(xgrammar_compiler, regex, answer([Event(renamed, event.start, event.end)]))
    assert not xgrammar_full_match(xgrammar_compiler, regex, solver_completion(instance) + "\n")
