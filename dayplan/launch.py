"""Several training processes: the `accelerate launch` command that reruns the train stage in them.

The DVC stage stays `python -m stages.train ...`; with train.num_processes > 1 that process only starts
`accelerate launch`, which runs the stage again once per GPU. Those runs see the launcher's variables
below and train instead of launching again.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

from dayplan.config import TrainParams

TRAIN_MODULE = "stages.train"
# Set in every process that accelerate launch starts: torchrun's ranks (multi-GPU, DeepSpeed, FSDP), and
# ACCELERATE_MIXED_PRECISION, which its one-process launcher sets as well.
LAUNCHER_VARIABLES = ("LOCAL_RANK", "WORLD_SIZE", "ACCELERATE_MIXED_PRECISION")


class LaunchError(ValueError):
    """A launch that cannot work: the message is one line naming the key."""


def under_launcher(environ: Mapping[str, str]) -> bool:
    return any(name in environ for name in LAUNCHER_VARIABLES)


def accelerate_command(
    python_executable: str,
    config_file: str,
    num_processes: int,
    bf16: bool,
    module: str,
    *options: str,
    module_args: Sequence[str] = (),
) -> list[str]:
    """`accelerate launch` (this interpreter's, found without PATH) running `python -m <module> <module_args>`
    in each process; `options` go to the launcher."""
    return [
        python_executable,
        "-m",
        "accelerate.commands.accelerate_cli",
        "launch",
        "--config_file",
        config_file,
        "--num_processes",
        str(num_processes),
        # train.grpo.bf16 decides, not the config file's mixed_precision
        "--mixed_precision",
        "bf16" if bf16 else "no",
        *options,
        "-m",
        module,
        *module_args,
    ]


def launch_command(
    train: TrainParams,
    python_executable: str,
    environ: Mapping[str, str],
    module: str = TRAIN_MODULE,
    module_args: Sequence[str] = (),
) -> list[str] | None:
    """The launcher for train.num_processes processes, or None to train in this process (one, or launched)."""
    if train.num_processes == 1 or under_launcher(environ):
        return None
    config = str(train.accelerate_config)  # set whenever num_processes > 1 (TrainParams checks)
    if not Path(config).is_file():
        raise LaunchError(f"train.accelerate_config: {config}: file not found (see recipes/accelerate/)")
    return accelerate_command(
        python_executable, config, train.num_processes, uses_bf16(train), module, module_args=module_args
    )


def uses_bf16(train: TrainParams) -> bool:
    """The launcher's mixed precision: train.grpo.bf16, true unless set (GRPOConfig's default on a GPU)."""
    return train.grpo.get("bf16", True)


def keep_first_gpu(environ: MutableMapping[str, str]) -> str | None:
    """A one-process trainer (the warm-start's SFT) on a host of several GPUs: make only the first visible.

    Trainer wraps a model in nn.DataParallel when one process sees several GPUs, which SFTTrainer refuses.
    Called before torch starts CUDA (it reads the variable once). Returns the devices it hid, if it hid any;
    unset, the variable becomes "0", which a one-GPU or CPU host does not notice.
    """
    if under_launcher(environ):
        return None
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        environ["CUDA_VISIBLE_DEVICES"] = "0"
        return None
    first, _, hidden = visible.partition(",")
    environ["CUDA_VISIBLE_DEVICES"] = first
    return hidden or None


def check_gpus(train: TrainParams, gpus: int) -> None:
    """One training process a GPU: fail in one line before the launcher fails in many."""
    if gpus < train.num_processes:
        raise LaunchError(
            f"train.num_processes: {train.num_processes} training processes need as many CUDA GPUs, "
            f"{gpus} visible (CUDA_VISIBLE_DEVICES)"
        )


def relaunch_if_several_processes(
    train: TrainParams, module: str = TRAIN_MODULE, module_args: Sequence[str] = ()
) -> None:
    """With train.num_processes > 1 (and no launcher yet), become `accelerate launch` of `module module_args`."""
    command = launch_command(train, sys.executable, os.environ, module, module_args)
    if command is None:
        return
    import torch

    check_gpus(train, torch.cuda.device_count())
    print(f"train: launcher: accelerate, {train.num_processes} processes: {shlex.join(command)}", flush=True)
    os.execv(command[0], command)  # DVC gets the launcher's exit status and its signals
