"""Stage train: GRPO (TRL) with a LoRA adapter on data/train.parquet, from the warm-started model.

Writes models/grpo (a checkpoint per epoch holding the adapter, epochs.json, fingerprint.json,
mlflow_run.json) and reports/train/log.csv. A killed run resumes from its last epoch checkpoint when
rerun with the same params, start model and data; anything else changed starts afresh.

With train.num_processes > 1 the stage reruns itself under `accelerate launch` (dayplan/launch.py), one
process a GPU; only the main process (rank 0) writes those files and logs to MLflow.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from dayplan import checkpoints, grpo, launch, modeling, train_log
from dayplan.config import TrainParams, as_dict, load_params_or_exit
from dayplan.dataset import read_rows
from dayplan.io import write_json
from dayplan.tracking import RUN_FILE, flatten, pipeline_run, recorded_run_id

WARMSTART_DIR = Path("models/warmstart")
TRAIN_DATA = Path("data/train.parquet")
OUTPUT_DIR = Path("models/grpo")
LOG_CSV = Path("reports/train/log.csv")


def launch_if_several_processes(train: TrainParams) -> None:
    """With train.num_processes > 1 (and no launcher yet), become `accelerate launch` of this stage."""
    try:
        command = launch.launch_command(train, sys.executable, os.environ)
        if command is None:
            return
        import torch

        launch.check_gpus(train, torch.cuda.device_count())
    except launch.LaunchError as error:
        sys.exit(f"error: params.yaml: {error}")
    print(f"train: launcher: accelerate, {train.num_processes} processes: {shlex.join(command)}", flush=True)
    os.execv(command[0], command)  # DVC gets the launcher's exit status and its signals


def main() -> None:
    params = load_params_or_exit()
    launch_if_several_processes(params.train)
    import torch
    from accelerate import PartialState
    from transformers.trainer_utils import get_last_checkpoint

    cuda = torch.cuda.is_available()
    process = PartialState()  # this process's rank under accelerate launch; alone, it is rank 0 (main)
    is_main = process.is_main_process
    if is_main and process.num_processes > 1:  # DeepSpeed logs nothing at its default level: say it here
        print(f"train: {process.num_processes} processes, accelerate {process.distributed_type.value}", flush=True)
    try:
        grpo.check_setup(params.train, cuda)
    except grpo.TrainSetupError as error:
        sys.exit(f"error: params.yaml: {error}")

    try:
        start_model = modeling.resolve_start_model(WARMSTART_DIR)
    except modeling.ModelError as error:
        sys.exit(f"error: {error}")
    if not (start_model / "config.json").exists():
        sys.exit(f"error: {start_model}: no model found (run `dvc repro warmstart` first)")
    tokenizer = modeling.load_tokenizer(start_model)
    try:
        rows = read_rows(TRAIN_DATA)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {TRAIN_DATA}: {error}")
    dataset, dropped = grpo.prompt_dataset(rows, tokenizer, params.train.max_prompt_length, params.train.rows)
    print(
        f"train: {len(dataset)} prompts from {TRAIN_DATA} ({dropped} dropped: longer than "
        f"train.max_prompt_length={params.train.max_prompt_length} tokens); start model {start_model}"
    )
    if len(dataset) == 0:
        sys.exit(f"error: {TRAIN_DATA}: no prompt fits train.max_prompt_length={params.train.max_prompt_length}")

    digest = checkpoints.fingerprint(params, start_model, TRAIN_DATA)
    with process.main_process_first():  # only the main process may wipe models/grpo; the others read its choice
        decide = checkpoints.prepare_output if is_main else checkpoints.can_resume
        resume = decide(OUTPUT_DIR, digest)
    run_id = recorded_run_id() if resume else None
    run_name = None if run_id else f"grpo-{params.model.name}"
    with pipeline_run(run_id, run_name, tracked=is_main) as mlflow:
        if is_main:
            write_json(RUN_FILE, {"run_id": mlflow.active_run().info.run_id})
        if resume:
            print(f"train: resuming from {get_last_checkpoint(str(OUTPUT_DIR))} (MLflow run {run_id})")
        else:
            mlflow.log_params(flatten(as_dict(params)))
            mlflow.log_params({"train.prompts": len(dataset), "train.prompts_dropped": dropped})
            train_log.log_warmstart(mlflow, WARMSTART_DIR)
        callbacks = [train_log.SampleTables(mlflow, OUTPUT_DIR, params.train.log_samples_every)] if is_main else []
        report_to = "mlflow" if is_main and mlflow.active_run().info.run_id != "untracked" else "none"
        try:
            trainer = grpo.build_trainer(
                params, start_model, tokenizer, dataset, OUTPUT_DIR, cuda, callbacks, report_to=report_to
            )
        except grpo.TrainSetupError as error:
            sys.exit(f"error: params.yaml: {error}")
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume or None)
        seconds, done = time.perf_counter() - started, trainer.state.global_step
        process.wait_for_everyone()  # every process has finished its share of the last checkpoint
        if not is_main:
            return
        print(f"train: {done} steps in {seconds:.1f} s ({seconds / max(done, 1):.2f} s/step this run)")

        epochs = checkpoints.write_epochs(OUTPUT_DIR)
        steps = train_log.write_log_csv(LOG_CSV, trainer.state.log_history)
        train_log.log_checkpoints(mlflow, OUTPUT_DIR, epochs)
    print(f"train: {OUTPUT_DIR}/{checkpoints.EPOCHS_FILE} {epochs}; {LOG_CSV}: {steps} steps")


if __name__ == "__main__":
    main()
