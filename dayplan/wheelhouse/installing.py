"""`install` (standard library only): check the parts, rejoin chunked wheels, pip install them offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dayplan.wheelhouse.files import FORMAT, MANIFEST, WheelhouseError, human, sha256_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def find_parts(paths: Iterable[Path]) -> list[tuple[Path, dict]]:
    """The parts named (folders with a manifest.json, or folders of such folders), all of one build."""
    found: dict[int, tuple[Path, dict]] = {}
    for path in paths:
        folders = [path] if (path / MANIFEST).is_file() else sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
        if not folders:
            raise WheelhouseError(f"{path}: no {MANIFEST} in it or its sub-folders: not a wheelhouse part")
        for folder in folders:
            try:
                manifest = json.loads((folder / MANIFEST).read_text())
            except ValueError as error:
                raise WheelhouseError(f"{folder / MANIFEST}: not valid JSON ({error}): copy this part again") from None
            if manifest.get("format") != FORMAT:
                raise WheelhouseError(f"{folder / MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT}")
            found[manifest["part"]] = (folder, manifest)
    builds = {manifest["build"] for _, manifest in found.values()}
    if len(builds) > 1:
        raise WheelhouseError(f"the parts come from {len(builds)} different builds ({', '.join(sorted(builds))})")
    expected = next(iter(found.values()))[1]["parts"]
    missing = sorted(set(range(1, expected + 1)) - set(found))
    if missing:
        raise WheelhouseError(f"part {', '.join(map(str, missing))} of {expected} missing: pass every part")
    return [found[number] for number in sorted(found)]


def _link_or_copy(source: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)  # no second copy of a large wheelhouse where the file system allows
    except OSError:
        shutil.copyfile(source, dest)


def _scratch(beside: Path) -> tempfile.TemporaryDirectory:
    """A temporary folder beside the parts (one file system: hard links), else in the system's temporary folder."""
    try:
        return tempfile.TemporaryDirectory(prefix=".wheelhouse-", dir=beside)
    except OSError:
        return tempfile.TemporaryDirectory(prefix="wheelhouse-")


def verify(parts: list[tuple[Path, dict]], dest: Path, say: Callable[[str], None] = print) -> list[Path]:
    """Every file against its manifest; whole wheels and rejoined chunks into dest, each checked."""
    chunks: dict[str, list[tuple[dict, Path]]] = {}
    wheels = []
    for folder, manifest in parts:
        for entry in manifest["files"]:
            path = folder / entry["file"]
            if not path.is_file():
                raise WheelhouseError(f"{path}: missing: copy part {manifest['part']} again")
            if path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
                raise WheelhouseError(f"{path}: sha256 mismatch (a corrupted copy): copy part {manifest['part']} again")
            if "chunk" in entry:
                chunks.setdefault(entry["wheel"], []).append((entry, path))
                continue
            _link_or_copy(path, dest / entry["file"])
            wheels.append(dest / entry["file"])
            say(f"  ok {entry['file']} ({human(entry['size'])})")
    for name, pieces in sorted(chunks.items()):
        pieces.sort(key=lambda item: item[0]["chunk"])
        first = pieces[0][0]
        if [entry["chunk"] for entry, _ in pieces] != list(range(1, first["chunks"] + 1)):
            raise WheelhouseError(f"{name}: chunks {[e['chunk'] for e, _ in pieces]} of {first['chunks']}")
        with open(dest / name, "wb") as sink:
            for _, path in pieces:
                with open(path, "rb") as source:
                    shutil.copyfileobj(source, sink, 1 << 20)
        if sha256_file(dest / name) != first["wheel_sha256"]:
            raise WheelhouseError(f"{name}: the rejoined wheel's sha256 is wrong: copy its parts again")
        wheels.append(dest / name)
        say(f"  ok {name} ({human(first['wheel_size'])}, rejoined from {len(pieces)} chunks)")
    return sorted(wheels)


def install(
    paths: list[Path],
    *,
    target: Path | None = None,
    dry_run: bool = False,
    keep_wheels: Path | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Checks and rejoins the parts, then pip installs the wheels; returns pip's exit status."""
    parts = find_parts(paths)
    manifest = parts[0][1]
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if ".".join(manifest["python"].split(".")[:2]) != here:
        raise WheelhouseError(f"the wheelhouse is for Python {manifest['python']}, this is {here}: use that Python")
    target_text = f"CPython {manifest['python']} on {', '.join(manifest['platforms'])}"
    say(f"wheelhouse {manifest['build']}: {len(parts)} part{'s' * (len(parts) > 1)} for {target_text}")
    with _scratch(parts[0][0].parent) as temporary:
        dest = keep_wheels or Path(temporary)
        dest.mkdir(parents=True, exist_ok=True)
        wheels = verify(parts, dest, say)
        command = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(dest), "--no-deps"]
        if target is not None:
            command += ["--target", str(target), "--upgrade"]
        if dry_run:
            command += ["--dry-run"]
        command += [str(w) for w in wheels]
        say(
            f"{len(wheels)} wheels checked; {'dry run: ' if dry_run else ''}pip install --no-index --no-deps"
            + (f" --target {target}" if target else "")
        )
        return subprocess.run(command).returncode
