"""Evaluation throughput on one GPU (not a test; a GPU host with vLLM): the infer stage's vLLM engine against
several engines sharing the GPU, vLLM's detokenization off, and free decoding.

    python -m benchmarks.evaluation_engines --model models/warmstart --rows 400 \\
        --variants default detokenize=off engines=4,detokenize=off decoding=free,detokenize=off

Answers the first --rows prompts of each test split (data/<split>.parquet) with the evaluate params of
params.yaml (decoding, max_new_tokens, vLLM engine arguments), each variant in a process of its own. A
variant is `default` or KEY=VALUE pairs joined by commas:
- engines=N: N engines on the GPU, each with 1/N of evaluate.gpu_memory_utilization and every N-th prompt,
  stepped in turn by one process (each engine's core is a process of its own, so that N of them schedule,
  apply the grammar and sample at once; the infer stage uses one);
- detokenize=off: vLLM returns token ids, decoded once at the end;
- decoding=free|grounded|feasible: overrides evaluate.decoding.

Prints a table: engine start-up and generation seconds, new tokens a second while generating and with the
start-up, the share of completions identical to the first variant's (greedy vLLM differs from one batch to
the next, so expect well under 100%) and each variant's mean score (dayplan.scoring).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dayplan.dataset import read_rows
from dayplan.rules.feasibility import DECODINGS
from dayplan.task import chat_messages

SPLITS = ("test", "test_novel", "test_large")
DEFAULT = {"engines": 1, "detokenize": True, "decoding": None}


def parse_variant(text: str) -> dict:
    """`default` or KEY=VALUE pairs (engines=N, detokenize=on|off, decoding=...) over DEFAULT."""
    variant = dict(DEFAULT)
    for part in [] if text == "default" else text.split(","):
        key, _, value = part.partition("=")
        if key == "engines" and value.isdigit() and int(value) >= 1:
            variant["engines"] = int(value)
        elif key == "detokenize" and value in ("on", "off"):
            variant["detokenize"] = value == "on"
        elif key == "decoding" and value in DECODINGS:
            variant["decoding"] = value
        else:
            where = repr(part) if part == text else f"{part!r} of {text!r}"
            choices = f"engines=N (N >= 1), detokenize=on|off or decoding={'|'.join(DECODINGS)}"
            raise argparse.ArgumentTypeError(f"variant {where} is not default, {choices}")
    return variant


def prompt_rows(rows: int) -> list[dict]:
    return [row for split in SPLITS for row in read_rows(f"data/{split}.parquet")[:rows]]


def start_engines(model: str, settings: dict, evaluate, count: int) -> tuple[list, float]:
    """(`count` of the infer stage's vLLM engines, each with 1/count of its GPU memory share, seconds)."""
    from dayplan.engine import VllmEngine

    share = evaluate.model_copy(update={"gpu_memory_utilization": evaluate.gpu_memory_utilization / count})
    started = time.perf_counter()
    engines = []
    for index in range(count):
        engines.append(VllmEngine(model, settings, share))
        print(f"engine {index + 1} of {count} up after {time.perf_counter() - started:.1f} s", flush=True)
    return engines, time.perf_counter() - started


def generate(engines: list, conversations: list, settings: dict, detokenize: bool) -> tuple[list[list[int]], list]:
    """(token ids, texts) of every conversation, prompt i to engine i mod N, the engines stepped in turn."""
    from dayplan.engine import report_when_done
    from dayplan.inference import prompt_token_ids, vllm_sampling_params

    sampling = vllm_sampling_params(settings, conversations)
    params = sampling if isinstance(sampling, list) else [sampling.clone() for _ in conversations]
    report_when_done(params)
    for request_params in params:
        request_params.detokenize = detokenize
    tokenizer = engines[0].get_tokenizer()
    for index, (conversation, request_params) in enumerate(zip(conversations, params)):
        prompt = {"prompt_token_ids": prompt_token_ids(tokenizer, conversation)}
        engines[index % len(engines)].add_request(str(index), prompt, request_params)
    token_ids: list = [None] * len(conversations)
    texts: list = [None] * len(conversations)
    while any(engine.has_unfinished_requests() for engine in engines):
        for engine in engines:
            for output in engine.step() if engine.has_unfinished_requests() else ():
                if output.finished:
                    index = int(output.request_id)
                    token_ids[index], texts[index] = list(output.outputs[0].token_ids), output.outputs[0].text
    return token_ids, texts


def measure(variant_text: str, model: str, rows: int, max_new_tokens: int | None, out: str) -> None:
    """Child process: one variant's figures and texts, as JSON in `out`."""
    from dayplan.config import load_params_or_exit
    from dayplan.inference import generation_settings

    variant = parse_variant(variant_text)
    evaluate = load_params_or_exit().evaluate
    settings = generation_settings(evaluate, "vllm")
    settings["decoding"] = variant["decoding"] or settings["decoding"]
    settings["max_new_tokens"] = max_new_tokens or settings["max_new_tokens"]
    conversations = [chat_messages(row["prompt"]) for row in prompt_rows(rows)]
    engines, start_seconds = start_engines(model, settings, evaluate, variant["engines"])
    llm_engines = [engine.llm.llm_engine for engine in engines]
    started = time.perf_counter()
    token_ids, texts = generate(llm_engines, conversations, settings, variant["detokenize"])
    if not variant["detokenize"]:  # the decoding left to the caller counts
        texts = llm_engines[0].get_tokenizer().batch_decode(token_ids, skip_special_tokens=True)
    generate_seconds = time.perf_counter() - started
    for engine in engines:
        engine.close()
    figures = {
        "engines": variant["engines"],
        "decoding": settings["decoding"],
        "detokenize": variant["detokenize"],
        "max_new_tokens": settings["max_new_tokens"],
        "tokens": sum(len(ids) for ids in token_ids),
        "start_s": start_seconds,
        "generate_s": generate_seconds,
    }
    Path(out).write_text(json.dumps({"figures": figures, "texts": texts}))


def run_child(variant: str, args, out: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.evaluation_engines", "--model", args.model, "--rows",
               str(args.rows), "--child", variant, "--out", str(out)]  # fmt: skip
    if args.max_new_tokens:
        command += ["--max-new-tokens", str(args.max_new_tokens)]
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return {"error": lines[-1][:200]}
    return json.loads(out.read_text())


def table_row(variant: str, result: dict, first_texts: list[str] | None, rows: list[dict]) -> str:
    from benchmarks.engine_agreement import mean_score

    if "error" in result:
        return f"| {variant} | failed: {result['error']} |" + " |" * 6  # the header's 8 columns
    figures, texts = result["figures"], result["texts"]
    tokens, start, generating = figures["tokens"], figures["start_s"], figures["generate_s"]
    same = sum(a == b for a, b in zip(first_texts or texts, texts)) / len(texts)
    return (f"| {variant} | {start:.1f} | {generating:.1f} | {tokens} | {tokens / generating:,.0f} "
            f"| {tokens / (start + generating):,.0f} | {same:.1%} | {mean_score(rows, texts):.2f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/warmstart", help="the model folder every variant answers with")
    parser.add_argument("--rows", type=int, default=400, help="the first N rows of each test split")
    parser.add_argument("--max-new-tokens", type=int, help="overrides evaluate.max_new_tokens")
    parser.add_argument("--variants", nargs="+", default=["default", "engines=4"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for variant in args.variants:
        try:
            parse_variant(variant)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
    if args.child:
        measure(args.child, args.model, args.rows, args.max_new_tokens, args.out)
        return
    from benchmarks.engine_agreement import check_gpu_host

    check_gpu_host()
    rows = prompt_rows(args.rows)
    print(f"{len(rows)} prompts ({args.rows} of each of {', '.join(SPLITS)}), {args.model}\n")
    header = ("| variant | start-up s | generating s | new tokens | tokens/s generating | tokens/s with start-up "
              "| identical to the first | mean score |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    lines, first_texts = [], None
    with tempfile.TemporaryDirectory(prefix="evaluation-engines-") as temporary:
        for index, variant in enumerate(args.variants):
            result = run_child(variant, args, Path(temporary, f"{index}.json"))
            lines.append(table_row(variant, result, first_texts, rows))
            first_texts = first_texts or result.get("texts")
            print(lines[-1], flush=True)
    print("\n" + header + "\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
