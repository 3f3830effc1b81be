"""Stage generate: the train/test (and warm-start pool) splits under data/, seeded from params."""

from __future__ import annotations

from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.data import generate_splits
from dayplan.dataset import check_optima, write_split

DATA_DIR = Path("data")


def load_hub_splits(name: str) -> dict[str, list[dict]]:
    import datasets  # only for the Hub source

    loaded = datasets.load_dataset(name)
    splits = {split: [dict(row) for row in loaded[split]] for split in ("train", "test")}
    for split, rows in splits.items():
        check_optima(rows, f"{name} [{split}]")
    return splits


def main() -> None:
    params = load_params_or_exit()
    p = params.data
    if p.source == "hub":
        splits = load_hub_splits(p.hub_dataset)
        splits["pool"] = [row for _, row in generate_splits(p, {"pool": p.n_pool})]
    else:
        splits = {"train": [], "test": [], "pool": []}
        for split, row in generate_splits(p, {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}):
            splits[split].append(row)
    for split, rows in splits.items():
        write_split(DATA_DIR / f"{split}.parquet", rows)
        print(f"data/{split}.parquet: {len(rows)} rows")


if __name__ == "__main__":
    main()
