"""The GRPO train stage on the tiny model: outputs, MLflow run, kill + resume, bad configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from transformers import TrainerCallback

from dayplan import checkpoints, grpo, train_log
from dayplan.config import load_params
from dayplan.dataset import read_rows
from dayplan.report_inputs import load_steps
from tests.conftest import tiny_params

REPO = Path(__file__).resolve().parents[1]
TRAIN_ARGS = ["--start", "models/warmstart", "--data", "data/train.parquet", "--out", "models/grpo",
              "--live", "reports/train/live"]  # fmt: skip


def _workdir(root: Path, *overrides: str) -> Path:
    """params.yaml (model: tiny, 8 completion tokens so a step takes about a second) under root."""
    root.mkdir(parents=True, exist_ok=True)
    tiny_params(root, "train.grpo.max_completion_length=8", *overrides)
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    root = _workdir(tmp_path / "work", "train.grpo.beta=0.0")  # no reference model: one forward less a step
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("DVC_EXP_NAME", "test-exp")
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    return root


def _data_and_model(root: Path) -> None:
    from dayplan.modeling import build_tiny
    from stages import generate

    generate.main(["--out", "data"])
    build_tiny(root / "models/warmstart", seed=0)
    log = [{"step": 1, "loss": 2.5, "epoch": 0.5}, {"step": 2, "loss": 1.5, "epoch": 1.0}]
    (root / "models/warmstart/warmstart_log.json").write_text(json.dumps(log))


def plotted_columns() -> dict[str, str]:
    """file -> column of each step curve in dvc.yaml's top-level plots."""
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    return {path: column for plot in plots if isinstance(plot, dict) for spec in plot.values()
            for path, column in spec["y"].items()}  # fmt: skip


class KillAtStep3(TrainerCallback):
    """Stands in for a killed process: stops once step 3 (epoch 3) is logged, before its checkpoint is saved."""

    def on_log(self, args, state, control, **kwargs):
        if state.global_step >= 3:
            raise KeyboardInterrupt


def _mlflow_run(root: Path):
    from mlflow.tracking import MlflowClient

    run_id = json.loads((root / "models/grpo/mlflow_run.json").read_text())["run_id"]
    client = MlflowClient()
    return client, client.get_run(run_id)


@pytest.mark.slow
def test_train_stage_killed_then_resumed(workdir, monkeypatch, capsys):
    from stages import train

    _data_and_model(workdir)
    build = grpo.build_trainer

    def build_killed(*args, **kwargs):
        *head, callbacks = args
        return build(*head, [*callbacks, KillAtStep3()], **kwargs)

    monkeypatch.setattr(grpo, "build_trainer", build_killed)
    with pytest.raises(KeyboardInterrupt):
        train.main(TRAIN_ARGS)
    out = workdir / "models/grpo"
    assert sorted(checkpoints.scan_epochs(out).values()) == ["checkpoint-1", "checkpoint-2"]
    assert not (out / "epochs.json").exists()
    first_run = json.loads((out / "mlflow_run.json").read_text())["run_id"]

    monkeypatch.setattr(grpo, "build_trainer", build)
    train.main(TRAIN_ARGS)
    printed = capsys.readouterr().out
    assert "resuming from models/grpo/checkpoint-2" in printed
    assert "1 dropped" in printed or "0 dropped" in printed

    # epochs.json maps each epoch to its checkpoint; the resumed run went on from step 2 to 3
    epochs = json.loads((out / "epochs.json").read_text())
    assert sorted(epochs) == ["1", "2", "3"]
    state = json.loads((out / epochs["3"] / "trainer_state.json").read_text())
    assert state["epoch"] == pytest.approx(3.0) and state["global_step"] == 3
    # checkpoints hold the adapter only
    for folder in epochs.values():
        names = {p.name for p in (out / folder).iterdir()}
        assert {"adapter_config.json", "adapter_model.safetensors"} <= names
        assert not any(n.startswith("model") and n.endswith(".safetensors") for n in names)

    # DVCLive's folder: the resumed run replayed steps 1 and 2 from its checkpoint, then logged step 3 once more
    steps = load_steps(workdir / "reports/train/live")
    assert [row["step"] for row in steps] == [1, 2, 3]
    assert all("reward" in row and "rewards/format_reward/mean" in row for row in steps)
    for path, column in plotted_columns().items():  # every column dvc.yaml's plots draw
        with open(workdir / path) as handle:
            header, *rows = handle.read().splitlines()
        assert header.split("\t") == ["step", column] and [row.split("\t")[0] for row in rows] == ["1", "2", "3"]
    assert not (workdir / "dvc.yaml").exists()  # DVCLive left the pipeline's dvc.yaml to the pipeline

    client, run = _mlflow_run(workdir)
    assert run.info.run_id == first_run  # the resumed run joined the killed run's MLflow run
    assert run.data.params["train.grpo.num_generations"] == "2"  # params.yaml as the stage read it
    assert run.data.params["num_generations"] == "2"  # the trainer's own args, logged by MLflowCallback
    assert run.data.params["model.name"] == "tiny"
    assert run.data.tags["dvc.experiment"] == "test-exp"
    assert {m.step for m in client.get_metric_history(run.info.run_id, "reward")} == {1, 2, 3}
    assert "rewards/format_reward/mean" in run.data.metrics
    assert [m.value for m in client.get_metric_history(run.info.run_id, "warmstart/loss")] == [2.5, 1.5]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert artifacts == {"checkpoints/epoch1", "checkpoints/epoch2", "checkpoints/epoch3"}
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "completions")}
    assert "completions/step_00003.json" in tables


