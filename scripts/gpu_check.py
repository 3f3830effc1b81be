"""GPU check: the pipeline's GPU path (train -> merge -> infer -> score) on one NVIDIA GPU, with a table.

Runs the stages directly on the smollm2-135m-gpu model configuration with 4-bit QLoRA, bf16 LoRA
and bf16 LoRA with vLLM generation (VARIANTS), and prints stage wall times, peak GPU memory, generation
tokens/s, GRPO s/step and the scores. Needs the GPU packages: `pip install -e '.[gpu]'`, or a wheelhouse
on a host without a network (docs/offline-install.md).

    python scripts/gpu_check.py [--variants qlora bf16] [--out DIR]
    python scripts/gpu_check.py --memory-7b [24 48 80]   # after a check: README's 7B settings, measured
    python scripts/gpu_check.py --tensor-parallel-7b 1 2  # 2 GPUs: the infer stage split across them

--memory-7b sizes the qwen2.5-coder-7b configuration without downloading it: a randomly initialised model
of Qwen2.5-Coder-7B-Instruct's shape (7.6B parameters, vocabulary 152,064; SmolLM2's tokenizer padded to
that size) runs one GRPO step of the train stage with each card's settings (CARDS). Random weights rarely
emit the end token, so nearly every completion runs to the limit: the worst case a real model can reach.
--tensor-parallel-7b runs the infer stage on the same random model once a tensor-parallel size (its 28 attention
heads and 4 key-value heads split across 1, 2 or 4 GPUs; SmolLM2-135M's 9 and 3 across no 2), free decoding on
TP_ROWS test rows, and prints new tokens/s with the engine's start and the peak memory of the GPUs used.

Both write models/, data/, reports/ and params.gpu-*.yaml in this checkout: run them in a checkout of their
own (`git worktree add ../gpu-check`) where the pipeline's outputs matter.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m-gpu"  # the model configuration of the check (conf/model/)
VARIANTS = {  # Hydra overrides, as `dvc exp run -S` takes them
    "qlora": ["train.model_args.load_in_4bit=true"],
    "bf16": ["train.model_args.load_in_4bit=false"],
    "bf16-vllm": ["train.model_args.load_in_4bit=false", "train.grpo.use_vllm=true"],  # colocated vLLM
}

# README "On a GPU": the train.* settings for the 7B configuration on each card size (GB)
CARDS = {
    "24": ["train.model_args.load_in_4bit=true", "train.grpo.max_completion_length=1088"],
    "48": ["train.model_args.load_in_4bit=true"],  # conf/config.yaml as it is
    "80": ["train.model_args.load_in_4bit=false", "train.grpo.use_vllm=true",
           "train.grpo.vllm_gpu_memory_utilization=0.3"],
}  # fmt: skip
QWEN25_7B = dict(  # Qwen/Qwen2.5-Coder-7B-Instruct's config.json, the shape only
    hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
    num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rope_theta=1000000.0,
    rms_norm_eps=1e-6, tie_word_embeddings=False,
)  # fmt: skip
RANDOM_7B = Path("/dev/shm/qwen2.5-7b-shape")  # 15 GB in shared memory, not on disk
TP_ROWS = 200  # answers of up to evaluate.max_new_tokens each: random weights rarely stop earlier


def tensor_parallel_choices(most_gpus: int = 8) -> list[str]:
    """The GPU counts the random 7B splits across (dayplan.inference's rule, on its head counts), up to a host's."""
    sys.path.insert(0, str(ROOT))  # run as a script, only scripts/ is on the path
    from dayplan.inference import tensor_parallel_sizes

    sizes = tensor_parallel_sizes(QWEN25_7B["num_attention_heads"], QWEN25_7B["num_key_value_heads"])
    return [str(size) for size in sizes if size <= most_gpus]


def tensor_parallel_settings(size: str) -> list[str]:
    """The infer stage's settings for one tensor-parallel size on the random 7B (free decoding: its answers
    are noise, which the grammar would only constrain)."""
    return [f"evaluate.tensor_parallel_size={size}", f"evaluate.rows={TP_ROWS}", "evaluate.decoding=free"]


class GpuMemoryPeak(threading.Thread):
    """Polls nvidia-smi: the peak memory in use on the GPU while a stage runs (all processes)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mib, self.running = 0, True

    def run(self):
        # nvidia-smi ignores CUDA_VISIBLE_DEVICES: ask for the GPUs this check runs on (their sum)
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "0") or "0"
        query = ["nvidia-smi", f"--id={gpus}", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
        while self.running:
            out = subprocess.run(query, capture_output=True, text=True).stdout.split()
            if out:
                self.peak_mib = max(self.peak_mib, sum(int(mib) for mib in out))
            time.sleep(0.2)  # polling interval of a measurement, not a wait for a result


def write_params(name: str, model: str, overrides: list[str], backend: str = "auto") -> Path:
    """params.yaml composed for `model` with the overrides, as params.gpu-NAME.yaml (DAYPLAN_PARAMS)."""
    sys.path.insert(0, str(ROOT))  # run as a script, only scripts/ is on the path
    from dayplan.config import write_params as compose_params

    path = ROOT / f"params.gpu-{name}.yaml"
    compose_params(path, [f"model={model}", *overrides, f"evaluate.backend={backend}", "evaluate.checkpoints=[2]"])
    return path


def score(name: str) -> list[str]:
    """The score stage on `name`'s completions of the test split, the one the check's infer runs answer."""
    completions = f"reports/completions/test/{name}.jsonl"
    out, metrics = f"reports/scores/test/{name}.jsonl", f"reports/metrics/test/{name}.json"
    paths = ["--data", "data/test.parquet", "--completions", completions, "--out", out, "--metrics", metrics]
    return ["stages.score", "--evaluate-rows", *paths]


# the stages as dvc.yaml runs them (paths included)
INFER_PATHS = ["--data", "data", "--out", "reports/completions"]
BASE = ["stages.base", "--out", "models/base"]
GENERATE = ["stages.generate", "--out", "data"]
WARMSTART = ["stages.warmstart", "--base", "models/base", "--pool", "data/pool.parquet", "--out", "models/warmstart",
             "--metrics", "reports/warmstart/metrics.json"]  # fmt: skip
TRAIN = ["stages.train", "--start", "models/warmstart", "--data", "data/train.parquet", "--out", "models/grpo",
         "--live", "reports/train/live"]  # fmt: skip
MERGE_EPOCH2 = ["stages.merge", "--epoch", "2", "--run", "models/grpo", "--start", "models/warmstart",
                "--out", "models/merged/epoch2"]  # fmt: skip


def stage(name: str, args: list[str], params: Path, log_dir: Path) -> dict:
    env = {**os.environ, "DAYPLAN_PARAMS": str(params), "PYTHONUNBUFFERED": "1"}
    monitor = GpuMemoryPeak()
    monitor.start()
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    monitor.running = False
    monitor.join()
    (log_dir / f"{name.replace(' ', '_')}.log").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    print(f"  {name:22s} {seconds:7.1f} s  peak GPU {monitor.peak_mib:6d} MiB  rc={result.returncode}", flush=True)
    if result.returncode:
        print(result.stderr[-3000:])
    return {
        "stage": name,
        "seconds": round(seconds, 1),
        "peak_gpu_mib": monitor.peak_mib,
        "rc": result.returncode,
        "stdout": result.stdout,
    }


def build_random_7b(out: Path, device: str = "cuda") -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(ROOT))  # run as a script, only scripts/ is on the path
    from dayplan.modeling import TOKENIZER_ASSET, load_tokenizer, set_generation_config

    tokenizer = load_tokenizer(TOKENIZER_ASSET)
    # ids the random model samples beyond SmolLM2's 49,152 tokens must decode: pad the vocabulary
    tokenizer.add_tokens([f"<|unused{i}|>" for i in range(QWEN25_7B["vocab_size"] - len(tokenizer))])
    config = Qwen2Config(**QWEN25_7B, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, torch_dtype="bfloat16")  # fmt: skip
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):  # random init of 7.6B parameters: seconds on the GPU, minutes on the CPU
        model = Qwen2ForCausalLM(config)
    set_generation_config(model, tokenizer)
    model.save_pretrained(out, max_shard_size="4GB")
    tokenizer.save_pretrained(out)
    print(f"random 7B: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters -> {out}", flush=True)


