"""A benchmark variant measured in a process of its own, so that its GPU memory (a vLLM engine's) goes with it.

The child is `python -m MODULE --measure PARAMS [OPTIONS]`; it prints its row last, as `print_row` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
