"""Stage generate: the splits under data/ (train, warm-start pool, test, test_novel, test_large), seeded."""

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
    p = load_params_or_exit().data
    sizes = {"train": p.n_train, "test": p.n_test, "test_novel": p.n_test_novel, "test_large": p.n_test_large}
    sizes["pool"] = p.n_pool
    if p.source == "hub":  # the published train/test; the other splits drawn as usual
        sizes.pop("train"), sizes.pop("test")
    splits = {split: [] for split in sizes}
    for split, row in generate_splits(p, sizes, p.names, (p.large_min_events, p.large_max_events)):
        splits[split].append(row)
    if p.source == "hub":
        splits |= load_hub_splits(p.hub_dataset)
    for split, rows in splits.items():
        write_split(DATA_DIR / f"{split}.parquet", rows)
        print(f"data/{split}.parquet: {len(rows)} rows")


if __name__ == "__main__":
    main()
