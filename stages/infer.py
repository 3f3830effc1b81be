"""Stage infer: completions for every evaluated test prompt, for one model (a foreach item in dvc.yaml)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_rows
from dayplan.inference import complete_all, count_tokens, generation_settings, pick_backend
from dayplan.io import write_jsonl
from dayplan.task import chat_messages

OUT_DIR = Path("reports/completions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="model name in the report (evaluate.models key)")
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--data", default="data/test.parquet")
    args = parser.parse_args()
    params = load_params_or_exit()
    out = OUT_DIR / f"{args.name}.jsonl"

    skipped = Path(args.model) / "SKIPPED.json"
    if skipped.exists():  # e.g. the warm-start is disabled: nothing to evaluate
        print(f"{args.name}: skipped ({skipped.read_text().strip()})")
        write_jsonl(out, [])
        return

    rows = read_rows(args.data)[: params.evaluate.rows]
    backend = pick_backend(params.evaluate.backend)
    print(f"{args.name}: {len(rows)} test prompts with the {backend} backend")
    settings = generation_settings(params.evaluate, backend)
    conversations = [chat_messages(row["prompt"]) for row in rows]
    partial = OUT_DIR / f".{args.name}.partial.jsonl"
    started = time.perf_counter()
    completions = complete_all(args.model, conversations, settings, params.evaluate, partial, args.name)
    seconds = time.perf_counter() - started
    tokens = count_tokens(args.model, [c["completion"] for c in completions])
    print(f"{args.name}: {tokens} new tokens in {seconds:.1f} s ({tokens / seconds:.0f} tokens/s, model load included)")
    write_jsonl(out, completions)
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
