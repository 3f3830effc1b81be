"""GRPO's log-probabilities under the sampler's constraint (dayplan/grpo_masked.py), on a tiny model.

The reference is the transformers decoding path (dayplan/constrain.py): the log-softmax of the logits its
processor leaves at each step is what a constrained sampler draws from, so the trainer must score each token
of a completion with exactly that.
"""

from __future__ import annotations

import contextlib
import types
from collections import defaultdict

import pytest
import torch

from dayplan.constrain import Constraint
from dayplan.grpo_decoding import PromptConstraints
from dayplan.grpo_masked import only_token, score_under_constraints, unpack_bitmask
from dayplan.task import Instance, chat_messages, feasible_grammar, solver_completion

OTHER = Instance.from_row([["Café 'x' #3", "08:00", "08:30"], ["Lot 12", "08:15", "09:00"]], ["Lot 12"])


def test_only_token_allows_one_token_in_any_bit():
    for token in (0, 31, 32, 63, 49151):
        assert unpack_bitmask(only_token(token, 1536), 49152).nonzero().flatten().tolist() == [token]


def test_unpack_bitmask_reads_xgrammar_bit_order():
    words = torch.tensor([[1 - 2**31, 0], [-1, 0b101]], dtype=torch.int32)  # bits 0 and 31: a negative word
    allowed = unpack_bitmask(words, 35)
    assert allowed[0].nonzero().flatten().tolist() == [0, 31]
    assert allowed[1].nonzero().flatten().tolist() == [*range(32), 32, 34]


def prompt_and_completion(tokenizer, instance: Instance, completion: str) -> tuple[list[int], list[int]]:
    text = tokenizer.apply_chat_template(chat_messages(instance.text()), add_generation_prompt=True, tokenize=False)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    return prompt, tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def batch(tokenizer, rows: list[tuple[list[int], list[int]]]):
    """TRL's layout: prompts left-padded, completions right-padded, one attention mask over both."""
    pad, width = tokenizer.pad_token_id, max(len(c) for _, c in rows)
    prompt_width = max(len(p) for p, _ in rows)
    ids, mask = [], []
    for prompt, completion in rows:
        left, right = prompt_width - len(prompt), width - len(completion)
        ids.append([pad] * left + prompt + completion + [pad] * right)
        mask.append([0] * left + [1] * (len(prompt) + len(completion)) + [0] * right)
    return torch.tensor(ids), torch.tensor(mask), width


def reference_logps(model, tokenizer, prompt: list[int], completion: list[int], instance: Instance) -> list[float]:
    """Token by token through the transformers constrained decoder's logits processor."""
    processor = Constraint(model, tokenizer).processor([("grammar", feasible_grammar(instance))])
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1 : -1].float()
    out = []
    for position, token in enumerate(completion):
        scores = processor(ids[:, : len(prompt) + position], logits[position : position + 1].clone())
        out.append(torch.log_softmax(scores, -1)[0, token].item())
    return out


@pytest.fixture
def scorer(tiny, small_instance):
    model, tokenizer, _ = tiny
    trainer = types.SimpleNamespace(model=model, temperature=1.0,
                                    accelerator=types.SimpleNamespace(autocast=contextlib.nullcontext),
                                    _metrics={"train": defaultdict(list), "eval": defaultdict(list)})  # fmt: skip
    constraints = PromptConstraints([small_instance, OTHER], "feasible")
    score_under_constraints(trainer, tokenizer, constraints)
    return trainer._get_per_token_logps_and_entropies


def test_each_token_is_scored_under_its_own_prompts_grammar(tiny, small_instance, scorer):
    model, tokenizer, _ = tiny
    rows = [prompt_and_completion(tokenizer, i, solver_completion(i)) for i in (small_instance, OTHER)]
    ids, mask, width = batch(tokenizer, rows)
    with torch.no_grad():
        logps, entropies, aux = scorer(model, ids, mask, width, compute_entropy=True)
        unmasked = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, -width - 1 : -1].float(), -1)
    assert aux is None and logps.shape == entropies.shape == (2, width)
    for row, ((prompt, completion), instance) in enumerate(zip(rows, (small_instance, OTHER), strict=True)):
        expected = reference_logps(model, tokenizer, prompt, completion, instance)
        end = len(completion) - 1  # the stop token after a completed grammar: forced, as vLLM samples it
        assert logps[row, :end].tolist() == pytest.approx(expected[:end], abs=1e-4)
        assert logps[row, end].item() == 0.0 and expected[end] < 0.0
        free = unmasked[row, torch.arange(len(completion)), torch.tensor(completion)]
        assert (logps[row, : len(completion)] >= free - 1e-5).all()  # renormalised over fewer tokens
        assert (logps[row, : len(completion)] > free + 1e-3).any()
    assert scorer.replay_breaks == 0
    assert torch.isfinite(entropies).all() and (entropies >= -1e-5).all()


