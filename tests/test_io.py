"""Atomic writes: temporaries of killed writers are removed by the next write; hostile JSONL is one line."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from dayplan import io

ROOT = Path(__file__).resolve().parents[1]

# a writer killed with SIGKILL half-way through an atomic write of OUT (argv[1])
KILLED_WRITER = """
import os, signal, sys
from dayplan.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "weights.bin").write_bytes(b"x" * 1000)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    out = tmp_path / "model"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], cwd=ROOT, check=False)
    assert killed.returncode == -9
    leftovers = list(tmp_path.glob(".model.tmp-*"))
    assert len(leftovers) == 1 and not out.exists()
    io.write_text(out, "new")
    assert out.read_text() == "new"
    assert list(tmp_path.glob(".model.tmp-*")) == []


def test_a_running_writers_temporary_is_kept(tmp_path):
    out = tmp_path / "out.txt"
    with io.atomic_path(out) as tmp:
        tmp.write_text("half")
        assert io.remove_stale_temps(out) == []  # this process is alive: its temporary stays
        assert tmp.exists()
    assert out.read_text() == "half"


def test_full_disk_is_one_line_and_keeps_the_previous_output(tmp_path):
    out = tmp_path / "metrics.json"
    out.write_text("old")
    with pytest.raises(SystemExit) as exit_info, io.atomic_path(out):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(exit_info.value) == f"error: {out}: No space left on device while writing; free some space and rerun"
    assert out.read_text() == "old" and list(tmp_path.iterdir()) == [out]


def test_other_write_errors_are_not_hidden(tmp_path):
    with pytest.raises(PermissionError), io.atomic_path(tmp_path / "x"):
        raise PermissionError(errno.EACCES, "denied")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
        ("{", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    ],
)
def test_hostile_jsonl_lines_are_one_line_errors(tmp_path, line, expected):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 0}\n' + line + "\n")
    with pytest.raises(ValueError, match=expected) as error:
        io.read_jsonl(path)
    assert str(error.value).startswith("line 2: ") and "\n" not in str(error.value)
