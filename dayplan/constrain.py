"""Constrained generation with transformers: xgrammar's token masks, one regex or grammar per batch row.

Each step, a row's logits keep only the tokens after which its text can still be completed to a full match
of its constraint (xgrammar compiles it against the whole vocabulary, so a BPE token that spans several
characters is allowed exactly when all of them fit); once the constraint is complete, only the end-of-turn
tokens are. Masking never reorders the allowed tokens, so a greedy answer that already matches comes out
unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence


class GrammarError(ValueError):
    """xgrammar is missing or refuses a regex or grammar: one line."""


def _xgrammar():
    try:
        import xgrammar
    except ImportError:
        raise GrammarError(
            "constrained decoding needs xgrammar (pip install xgrammar), or set evaluate.decoding=free"
        ) from None
    return xgrammar


def stop_token_ids(model, tokenizer) -> list[int]:
    """The tokens that end generation (the generation config's, else the tokenizer's end of sequence)."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    return sorted({ids} if isinstance(ids, int) else set(ids or ()))


class Constraint:
    """Compiles regexes and grammars for one model's tokenizer; a logits processor per generate() call."""

    def __init__(self, model, tokenizer):
        xgr = _xgrammar()
        # the logits are as wide as the embedding, which may be padded past the tokenizer's last id
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=self.vocab_size, stop_token_ids=stop_token_ids(model, tokenizer)
        )
        self.compiler = xgr.GrammarCompiler(info, max_threads=1)

    def compile(self, kind: str, text: str):
        """kind: 'regex' or 'grammar' (xgrammar's EBNF)."""
        compile_text = {"regex": self.compiler.compile_regex, "grammar": self.compiler.compile_grammar}[kind]
        try:
            return compile_text(text)
        except Exception as error:  # xgrammar raises RuntimeError subclasses with multi-line details
            lines = str(error).strip().splitlines()
            raise GrammarError(
                f"cannot compile the decoding {kind} ({lines[0] if lines else type(error).__name__})"
            ) from None

    def matcher(self, compiled):
        """A fresh matcher of a compiled regex or grammar: replays tokens, fills the allowed-token bitmask."""
        return _xgrammar().GrammarMatcher(compiled)

    @property
    def bitmask_words(self) -> int:
        """int32 words a bitmask row takes (one bit a token of the logits)."""
        return (self.vocab_size + 31) // 32

    def processor(self, constraints: Sequence[tuple[str, str]]) -> ConstraintLogitsProcessor:
        """constraints: (kind, text) a batch row."""
        matchers = [self.matcher(self.compile(kind, text)) for kind, text in constraints]
        return ConstraintLogitsProcessor(matchers, self.vocab_size)


class ConstraintLogitsProcessor:
    """A transformers logits processor for one generate() call: row i follows matchers[i].

    A row that has reached an end-of-turn token is left alone (transformers pads it from then on).
    """

    def __init__(self, matchers: Sequence, vocab_size: int):
        self.xgr = _xgrammar()
        self.matchers = list(matchers)
        self.bitmask = self.xgr.allocate_token_bitmask(len(self.matchers), vocab_size)
        self.started = False

    def __call__(self, input_ids, scores):
        if input_ids.shape[0] != len(self.matchers):
            raise GrammarError(f"batch of {input_ids.shape[0]} rows for {len(self.matchers)} grammars")
        if self.started:  # the previous step's chosen tokens
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_terminated() and not matcher.accept_token(int(input_ids[row, -1])):
                    raise GrammarError(f"row {row}: the sampled token {int(input_ids[row, -1])} breaks its constraint")
        self.started = True
        rows = []
        for row, matcher in enumerate(self.matchers):
            if not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self.bitmask, row)
                rows.append(row)
        if rows:
            masked = scores if scores.device.type in ("cpu", "cuda") else scores.cpu()
            self.xgr.apply_token_bitmask_inplace(masked, self.bitmask.to(masked.device), indices=rows)
            if masked is not scores:
                scores.copy_(masked.to(scores.device))
        return scores
