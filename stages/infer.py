"""Stage infer: one model's completions for every evaluated split, from one engine start.

The prompts of all splits go to the backend in one call (vLLM starts once a model); the completions are
written per split, to reports/completions/<split>/<name>.jsonl, with `id` the row index in that split.
"""

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
    parser.add_argument("--splits", nargs="+", default=["test"], help="data/<split>.parquet files to complete")
    args = parser.parse_args()
    params = load_params_or_exit()
    outs = {split: OUT_DIR / split / f"{args.name}.jsonl" for split in args.splits}
    skipped = Path(args.model) / "SKIPPED.json"
    if skipped.exists():  # e.g. the warm-start is disabled: nothing to evaluate
        print(f"{args.name}: skipped ({skipped.read_text().strip()})")
        for out in outs.values():
            write_jsonl(out, [])
        return

    rows = {split: read_rows(f"data/{split}.parquet")[: params.evaluate.rows] for split in args.splits}
    backend = pick_backend(params.evaluate.backend)
    print(f"{args.name}: {' + '.join(f'{len(r)} {s}' for s, r in rows.items())} prompts, {backend} backend")
    settings = generation_settings(params.evaluate, backend)
    conversations = [chat_messages(row["prompt"]) for split_rows in rows.values() for row in split_rows]
    partial = OUT_DIR / f".{args.name}.partial.jsonl"
    started = time.perf_counter()
    completions = complete_all(args.model, conversations, settings, params.evaluate, partial, args.name)
    seconds = time.perf_counter() - started
    tokens = count_tokens(args.model, [c["completion"] for c in completions])
    print(f"{args.name}: {tokens} new tokens in {seconds:.1f} s ({tokens / seconds:.0f} tokens/s, model load included)")
    first = 0
    for split, split_rows in rows.items():
        part = completions[first : first + len(split_rows)]
        write_jsonl(outs[split], [{**c, "id": c["id"] - first, "split": split} for c in part])
        first += len(split_rows)
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
