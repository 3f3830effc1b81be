"""GRPO that samples the way evaluation decodes: each prompt's completions under its own constraint.

With `train.decoding` grounded or feasible, the colocated vLLM engine TRL generates with gets, for every
prompt, SamplingParams carrying that prompt's regex or grammar (dayplan.rules), as the infer stage does.
TRL 1.16 takes one regex for all prompts (`vllm_structured_outputs_regex`), so the engine is wrapped: its
`generate` finds each prompt's instance among the dataset's and clones TRL's SamplingParams with it;
everything else (weight sync, sleep mode) reaches the engine untouched. The policy is still trained on its
own log-probabilities of the sampled tokens, so the rewards now rank choices of events, not rule breaks the
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


class ConstrainedEngine:
    """A vLLM LLM whose generate() gives each prompt its own constraint; other attributes pass through."""

    def __init__(self, llm, tokenizer, instances: Sequence[Instance], decoding: str):
        from dayplan.inference import constraint_of

        self._llm, self._tokenizer = llm, tokenizer
        # a prompt is found by its instance's text, which the chat template leaves verbatim
        self._constraints = {inst.text(): constraint_of(inst, decoding) for inst in instances}

    def constraint_for(self, prompt_text: str) -> tuple[str, str]:
        found = [c for text, c in self._constraints.items() if text in prompt_text]
        if not found:
            raise TrainDecodingError("train.decoding: a generation prompt holds none of the dataset's instances")
        return max(found, key=len)  # an instance whose text ends another's: the longer one is the whole

    def generate(self, prompts, sampling_params=None, **kwargs):
        from dayplan.inference import vllm_constraint_class

        field, constraint_class = vllm_constraint_class()
        per_prompt = []
        for prompt in prompts:
            kind, text = self.constraint_for(self._tokenizer.decode(prompt["prompt_token_ids"]))
            params = sampling_params.clone()
            setattr(params, field, constraint_class(**{kind: text}))
            per_prompt.append(params)
        return self._llm.generate(prompts, sampling_params=per_prompt, **kwargs)

    def __getattr__(self, name):
        return getattr(self._llm, name)


def constrain_generation(trainer, tokenizer, dataset, decoding: str) -> None:
    """Wrap the trainer's colocated vLLM engine (train.decoding other than free)."""
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or getattr(generation, "mode", None) != "colocate":
        raise TrainDecodingError(
            f"train.decoding: {decoding} needs train.grpo.use_vllm=true with vllm_mode=colocate (or set it to free)"
        )
    generation.llm = ConstrainedEngine(generation.llm, tokenizer, [instance_of(p) for p in dataset["prompt"]], decoding)
