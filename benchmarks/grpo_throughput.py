"""GRPO throughput of the train stage (not a test; a GPU host with the `gpu` extra): completion tokens/s.

    python -m benchmarks.grpo_throughput --model smollm2-135m-quality --rows 64 [--variants baseline one-pass]
    python -m benchmarks.grpo_throughput --rows 32 --variants baseline ddp-2 zero3-2 fsdp-2 nodes-2   # 2 GPUs
    python -m benchmarks.grpo_throughput --rows 32 --variants baseline prompts-x4-gen-x4+liger   # combined
    python -m benchmarks.grpo_throughput --rows 32 --variants prompts-x4-gen-x4 prompts-x4-gen-x4+micro-x2

Runs the train stage once a variant (VARIANTS: Hydra overrides on top of the model configuration, as `dvc exp
run -S` takes them; `a+b` takes a's and b's) from the same models/warmstart and data/train.parquet, each into
a folder of its own, and prints a table: s/step, completion tokens/s and tokens/s per GPU (the completions'
lengths from the run's DVCLive folder over the stage's own GRPO time, start-up excluded), the ratio to the
first variant, the share of that time spent in vLLM's generate and its tokens/s there (TRL's timings in the
run's MLflow run), the stage's peak GPU allocation, and the mean reward of the last quarter of the steps
(late reward), so that a faster variant that learns differently shows it (`--plot` draws each variant's
reward per step into one PNG). A second table gives the seconds a step in each part TRL times (generation,
rewards, log-probabilities, weight sync, loss). Run `dvc repro warmstart` first.
The `-2` variants train with 2 processes, one a GPU (README "Scaling out"); `nodes-2` starts them as two
machines would, two `accelerate launch` with the multi-node config, one GPU each, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from accelerate.commands.config.config_args import load_config_from_file
from trl import GRPOConfig

from dayplan import launch
from dayplan.config import ParamsError, TrainParams, compose, load_params, validate, write_params
from dayplan.report_figures import plot_reward_curves
from dayplan.report_inputs import load_steps
from dayplan.tracking import RUN_FILE, tracking_uri

VARIANTS = {
    "baseline": [],
    "one-pass": ["train.grpo.per_device_train_batch_size=64", "train.grpo.gradient_accumulation_steps=1"],
    "vllm-0.5": ["train.grpo.vllm_gpu_memory_utilization=0.5"],
    # vLLM's 24 GB on a 141 GB H200: what the recipe's 0.3 leaves it on an 80 GB H100 (the training's peak is the
    # rest), to see on an H200 whether a variant fits an H100 and how fast it samples from the smaller KV cache
    "vllm-0.17": ["train.grpo.vllm_gpu_memory_utilization=0.17"],
    "sleep": ["+train.grpo.vllm_enable_sleep_mode=true"],
    "grad-ckpt": ["train.grpo.gradient_checkpointing=true"],
    "liger": ["+train.grpo.use_liger_kernel=true"],
    # vLLM's engine: no text for the completions (TRL reads their token ids), and CUDA graphs for up to 1,024
    # sequences a decoding step (TRL's engine stops at 512: it fixes max_num_batched_tokens at 4096)
    "no-detok": ["+train.grpo.generation_kwargs.detokenize=false"],
    "graphs-1024": [
        "+train.vllm_engine.max_num_batched_tokens=16384",
        "+train.vllm_engine.compilation_config.max_cudagraph_capture_size=1024",
    ],
    # attention by PyTorch's flex_attention, whose block mask skips the padding; SDPA falls back from flash to
    # its memory-efficient kernel once a padding mask is given
    "flex-attn": ["+train.model_args.attn_implementation=flex_attention"],
    # LoRA layers take their bf16 input as it is: no copy to the adapter's float32 and back (train.cast_lora_inputs)
    "no-lora-casts": ["train.cast_lora_inputs=false"],
    # the train dataloader: TRL pulls a generation batch's rows each micro-step, though it generates from one pull
    # in steps_per_generation; pinning those rows (Python objects, not tensors) as PyTorch does by default, or
    # two processes to read them
    "pin": ["train.grpo.dataloader_pin_memory=true"],
    "loader-workers": ["+train.grpo.dataloader_num_workers=2"],
    "4bit": ["train.model_args.load_in_4bit=true", "train.grpo.use_vllm=false"],
    "unsloth": ["train.backend=unsloth"],  # with the versions of constraints-unsloth.txt
    "ddp-2": ["train.num_processes=2", "train.accelerate_config=recipes/accelerate/multi_gpu.yaml"],
    "zero3-2": ["train.num_processes=2", "train.accelerate_config=recipes/accelerate/zero3.yaml"],
    "fsdp-2": ["train.num_processes=2", "train.accelerate_config=recipes/accelerate/fsdp.yaml"],
    "nodes-2": ["train.num_processes=2", "train.accelerate_config=recipes/accelerate/multi_node.yaml"],
}
# variants that scale the recipe's batches: (prompts a step, optimizer steps a vLLM generation), each x the
# recipe's own. gen-x4: one generation feeds 4 steps (TRL then scores it with the old policy). prompts-x4:
# 4x the micro-batches a step, one generation a step, on 4x the rows (as many steps, 4x the data). Both: one
# generation 16x the recipe's (a batch lasts as long as its longest answer, so more answers a batch is where
# the time is).
SCALED = {"gen-x4": (1, 4), "prompts-x4": (4, 1), "prompts-x4-gen-x4": (4, 4)}
# variants that make each micro-batch N x larger and N x fewer: the same completions a step and a generation in
# fewer, larger passes through the model (more memory)
MICRO = {"micro-x2": 2}
BATCHES = (SCALED, MICRO)  # a variant joins at most one name of each
NAMES = sorted([*VARIANTS, *SCALED, *MICRO])  # every variant --variants takes, alone or joined by "+"
PROFILED = "profiling/Time taken: GRPOTrainer."  # TRL's timings of its parts, seconds a call
GENERATE = "vLLM.generate"  # the part that samples the completions
TRAIN_TIME = re.compile(r"train: (\d+) steps in ([\d.]+) s")
PEAK = re.compile(r"peak GPU ([\d.]+) GiB")


def variant_name(name: str) -> str:
    """--variants' check: known names joined by "+", at most one of SCALED and one of MICRO (each sets batches)."""
    parts = name.split("+")
    if unknown := [part for part in parts if part not in NAMES]:
        raise argparse.ArgumentTypeError(f"unknown variant {unknown[0]!r}: choose from {', '.join(NAMES)}")
    for names in BATCHES:
        if sum(part in names for part in parts) > 1:
            raise argparse.ArgumentTypeError(f"{name}: at most one of {', '.join(names)}")
    return name


