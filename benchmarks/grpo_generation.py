"""The generation of one GRPO step alone (not a test; a GPU host with the `gpu` extra): completion tokens/s of
TRL's colocated vLLM engine, built by the train stage's own code, and where its time goes.

    python -m benchmarks.grpo_generation --rows 32 --variants prompts-x4-gen-x4 prompts-x4-gen-x4+graphs-1024
    python -m benchmarks.grpo_generation --rows 32 --variants prompts-x4-gen-x4 --profile /tmp/grpo-profile

Each variant (benchmarks/grpo_throughput.py's names) runs in a process of its own: it builds the trainer as
`stages.train` does from models/warmstart, then calls TRL's generate on the first generation batch of the
train prompts (prompts x num_generations, as a GRPO step samples them), once to warm up on one group and
once timed. --profile writes cProfile's statistics of the timed call (DIR/VARIANT.prof) and prints the
functions with the most own time: the Python between decoding steps shows there, the GPU's work does not.
Run `dvc repro warmstart` first.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from benchmarks.child import add_variant_arguments, print_row, run_variants, variant_in_child
from dayplan.config import load_params
from dayplan.inference import prompt_token_ids


def generation_batch(trainer, dataset, tokenizer) -> tuple[list[list[int]], int]:
    """The first generation batch as TRL samples it: each prompt's token ids once a completion, and the group size."""
    group = trainer.num_generations
    prompts = dataset.select(range(trainer.args.generation_batch_size // group))
    token_ids = [prompt_token_ids(tokenizer, row["prompt"]) for row in prompts]
    return [ids for ids in token_ids for _ in range(group)], group


def measure(params_path: Path, profile: Path | None) -> dict:
    """Build the trainer from the variant's params, generate its first generation batch, count and time it."""
    from dayplan import grpo, training

    params = load_params(params_path)
    start = training.start_model_of(Path("models/warmstart"))
    dataset, _, tokenizer = training.prompts(params, start, Path("data/train.parquet"))
    with tempfile.TemporaryDirectory(prefix="grpo-generation-") as output_dir:
        started = time.perf_counter()
        trainer = grpo.build_trainer(params, start, tokenizer, dataset, Path(output_dir), cuda=True, report_to="none")
        engine_start = time.perf_counter() - started
        prompts, group = generation_batch(trainer, dataset, tokenizer)
        trainer.vllm_generation.generate(prompts[:group], None, group)  # warm-up: one group
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        _, completions, _, _ = trainer.vllm_generation.generate(prompts, None, group)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    if profiler:
        profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile)
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(25)
    tokens = sum(len(completion) for completion in completions)
    return {"completions": len(completions), "longest": max(len(c) for c in completions), "tokens": tokens,
            "seconds": seconds, "tokens/s": tokens / seconds, "engine start s": engine_start}  # fmt: skip


def run_variant(name: str, model: str, rows: int, folder: Path, profile: Path | None) -> dict:
    """One variant in a child process (its engine's GPU memory goes with it): its row."""
    options = ["--profile", str(profile / f"{name}.prof")] if profile else []
    row, printed = variant_in_child("benchmarks.grpo_generation", name, model, rows, folder, options=options)
    if profile and printed:
        print(printed, flush=True)
    return row


def table(results: list[dict]) -> str:
    first = next((r["tokens/s"] for r in results if "tokens/s" in r), None)
    lines = ["| variant | completions | longest | completion tokens | s | tokens/s | vs first | engine start s |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | | | |")
            continue
        ratio = f"{r['tokens/s'] / first:.2f}x" if first else ""
        lines.append(f"| {r['variant']} | {r['completions']} | {r['longest']} | {r['tokens']:,} | {r['seconds']:.1f} | "
                     f"{r['tokens/s']:,.0f} | {ratio} | {r['engine start s']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_variant_arguments(parser)
    parser.add_argument("--profile", type=Path, help="write cProfile statistics of each timed call here")
    args = parser.parse_args()
    if args.measure:
        print_row(measure(args.measure, args.profile))
        return
    run_variants(args.variants, lambda name, folder: run_variant(name, args.model, args.rows, folder, args.profile),
                 table)  # fmt: skip


if __name__ == "__main__":
    main()
