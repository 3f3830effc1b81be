"""Generation throughput (not a test): the same test prompts and sampling settings through transformers
`generate` (plain, and with a static cache + torch.compile) and through vLLM, on one GPU in one run.

    python -m benchmarks.generation --model models/base --rows 128 --max-new-tokens 256 [--out DIR]

Prints tokens/s per backend and the ratio to plain transformers, and writes generation.json to --out.
Generation stops at the end-of-turn token, so each backend's count is of the tokens it really produced.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dayplan.dataset import read_rows
from dayplan.task import chat_messages


def transformers_run(model_dir: str, conversations, max_new_tokens: int, temperature: float, compiled: bool):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).cuda().eval()
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to("cuda")
    extra = {}
    if compiled:
        model.forward = torch.compile(model.forward, mode="reduce-overhead")
        extra = {"cache_implementation": "static"}
    kwargs = dict(
        max_new_tokens=max_new_tokens,
        do_sample=True,
        temperature=temperature,
        top_p=1.0,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )
    with torch.no_grad():
        model.generate(**inputs, **{**kwargs, "max_new_tokens": 8})  # warm-up
        torch.cuda.synchronize()
        started = time.perf_counter()
        output = model.generate(**inputs, **kwargs)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    new = output[:, inputs["input_ids"].shape[1] :]
    stop_ids = set(model.generation_config.eos_token_id or []) | {tokenizer.pad_token_id}
    tokens = sum(next((i for i, t in enumerate(row.tolist()) if t in stop_ids), len(row)) for row in new)
    return tokens, seconds


def vllm_run(model_dir: str, conversations, max_new_tokens: int, temperature: float):
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_dir, max_model_len=2048, gpu_memory_utilization=0.5, seed=0)
    sampling = SamplingParams(temperature=temperature, top_p=1.0, max_tokens=max_new_tokens, seed=0)
    llm.chat(conversations[:4], SamplingParams(max_tokens=8), use_tqdm=False)  # warm-up
    started = time.perf_counter()
    outputs = llm.chat(conversations, sampling, use_tqdm=False)
    seconds = time.perf_counter() - started
    return sum(len(o.outputs[0].token_ids) for o in outputs), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/base")
    parser.add_argument("--data", default="data/test.parquet")
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--backends", nargs="+", default=["transformers", "transformers-compiled", "vllm"])
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    rows = read_rows(args.data)
    conversations = [chat_messages(rows[i % len(rows)]["prompt"]) for i in range(args.rows)]
    results = {}
    for backend in args.backends:
        try:
            if backend == "vllm":
                tokens, seconds = vllm_run(args.model, conversations, args.max_new_tokens, args.temperature)
            else:
                compiled = backend == "transformers-compiled"
                tokens, seconds = transformers_run(
                    args.model, conversations, args.max_new_tokens, args.temperature, compiled
                )
        except Exception as error:  # a benchmark reports a backend that fails and goes on with the others
            print(f"{backend}: failed: {type(error).__name__}: {str(error)[:300]}")
            continue
        results[backend] = {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds)}
        print(f"{backend}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s", flush=True)
    base = results.get("transformers", {}).get("tokens_per_s")
    print("\n| backend | tokens | seconds | tokens/s | x transformers |\n|---|---|---|---|---|")
    for backend, r in results.items():
        ratio = f"{r['tokens_per_s'] / base:.1f}" if base else ""
        print(f"| {backend} | {r['tokens']} | {r['seconds']} | {r['tokens_per_s']} | {ratio} |")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "generation.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
