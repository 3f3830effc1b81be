"""Stage train: GRPO (TRL) with a LoRA adapter on the train split, from the warm-started model.

Writes the run's folder (a checkpoint per epoch, epochs.json, fingerprint.json, mlflow_run.json) and a
DVCLive folder of the step metrics (DVC plots); a killed run resumes from its last epoch checkpoint
(dayplan/training.py). With train.num_processes > 1 the stage reruns itself, with the same arguments, under
`accelerate launch`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan import launch
from dayplan.config import load_params_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=Path, required=True, help="warm-start output (model or SKIPPED.json)")
    parser.add_argument("--data", type=Path, required=True, help="train split (parquet)")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, epochs.json")
    parser.add_argument("--live", type=Path, required=True, help="DVCLive folder written: the step metrics")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    params = load_params_or_exit()
    try:
        launch.relaunch_if_several_processes(params.train, "stages.train", argv)
    except launch.LaunchError as error:
        sys.exit(f"error: params.yaml: {error}")
    from dayplan.grpo import import_unsloth_first

    import_unsloth_first(params.train)
    from dayplan import training

    try:
        training.train(params, args.start, args.data, args.out, args.live)
    except training.TrainError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
