"""The model's work on one GRPO generation batch (not a test; a GPU host with the `gpu` extra): seconds of TRL's
old log-probabilities pass and of the training micro-batches, nothing generated.

    python -m benchmarks.grpo_model_time --rows 32 \
        --variants prompts-x4-gen-x4+liger prompts-x4-gen-x4+liger+no-lora-casts prompts-x4-gen-x4+liger+micro-x2

Each variant (benchmarks/grpo_throughput.py's names; those of vLLM's engine do not apply) runs in a process of
its own: it builds the trainer as `stages.train` does, with vLLM off so that no engine starts, and takes one
generation batch of the train prompts with made-up completions (lengths drawn up to max_completion_length, one
at it, as nearly every sampled batch has). It times TRL's old log-probabilities pass over the batch and one
micro-batch's loss, forward and backward, then counts the micro-batches a generation feeds. Run `dvc repro
warmstart` first.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks import child
from benchmarks.grpo_generation import generation_batch
from dayplan.config import load_params

NO_ENGINE = "train.grpo.use_vllm=false"


def synthetic_batch(trainer, dataset, tokenizer, seed: int = 0) -> dict:
    """A generation batch as TRL's _generate_and_score_completions returns it: each prompt num_generations
    times, left-padded, then random completions right-padded to the longest, with advantages."""
    import torch
    from trl.trainer.utils import pad

    generator = torch.Generator().manual_seed(seed)
    prompt_ids, _ = generation_batch(trainer, dataset, tokenizer)
    prompts = [torch.tensor(ids) for ids in prompt_ids]
    size, longest = len(prompts), trainer.args.max_completion_length
    lengths = torch.randint(longest // 4, longest + 1, (size,), generator=generator)
    lengths[0] = longest
    vocabulary = trainer.model.config.vocab_size
    completions = [torch.randint(0, vocabulary, (int(n),), generator=generator) for n in lengths]
    device = trainer.accelerator.device
    batch = {
        "prompt_ids": pad(prompts, tokenizer.pad_token_id, padding_side="left"),
        "prompt_mask": pad([torch.ones_like(p) for p in prompts], 0, padding_side="left"),
        "completion_ids": pad(completions, tokenizer.pad_token_id, padding_side="right"),
        "completion_mask": pad([torch.ones_like(c) for c in completions], 0, padding_side="right"),
        "advantages": torch.randn(size, generator=generator),
    }
    batch = {key: value.to(device) for key, value in batch.items()}
    batch["num_items_in_batch"] = batch["completion_mask"].sum()
    batch["old_per_token_logps"] = None
    batch["ref_per_token_logps"] = torch.zeros_like(batch["completion_ids"], dtype=torch.float32)
    return batch


def seconds(function, repeat: int = 1) -> float:
    """Mean seconds of `repeat` calls after one to warm up, the GPU's queue drained at both ends."""
    import torch

    synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    function()
    synchronize()
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    synchronize()
    return (time.perf_counter() - started) / repeat


def stage_trainer(params_path: Path):
    """(trainer, dataset, tokenizer) as `stages.train` builds them from the variant's params and models/warmstart."""
    import torch

    from dayplan import grpo, training

    params = load_params(params_path)
    cuda = torch.cuda.is_available()
    grpo.check_setup(params.train, cuda)  # the train stage's one-line refusals
    start = training.start_model_of(Path("models/warmstart"))
    dataset, _, tokenizer = training.prompts(params, start, Path("data/train.parquet"))
    with tempfile.TemporaryDirectory(prefix="grpo-trainer-") as output_dir:
        trainer = grpo.build_trainer(params, start, tokenizer, dataset, Path(output_dir), cuda, report_to="none")
    return trainer, dataset, tokenizer


def measure(params_path: Path) -> dict:
    """Build the trainer from the variant's params and time its model's work on one synthetic generation batch."""
    import torch
    from trl.trainer.utils import split_tensor_dict

    trainer, dataset, tokenizer = stage_trainer(params_path)
    batch = synthetic_batch(trainer, dataset, tokenizer)
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    per_device, completion_length = trainer.args.per_device_train_batch_size, batch["completion_ids"].size(1)
    micro_batches = len(ids) // per_device
    micro_batch = split_tensor_dict(batch, micro_batches)[0]
    trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps  # set by train()
    trainer.model.train()

    def old_log_probs():
        with torch.no_grad():
            trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, completion_length, per_device)

    def train_micro_batch():
        trainer.accelerator.backward(trainer.compute_loss(trainer.model, micro_batch))

    old, micro = seconds(old_log_probs), seconds(train_micro_batch, repeat=4)
    return {"completions": len(ids), "tokens": int(mask.sum()), "old log-probs s": old, "micro-batch s": micro,
            "micro-batches": micro_batches, "model s": old + micro * micro_batches}  # fmt: skip


def table(results: list[dict]) -> str:
    first = next((r["model s"] for r in results if "model s" in r), None)
    lines = ["| variant | completions | tokens | old log-probs s | micro-batch s | micro-batches | model s a "
             "generation | vs first |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | | | |")
            continue
        ratio = f"{first / r['model s']:.2f}x" if first else ""
        lines.append(f"| {r['variant']} | {r['completions']} | {r['tokens']:,} | {r['old log-probs s']:.2f} | "
                     f"{r['micro-batch s']:.3f} | {r['micro-batches']} | {r['model s']:.2f} | {ratio} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    child.main(__doc__, "benchmarks.grpo_model_time", measure, table, [NO_ENGINE])


if __name__ == "__main__":
    main()
