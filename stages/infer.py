"""Stage infer: completions for every evaluated test prompt, for one model (a foreach item in dvc.yaml)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.dataset import read_rows, rows_fingerprint
from dayplan.inference import ModelLoadError, complete_all, count_tokens, generation_settings, partial_key, pick_backend
from dayplan.io import write_jsonl
from dayplan.scoring import SKIPPED
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
    if skipped.exists():  # e.g. the warm-start is disabled: nothing to evaluate, and the score stage says so
        print(f"{args.name}: skipped ({skipped.read_text().strip()})")
        write_jsonl(out, [{SKIPPED: skipped.read_text().strip()}])
        return
    try:
        rows = read_rows(args.data)[: params.evaluate.rows]
    except (OSError, ValueError) as error:
        sys.exit(f"error: {args.data}: {error}")
    backend = pick_backend(params.evaluate.backend)
    print(f"{args.name}: {len(rows)} test prompts with the {backend} backend")
    settings = generation_settings(params.evaluate, backend)
    key = partial_key(settings, args.model, rows_fingerprint(rows))
    conversations = [chat_messages(row["prompt"]) for row in rows]
    partial = OUT_DIR / f".{args.name}.partial.jsonl"
    started = time.perf_counter()
    try:
        completions = complete_all(args.model, conversations, settings, params.evaluate, partial, args.name, key)
    except ModelLoadError as error:
        sys.exit(f"error: --model {error}")
    seconds = time.perf_counter() - started
    tokens = count_tokens(args.model, [c["completion"] for c in completions])
    print(f"{args.name}: {tokens} new tokens in {seconds:.1f} s ({tokens / seconds:.0f} tokens/s, model load included)")
    write_jsonl(out, completions)
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
