"""Stage infer: one model's completions for every evaluated split, from one engine start.

The prompts of all splits go to the backend in one call (vLLM starts once a model); the completions are
written per split to reports/completions/<split>/<name>.jsonl, `id` the row index in that split and
`test_set` the fingerprint of the rows answered, so that the judge can refuse them for other rows.
"""

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


def read_split(split: str, limit: int | None) -> list[dict]:
    try:
        return read_rows(f"data/{split}.parquet")[:limit]
    except (OSError, ValueError) as error:
        sys.exit(f"error: data/{split}.parquet: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="model name in the report (evaluate.models key)")
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--splits", nargs="+", default=["test"], help="data/<split>.parquet files to complete")
    args = parser.parse_args()
    params = load_params_or_exit()
    outs = {split: OUT_DIR / split / f"{args.name}.jsonl" for split in args.splits}
    skipped = Path(args.model) / "SKIPPED.json"
    if skipped.exists():  # e.g. the warm-start is disabled: nothing to evaluate, and the score stage says so
        print(f"{args.name}: skipped ({skipped.read_text().strip()})")
        for out in outs.values():
            write_jsonl(out, [{SKIPPED: skipped.read_text().strip()}])
        return
    rows = {split: read_split(split, params.evaluate.rows) for split in args.splits}
    backend = pick_backend(params.evaluate.backend)
    print(f"{args.name}: {' + '.join(f'{len(r)} {s}' for s, r in rows.items())} prompts, {backend} backend")
    settings = generation_settings(params.evaluate, backend)
    every_row = [row for split_rows in rows.values() for row in split_rows]
    key = partial_key(settings, args.model, rows_fingerprint(every_row))
    partial = OUT_DIR / f".{args.name}.partial.jsonl"
    started = time.perf_counter()
    try:
        completions = complete_all(args.model, [chat_messages(row["prompt"]) for row in every_row], settings,
                                   params.evaluate, partial, args.name, key)  # fmt: skip
    except ModelLoadError as error:
        sys.exit(f"error: --model {error}")
    seconds = time.perf_counter() - started
    tokens = count_tokens(args.model, [c["completion"] for c in completions])
    print(f"{args.name}: {tokens} new tokens in {seconds:.1f} s ({tokens / seconds:.0f} tokens/s, model load included)")
    first = 0
    for split, split_rows in rows.items():
        test_set, part = rows_fingerprint(split_rows), completions[first : first + len(split_rows)]
        write_jsonl(outs[split], [{**c, "id": c["id"] - first, "split": split, "test_set": test_set} for c in part])
        first += len(split_rows)
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