def ensure_random_7b() -> None:
    started = time.perf_counter()
    if not (RANDOM_7B / "config.json").exists():
        # its own process: the GPU memory and the default dtype it sets go with it
        builder = multiprocessing.get_context("spawn").Process(target=build_random_7b, args=(RANDOM_7B,))
        builder.start()
        builder.join()
        if builder.exitcode:
            sys.exit(f"error: building the random 7B model failed (exit status {builder.exitcode})")
    print(f"  build random 7B {time.perf_counter() - started:7.1f} s", flush=True)


def tensor_parallel_7b(sizes: list[str], out: Path) -> None:
    """The infer stage on the random 7B once a tensor-parallel size, on as many GPUs (the first ones)."""
    ensure_random_7b()
    results = {}
    for size in sizes:
        path = write_params(f"7b-tp{size}", "qwen2.5-coder-7b", tensor_parallel_settings(size), "vllm")
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in range(int(size)))  # the stage and its meter
        infer = ["stages.infer", *INFER_PATHS, "--name", f"random-7b-tp{size}", "--model", str(RANDOM_7B)]
        results[f"7b/tp{size}/infer"] = stage(f"7b-tp{size}-infer", infer, path, out)
    table = summarise(results)
    (out / f"tensor_parallel_7b-{'-'.join(sizes)}.json").write_text(json.dumps(table, indent=2))
    print_table(table)


