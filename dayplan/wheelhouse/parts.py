"""Splitting wheels into part folders of at most a size, each with a manifest giving every file's sha256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from dayplan.wheelhouse.files import MANIFEST, MIN_PART_SIZE, WheelhouseError, sha256_file


@dataclass
class Piece:
    """A whole wheel, or one chunk of a wheel larger than a part."""

    wheel: Path
    offset: int
    size: int
    chunk: int = 0  # 1..chunks for a chunk
    chunks: int = 0

    @property
    def file(self) -> str:
        return f"{self.wheel.name}.{self.chunk:03d}" if self.chunks else self.wheel.name

    def entry(self, sha256: str = "0" * 64, wheel_sha256: str = "0" * 64) -> dict:
        entry = {"file": self.file, "size": self.size, "sha256": sha256}
        if self.chunks:
            entry.update(wheel=self.wheel.name, chunk=self.chunk, chunks=self.chunks)
            entry.update(wheel_size=self.wheel.stat().st_size, wheel_sha256=wheel_sha256)
        return entry


def _entry_line(entry: dict) -> str:
    return json.dumps(entry)


def _manifest_text(header: dict, entries: list[dict]) -> str:
    head = json.dumps({**header, "files": []})[:-3]  # '..., "files": ' + '['
    return head + "[\n" + ",\n".join(_entry_line(e) for e in entries) + "\n]}\n"


def plan_parts(wheels: list[Path], part_size: int | None, header: dict) -> list[list[Piece]]:
    """Pieces in parts (first fit, largest first), each part with its manifest at most `part_size` bytes."""
    if part_size is None:
        return [[Piece(w, 0, w.stat().st_size) for w in sorted(wheels, key=lambda w: w.name)]]
    overhead = len(_manifest_text({**header, "part": 10**6, "parts": 10**6}, []))
    pieces = []
    for wheel in wheels:
        size = wheel.stat().st_size
        whole = Piece(wheel, 0, size)
        if overhead + len(_entry_line(whole.entry())) + 2 + size <= part_size:
            pieces.append(whole)
            continue
        probe = Piece(wheel, 0, size, 999, 999)  # the largest entry a chunk of it can have
        room = part_size - overhead - len(_entry_line(probe.entry())) - 2
        if room < MIN_PART_SIZE // 2:
            raise WheelhouseError(f"part size {part_size} bytes is too small for the manifest and data")
        chunks = -(-size // room)
        pieces += [Piece(wheel, i * room, min(room, size - i * room), i + 1, chunks) for i in range(chunks)]
    parts: list[list[Piece]] = []
    used: list[int] = []
    for piece in sorted(pieces, key=lambda p: (-p.size, p.file)):
        cost = piece.size + len(_entry_line(piece.entry())) + 2
        for index, total in enumerate(used):
            if total + cost <= part_size:
                parts[index].append(piece)
                used[index] += cost
                break
        else:
            parts.append([piece])
            used.append(overhead + cost)
    return parts


def write_parts(parts: list[list[Piece]], out: Path, header: dict, part_size: int | None) -> list[Path]:
    digests = {}
    for piece in (p for part in parts for p in part):
        if piece.wheel not in digests:
            digests[piece.wheel] = sha256_file(piece.wheel)
    header = {**header, "build": hashlib.sha256("".join(sorted(digests.values())).encode()).hexdigest()[:16]}
    folders = []
    for number, part in enumerate(parts, start=1):
        folder = out / f"part{number}"
        folder.mkdir(parents=True)
        entries = []
        for piece in part:
            digest = hashlib.sha256()
            with open(piece.wheel, "rb") as source, open(folder / piece.file, "wb") as sink:
                source.seek(piece.offset)
                left = piece.size
                while left:
                    block = source.read(min(left, 1 << 20))
                    digest.update(block)
                    sink.write(block)
                    left -= len(block)
            entries.append(piece.entry(digest.hexdigest(), digests[piece.wheel]))
        text = _manifest_text({**header, "part": number, "parts": len(parts)}, entries)
        (folder / MANIFEST).write_text(text)
        total = sum(f.stat().st_size for f in folder.iterdir())
        if part_size is not None and total > part_size:  # plan_parts counted it: a bug if it happens
            raise WheelhouseError(f"internal error: {folder} holds {total} bytes, more than {part_size}")
        folders.append(folder)
    return folders
