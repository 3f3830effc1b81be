"""Warm-start: the SFT examples, the prompt masking, and the stage end to end on a tiny model."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from dayplan.config import ParamsError, load_params
from dayplan.data import draw_instance, instance_row, row_instance
from dayplan.dataset import write_split
from dayplan.modeling import build_tiny
from dayplan.task import chat_messages, solver_completion
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT / "dayplan" / "assets" / "smollm2-tokenizer"
STAGE_ARGS = ["--base", "models/base", "--pool", "data/pool.parquet", "--out", "models/warmstart",
              "--metrics", "reports/warmstart/metrics.json"]  # fmt: skip


def pool_rows(n: int, seed: int = 7) -> list[dict]:
    p = load_params(ROOT / "params.yaml").data
    rng = random.Random(seed)
    return [instance_row(draw_instance(rng, p)) for _ in range(n)]


def make_tiny(path: Path) -> Path:
    """A random 2-layer model with SmolLM2's vocabulary and the committed tokenizer (the base stage's own)."""
    build_tiny(path, seed=0)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("tiny") / "base")


def workdir(tmp_path: Path, tiny_model: Path, enabled: bool = True) -> Path:
    """A working dir like the repo's: params.yaml (model: tiny), models/base, data/pool.parquet."""
    tiny_params(tmp_path, f"warmstart.enabled={str(enabled).lower()}")
    (tmp_path / "models").mkdir()
    os.symlink(tiny_model, tmp_path / "models" / "base")
    write_split(tmp_path / "data" / "pool.parquet", pool_rows(8))
    return tmp_path


def run_stage(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAYPLAN_PARAMS": str(cwd / "params.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "stages.warmstart", *STAGE_ARGS],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sft_example_is_prompt_and_solver_completion():
    from dayplan.sft import sft_example

    row = pool_rows(1)[0]
    example = sft_example(row)
    assert example["prompt"] == chat_messages(row["prompt"])
    assert example["completion"] == [{"role": "assistant", "content": solver_completion(row_instance(row))}]
    dp = sft_example(row, "dp")["completion"][0]["content"]
    assert dp == solver_completion(row_instance(row), "dp") and dp != example["completion"][0]["content"]


def test_warmstart_trace_is_checked(tmp_path):
    assert load_params(tiny_params(tmp_path, "warmstart.trace=dp")).warmstart.trace == "dp"
    with pytest.raises(ParamsError, match="warmstart.trace"):
        load_params(tiny_params(tmp_path, "warmstart.trace=scratchpad"))


def test_split_rows_holds_out_the_last_rows():
    from dayplan.sft import EVAL_ROWS, split_rows

    rows = [{"i": i} for i in range(40)]
    train, held_out = split_rows(rows)
    assert train + held_out == rows and len(held_out) == EVAL_ROWS
    train, held_out = split_rows(rows[:8])
    assert len(train) == 6 and len(held_out) == 2


def test_fitting_examples_drops_rows_over_the_length_budget():
    from dayplan.sft import fitting_examples, load_tokenizer

    rows = pool_rows(3)
    tokenizer = load_tokenizer(TOKENIZER)
    examples, lengths = fitting_examples(rows, tokenizer, max_prompt_length=4096, max_length=4096, trace="conflicts")
    assert len(examples) == 3 and all(20 < n < 500 for n in lengths)
    assert fitting_examples(rows, tokenizer, max_prompt_length=50, max_length=4096, trace="conflicts") == ([], [])
    assert fitting_examples(rows, tokenizer, max_prompt_length=4096, max_length=200, trace="conflicts") == ([], [])


@pytest.mark.slow
def test_loss_covers_the_completion_only(tiny_model, tmp_path):
    from dayplan.sft import build_trainer, fitting_examples, load_model, load_tokenizer

    params = load_params(ROOT / "params.yaml")
    tokenizer = load_tokenizer(tiny_model)
    examples, _ = fitting_examples(pool_rows(2), tokenizer, 4096, 4096, "conflicts")
    trainer = build_trainer(load_model(tiny_model), tokenizer, examples, params.warmstart, tmp_path)
    for example, tokenized in zip(examples, trainer.train_dataset):
        prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
        completion_start = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        labels = tokenized["labels"]
        assert all(label == -100 for label in labels[:completion_start])
        trained = tokenizer.decode([t for t in labels[completion_start:] if t != -100])
        assert all(label != -100 for label in labels[completion_start:])
        assert trained == example["completion"][0]["content"] + "<|im_end|>\n"


@pytest.mark.slow
def test_stage_writes_a_loadable_merged_model_log_and_metrics(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cwd = workdir(tmp_path, tiny_model)
    result = run_stage(cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warmstart:" in result.stdout
    out = cwd / "models" / "warmstart"
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged, not an adapter
    assert AutoTokenizer.from_pretrained(out).pad_token == "<|im_end|>"
    log = json.loads((out / "warmstart_log.json").read_text())
    losses = [entry for entry in log if "loss" in entry]
    assert losses and all({"step", "loss", "learning_rate"} <= set(entry) for entry in losses)
    metrics = json.loads((cwd / "reports" / "warmstart" / "metrics.json").read_text())
    assert metrics["enabled"] is True and metrics["eval_rows"] == 2
    assert metrics["examples"] + metrics["dropped_too_long"] == 6 and metrics["examples"] >= 1
    assert metrics["steps"] == len(losses) and 0 <= metrics["format_rate"] <= 1
    assert metrics["final_loss"] > 0 and metrics["runtime_s"] > 0
    assert not list(cwd.glob("models/.warmstart*"))  # the atomic write left no temp folder


def test_stage_disabled_writes_skipped_marker(tiny_model, tmp_path):
    cwd = workdir(tmp_path, tiny_model, enabled=False)
    result = run_stage(cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    marker = json.loads((cwd / "models" / "warmstart" / "SKIPPED.json").read_text())
    assert marker == {"base": "models/base", "reason": "warmstart.enabled is false"}
    assert json.loads((cwd / "reports" / "warmstart" / "metrics.json").read_text()) == {"enabled": False}


def test_stage_without_pool_exits_with_one_line_error(tiny_model, tmp_path):
    cwd = workdir(tmp_path, tiny_model)
    (cwd / "data" / "pool.parquet").unlink()
    result = run_stage(cwd)
    assert result.returncode != 0
    assert result.stderr.startswith("error: data/pool.parquet") and "Traceback" not in result.stderr
