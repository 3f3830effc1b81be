"""The wheelhouse's shared vocabulary: its manifest format, sizes in bytes, sha256 of files, its one-line error."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FORMAT = "dayplan-wheelhouse/1"
MANIFEST = "manifest.json"
MIN_PART_SIZE = 100_000  # bytes: room for a manifest and some data
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


class WheelhouseError(RuntimeError):
    """A user-facing failure: the message is one line."""


class NoMatchingVersion(WheelhouseError):
    """The index knows the project but has no wheel of a version the requirement allows (for the target)."""


def parse_size(text: str) -> int:
    """'56MiB' -> 58720256, '50MB' -> 50000000, '2GiB', '1000000' (bytes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in UNITS:
        raise WheelhouseError(f"size {text!r}: expected a number with an optional unit, e.g. 50MB or 56MiB")
    return int(float(match.group(1)) * UNITS[unit])


def human(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
