"""GRPO that samples the way evaluation decodes: each prompt's completions under its own constraint.

With `train.decoding` grounded or feasible, the colocated vLLM engine TRL generates with gets, for every
prompt, SamplingParams carrying that prompt's regex or grammar (dayplan.rules), as the infer stage does.
TRL 1.16 takes one regex for all prompts (`vllm_structured_outputs_regex`), so the engine is wrapped: its
`generate` finds each prompt's instance among the dataset's and clones TRL's SamplingParams with it;
everything else (weight sync, sleep mode) reaches the engine untouched. The trainer scores the samples under
the same constraints (dayplan/grpo_masked.py), so the rewards rank choices of events, not rule breaks the
evaluation's decoding would have prevented.
"""

from __future__ import annotations

from collections.abc import Sequence

from dayplan.task import Instance, parse_instance_text


class TrainDecodingError(ValueError):
    """A setting or prompt the constrained sampler cannot serve: one line."""


def instance_of(row_prompt: Sequence[dict]) -> Instance:
    """The instance a dataset row's chat poses (its last user message)."""
    user = [m["content"] for m in row_prompt if m.get("role") == "user"][-1]
    return parse_instance_text(user)


class PromptConstraints:
    """Each dataset instance's constraint, found from a prompt's text (which holds the instance verbatim)."""

    def __init__(self, instances: Sequence[Instance], decoding: str):
        from dayplan.inference import constraint_of

        self._by_text = {inst.text(): constraint_of(inst, decoding) for inst in instances}
        self._found: dict[str, tuple[str, str]] = {}  # a prompt comes back once a generation, many times a run

    def of(self, prompt_text: str) -> tuple[str, str]:
        if prompt_text not in self._found:
            found = [text for text in self._by_text if text in prompt_text]
            if not found:
                raise TrainDecodingError("train.decoding: a generation prompt holds none of the dataset's instances")
            # an instance whose text ends another's: the longer one is the whole
            self._found[prompt_text] = self._by_text[max(found, key=len)]
        return self._found[prompt_text]


class ConstrainedEngine:
    """A vLLM LLM whose generate() gives each prompt its own constraint; other attributes pass through."""

    def __init__(self, llm, tokenizer, constraints: PromptConstraints):
        self._llm, self._tokenizer, self.constraints = llm, tokenizer, constraints

    def generate(self, prompts, sampling_params=None, **kwargs):
        from dayplan.inference import vllm_constraint_class

        field, constraint_class = vllm_constraint_class()
        per_prompt = []
        for prompt in prompts:
            kind, text = self.constraints.of(self._tokenizer.decode(prompt["prompt_token_ids"]))
            params = sampling_params.clone()
            setattr(params, field, constraint_class(**{kind: text}))
            per_prompt.append(params)
        return self._llm.generate(prompts, sampling_params=per_prompt, **kwargs)

    def __getattr__(self, name):
        return getattr(self._llm, name)


def constrain_generation(trainer, tokenizer, dataset, decoding: str) -> None:
    """Sample and score under each prompt's constraint (train.decoding other than free): the trainer's
    colocated vLLM engine is wrapped, and its log-probabilities are taken under the same constraints."""
    from dayplan.grpo_masked import score_under_constraints

    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or getattr(generation, "mode", None) != "colocate":
        raise TrainDecodingError(
            f"train.decoding: {decoding} needs train.grpo.use_vllm=true with vllm_mode=colocate (or set it to free)"
        )
    constraints = PromptConstraints([instance_of(p) for p in dataset["prompt"]], decoding)
    generation.llm = ConstrainedEngine(generation.llm, tokenizer, constraints)
    score_under_constraints(trainer, tokenizer, constraints)