def test_a_token_the_grammar_refuses_leaves_the_rest_of_its_row_unmasked(tiny, small_instance, scorer):
    model, tokenizer, _ = tiny
    prompt, completion = prompt_and_completion(tokenizer, small_instance, "<think>a<b</think>")
    ids, mask, width = batch(tokenizer, [(prompt, completion)])
    with torch.no_grad():
        logps, _, _ = scorer(model, ids, mask, width)
        unmasked = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, -width - 1 : -1].float(), -1)
    assert torch.isfinite(logps).all()
    assert scorer.replay_breaks == 1
    mode = "train" if model.training else "eval"
    assert scorer.trainer._metrics[mode]["constrained/replay_breaks"] == [1]  # beside TRL's step metrics
    # "<" may still open "</think>"; "b" after it is refused, and from there the row is scored unmasked
    free = unmasked[0, torch.arange(width), torch.tensor(completion)]
    assert logps[0, -2:].tolist() == pytest.approx(free[-2:].tolist(), abs=1e-5)
    assert logps[0, 0].item() > free[0].item() + 1e-3  # "<think>" opens every answer: masked before the break


def test_gradients_reach_the_model_through_the_masked_scores(tiny, small_instance, scorer):
    model, tokenizer, _ = tiny
    ids, mask, width = batch(
        tokenizer, [prompt_and_completion(tokenizer, small_instance, solver_completion(small_instance))]
    )
    model.zero_grad()
    logps, _, _ = scorer(model, ids, mask, width)
    logps.sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.zero_grad()


def test_the_trainer_samples_and_scores_under_the_same_constraints(tiny, small_instance):
    """With TRL's importance-sampling correction on (the stage accepts it): trainer and sampler agree."""
    from pathlib import Path

    from dayplan import grpo
    from dayplan.config import load_params
    from dayplan.grpo_decoding import constrain_generation
    from dayplan.grpo_masked import GrammarScorer

    model, tokenizer, _ = tiny
    train = load_params(Path(__file__).resolve().parents[1] / "params.yaml").train
    settings = {**train.grpo, "use_vllm": True, "vllm_mode": "colocate", "vllm_importance_sampling_correction": True}
    grpo.check_setup(train.model_copy(update={"decoding": "feasible", "grpo": settings}), cuda=True)
    engine = types.SimpleNamespace(generate=None)
    trainer = types.SimpleNamespace(model=model, vllm_generation=types.SimpleNamespace(mode="colocate", llm=engine))
    constrain_generation(trainer, tokenizer, {"prompt": [chat_messages(small_instance.text())]}, "feasible")
    scorer = trainer._get_per_token_logps_and_entropies
    assert isinstance(scorer, GrammarScorer)
    assert scorer.constraints is trainer.vllm_generation.llm.constraints
    assert trainer.vllm_generation.llm._llm is engine


def test_the_mask_cache_holds_one_generation_batch(tiny, small_instance):
    model, tokenizer, _ = tiny
    trainer = types.SimpleNamespace(model=model, temperature=1.0, args=types.SimpleNamespace(generation_batch_size=1),
                                    accelerator=types.SimpleNamespace(autocast=contextlib.nullcontext))  # fmt: skip
    scorer = score_under_constraints(trainer, tokenizer, PromptConstraints([small_instance, OTHER], "feasible"))
    rows = [prompt_and_completion(tokenizer, i, solver_completion(i)) for i in (small_instance, OTHER)]
    ids, mask, width = batch(tokenizer, rows)
    with torch.no_grad():
        scorer(model, ids, mask, width)
    assert scorer.cache_rows == 1 and len(scorer.masks) == 1