def variant_overrides(name: str, model: str) -> list[str]:
    """The overrides of each "+"-joined part: VARIANTS', then the batches SCALED and MICRO set from the recipe's
    micro-batches (ParamsError where its micro-batches do not split into MICRO's larger ones)."""
    parts = name.split("+")
    plain = [override for part in parts if part in VARIANTS for override in VARIANTS[part]]
    prompts, steps = next((SCALED[part] for part in parts if part in SCALED), (1, 1))
    larger = next((MICRO[part] for part in parts if part in MICRO), 1)
    if (prompts, steps, larger) == (1, 1, 1):
        return plain
    grpo = validate(compose([f"model={model}"]), f"model={model}").train.grpo
    per_device = grpo.get("per_device_train_batch_size", GRPOConfig.per_device_train_batch_size)
    accumulated = grpo.get("gradient_accumulation_steps", GRPOConfig.gradient_accumulation_steps)
    micro_batches, left = divmod(prompts * accumulated, larger)
    if left or not micro_batches:
        raise ParamsError(f"{name}: {model}'s micro-batches do not make {larger}x larger ones")
    overrides = [f"train.grpo.gradient_accumulation_steps={micro_batches}"]
    if larger > 1:
        overrides.append(f"train.grpo.per_device_train_batch_size={per_device * larger}")
    return plain + overrides + ([f"++train.grpo.steps_per_generation={micro_batches * steps}"] if steps > 1 else [])


