"""Several GPUs: the accelerate launch command, its params, the accelerate configs, vLLM tensor parallelism.

No test here has several GPUs: one runs the launcher for real, with one process on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file

from benchmarks.child import measure_in_child, variant_in_child
from benchmarks.grpo_generation import table as generation_table
from benchmarks.grpo_throughput import (
    GENERATE,
    NAMES,
    PROFILED,
    breakdown,
    completions_per_generation,
    machines_of,
    table,
    trl_timings,
    variant_name,
    variant_overrides,
)
from dayplan import launch
from dayplan.config import Params, ParamsError, compose, load_params
from dayplan.config import write_params as write_composed
from dayplan.inference import (
    ModelLoadError,
    check_tensor_parallel,
    check_vllm_engine_args,
    generate_vllm,
    tensor_parallel_sizes,
    vllm_llm_kwargs,
)

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = sorted((ROOT / "recipes/accelerate").glob("*.yaml"))
ZERO2 = "recipes/accelerate/zero2.yaml"
STAGE_ARGS = ["--start", "models/warmstart", "--data", "data/train.parquet", "--out", "models/grpo",
              "--live", "reports/train/live"]  # fmt: skip


def write_params(folder: Path, model: str = "tiny", **sections: dict) -> Path:
    """params.yaml composed for `model`, with some keys changed, e.g. train={"num_processes": 2}."""
    raw = compose([f"model={model}"])
    for section, values in sections.items():
        raw[section].update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def params_with(folder: Path, model: str = "tiny", **sections: dict) -> Params:
    return load_params(write_params(folder, model, **sections))


@pytest.fixture
def at_repo_root(monkeypatch):
    """Config paths are relative to the repository root, as in a DVC stage; no launcher variables around."""
    monkeypatch.chdir(ROOT)
    for name in launch.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# --- the command ---------------------------------------------------------------------------------------


def test_one_process_needs_no_launcher():
    params = load_params(ROOT / "params.yaml")
    assert params.train.num_processes == 1 and params.train.accelerate_config is None
    assert launch.launch_command(params.train, sys.executable, {}) is None


def test_two_processes_with_zero2_launch_accelerate(tmp_path, at_repo_root):
    # the reference configuration: conf/config.yaml as written (bf16)
    train = params_with(tmp_path, "qwen2.5-coder-7b", train={"num_processes": 2, "accelerate_config": ZERO2}).train
    command = launch.launch_command(train, "/env/bin/python", {})
    assert command[:4] == ["/env/bin/python", "-m", "accelerate.commands.accelerate_cli", "launch"]
    options = " ".join(command[4:])
    assert f"--config_file {ZERO2}" in options and "--num_processes 2" in options
    assert "--mixed_precision bf16" in options  # from train.grpo.bf16, whatever the config file says
    assert command[-2:] == ["-m", "stages.train"]


@pytest.mark.parametrize("variable", launch.LAUNCHER_VARIABLES)
def test_a_launched_process_trains_instead_of_launching_again(variable, tmp_path, at_repo_root):
    train = params_with(tmp_path, train={"num_processes": 2, "accelerate_config": ZERO2}).train
    assert launch.launch_command(train, sys.executable, {variable: "0"}) is None


def test_several_processes_without_a_config_is_a_one_line_params_error(tmp_path):
    with pytest.raises(ParamsError) as caught:
        params_with(tmp_path, train={"num_processes": 2})
    message = str(caught.value)
    assert "\n" not in message and "train" in message and "accelerate_config" in message


def test_a_missing_config_file_is_a_launch_error(tmp_path, at_repo_root):
    train = params_with(tmp_path, train={"num_processes": 2, "accelerate_config": "recipes/accelerate/nope.yaml"}).train
    with pytest.raises(
        launch.LaunchError, match="train.accelerate_config: recipes/accelerate/nope.yaml: file not found"
    ):
        launch.launch_command(train, sys.executable, {})


@pytest.mark.parametrize("values", [{"num_processes": 0}, {"vllm_server_port": 70000}, {"vllm_server_host": ""}])
def test_bad_scale_out_values_name_the_key(values, tmp_path):
    with pytest.raises(ParamsError, match=f"train.{next(iter(values))}"):
        params_with(tmp_path, train=values)


def test_fewer_gpus_than_processes_fails_in_one_line(tmp_path):
    train = params_with(tmp_path, train={"num_processes": 2, "accelerate_config": ZERO2}).train
    launch.check_gpus(train, 2)  # enough: no error
    with pytest.raises(launch.LaunchError, match="2 training processes need as many CUDA GPUs, 0 visible"):
        launch.check_gpus(train, 0)


@pytest.mark.parametrize(
    ("environ", "visible", "hidden"),
    [
        ({}, "0", None),  # unset: a one-GPU or CPU host does not notice
        ({"CUDA_VISIBLE_DEVICES": "1"}, "1", None),
        ({"CUDA_VISIBLE_DEVICES": "2,3,5"}, "2", "3,5"),
        ({"CUDA_VISIBLE_DEVICES": "GPU-a1,GPU-b2"}, "GPU-a1", "GPU-b2"),
        ({"CUDA_VISIBLE_DEVICES": ""}, "", None),  # no GPU stays no GPU
    ],
)
def test_the_warm_start_keeps_the_first_visible_gpu(environ, visible, hidden):
    assert launch.keep_first_gpu(environ) == hidden
    assert environ["CUDA_VISIBLE_DEVICES"] == visible


def test_a_launched_process_keeps_the_gpus_it_was_given():
    environ = {"LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "0,1"}
    assert launch.keep_first_gpu(environ) is None
    assert environ["CUDA_VISIBLE_DEVICES"] == "0,1"


# --- the train stage -----------------------------------------------------------------------------------


@pytest.fixture
def two_process_stage(tmp_path, monkeypatch, at_repo_root):
    """stages.train with num_processes 2 (zero2), os.execv captured instead of run; returns (module, execs)."""
    params_file = write_params(tmp_path, train={"num_processes": 2, "accelerate_config": ZERO2})
    monkeypatch.setenv("DAYPLAN_PARAMS", str(params_file))
    from stages import train as train_stage

    execs: list[list[str]] = []

    def fake_execv(path, argv):
        execs.append(argv)
        raise SystemExit(0)  # os.execv never returns

    monkeypatch.setattr(launch.os, "execv", fake_execv)
    return train_stage, execs


def test_train_stage_becomes_accelerate_launch(two_process_stage, monkeypatch, capsys):
    train_stage, execs = two_process_stage
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    with pytest.raises(SystemExit):
        train_stage.main(STAGE_ARGS)
    assert len(execs) == 1 and execs[0][0] == sys.executable
    assert execs[0][-2 - len(STAGE_ARGS) :] == ["-m", "stages.train", *STAGE_ARGS]  # each process gets the paths
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [f"train: launcher: accelerate, 2 processes: {' '.join(execs[0])}"]


def test_train_stage_without_gpus_exits_in_one_line(two_process_stage, monkeypatch):
    train_stage, execs = two_process_stage
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    with pytest.raises(SystemExit) as caught:
        train_stage.main(STAGE_ARGS)
    assert str(caught.value).startswith("error: params.yaml: train.num_processes: 2 training processes need")
    assert execs == []


def test_moving_the_vllm_server_resumes_but_more_processes_start_afresh(fingerprint_inputs):
    from dayplan import checkpoints

    model, data = fingerprint_inputs
    params = load_params(ROOT / "params.yaml")

    def digest(grpo_values=None, **train_values) -> str:
        grpo_args = {**params.train.grpo, **(grpo_values or {})}
        train = params.train.model_copy(update={**train_values, "grpo": grpo_args})
        return checkpoints.fingerprint(params.model_copy(update={"train": train}), model, data)

    assert digest({"vllm_server_host": "10.0.0.2", "vllm_server_port": 8001}) == digest()
    assert digest(num_processes=2, accelerate_config=ZERO2) != digest()


def test_can_resume_only_reads(tmp_path):
    from dayplan import checkpoints

    out = tmp_path / "grpo"
    assert checkpoints.can_resume(out, "a") is False and not out.exists()
    checkpoints.prepare_output(out, "a")
    (out / "checkpoint-1").mkdir()
    (out / "checkpoint-1/trainer_state.json").write_text("{}")
    assert checkpoints.can_resume(out, "a") is True
    assert checkpoints.can_resume(out, "b") is False and (out / "checkpoint-1").exists()


# --- accelerate configs --------------------------------------------------------------------------------


def test_the_accelerate_configs_are_kept():
    names = [path.name for path in ACCELERATE_CONFIGS]
    assert names == ["fsdp.yaml", "multi_gpu.yaml", "multi_node.yaml", "zero2.yaml", "zero3.yaml"]


def test_the_multi_node_config_names_the_main_machine():
    """Each machine passes its own --machine_rank; the file says how many machines and where rank 0 listens."""
    config = load_config_from_file(str(ROOT / "recipes/accelerate/multi_node.yaml"))
    assert (config.num_machines, config.main_process_ip, config.main_process_port) == (2, "127.0.0.1", 29555)


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda path: path.name)
def test_accelerate_config_parses_and_names_a_distributed_type(path):
    raw = yaml.safe_load(path.read_text())
    assert raw["distributed_type"] in ("MULTI_GPU", "DEEPSPEED", "FSDP")
    if path.stem.startswith("zero"):
        assert raw["deepspeed_config"]["zero_stage"] == int(path.stem[-1])
    # accelerate's own reader rejects unknown keys
    assert load_config_from_file(str(path)).distributed_type == raw["distributed_type"]


def test_accelerate_launch_runs_the_built_command_on_this_cpu(tmp_path):
    """The command launch_command builds, with one process and --cpu: the launcher starts the module, which
    sees a launcher variable (so the train stage would train, not launch again)."""
    (tmp_path / "launch_probe.py").write_text(
        "import os\nfrom dayplan.launch import under_launcher\nprint('under launcher:', under_launcher(os.environ))\n"
    )
    command = launch.accelerate_command(sys.executable, str(ROOT / ZERO2), 1, False, "launch_probe", "--cpu")
    env = {**launch_free_environ(), "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "under launcher: True" in result.stdout


def launch_free_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in launch.LAUNCHER_VARIABLES}


# --- vLLM tensor parallelism (evaluate) ----------------------------------------------------------------


def test_tensor_parallel_size_reaches_the_vllm_kwargs(tmp_path):
    assert load_params(ROOT / "params.yaml").evaluate.tensor_parallel_size == 1
    evaluate = params_with(tmp_path, evaluate={"tensor_parallel_size": 2}).evaluate
    kwargs = vllm_llm_kwargs("models/merged/epoch3", evaluate)
    assert kwargs["tensor_parallel_size"] == 2
    assert (kwargs["model"], kwargs["max_model_len"], kwargs["seed"]) == ("models/merged/epoch3", 2048, 0)


def test_enforce_eager_reaches_the_vllm_kwargs(tmp_path):
    assert vllm_llm_kwargs("models/base", load_params(ROOT / "params.yaml").evaluate)["enforce_eager"] is False
    evaluate = params_with(tmp_path, evaluate={"enforce_eager": True}).evaluate
    assert vllm_llm_kwargs("models/base", evaluate)["enforce_eager"] is True


def test_max_num_seqs_reaches_the_vllm_kwargs_only_when_set(tmp_path):
    assert "max_num_seqs" not in vllm_llm_kwargs("models/base", load_params(ROOT / "params.yaml").evaluate)
    evaluate = params_with(tmp_path, evaluate={"max_num_seqs": 512}).evaluate
    assert vllm_llm_kwargs("models/base", evaluate)["max_num_seqs"] == 512


def test_gpu_memory_utilization_reaches_the_vllm_kwargs(tmp_path):
    assert vllm_llm_kwargs("models/base", load_params(ROOT / "params.yaml").evaluate)["gpu_memory_utilization"] == 0.9
    evaluate = params_with(tmp_path, evaluate={"gpu_memory_utilization": 0.15}).evaluate
    assert vllm_llm_kwargs("models/base", evaluate)["gpu_memory_utilization"] == 0.15


def test_vllm_engine_args_reach_the_vllm_kwargs_over_dayplans(tmp_path):
    assert load_params(ROOT / "params.yaml").evaluate.vllm_engine == {}
    engine = {"max_num_seqs": 1024, "compilation_config": {"max_cudagraph_capture_size": 1024}}
    evaluate = params_with(tmp_path, evaluate={"max_num_seqs": 256, "vllm_engine": engine}).evaluate
    kwargs = vllm_llm_kwargs("models/base", evaluate)
    assert kwargs["max_num_seqs"] == 1024 and kwargs["compilation_config"] == engine["compilation_config"]


def test_an_unknown_vllm_engine_argument_is_one_line_before_any_engine(monkeypatch):
    """vllm is a GPU extra: a stand-in module holds EngineArgs (a dataclass, as vLLM's) with two of its fields."""
    engine_args = dataclasses.make_dataclass("EngineArgs", ["model", "max_num_batched_tokens"])
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(EngineArgs=engine_args))
    check_vllm_engine_args({"max_num_batched_tokens": 16384})
    with pytest.raises(ModelLoadError) as caught:
        check_vllm_engine_args({"max_num_batch_tokens": 16384})
    assert str(caught.value) == (
        "evaluate.vllm_engine: max_num_batch_tokens is not a vLLM engine argument (vllm.EngineArgs)"
    )


