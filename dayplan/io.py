"""Atomic file and folder writes: a stage that dies half-way leaves the previous output or none.

A temporary sibling `.NAME.tmp-PID-XXXX` holds the new output until one rename replaces NAME. A process
killed with SIGKILL cannot remove its temporary (as large as a model), so the next write of NAME removes
the temporaries of processes that are gone.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

# a full disk or quota ends any stage with one line: nothing a caller could do would make room
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporaries of `path` left by writers that no longer run; returns what was removed."""
    prefix = _temp_prefix(path)
    removed = []
    for candidate in path.parent.glob(glob.escape(prefix) + "*"):
        pid = candidate.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def no_space_exits(path: str | Path) -> Iterator[None]:
    """Turn a full disk while writing `path` into a one-line exit naming it."""
    try:
        yield
    except OSError as error:
        if error.errno not in _NO_SPACE:
            raise
        raise SystemExit(f"error: {path}: {error.strerror} while writing; free some space and rerun") from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces `path` (file or folder) in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(path)}{os.getpid()}-", dir=path.parent)) / path.name
    try:
        with no_space_exits(path):
            yield tmp
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def parse_json_object(text: str, where: str) -> dict:
    """One JSON object; ValueError naming `where` for invalid JSON, another type, or too deep a nesting."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def read_jsonl(path: str | Path) -> list[dict]:
    """The JSON objects of a .jsonl file, one a line (blank lines skipped); errors say 'line N: ...'."""
    with open(path) as handle:
        return [parse_json_object(line, f"line {number}") for number, line in enumerate(handle, 1) if line.strip()]
