"""GRPO scored under the sampler's grammar: the policy the trainer updates is the one that sampled.

With `train.decoding` grounded or feasible, vLLM samples each completion from the model's distribution
restricted to the tokens its prompt's constraint allows (dayplan/grpo_decoding.py), and reports the
log-probabilities of that restricted distribution. TRL scores completions with the unrestricted one, so the
policy it updates is not the sampler: the importance ratio of a whole completion falls to ~1e-4, and with the
correction off training diverged (docs/results-gpu.md, attempts 8-9). Here each completion token is scored by
a log-softmax over the tokens its constraint allowed at that position (xgrammar replays the completion
through its prompt's grammar), so that trainer and sampler agree and TRL's correction works as for free
sampling. Once the grammar is complete vLLM allows one stop token, not necessarily the model's end of turn
(SmolLM2 ends on <|im_start|>), so the token that ends a completed grammar is scored as forced. The price:
full logits for the completion positions instead of TRL's fused log-prob head.
"""

from __future__ import annotations

from collections import OrderedDict

from dayplan.grpo_decoding import PromptConstraints, TrainDecodingError


def unpack_bitmask(bitmask, vocab_size: int):
    """xgrammar's int32 bitmask (..., words) as booleans (..., vocab_size): bit j of word i is token 32 i + j."""
    import torch

    shifts = torch.arange(32, dtype=torch.int32, device=bitmask.device)
    bits = (bitmask.unsqueeze(-1) >> shifts) & 1  # arithmetic shift: the low bits are right for negative words
    return bits.flatten(-2)[..., :vocab_size].bool()


def only_token(token: int, words: int):
    """A bitmask row (int32 words) that allows `token` alone."""
    import torch

    row = torch.zeros(words, dtype=torch.int32)
    bit = token % 32
    row[token // 32] = (1 << bit) if bit < 31 else -(1 << 31)
    return row


class GrammarScorer:
    """Replaces GRPOTrainer._get_per_token_logps_and_entropies: log-probs and entropies under each
    completion's constraint. Rows are matched to constraints through their decoded prompts."""

    def __init__(self, trainer, tokenizer, constraints: PromptConstraints, rows_per_forward: int = 8):
        from dayplan.constrain import Constraint

        self.trainer, self.tokenizer, self.constraints = trainer, tokenizer, constraints
        self.compiler = Constraint(trainer.model, tokenizer)
        self.compiled: dict[tuple[str, str], object] = {}
        # a generation batch is scored two or three times (old policy, reference, loss): replay each row once,
        # and keep one batch only (a row's masks are positions x vocab / 8 bytes: 39 MB for a 7B model's vocab)
        self.masks: OrderedDict[bytes, object] = OrderedDict()
        self.cache_rows = getattr(getattr(trainer, "args", None), "generation_batch_size", None) or 256
        self.rows_per_forward = rows_per_forward
        self.entropy_bonus = bool(getattr(trainer, "_entropy_bonus_enabled", False))
        self.replay_breaks = 0  # sampled tokens the replay refused (then that row is scored unmasked from there)

    def row_bitmask(self, prompt_ids: list[int], completion_ids: list[int], width: int):
        """(width, words) int32: the allowed tokens before each completion position (all after its end)."""
        import torch

        constraint = self.constraints.of(self.tokenizer.decode(prompt_ids))
        if constraint not in self.compiled:
            self.compiled[constraint] = self.compiler.compile(*constraint)
        matcher = self.compiler.matcher(self.compiled[constraint])
        bitmask = torch.full((width, self.compiler.bitmask_words), -1, dtype=torch.int32)
        for position, token in enumerate(completion_ids):
            if matcher.is_terminated():
                break
            matcher.fill_next_token_bitmask(bitmask, position)
            if not matcher.accept_token(token):
                bitmask[position:] = -1  # never mask a token the sampler chose: log(0) would poison the loss
                self.replay_breaks += 1
                break
            if matcher.is_terminated():  # the grammar was complete: it forced the end, whichever stop token
                bitmask[position] = only_token(token, bitmask.size(1))
        return bitmask

    def allowed(self, input_ids, attention_mask, logits_to_keep: int):
        """(rows, logits_to_keep, vocab) booleans on the inputs' device."""
        import torch

        rows = []
        for ids, mask in zip(input_ids.cpu().numpy(), attention_mask.cpu().numpy(), strict=True):
            key = ids.tobytes() + mask.tobytes()
            if key not in self.masks:
                ids, mask = ids.tolist(), mask.tolist()
                prompt = [t for t, m in zip(ids[:-logits_to_keep], mask[:-logits_to_keep], strict=True) if m]
                completion = [t for t, m in zip(ids[-logits_to_keep:], mask[-logits_to_keep:], strict=True) if m]
                self.masks[key] = self.row_bitmask(prompt, completion, logits_to_keep)
                if len(self.masks) > self.cache_rows:
                    self.masks.popitem(last=False)
            rows.append(self.masks[key])
        return unpack_bitmask(torch.stack(rows).to(input_ids.device), self.compiler.vocab_size)

    def log_replay_breaks(self, training: bool) -> None:
        """The run's count so far, beside TRL's step metrics: above 0, sampler and replay disagreed somewhere."""
        metrics = getattr(self.trainer, "_metrics", None)  # TRL averages each list into the logged value
        if metrics is not None:
            metrics["train" if training else "eval"]["constrained/replay_breaks"].append(self.replay_breaks)

    def __call__(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
                 compute_aux_loss=False, **inputs):  # fmt: skip
        import torch

        if compute_aux_loss or any(value is not None for value in inputs.values()):
            raise TrainDecodingError("train.decoding: constrained GRPO scores text-only, non-MoE models")
        # full logits cost rows x positions x vocab floats: a few rows a forward bound the peak
        batch_size = min(batch_size or input_ids.size(0), self.rows_per_forward)
        all_logps, all_entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, mask = input_ids[start : start + batch_size], attention_mask[start : start + batch_size]
            with self.trainer.accelerator.autocast():
                logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=logits_to_keep + 1, use_cache=False)
            logits = logits.logits[:, :-1].float() / self.trainer.temperature
            allowed = self.allowed(ids, mask, logits_to_keep)
            logps = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
            all_logps.append(logps.gather(-1, ids[:, -logits_to_keep:, None]).squeeze(-1))
            if compute_entropy:  # a gradient only for TRL's entropy bonus
                with torch.set_grad_enabled(torch.is_grad_enabled() and self.entropy_bonus):
                    all_entropies.append(-torch.where(allowed, logps.exp() * logps, 0.0).sum(-1))
        entropies = torch.cat(all_entropies) if compute_entropy else None
        self.log_replay_breaks(model.training)
        return torch.cat(all_logps), entropies, None


def score_under_constraints(trainer, tokenizer, constraints: PromptConstraints) -> GrammarScorer:
    """Make the trainer score completions under the constraints its wrapped engine samples with."""
    scorer = GrammarScorer(trainer, tokenizer, constraints)
    trainer._get_per_token_logps_and_entropies = scorer
    return scorer
