"""Stage train: GRPO (TRL) with a LoRA adapter on the train split, from the warm-started model.

Writes models/grpo (a checkpoint per epoch, epochs.json, fingerprint.json, mlflow_run.json) and
reports/train/log.csv; a killed run resumes from its last epoch checkpoint (dayplan/training.py).
With train.num_processes > 1 the stage reruns itself under `accelerate launch`, one process a GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dayplan import launch
from dayplan.config import load_params_or_exit

WARMSTART_DIR = Path("models/warmstart")
TRAIN_DATA = Path("data/train.parquet")
OUTPUT_DIR = Path("models/grpo")
LOG_CSV = Path("reports/train/log.csv")


def main() -> None:
    params = load_params_or_exit()
    try:
        launch.relaunch_if_several_processes(params.train, "stages.train")
    except launch.LaunchError as error:
        sys.exit(f"error: params.yaml: {error}")
    from dayplan import training

    try:
        training.train(params, WARMSTART_DIR, TRAIN_DATA, OUTPUT_DIR, LOG_CSV)
    except training.TrainError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
