"""The train stage's work: GRPO from the warm-started model, resumable, tracked in the pipeline's MLflow run.

Writes the run's folder (a checkpoint per epoch holding the adapter, epochs.json, fingerprint.json,
mlflow_run.json) and a DVCLive folder of the step metrics. A killed run resumes from its last epoch
checkpoint when rerun with the same params, start model and data; anything else changed starts afresh.
Under `accelerate launch` every process trains; only the main one (rank 0) writes those files and logs to
MLflow.
"""

from __future__ import annotations

import time
from pathlib import Path

from dayplan import checkpoints, grpo, modeling, train_log
from dayplan.config import Params, as_dict
from dayplan.dataset import read_rows
from dayplan.io import write_json
from dayplan.tracking import RUN_FILE, flatten, pipeline_run, recorded_run_id


class TrainError(ValueError):
    """A reason not to train, in one line naming the params key or the file."""


def prompts(params: Params, start_model: Path, train_data: Path):
    """The train split as TRL's prompt dataset, and the start model's tokenizer."""
    tokenizer = modeling.load_tokenizer(start_model)
    try:
        rows = read_rows(train_data)
    except (FileNotFoundError, ValueError) as error:
        raise TrainError(f"{train_data}: {error}") from None
    limit = params.train.max_prompt_length
    min_events = params.train.min_events
    dataset, dropped = grpo.prompt_dataset(rows, tokenizer, limit, params.train.rows, min_events)
    larger = f" of at least {min_events} events" if min_events else ""
    print(f"train: {len(dataset)} prompts{larger} from {train_data} ({dropped} dropped: longer than "
          f"train.max_prompt_length={limit} tokens); start model {start_model}")  # fmt: skip
    if len(dataset) == 0:
        needs = f"has train.min_events={min_events} events and " if min_events else ""
        raise TrainError(f"{train_data}: no prompt {needs}fits train.max_prompt_length={limit}")
    return dataset, dropped, tokenizer


def start_model_of(warmstart_dir: Path) -> Path:
    try:
        start_model = modeling.resolve_start_model(warmstart_dir)
    except modeling.ModelError as error:
        raise TrainError(str(error)) from None
    if not (start_model / "config.json").exists():
        raise TrainError(f"{start_model}: no model found (run `dvc repro warmstart` first)")
    return start_model


def train(params: Params, warmstart_dir: Path, train_data: Path, output_dir: Path, live_dir: Path) -> None:
    import torch
    from accelerate import PartialState
    from transformers.trainer_utils import get_last_checkpoint

    cuda = torch.cuda.is_available()
    process = PartialState()  # this process's rank under accelerate launch; alone, it is rank 0 (main)
    is_main = process.is_main_process
    try:
        grpo.check_setup(params.train, cuda)
    except grpo.TrainSetupError as error:
        raise TrainError(f"params.yaml: {error}") from None
    start_model = start_model_of(warmstart_dir)
    dataset, dropped, tokenizer = prompts(params, start_model, train_data)

    digest = checkpoints.fingerprint(params, start_model, train_data)
    with process.main_process_first():  # only the main process may wipe the folder; the others read its choice
        decide = checkpoints.prepare_output if is_main else checkpoints.can_resume
        resume = decide(output_dir, digest)
    run_file = output_dir / RUN_FILE.name  # the later stages read it from the path in tracking.RUN_FILE
    run_id = recorded_run_id(run_file) if resume else None
    with pipeline_run(run_id, None if run_id else f"grpo-{params.model.name}", tracked=is_main) as mlflow:
        tracked = is_main and mlflow.active_run().info.run_id != "untracked"
        if is_main:
            write_json(run_file, {"run_id": mlflow.active_run().info.run_id})
        if resume:
            print(f"train: resuming from {get_last_checkpoint(str(output_dir))} (MLflow run {run_id})")
        else:
            mlflow.log_params(flatten(as_dict(params)))
            mlflow.log_params({"train.prompts": len(dataset), "train.prompts_dropped": dropped})
            train_log.log_warmstart(mlflow, warmstart_dir)
        callbacks = []
        if is_main:
            samples_every = params.train.log_samples_every
            callbacks = [train_log.SampleTables(mlflow, output_dir, samples_every), train_log.StepPlots(live_dir)]
        try:
            trainer = grpo.build_trainer(params, start_model, tokenizer, dataset, output_dir, cuda, callbacks,
                                         report_to="mlflow" if tracked else "none")  # fmt: skip
        except grpo.TrainSetupError as error:
            raise TrainError(f"params.yaml: {error}") from None
        if is_main and process.num_processes > 1:  # DeepSpeed logs nothing at its default level: say it here
            # the trainer's accelerator, not PartialState, which reads FSDP as MULTI_GPU
            layout = trainer.accelerator.distributed_type.value
            print(f"train: {process.num_processes} processes, accelerate {layout}", flush=True)
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume or None)
        seconds, done = time.perf_counter() - started, trainer.state.global_step
        process.wait_for_everyone()  # every process has finished its share of the last checkpoint
        if not is_main:
            return
        per_step = seconds / max(done, 1)
        print(f"train: {done} steps in {seconds:.1f} s ({per_step:.2f} s/step this run){peak_memory(cuda)}")
        epochs = checkpoints.write_epochs(output_dir)
        train_log.log_checkpoints(mlflow, output_dir, epochs)
    print(f"train: {output_dir}/{checkpoints.EPOCHS_FILE} {epochs}; step metrics in {live_dir}")


def peak_memory(cuda: bool) -> str:
    """The process's peak GPU allocation (with a colocated vLLM, its share of the card counts too)."""
    if not cuda:
        return ""
    import torch

    return f", peak GPU {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
