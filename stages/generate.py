"""Stage generate: the splits (train, warm-start pool, test, test_novel, test_large) as parquet files, seeded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.data import GenerationError, check_feasible, generate_splits
from dayplan.dataset import HubDataError, load_hub_splits, write_split


def make_splits(p) -> dict[str, list[dict]]:
    """Every split the pipeline reads; with data.source hub, train and test are the published ones."""
    sizes = {"train": p.n_train, "test": p.n_test, "test_novel": p.n_test_novel, "test_large": p.n_test_large}
    sizes["pool"] = p.n_pool
    if p.source == "hub":
        sizes.pop("train"), sizes.pop("test")
    splits = {split: [] for split in sizes}
    for split, row in generate_splits(p, sizes, p.names, (p.large_min_events, p.large_max_events)):
        splits[split].append(row)
    return splits | (load_hub_splits(p.hub_dataset) if p.source == "hub" else {})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder that receives <split>.parquet")
    args = parser.parse_args(argv)
    p = load_params_or_exit().data
    try:
        check_feasible(p)
        splits = make_splits(p)
    except (GenerationError, HubDataError) as error:
        sys.exit(f"error: params.yaml: {error}")
    for split, rows in splits.items():
        write_split(args.out / f"{split}.parquet", rows)
        print(f"{args.out / split}.parquet: {len(rows)} rows")


if __name__ == "__main__":
    main()
