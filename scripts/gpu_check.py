"""GPU check: the pipeline's GPU path (train -> merge -> infer -> score) on one NVIDIA GPU, with a table.

Runs the stages directly (no DVC needed) on the smollm2-135m-gpu recipe, once with 4-bit QLoRA and
once with bf16 LoRA, and prints stage wall times, peak GPU memory, generation tokens/s, GRPO s/step
and the scores. scripts/gpu_check.sh stages what a bare GPU machine lacks, then calls this.

    python scripts/gpu_check.py [--variants qlora bf16] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "qlora": {"load_in_4bit": True},
    "bf16": {"load_in_4bit": False},
    "bf16-vllm": {"load_in_4bit": False, "use_vllm": True},  # TRL generates with colocated vLLM
}


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


def write_params(variant: str, backend: str) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["evaluate"]["backend"] = backend
    params["model"] = "smollm2-135m-gpu"
    params["train"].update(VARIANTS[variant])
    params["evaluate"]["checkpoints"] = [2]
    path = ROOT / f"params.gpu-{variant}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


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


def grab(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", default=os.environ.get("OUT", "reports/gpu_check"))
    parser.add_argument("--backend", default="auto", choices=["auto", "vllm", "transformers"])
    parser.add_argument("--skip-setup", action="store_true", help="models/base, data and warm-start exist")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    shared = write_params(args.variants[0], args.backend)
    if not args.skip_setup:
        print("setup (shared by the variants):")
        for name, cmd in [
            ("base", ["stages.base"]),
            ("generate", ["stages.generate"]),
            ("warmstart", ["stages.warmstart"]),
            ("infer base", ["stages.infer", "--name", "base", "--model", "models/base"]),
            ("score base", ["stages.score", "--name", "base"]),
            ("infer warmstart", ["stages.infer", "--name", "warmstart", "--model", "models/warmstart"]),
            ("score warmstart", ["stages.score", "--name", "warmstart"]),
        ]:
            results[f"setup/{name}"] = stage(name, cmd, shared, out)
    for variant in args.variants:
        params = write_params(variant, args.backend)
        print(f"{variant}:")
        for name, cmd in [
            ("train", ["stages.train"]),
            ("merge epoch2", ["stages.merge", "--epoch", "2"]),
            ("infer epoch2", ["stages.infer", "--name", f"epoch2-{variant}", "--model", "models/merged/epoch2"]),
            ("score epoch2", ["stages.score", "--name", f"epoch2-{variant}"]),
        ]:
            results[f"{variant}/{name}"] = stage(f"{variant}-{name}", cmd, params, out)
        subprocess.run(["rm", "-rf", "models/grpo"], cwd=ROOT)  # the next variant starts afresh
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
