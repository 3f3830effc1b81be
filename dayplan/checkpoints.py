"""The GRPO run's folder: a fingerprint decides resume or restart, epochs map to checkpoints.

Checkpoints (adapter only) are written every epoch under models/grpo/checkpoint-<step>; epochs.json maps
each epoch to its folder for the merge stage. models/grpo persists across runs: a fingerprint of everything
that shapes training decides whether a restarted run resumes from the last checkpoint or starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from dayplan.config import Params
from dayplan.io import write_json

FINGERPRINT_FILE = "fingerprint.json"
EPOCHS_FILE = "epochs.json"


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def fingerprint(params: Params, start_model: Path, train_data: Path) -> str:
    """Hash of what shapes training: the model/train/reward params, the start model's files, the data."""
    digest = hashlib.sha256()
    # where the vLLM server listens does not shape training: a run may resume against a server moved elsewhere
    train = params.train.model_dump()
    train["grpo"] = {k: v for k, v in train["grpo"].items() if k not in ("vllm_server_host", "vllm_server_port")}
    shaping = {"model": params.model.model_dump(), "train": train, "reward": params.reward.model_dump()}
    digest.update(json.dumps(shaping, sort_keys=True).encode())
    # The whole folder, weights included: a retrained warm-start keeps its config.json but not its weights.
    for path in sorted(p for p in Path(start_model).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(start_model)).encode())
        _hash_file(digest, path)
    _hash_file(digest, Path(train_data))
    return digest.hexdigest()


def can_resume(output_dir: Path, digest: str) -> bool:
    """Same fingerprint, a checkpoint to resume from and no epochs.json; reads only (the other processes ask this).

    epochs.json is written when a run finishes: DVC reruns a finished stage only because something it tracks
    changed (code included, which the fingerprint leaves out), so that run starts afresh.
    """
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir)
    try:
        recorded = json.loads((output_dir / FINGERPRINT_FILE).read_text())["fingerprint"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        recorded = None
    if recorded != digest or (output_dir / EPOCHS_FILE).exists():
        return False
    return output_dir.is_dir() and get_last_checkpoint(str(output_dir)) is not None


def prepare_output(output_dir: Path, digest: str) -> bool:
    """True to resume (same fingerprint and a checkpoint); otherwise wipe output_dir and start fresh."""
    output_dir = Path(output_dir)
    if can_resume(output_dir, digest):
        return True
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    write_json(output_dir / FINGERPRINT_FILE, {"fingerprint": digest})
    return False


def scan_epochs(output_dir: Path) -> dict[str, str]:
    """Epoch ("1", "2", ...) -> checkpoint folder name, from each checkpoint's trainer_state.json.

    A checkpoint cut mid-epoch by max_steps has no whole epoch and is left out.
    """
    epochs = {}
    for state in sorted(Path(output_dir).glob("checkpoint-*/trainer_state.json")):
        epoch = json.loads(state.read_text()).get("epoch")
        if epoch is not None and abs(epoch - round(epoch)) < 1e-6:
            epochs[str(round(epoch))] = state.parent.name
    return epochs


def read_epochs(grpo_dir: Path) -> dict[str, str]:
    """Epoch number (as a string) -> checkpoint folder: epochs.json, else the checkpoints' own states."""
    from dayplan.modeling import ModelError

    if not grpo_dir.is_dir():
        raise ModelError(f"{grpo_dir}: not found (run the train stage first)")
    index = grpo_dir / EPOCHS_FILE
    if not index.exists():
        return scan_epochs(grpo_dir)
    try:
        epochs = json.loads(index.read_text())
    except json.JSONDecodeError as error:
        raise ModelError(f"{index}: not valid JSON ({error.msg})") from None
    if not isinstance(epochs, dict):
        raise ModelError(f'{index}: expected a mapping like {{"1": "checkpoint-2"}}')
    return {str(k): str(v) for k, v in epochs.items()}


def write_epochs(output_dir: Path) -> dict[str, str]:
    """epochs.json for the merge stage: the whole epochs of the run's checkpoints."""
    epochs = scan_epochs(output_dir)
    write_json(Path(output_dir) / EPOCHS_FILE, epochs)
    return epochs