def test_generate_vllm_builds_its_engine_from_those_kwargs(tmp_path, monkeypatch):
    """A stand-in vllm module records what LLM(...) receives: no vLLM or GPU needed."""
    engines: list[dict] = []

    class FakeLLM:
        def __init__(self, **kwargs):
            engines.append(kwargs)

        def chat(self, conversations, sampling, **kwargs):
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text="done")]) for _ in conversations]

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = FakeLLM, lambda **kwargs: kwargs
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda *args: args
    for name, module in {
        "vllm": vllm,
        "vllm.lora": types.ModuleType("vllm.lora"),
        "vllm.lora.request": request,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("VLLM_WORKER_MULTIPROC_METHOD", "spawn")  # generate_vllm sets it; restored afterwards

    evaluate = params_with(tmp_path, evaluate={"tensor_parallel_size": 4}).evaluate
    settings = {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 8, "seed": 0, "decoding": "free"}
    texts = list(generate_vllm("models/base", [[{"role": "user", "content": "plan"}]], settings, evaluate))
    assert texts == ["done"]
    assert engines == [vllm_llm_kwargs("models/base", evaluate)] and engines[0]["tensor_parallel_size"] == 4


def test_a_tensor_parallel_size_that_splits_no_model_evenly_is_one_line_before_any_engine(tmp_path):
    """SmolLM2-135M's 9 heads (3 key-value): 3 GPUs serve it, 2 do not; a Hub id is left to vLLM."""
    (tmp_path / "config.json").write_text(json.dumps({"num_attention_heads": 9, "num_key_value_heads": 3}))
    models = {"warmstart": str(tmp_path), "baseline": "Qwen/Qwen2.5-Coder-14B-Instruct"}
    check_tensor_parallel(models, 3)
    with pytest.raises(
        ModelLoadError, match=r"=2 cannot split the 9 attention heads \(3 key-value\) of .*: use one of 1, 3, 9$"
    ):
        check_tensor_parallel(models, 2)


@pytest.mark.parametrize(
    ("heads", "kv_heads", "sizes"),
    [(9, 3, [1, 3, 9]), (28, 4, [1, 2, 4, 28]), (32, 8, [1, 2, 4, 8, 16, 32]), (12, 12, [1, 2, 3, 4, 6, 12])],
)
def test_tensor_parallel_sizes_split_the_heads_and_the_key_value_heads(heads, kv_heads, sizes):
    """SmolLM2-135M, Qwen2.5-Coder-7B, a Llama-like 8B, and a model without grouped key-value heads."""
    assert tensor_parallel_sizes(heads, kv_heads) == sizes


def test_tensor_parallel_size_below_one_is_rejected(tmp_path):
    with pytest.raises(ParamsError, match="evaluate.tensor_parallel_size"):
        params_with(tmp_path, evaluate={"tensor_parallel_size": 0})


# --- the throughput benchmark's variants ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_throughput_variant_composes_valid_params(name, tmp_path):
    """A variant's overrides are `dvc exp run -S` overrides: each composes into params the stages accept."""
    overrides = variant_overrides(name, "smollm2-135m-quality")
    write_composed(tmp_path / "params.yaml", ["model=smollm2-135m-quality", "train.rows=32", *overrides])
    train = load_params(tmp_path / "params.yaml").train
    assert train.rows == 32
    if name.endswith("-2"):
        assert train.num_processes == 2 and (ROOT / train.accelerate_config).is_file()
    # nodes-2 alone starts one launcher a machine, from its config's num_machines
    config = train.accelerate_config and str(ROOT / train.accelerate_config)
    assert machines_of(config) == (2 if name == "nodes-2" else 1)


@pytest.mark.parametrize("model", ["smollm2-135m-quality", "smollm2-135m-dpl-grpo"])
@pytest.mark.parametrize(
    ("name", "completions"),
    [
        ("baseline", 64),
        ("gen-x4", 256),
        ("prompts-x4", 256),
        ("prompts-x4-gen-x4", 1024),
        ("ddp-2", 128),
        ("micro-x2", 64),
        ("prompts-x4-gen-x4+micro-x2", 1024),
    ],
)
def test_tokens_count_each_generation_batch_once(model, name, completions, tmp_path):
    """64 completions a step in both recipes (32 x 2 and 8 x 8 micro-batches), one generation a step and a
    process; the scaled variants scale either recipe alike, and gen-x4's batch of 256 feeds 4 optimizer
    steps and is logged once."""
    write_composed(tmp_path / "params.yaml", [f"model={model}", *variant_overrides(name, model)])
    assert completions_per_generation(load_params(tmp_path / "params.yaml").train) == completions


def test_joined_variants_take_the_overrides_of_every_part(tmp_path):
    """prompts-x4-gen-x4+liger: the scaled batches (1,024 completions a generation) and Liger's loss."""
    name = variant_name("prompts-x4-gen-x4+liger")
    write_composed(
        tmp_path / "params.yaml", ["model=smollm2-135m-quality", *variant_overrides(name, "smollm2-135m-quality")]
    )
    train = load_params(tmp_path / "params.yaml").train
    assert train.grpo["use_liger_kernel"] is True and completions_per_generation(train) == 1024


def test_larger_micro_batches_keep_the_batches_with_half_the_passes(tmp_path):
    """micro-x2 on the quality recipe's 1,024 completions a generation: 16 passes of 64, not 32 of 32."""
    overrides = variant_overrides("prompts-x4-gen-x4+micro-x2", "smollm2-135m-quality")
    write_composed(tmp_path / "params.yaml", ["model=smollm2-135m-quality", *overrides])
    grpo = load_params(tmp_path / "params.yaml").train.grpo
    assert (grpo["per_device_train_batch_size"], grpo["gradient_accumulation_steps"]) == (64, 4)
    assert grpo["steps_per_generation"] == 16


def test_micro_batches_that_do_not_halve_are_refused(tmp_path):
    """tiny accumulates no micro-batches: micro-x2 has none to join, and its row says so."""
    with pytest.raises(ParamsError, match="micro-x2: tiny's micro-batches do not make 2x larger ones"):
        variant_overrides("micro-x2", "tiny")
    row, printed = variant_in_child("benchmarks.grpo_rows", "micro-x2", "tiny", 4, tmp_path)
    assert row == {"variant": "micro-x2", "error": "micro-x2: tiny's micro-batches do not make 2x larger ones"}
    assert printed == "" and not list(tmp_path.iterdir())  # refused before any child started


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("baseline+nope", "unknown variant 'nope'"),
        ("gen-x4+prompts-x4", "at most one of"),
        ("micro-x2+liger+micro-x2", "at most one of micro-x2"),
    ],
)
def test_a_variant_name_the_benchmark_cannot_run_is_refused(name, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        variant_name(name)


def test_a_child_that_fails_gives_its_last_error_line_as_the_row(tmp_path):
    """A benchmark's child that stops before its row: the variant's row holds its error, the log all it said."""
    row, printed = measure_in_child("benchmarks.grpo_model_time", "baseline", tmp_path / "missing.yaml", tmp_path)
    assert row["variant"] == "baseline" and "missing.yaml" in row["error"] and printed == ""
    assert "missing.yaml" in (tmp_path / "baseline.log").read_text()


def test_the_throughput_table_compares_every_variant_with_the_first():
    row = {"s/step": 5.0, "tokens/s/GPU": 0.0, "peak GiB": 50.0, "reward (last quarter)": 90.0}
    row |= {"generation share": 0.75, "generation tokens/s": 8000.0}
    results = [row | {"variant": "baseline", "tokens/s": 4000.0}, row | {"variant": "gen-x4", "tokens/s": 6000.0}]
    results.append({"variant": "liger", "error": "liger-kernel is not installed"})
    lines = table(results).splitlines()
    assert lines[3].startswith("| gen-x4 | 5.00 | 6,000 |") and "| 1.50x | 75% | 8,000 |" in lines[3]
    assert lines[4] == "| liger | failed: liger-kernel is not installed | | | | | | | |"


def test_the_variants_reward_curves_share_one_png_and_no_curve_writes_none(tmp_path):
    from dayplan.report_figures import plot_reward_curves

    curves = {"baseline": [(1, 48.4), (2, 52.0), (3, 57.2)], "no-lora-casts": [(1, 48.0), (2, 53.1)], "oom": []}
    assert plot_reward_curves(curves, tmp_path / "rewards.png")
    assert (tmp_path / "rewards.png").read_bytes().startswith(b"\x89PNG")
    assert not plot_reward_curves({"oom": []}, tmp_path / "none.png") and not (tmp_path / "none.png").exists()


@pytest.mark.parametrize("plot", ["rewards.txt", "figures.png"])
def test_the_throughput_benchmark_refuses_a_plot_that_is_no_png_file_before_running(tmp_path, monkeypatch, plot):
    from benchmarks import grpo_throughput

    (tmp_path / "figures.png").mkdir()  # a folder the plot would replace
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["grpo_throughput", "--plot", plot])
    with pytest.raises(SystemExit) as caught:
        grpo_throughput.main()
    assert str(caught.value) == f"error: --plot {plot}: expected a .png file path"
    assert (tmp_path / "figures.png").is_dir()


