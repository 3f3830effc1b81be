"""What GRPO's dataloader costs outside the model's work (not a test; a CPU is enough): seconds to serve one
generation's rows.

    python -m benchmarks.grpo_rows --rows 32 --variants prompts-x4-gen-x4 prompts-x4-gen-x4+micro-x2
    python -m benchmarks.grpo_rows --rows 32 --variants prompts-x4-gen-x4 prompts-x4-gen-x4+pin   # a GPU host

TRL's loader hands every micro-step the whole generation batch's rows, though it generates from the first pull
of steps_per_generation; the trainer's accelerate loader then copies each Python object in them to place it on
the device (and, with `pin`, pins it first). Each variant (benchmarks/grpo_throughput.py's names) runs in a
process of its own: it builds the trainer as `stages.train` does, vLLM off, and times its train dataloader
serving one generation's pulls, the median of several generations. Without a GPU it trains on the CPU in float32,
as `model=smollm2-135m` does: the rows are the same. Run `dvc repro warmstart` first.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from benchmarks import child
from benchmarks.grpo_model_time import stage_trainer

NO_ENGINE = "train.grpo.use_vllm=false"
ON_THE_CPU = ["train.grpo.bf16=false", "train.grpo.use_cpu=true", "train.grpo.optim=adamw_torch"]
GENERATIONS = 5


def rows_seconds(trainer) -> float:
    """Seconds the trainer's train dataloader takes to serve one generation's micro-steps."""
    started = time.perf_counter()
    loader = iter(trainer.get_train_dataloader())
    for _ in range(trainer.args.steps_per_generation):
        next(loader)
    return time.perf_counter() - started


def measure(params_path: Path) -> dict:
    trainer, dataset, _ = stage_trainer(params_path)
    seconds = [rows_seconds(trainer) for _ in range(GENERATIONS)]
    steps = trainer.args.steps_per_generation
    return {"rows a pull": trainer.args.generation_batch_size, "pulls": steps, "columns": len(dataset.column_names),
            "rows s": statistics.median(seconds)}  # fmt: skip


def table(results: list[dict]) -> str:
    first = next((r["rows s"] for r in results if "rows s" in r), None)
    lines = ["| variant | rows a pull | pulls a generation | dataset columns | s a generation | vs first |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | |")
            continue
        ratio = f"{first / r['rows s']:.2f}x" if first else ""
        lines.append(f"| {r['variant']} | {r['rows a pull']} | {r['pulls']} | {r['columns']} | {r['rows s']:.2f} | "
                     f"{ratio} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    import torch

    extra = [NO_ENGINE, *([] if torch.cuda.is_available() else ON_THE_CPU)]
    child.main(__doc__, "benchmarks.grpo_rows", measure, table, extra)


if __name__ == "__main__":
    main()