def write_variant_params(name: str, model: str, rows: int, folder: Path, extra: Sequence[str] = ()) -> Path:
    """The variant's params file, with `extra` overrides last (ParamsError where the configuration refuses it)."""
    params = folder / f"params-{name}.yaml"
    prompts = max(SCALED.get(part, (1, 1))[0] for part in name.split("+"))  # more prompts a step: more rows
    overrides = [f"model={model}", f"train.rows={rows * prompts}", *variant_overrides(name, model), *extra]
    write_params(params, overrides)
    return params


def run_variant(name: str, model: str, rows: int, folder: Path) -> dict:
    try:
        params = write_variant_params(name, model, rows, folder)
    except ParamsError as error:  # a variant the configuration refuses: its row says why, the others run
        return {"variant": name, "error": str(error)[:120]}
    train = load_params(params).train
    out, live = folder / name, folder / f"{name}-live"
    stage_args = ["--start", "models/warmstart", "--data", "data/train.parquet", "--out", str(out), "--live", str(live)]
    env = {**os.environ, "DAYPLAN_PARAMS": str(params)}
    if (machines := machines_of(train.accelerate_config)) > 1:
        result = run_as_machines(train, machines, stage_args, env, folder)
    else:
        command = [sys.executable, "-m", "stages.train", *stage_args]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    (folder / f"{name}.log").write_text(result.stdout + result.stderr)
    timing = TRAIN_TIME.search(result.stdout)
    if result.returncode != 0 or timing is None:
        return {"variant": name, "error": (result.stderr.strip().splitlines() or ["no output"])[-1][:120]}
    steps, seconds = int(timing[1]), float(timing[2])
    logged = [row for row in load_steps(live) if "reward" in row]
    tokens = sum(row["completions/mean_length"] * completions_per_generation(train) for row in logged)
    last = logged[-max(1, len(logged) // 4) :]
    timings = trl_timings(out)
    generating = timings.get(GENERATE, 0.0)
    return {
        "variant": name,
        "steps": steps,
        "s/step": seconds / steps,
        "tokens/s": tokens / seconds,
        "tokens/s/GPU": tokens / seconds / train.num_processes,
        "generation share": generating / seconds,
        "generation tokens/s": tokens / generating if generating else float("nan"),
        "peak GiB": float(peak[1]) if (peak := PEAK.search(result.stdout)) else float("nan"),
        "reward (last quarter)": sum(row["reward"] for row in last) / len(last),
        "reward curve": [(int(row["step"]), row["reward"]) for row in logged],
        "timings": timings,
    }


def trl_timings(out: Path) -> dict[str, float]:
    """Seconds the run spent in each part TRL times (vLLM.generate, _calculate_rewards, ...), summed over its
    calls: TRL logs every call into the stage's MLflow run. Empty where the run was not tracked."""
    from mlflow.tracking import MlflowClient

    run_id = json.loads((out / RUN_FILE.name).read_text())["run_id"]
    if run_id == "untracked":
        return {}
    client = MlflowClient(tracking_uri())
    names = [name for name in client.get_run(run_id).data.metrics if name.startswith(PROFILED)]
    return {
        name.removeprefix(PROFILED): sum(m.value for m in client.get_metric_history(run_id, name)) for name in names
    }


def breakdown(results: list[dict]) -> str:
    """Seconds a step in each part TRL times, a column a variant (the parts nest: _prepare_inputs holds a
    generation, compute_loss the training forward)."""
    ran = [r for r in results if r.get("timings")]
    parts = sorted({part for r in ran for part in r["timings"]})
    lines = ["| s/step in | " + " | ".join(r["variant"] for r in ran) + " |", "|---" * (len(ran) + 1) + "|"]
    for part in parts:
        cells = [f"{r['timings'].get(part, 0.0) / r['steps']:.2f}" for r in ran]
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def completions_per_generation(train: TrainParams) -> int:
    """Completions behind one logged reward row, all processes together: TRL logs the completion metrics
    once a generation batch, which feeds steps_per_generation micro-batches (gradient_accumulation_steps
    unless set), so a batch that feeds several optimizer steps is logged once."""
    grpo = train.grpo
    if grpo.get("generation_batch_size"):
        return grpo["generation_batch_size"]
    micro_batches = grpo.get("steps_per_generation") or grpo.get(
        "gradient_accumulation_steps", GRPOConfig.gradient_accumulation_steps
    )
    per_device = grpo.get("per_device_train_batch_size", GRPOConfig.per_device_train_batch_size)
    return per_device * micro_batches * train.num_processes


def machines_of(accelerate_config: str | None) -> int:
    """num_machines of the variant's accelerate config (1 without one)."""
    return load_config_from_file(accelerate_config).num_machines if accelerate_config else 1


def run_as_machines(
    train: TrainParams, machines: int, stage_args: list[str], env: dict, logs: Path
) -> subprocess.CompletedProcess:
    """The train stage as num_machines machines on this host (the main one at 127.0.0.1), each with its own
    GPUs and launcher, the last rank started first: rank 0's output."""
    config = str(train.accelerate_config)
    per_machine = train.num_processes // machines
    nodes = []
    for rank in reversed(range(machines)):  # files, not pipes: a full pipe would stall one rank, the rest wait
        options = ["--num_machines", str(machines), "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1"]
        command = launch.accelerate_command(sys.executable, config, train.num_processes, launch.uses_bf16(train),
                                            "stages.train", *options, module_args=stage_args)  # fmt: skip
        gpus = ",".join(str(gpu) for gpu in range(rank * per_machine, (rank + 1) * per_machine))
        with open(logs / f"rank{rank}.out", "w") as out, open(logs / f"rank{rank}.err", "w") as err:
            nodes.append(subprocess.Popen(command, env={**env, "CUDA_VISIBLE_DEVICES": gpus}, stdout=out, stderr=err))
    returncode = max(node.wait() for node in nodes)
    stdout = (logs / "rank0.out").read_text()
    stderr = "".join((logs / f"rank{rank}.err").read_text() for rank in reversed(range(machines)))
    return subprocess.CompletedProcess(nodes[-1].args, returncode, stdout, stderr)


def table(results: list[dict]) -> str:
    first = next((r["tokens/s"] for r in results if "tokens/s" in r), None)
    lines = ["| variant | s/step | completion tokens/s | tokens/s per GPU | vs first | time generating | "
             "generation tokens/s | peak GiB | late reward |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | | | | |")
            continue
        ratio = f"{r['tokens/s'] / first:.2f}x" if first else ""
        lines.append(f"| {r['variant']} | {r['s/step']:.2f} | {r['tokens/s']:,.0f} | {r['tokens/s/GPU']:,.0f} | "
                     f"{ratio} | {r['generation share']:.0%} | {r['generation tokens/s']:,.0f} | "
                     f"{r['peak GiB']:.1f} | {r['reward (last quarter)']:.1f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-quality", help="model configuration (conf/model/)")
    parser.add_argument("--rows", type=int, default=64, help="train prompts a variant (x the epochs)")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["baseline", "one-pass"],
        type=variant_name,
        help=f"variants, one or several joined by '+': {', '.join(NAMES)}",
    )
    parser.add_argument("--keep", type=Path, help="keep each variant's params, run folder and log here")
    parser.add_argument("--plot", type=Path, help="write the variants' reward per step to this PNG")
    args = parser.parse_args()
    if args.keep and args.keep.exists() and not args.keep.is_dir():
        sys.exit(f"error: --keep {args.keep}: not a folder")
    if args.plot and (args.plot.suffix.lower() != ".png" or args.plot.is_dir()):
        sys.exit(f"error: --plot {args.plot}: expected a .png file path")  # a folder would be replaced
    if not Path("models/warmstart").is_dir():
        sys.exit("error: models/warmstart not found: run `dvc repro warmstart` first")
    with tempfile.TemporaryDirectory(prefix="grpo-throughput-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        results = []
        for name in args.variants:
            results.append(run_variant(name, args.model, args.rows, folder))
            print(table(results).splitlines()[-1], flush=True)  # as it ends, against the first variant
    print(table(results))
    print(breakdown(results))
    if args.plot:
        curves = {r["variant"]: r["reward curve"] for r in results if "reward curve" in r}
        drawn = plot_reward_curves(curves, args.plot)
        print(f"reward per step: {args.plot}" if drawn else f"no variant logged a reward: {args.plot} not written")


if __name__ == "__main__":
    main()
