"""One engine with swapped weights against one fresh engine a model (not a test; a GPU host with vLLM):

    python -m benchmarks.engine_agreement --split test --rows 1000 \\
        base=models/base warmstart=models/warmstart epoch2=models/merged/epoch2 epoch3=models/merged/epoch3

Completes the first N rows of data/<split>.parquet with every model twice, greedy, with the evaluate params
of params.yaml otherwise: once from one vLLM engine whose weights are swapped from model to model (the infer
stage's path, dayplan/engine.py) and once from a fresh engine a model, each in a process of its own as the
per-model stages ran. Prints a table: per model, the share of rows whose completions are identical, the mean
score of each path (dayplan.scoring's judge) and the seconds each took; then the wall time of each path,
process and engine start-up included.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_rows
from dayplan.task import chat_messages


def model_pairs(pairs: list[str]) -> dict[str, str]:
    models = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not name or not folder:
            sys.exit(f"error: {pair!r}: give each model as NAME=FOLDER")
        if not Path(folder, "config.json").is_file():
            sys.exit(f"error: {name}: {folder} holds no config.json (not a model folder)")
        models[name] = folder
    return models


def check_gpu_host() -> None:
    if importlib.util.find_spec("vllm") is None:
        sys.exit("error: vllm is not installed (pip install '.[gpu]'): this check runs on a GPU host with vLLM")
    import torch

    if not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU found: this check runs on a GPU host with vLLM")


def complete(path: str, models: dict[str, str], split: str, rows: int, out: str) -> None:
    """Child process: every model's completions from one engine (path "swap") or from the one engine this
    process starts for its single model (path "fresh"), with the seconds each took, as JSON in `out`."""
    from dayplan.engine import Engines, VllmEngine
    from dayplan.inference import generation_settings

    evaluate = load_params_or_exit().evaluate
    settings = generation_settings(evaluate, "vllm") | {"temperature": 0.0}  # greedy: comparable text
    conversations = [chat_messages(row["prompt"]) for row in read_rows(f"data/{split}.parquet")[:rows]]
    engines = Engines(settings, evaluate)
    results = {}
    for name, folder in models.items():
        started = time.perf_counter()
        if path == "swap":
            engines.load(name, folder)
            texts = list(engines.generate(conversations))
        else:
            engine = VllmEngine(folder, settings, evaluate)
            texts = list(engine.generate(conversations))
            engine.close()
        results[name] = {"texts": texts, "seconds": time.perf_counter() - started}
    engines.close()
    Path(out).write_text(json.dumps(results))


def run_child(path: str, models: dict[str, str], args, folder: Path) -> tuple[dict, float]:
    """(results, wall seconds) of one child process; its failure ends the check with its last line."""
    out = folder / f"{path}-{'-'.join(models)}.json"
    pairs = [f"{name}={model}" for name, model in models.items()]
    command = [sys.executable, "-m", "benchmarks.engine_agreement", "--split", args.split, "--rows",
               str(args.rows), "--child", path, "--out", str(out), *pairs]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        sys.exit(f"error: the {path} path failed for {', '.join(models)}: {lines[-1]}")
    return json.loads(out.read_text()), time.perf_counter() - started


def mean_score(rows: list[dict], texts: list[str]) -> float:
    from dayplan.scoring import evaluate

    _, summary = evaluate(rows, [{"id": i, "completion": text} for i, text in enumerate(texts)])
    return summary["mean_score"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="NAME=FOLDER, in the order the infer stage takes them")
    parser.add_argument("--split", default="test", help="data/<split>.parquet")
    parser.add_argument("--rows", type=int, default=1000, help="the first N rows of the split")
    parser.add_argument("--child", choices=["swap", "fresh"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = model_pairs(args.models)
    if args.child:
        complete(args.child, models, args.split, args.rows, args.out)
        return
    check_gpu_host()
    rows = read_rows(f"data/{args.split}.parquet")[: args.rows]
    with tempfile.TemporaryDirectory() as tmp:
        swap, swap_wall = run_child("swap", models, args, Path(tmp))
        fresh, fresh_wall = {}, 0.0
        for name, folder in models.items():
            result, wall = run_child("fresh", {name: folder}, args, Path(tmp))
            fresh.update(result)
            fresh_wall += wall
    print(f"\n{len(rows)} rows of {args.split}, greedy\n")
    print("| model | identical completions | mean score, one engine | mean score, fresh engines "
          "| s, one engine | s, fresh engine |\n|---|---|---|---|---|---|")  # fmt: skip
    for name in models:
        a, b = swap[name]["texts"], fresh[name]["texts"]
        same = sum(x == y for x, y in zip(a, b)) / len(rows) if rows else 0.0
        print(f"| {name} | {same:.1%} | {mean_score(rows, a):.2f} | {mean_score(rows, b):.2f} "
              f"| {swap[name]['seconds']:.1f} | {fresh[name]['seconds']:.1f} |")  # fmt: skip
    print(f"\nwall time, process and engine start-up included: one engine {swap_wall:.1f} s (1 start), "
          f"fresh engines {fresh_wall:.1f} s ({len(models)} starts)")  # fmt: skip


if __name__ == "__main__":
    main()
