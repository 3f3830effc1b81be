"""The report's inputs: each model's metrics, per-row scores and completions per split, and the training steps.

Per split, the folders given for metrics, scores and completions hold <split>/<model>.json (stages/score.py's
aggregates; n = 0 marks a skipped model), <split>/<model>.jsonl (id, score, broken_rule) and
<split>/<model>.jsonl (id, completion). Without splits they hold <model>.* directly, for the test split
alone.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dayplan.io import read_jsonl

SINGLE_SPLIT = "test"  # the name of the split in the layout without split folders
SUFFIXES = {"metrics": ".json", "scores": ".jsonl", "completions": ".jsonl"}


def load_steps(live_dir: Path) -> list[dict]:
    """The train stage's DVCLive folder, one dict of floats a logged step (its "step" and TRL's metric names,
    from plots/metrics/<name>.tsv), in step order; [] before any training."""
    metrics = Path(live_dir) / "plots" / "metrics"
    steps: dict[int, dict] = {}
    for path in sorted(metrics.rglob("*.tsv")):
        name = path.relative_to(metrics).with_suffix("").as_posix()
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                step = int(row["step"])
                steps.setdefault(step, {"step": step})[name] = float(row[path.stem])
    return [steps[step] for step in sorted(steps)]


def report_models(compared: list[str], baselines) -> list[str]:
    """The compared models in their order, then the baselines not among them."""
    return [*compared, *(name for name in baselines if name not in compared)]


def split_folders(splits: list[str] | None) -> dict[str, str | None]:
    """split -> its folder in the inputs; no splits: the single test split, with none."""
    return {split: split for split in splits} if splits else {SINGLE_SPLIT: None}


def result_path(folder: Path, split: str | None, name: str, suffix: str) -> Path:
    """folder/<split>/<name><suffix>; split None: the single-split layout folder/<name><suffix>."""
    return (folder if split is None else folder / split) / f"{name}{suffix}"


def load_model_results(names: list[str], folders: dict[str, Path], split: str | None = None) -> dict[str, dict]:
    """name -> {metrics, scores, completions} for every model that was evaluated (skipped ones left out).

    folders: the folder of each kind of input, {"metrics": ..., "scores": ..., "completions": ...}.
    """
    results = {}
    for name in names:
        paths = {kind: result_path(folders[kind], split, name, suffix) for kind, suffix in SUFFIXES.items()}
        if not paths["metrics"].exists():
            continue
        metrics = json.loads(paths["metrics"].read_text())
        if not metrics.get("n"):
            continue
        scores, completions = read_jsonl(paths["scores"]), read_jsonl(paths["completions"])
        results[name] = {"metrics": metrics, "scores": scores, "completions": completions}
    return results


def load_splits(names: list[str], folders: dict[str, Path], splits: list[str] | None) -> dict[str, dict]:
    """split -> load_model_results of that split, in the order of `splits`."""
    return {split: load_model_results(names, folders, folder) for split, folder in split_folders(splits).items()}
