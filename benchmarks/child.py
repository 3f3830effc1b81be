"""A benchmark variant measured in a process of its own, so that its GPU memory (a vLLM engine's) goes with it.

The child is `python -m MODULE --measure PARAMS [OPTIONS]`; it prints its row last, as `print_row` does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

RESULT = "result: "  # the child's last line: its JSON row


def print_row(row: dict) -> None:
    print(RESULT + json.dumps(row), flush=True)


def measure_in_child(module: str, name: str, params: Path, folder: Path, *options: str) -> tuple[dict, str]:
    """The child's row for variant `name` (or the last line of its error), and what it printed before the row.
    Its whole output goes to folder/NAME.log."""
    command = [sys.executable, "-m", module, "--measure", str(params), *options]
    result = subprocess.run(command, capture_output=True, text=True)
    (folder / f"{name}.log").write_text(result.stdout + result.stderr)
    rows = [line.removeprefix(RESULT) for line in result.stdout.splitlines() if line.startswith(RESULT)]
    if result.returncode != 0 or not rows:
        return {"variant": name, "error": (result.stderr.strip().splitlines() or ["no output"])[-1][:120]}, ""
    return {"variant": name, **json.loads(rows[-1])}, result.stdout.split(RESULT)[0]


def variant_in_child(module: str, name: str, model: str, rows: int, folder: Path, extra: Sequence[str] = (),
                     options: Sequence[str] = ()) -> tuple[dict, str]:  # fmt: skip
    """measure_in_child for variant `name`, its params written first (`extra` overrides last); a variant the
    configuration refuses gets a row that says why, and the others run."""
    from benchmarks.grpo_throughput import write_variant_params
    from dayplan.config import ParamsError

    try:
        params = write_variant_params(name, model, rows, folder, extra)
    except ParamsError as error:
        return {"variant": name, "error": str(error)[:120]}, ""
    return measure_in_child(module, name, params, folder, *options)


def add_variant_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --rows and --variants (benchmarks/grpo_throughput.py's names), and the child's --measure."""
    from benchmarks.grpo_throughput import variant_name

    parser.add_argument("--model", default="smollm2-135m-quality", help="model configuration (conf/model/)")
    parser.add_argument("--rows", type=int, default=32, help="train prompts of the recipe's batch (x prompts-x4)")
    parser.add_argument("--variants", nargs="+", default=["baseline"], type=variant_name,
                        help="benchmarks/grpo_throughput.py's variants, joined by '+' or not")  # fmt: skip
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a child: one variant's params file


def run_variants(variants: list[str], run: Callable[[str, Path], dict], table: Callable[[list[dict]], str]) -> None:
    """Each variant's row from run(name, folder), printed against the first as it ends, then the whole table."""
    if not Path("models/warmstart").is_dir():
        sys.exit("error: models/warmstart not found: run `dvc repro warmstart` first")
    with tempfile.TemporaryDirectory(prefix="grpo-benchmark-") as temporary:
        results = []
        for name in variants:
            results.append(run(name, Path(temporary)))
            print(table(results).splitlines()[-1], flush=True)
    print(table(results))


def main(description: str, module: str, measure: Callable[[Path], dict], table: Callable[[list[dict]], str],
         extra: Sequence[str] = ()) -> None:  # fmt: skip
    """A benchmark's command line: each variant measured in a child (`python -m module --measure PARAMS`, whose
    row `measure` gives), the table printed as they end."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_variant_arguments(parser)
    args = parser.parse_args()
    if args.measure:
        print_row(measure(args.measure))
        return
    run_variants(args.variants, lambda name, folder: variant_in_child(module, name, args.model, args.rows, folder,
                                                                      extra)[0], table)  # fmt: skip