def test_fingerprint_change_starts_afresh(tmp_path):
    out = tmp_path / "grpo"
    assert checkpoints.prepare_output(out, "a") is False  # nothing to resume
    (out / "checkpoint-4").mkdir()
    (out / "checkpoint-4/trainer_state.json").write_text('{"epoch": 1.0}')
    assert checkpoints.prepare_output(out, "a") is True
    assert checkpoints.prepare_output(out, "b") is False
    assert not (out / "checkpoint-4").exists()
    assert json.loads((out / "fingerprint.json").read_text()) == {"fingerprint": "b"}


def test_a_finished_run_starts_afresh(tmp_path):
    out = tmp_path / "grpo"
    checkpoints.prepare_output(out, "a")
    (out / "checkpoint-4").mkdir()
    (out / "checkpoint-4/trainer_state.json").write_text('{"epoch": 1.0}')
    checkpoints.write_epochs(out)  # the run finished: DVC reruns it only for a change it tracks
    assert checkpoints.prepare_output(out, "a") is False
    assert not (out / "checkpoint-4").exists() and not (out / "epochs.json").exists()


def test_fingerprint_tracks_params_model_and_data(fingerprint_inputs):
    model, data = fingerprint_inputs
    params = load_params(REPO / "params.yaml")
    digest = checkpoints.fingerprint(params, model, data)
    assert checkpoints.fingerprint(params, model, data) == digest
    grpo_args = {**params.train.grpo, "learning_rate": 1.0}
    changed = params.model_copy(update={"train": params.train.model_copy(update={"grpo": grpo_args})})
    assert checkpoints.fingerprint(changed, model, data) != digest
    (model / "model.safetensors").write_bytes(b"weights")
    assert checkpoints.fingerprint(params, model, data) != digest


def test_min_events_keeps_the_larger_instances_then_the_first_rows(workdir):
    from dayplan import training
    from dayplan.rewards import column_instance

    _data_and_model(workdir)
    params = load_params(workdir / "params.yaml")
    rows = [len(row["events"]) for row in read_rows(workdir / "data/train.parquet")]
    start, data = Path("models/warmstart"), Path("data/train.parquet")

    def train_params(**update):
        return params.model_copy(update={"train": params.train.model_copy(update=update)})

    dataset, dropped, _ = training.prompts(train_params(min_events=6, rows=3), start, data)
    assert len(dataset) == 3 and dropped == 0
    kept = [len(column_instance(column)[0].events) for column in dataset["instance"]]
    assert kept == [n for n in rows if n >= 6][:3]
    with pytest.raises(training.TrainError, match="no prompt has train.min_events=9 events"):
        training.prompts(train_params(min_events=9), start, data)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            "train.model_args.load_in_4bit=true",
            "error: params.yaml: train.model_args.load_in_4bit: expected a CUDA GPU for 4-bit QLoRA, none found",
        ),
        ("train.grpo.bf16=true", "error: params.yaml: train.grpo.bf16: expected a CUDA GPU for bf16 training"),
    ],
)
def test_gpu_settings_on_cpu_fail_in_one_line(tmp_path, monkeypatch, overrides, message):
    import torch

    from stages import train

    monkeypatch.chdir(_workdir(tmp_path, overrides))
    monkeypatch.delenv("DAYPLAN_PARAMS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        train.main(TRAIN_ARGS)
    assert str(exit_info.value).startswith(message)
    assert "\n" not in str(exit_info.value)


def test_missing_bitsandbytes_names_the_extra(monkeypatch):
    import builtins

    params = load_params(REPO / "params.yaml")
    real_import = builtins.__import__

    def no_bnb(name, *args, **kwargs):
        if name == "bitsandbytes":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bnb)
    train = params.train.model_copy(
        update={"model_args": {"load_in_4bit": True}, "grpo": {**params.train.grpo, "bf16": True, "use_cpu": False}}
    )
    with pytest.raises(grpo.TrainSetupError, match=r"pip install '\.\[gpu\]'"):
        grpo.check_setup(train, cuda=True)