def test_trls_timings_are_summed_a_part_from_the_runs_mlflow_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)  # no fluent API: it would leave an active experiment for the tests after this one
    run = client.create_run(client.create_experiment("timings"))
    for step, seconds in enumerate([40.0, 2.5, 41.5]):  # as TRL logs them: one value a generate call
        client.log_metric(run.info.run_id, PROFILED + GENERATE, seconds, step=step)
    client.log_metric(run.info.run_id, "profiling/Time taken: GRPOTrainer.sync_weights", 9.0, step=0)
    client.log_metric(run.info.run_id, "reward", 50.0, step=0)
    (tmp_path / "mlflow_run.json").write_text(json.dumps({"run_id": run.info.run_id}))
    timings = trl_timings(tmp_path)
    assert timings == {"vLLM.generate": 84.0, "sync_weights": 9.0}
    lines = breakdown([{"variant": "a", "steps": 4, "timings": timings}, {"variant": "b", "error": "x"}]).splitlines()
    assert lines[0] == "| s/step in | a |" and lines[2:] == ["| sync_weights | 2.25 |", "| vLLM.generate | 21.00 |"]
    (tmp_path / "mlflow_run.json").write_text(json.dumps({"run_id": "untracked"}))
    assert trl_timings(tmp_path) == {}


def test_the_generation_table_compares_every_variant_with_the_first():
    row = {"completions": 1024, "longest": 768, "tokens": 400_000, "engine start s": 33.0}
    results = [row | {"variant": "prompts-x4-gen-x4", "seconds": 40.0, "tokens/s": 10_000.0}]
    results.append(row | {"variant": "prompts-x4-gen-x4+graphs-1024", "seconds": 25.0, "tokens/s": 16_000.0})
    results.append({"variant": "no-detok", "error": "CUDA out of memory"})
    lines = generation_table(results).splitlines()
    assert lines[3] == "| prompts-x4-gen-x4+graphs-1024 | 1024 | 768 | 400,000 | 25.0 | 16,000 | 1.60x | 33 |"
    assert lines[4] == "| no-detok | failed: CUDA out of memory | | | | | | |"
