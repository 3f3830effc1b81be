"""Stage generate: the train/test (and warm-start pool) splits under data/, seeded from params."""

from __future__ import annotations

import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.data import GenerationError, check_feasible, generate_splits
from dayplan.dataset import HubDataError, load_hub_splits, write_split

DATA_DIR = Path("data")


def make_splits(p) -> dict[str, list[dict]]:
    if p.source == "hub":
        splits = load_hub_splits(p.hub_dataset)
        splits["pool"] = [row for _, row in generate_splits(p, {"pool": p.n_pool})]
        return splits
    splits = {"train": [], "test": [], "pool": []}
    for split, row in generate_splits(p, {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}):
        splits[split].append(row)
    return splits


def main() -> None:
    p = load_params_or_exit().data
    try:
        check_feasible(p)
        splits = make_splits(p)
    except (GenerationError, HubDataError) as error:
        sys.exit(f"error: params.yaml: {error}")
    for split, rows in splits.items():
        write_split(DATA_DIR / f"{split}.parquet", rows)
        print(f"data/{split}.parquet: {len(rows)} rows")


if __name__ == "__main__":
    main()