def test_missing_liger_kernel_names_the_extra(monkeypatch):
    import importlib.util

    params = load_params(REPO / "params.yaml")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "liger_kernel" else real_find_spec(name, *a)
    )
    train = params.train.model_copy(update={"grpo": {**params.train.grpo, "use_liger_kernel": True}})
    with pytest.raises(grpo.TrainSetupError, match=r"^train.grpo.use_liger_kernel: liger-kernel is not installed"):
        grpo.check_setup(train, cuda=False)


def test_metric_names_are_sanitised_and_non_numbers_dropped():
    metrics = train_log.numeric_metrics({"rewards/score(x)/mean": 1, "flag": True, "nan": float("nan"), "s": "x"}, "w/")
    assert metrics == {"w/rewards/score_x_/mean": 1.0}


def test_unsloth_is_imported_first_only_where_it_can_run():
    """Without a GPU the stage leaves Unsloth alone, so that check_setup's one-line refusal is what shows."""
    import sys

    train = load_params(REPO / "params.yaml").train.model_copy(update={"backend": "unsloth"})
    grpo.import_unsloth_first(train)
    assert "unsloth" not in sys.modules


def test_unsloth_without_a_gpu_is_refused_in_one_line():
    params = load_params(REPO / "params.yaml")
    train = params.train.model_copy(update={"backend": "unsloth"})
    with pytest.raises(grpo.TrainSetupError) as caught:
        grpo.check_setup(train, cuda=False)
    assert str(caught.value) == "train.backend: unsloth needs a CUDA GPU, none found (use train.backend=trl)"


def _tiny_trainer(tmp_path, monkeypatch, *overrides: str):
    """(trainer, dataset, tokenizer) of the train stage on the tiny model, params.yaml with `overrides` (its
    CPU-only refusals not applied: bf16 autocast runs on the CPU too)."""
    from dayplan import training

    root = _workdir(tmp_path, *overrides)
    monkeypatch.chdir(root)
    _data_and_model(root)
    params = load_params(root / "params.yaml")
    start = training.start_model_of(Path("models/warmstart"))
    dataset, _, tokenizer = training.prompts(params, start, Path("data/train.parquet"))
    trainer = grpo.build_trainer(params, start, tokenizer, dataset, Path("models/grpo"), cuda=False, report_to="none")
    return trainer, dataset, tokenizer


def test_lora_layers_without_input_casts_give_the_same_logits(tmp_path, monkeypatch):
    """train.cast_lora_inputs false, bf16 autocast (here the CPU's): the LoRA layers skip PEFT's float32 copy of
    their bf16 input, and the model's logits are the same to the bit."""
    import torch

    trainer, dataset, tokenizer = _tiny_trainer(tmp_path, monkeypatch, "train.model_args.dtype=bfloat16",
                                                "train.grpo.bf16=true")  # fmt: skip
    torch.manual_seed(0)
    adapters = [p for name, p in trainer.model.named_parameters() if "lora_" in name]
    for weight in adapters:  # lora_B starts at zero: give the adapters something to add
        weight.data.normal_(0.0, 0.05)
    assert {weight.dtype for weight in adapters} == {torch.float32}  # the bf16 inputs were copied to these
    ids = torch.tensor([grpo.prompt_token_ids(tokenizer, dataset[0]["prompt"])[:48]])

    def logits():
        with torch.no_grad(), trainer.accelerator.autocast():
            return trainer.model(input_ids=ids).logits

    with_casts = logits()
    grpo.skip_lora_input_casts(trainer.model)
    layers = [m for m in trainer.model.modules() if hasattr(m, "cast_input_dtype_enabled")]
    assert layers and not any(layer.cast_input_dtype_enabled for layer in layers)
    assert torch.equal(logits(), with_casts)