def memory_7b(cards: list[str], out: Path) -> None:
    """One GRPO step of the train stage per card size on the random 7B; models/warmstart points to it."""
    ensure_random_7b()
    for folder in ("models/warmstart", "models/grpo"):
        shutil.rmtree(ROOT / folder, ignore_errors=True)
    (ROOT / "models/warmstart").mkdir(parents=True)
    (ROOT / "models/warmstart/SKIPPED.json").write_text(json.dumps({"base": str(RANDOM_7B)}))
    results = {}
    for card in cards:
        # one optimizer step: one prompt x num_generations completions (rows: some prompts are too long)
        one_step = ["train.rows=8", "train.grpo.num_train_epochs=1", "train.grpo.max_steps=1"]
        path = write_params(f"7b-{card}", "qwen2.5-coder-7b", [*CARDS[card], *one_step, "train.log_samples_every=1"])
        print(f"{card} GB card: {' '.join(CARDS[card])}", flush=True)
        results[f"7b/{card}GB/train"] = stage(f"7b-{card}GB-train", TRAIN, path, out)
        shutil.rmtree(ROOT / "models/grpo", ignore_errors=True)
    table = summarise(results)
    (out / f"memory_7b-{'-'.join(cards)}.json").write_text(json.dumps(table, indent=2))
    print_table(table)


def grab(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", default="reports/gpu_check", help="the tables (JSON) and one log a stage")
    parser.add_argument("--backend", default="auto", choices=["auto", "vllm", "transformers"])
    parser.add_argument("--skip-setup", action="store_true", help="models/base, data and warm-start exist")
    parser.add_argument("--memory-7b", nargs="*", choices=list(CARDS), help="card sizes (GB); needs data/")
    parser.add_argument("--tensor-parallel-7b", nargs="+", choices=tensor_parallel_choices(), help="GPUs; needs data/")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.tensor_parallel_7b:
        tensor_parallel_7b(args.tensor_parallel_7b, out)
        return
    if args.memory_7b is not None:
        memory_7b(args.memory_7b or list(CARDS), out)
        return
    results = {}
    shared = write_params(args.variants[0], MODEL, VARIANTS[args.variants[0]], args.backend)
    if not args.skip_setup:
        print("setup (shared by the variants):")
        for name, cmd in [
            ("base", BASE),
            ("generate", GENERATE),
            ("warmstart", WARMSTART),
            ("infer base", ["stages.infer", *INFER_PATHS, "--name", "base", "--model", "models/base"]),
            ("score base", score("base")),
            ("infer warmstart", ["stages.infer", *INFER_PATHS, "--name", "warmstart", "--model", "models/warmstart"]),
            ("score warmstart", score("warmstart")),
        ]:
            results[f"setup/{name}"] = stage(name, cmd, shared, out)
    for variant in args.variants:
        params = write_params(variant, MODEL, VARIANTS[variant], args.backend)
        print(f"{variant}:")
        for name, cmd in [
            ("train", TRAIN),
            ("merge epoch2", MERGE_EPOCH2),
            (
                "infer epoch2",
                ["stages.infer", *INFER_PATHS, "--name", f"epoch2-{variant}", "--model", "models/merged/epoch2"],
            ),
            ("score epoch2", score(f"epoch2-{variant}")),
        ]:
            results[f"{variant}/{name}"] = stage(f"{variant}-{name}", cmd, params, out)
        shutil.rmtree(ROOT / "models/grpo", ignore_errors=True)  # the next variant starts afresh
    table = summarise(results)
    (out / f"gpu_check-{'-'.join(args.variants)}.json").write_text(json.dumps(table, indent=2))
    print_table(table)


def summarise(results: dict) -> dict:
    rows = {}
    for key, r in results.items():
        row = {"seconds": r["seconds"], "peak_gpu_mib": r["peak_gpu_mib"], "rc": r["rc"]}
        row["tokens_per_s"] = grab(r"\((\d+) tokens/s", r["stdout"])
        row["s_per_step"] = grab(r"\(([\d.]+) s/step", r["stdout"])
        row["mean_score"] = grab(r"mean score ([\d.]+)", r["stdout"])
        row["valid"] = grab(r"(\d+) valid", r["stdout"])
        rows[key] = row
    return rows


def print_table(table: dict) -> None:
    print()
    print(f"| {'stage':28s} | wall s | peak GPU MiB | tokens/s | s/step | mean score | valid |")
    print("|" + "---|" * 7)
    for key, row in table.items():
        cells = [
            row["seconds"],
            row["peak_gpu_mib"],
            row["tokens_per_s"],
            row["s_per_step"],
            row["mean_score"],
            row["valid"],
        ]
        print(f"| {key:28s} | " + " | ".join("" if c is None else f"{c:g}" for c in cells) + " |")


if __name__ == "__main__":
    main()