def test_the_attention_kernel_of_model_args_is_the_one_the_trainer_loads(tmp_path, monkeypatch):
    trainer, _, _ = _tiny_trainer(tmp_path, monkeypatch, "+train.model_args.attn_implementation=eager")
    assert trainer.model.config._attn_implementation == "eager"  # sdpa where model_args leave it out


def test_the_model_time_benchmark_times_a_generation_batch_of_the_tiny_model(workdir, monkeypatch):
    """benchmarks/grpo_model_time.py's child on the tiny model: one generation batch of 4 completions (2 prompts x
    2), one micro-batch of 4, each part timed; its table row."""
    from benchmarks import grpo_model_time

    _data_and_model(workdir)
    row = grpo_model_time.measure(workdir / "params.yaml")
    assert (row["completions"], row["micro-batches"]) == (4, 1)
    assert row["old log-probs s"] > 0 and row["micro-batch s"] > 0
    assert row["model s"] == pytest.approx(row["old log-probs s"] + row["micro-batch s"])
    assert grpo_model_time.table([{"variant": "baseline", **row}]).splitlines()[2].startswith("| baseline | 4 |")


def test_the_rows_benchmark_times_a_generation_of_the_tiny_models_dataloader(workdir):
    """benchmarks/grpo_rows.py's child on the tiny model: one pull of 4 rows (the prompt and its instance)."""
    from benchmarks import grpo_rows

    _data_and_model(workdir)
    row = grpo_rows.measure(workdir / "params.yaml")
    assert (row["rows a pull"], row["pulls"], row["columns"]) == (4, 1, 2) and row["rows s"] > 0
    assert grpo_rows.table([{"variant": "baseline", **row}]).splitlines()[2].startswith("| baseline | 4 | 1 | 2 |")


def test_skipping_lora_input_casts_without_bf16_is_refused_in_one_line():
    train = load_params(REPO / "params.yaml").train.model_copy(update={"cast_lora_inputs": False})
    with pytest.raises(grpo.TrainSetupError) as caught:
        grpo.check_setup(train, cuda=True)
    assert str(caught.value).startswith("train.cast_lora_inputs: false needs bf16 autocast (train.grpo.bf16 true)")


@pytest.fixture
def vllm_stand_in(monkeypatch):
    """vllm is a GPU extra: a recorder stands where TRL's module holds vllm.LLM, and a vllm module with the
    engine arguments used here (vllm.EngineArgs is a dataclass)."""
    import dataclasses
    import sys
    import types

    from trl.generation import vllm_generation

    fields = ["model", "max_num_batched_tokens", "gpu_memory_utilization", "compilation_config"]
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(EngineArgs=dataclasses.make_dataclass("E", fields)))
    built = []
    monkeypatch.setattr(vllm_generation, "LLM", lambda **args: built.append(args), raising=False)
    return vllm_generation, built


def test_vllm_engine_args_reach_trls_colocated_engine_over_its_own(vllm_stand_in):
    """TRL builds the engine with vllm.LLM(**its args); within the build, train.vllm_engine's win, then TRL's
    name is back."""
    vllm_generation, built = vllm_stand_in
    trl_llm = vllm_generation.LLM
    engine = {"max_num_batched_tokens": 16384, "compilation_config": {"max_cudagraph_capture_size": 1024}}
    with grpo.colocated_engine_args(engine):
        vllm_generation.LLM(model="m", max_num_batched_tokens=4096, gpu_memory_utilization=0.3)
    assert built == [{"model": "m", "gpu_memory_utilization": 0.3, **engine}]
    assert vllm_generation.LLM is trl_llm


def test_an_unknown_vllm_engine_argument_is_refused_in_one_line(vllm_stand_in):
    with pytest.raises(grpo.TrainSetupError) as caught, grpo.colocated_engine_args({"max_num_batch_tokens": 1}):
        pass
    assert (
        str(caught.value) == "train.vllm_engine: max_num_batch_tokens is not a vLLM engine argument (vllm.EngineArgs)"
    )
