"""Offline install: a wheelhouse built here for another host's Python and platform, installed there without a network.

    # where PyPI answers: the packages and their dependencies, as wheels for the target
    python -m dayplan.wheelhouse build '.[gpu]' trl==1.16.0 --python 3.12 --platform manylinux_2_28_x86_64 \\
        --have target-freeze.txt --constraint pins.txt --part-size 50MB --out wheelhouse/
    # on the target, after copying the parts over (wheelhouse/part1, part2, ...)
    python -m dayplan.wheelhouse install wheelhouse/              # or: install part1 part2 ...
    python -m dayplan.wheelhouse install wheelhouse/ --target /opt/site   # no venv: then PYTHONPATH=/opt/site

build walks the dependencies from each wheel's METADATA (Requires-Dist, with the markers evaluated for the
target's Python and platform and the extras asked for) and fetches every wheel with
`pip download --no-deps --only-binary=:all: --python-version X --implementation cp --platform P`:
pip picks the newest version that satisfies what the walk asks for, one version per package.

- `--have FILE`: what the target has installed (its `pip freeze`): a requirement that an installed version
  satisfies is skipped with its dependencies; one that it does not satisfy is fetched.
- `--constraint FILE`: requirement lines that override what dependencies ask for a package (its version
  specifier replaces theirs, its extras are added), e.g. `apache-tvm-ffi==0.1.11` where one dependency pins
  0.1.10 and another needs >=0.1.11. A constraint adds no package by itself: name it to add it.
- `--exclude NAME`: a package (glob: 'nvidia-*') never fetched, nor its dependencies, even where required.
- A requirement may be a local project, `.[gpu]` or `path/to/project`: its pyproject.toml's dependencies
  (and those of the extras named) are walked, the project itself is not fetched.
- `--part-size`: the wheelhouse is split into folders part1, part2, ... each at most that size, its
  manifest.json included; a larger wheel is cut into byte chunks that install rejoins. Each manifest
  gives every file's sha256.

install (standard library only: the target needs no package for it) checks every file's sha256, that every
part of the build is there, rejoins the chunked wheels, checks them, and runs
`pip install --no-index --find-links DIR --no-deps` on the wheels: the wheelhouse already is the resolved
set (what the target has, plus what build fetched), so pip resolves nothing. `--target DIR` installs into a
folder (for a host without a virtual environment), `--dry-run` checks everything and runs pip's dry run,
`--keep-wheels DIR` keeps the rejoined wheels there.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # build needs packaging; install runs on the standard library alone
    from collections.abc import Callable, Iterable

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

FORMAT = "dayplan-wheelhouse/1"
MANIFEST = "manifest.json"
MIN_PART_SIZE = 100_000  # bytes: room for a manifest and some data
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


class WheelhouseError(RuntimeError):
    """A user-facing failure: the message is one line."""


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


# --- the target -------------------------------------------------------------------------------------------


def expand_platform(platform: str) -> list[str]:
    """pip takes only exact platform tags: manylinux_2_28_x86_64 also accepts the older manylinux wheels."""
    match = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform) or re.fullmatch(r"manylinux(2014)_(\w+)", platform)
    if match:
        glibc = 17 if match.group(1) == "2014" else int(match.group(1))
        arch = match.group(2)
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        tags = []
        for minor in range(glibc, 4, -1):
            tags.append(f"manylinux_2_{minor}_{arch}")
            if minor == 17 or (minor in legacy and arch in ("x86_64", "i686")):
                tags.append(f"{legacy[minor]}_{arch}")
        return tags
    match = re.fullmatch(r"musllinux_1_(\d+)_(\w+)", platform)
    if match:
        return [f"musllinux_1_{minor}_{match.group(2)}" for minor in range(int(match.group(1)), 0, -1)]
    return [platform]  # pip expands macosx_* itself; win_amd64, any, ... are exact


def marker_environment(python: str, platform: str) -> dict[str, str]:
    """The values of PEP 508 markers on a CPython `python` (3.12 or 3.12.4) host with wheels for `platform`."""
    parts = python.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise WheelhouseError(f"--python {python!r}: expected a version such as 3.12")
    full = ".".join((parts + ["0"])[:3])
    if platform.startswith(("manylinux", "musllinux", "linux")):
        system, sys_platform, os_name = "Linux", "linux", "posix"
    elif platform.startswith("macosx"):
        system, sys_platform, os_name = "Darwin", "darwin", "posix"
    elif platform.startswith("win"):
        system, sys_platform, os_name = "Windows", "win32", "nt"
    else:
        raise WheelhouseError(f"--platform {platform!r}: expected a wheel platform tag, e.g. manylinux_2_28_x86_64")
    machine = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}.get(platform)
    if machine is None:
        machine = re.sub(r"^(manylinux\d*|musllinux|linux|macosx)(_\d+)*_", "", platform)
        machine = {"universal2": "arm64", "intel": "x86_64"}.get(machine, machine)
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": os_name,
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(parts[:2]),
        "sys_platform": sys_platform,
    }


def read_have(path: Path) -> dict[str, str | None]:
    """A target's installed packages: `pip freeze` (name==version, name @ url) or `pip list` (name version)."""
    from packaging.utils import canonicalize_name

    have: dict[str, str | None] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-") or set(line) <= {"-", " "} or line.split()[:2] == ["Package", "Version"]:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:===?\s*(\S+)|\s+(\S+)|\s*@\s*\S.*)?", line)
        if not match:
            raise WheelhouseError(f"{path}:{number}: {raw.strip()!r} is not `name==version` (pip freeze's format)")
        have[canonicalize_name(match.group(1))] = match.group(2) or match.group(3)
    return have


def read_requirement_lines(path: Path, what: str) -> list[Requirement]:
    from packaging.requirements import InvalidRequirement, Requirement

    found = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            try:
                found.append(Requirement(line))
            except InvalidRequirement as error:
                raise WheelhouseError(f"{path}:{number}: not a {what} line: {line!r} ({error})") from None
    return found


def local_project(text: str) -> list[Requirement] | None:
    """'.[gpu]' or 'path/to/project': the requirements in its pyproject.toml; None if `text` names no project."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    match = re.fullmatch(r"(.+?)(?:\[([^\]]*)\])?", text.strip())
    folder = Path(match.group(1))
    if not (text.startswith((".", "/", "~")) or os.sep in match.group(1)):
        return None
    pyproject = folder.expanduser() / "pyproject.toml"
    if not pyproject.is_file():
        raise WheelhouseError(f"{text}: no pyproject.toml in {folder}: not a local project")
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    if "dependencies" in project.get("dynamic", []):
        raise WheelhouseError(f"{pyproject}: its dependencies are dynamic: list them as requirements instead")
    optional = project.get("optional-dependencies", {})
    own = canonicalize_name(project.get("name", ""))
    wanted = [extra.strip() for extra in (match.group(2) or "").split(",") if extra.strip()]
    found, seen = [], set()
    lines = list(project.get("dependencies", []))
    while True:
        for line in lines:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == own:  # e.g. all = ["dayplan[gpu,dev]"]
                wanted += sorted(requirement.extras)
            else:
                found.append(requirement)
        wanted = [extra for extra in wanted if extra not in seen]
        if not wanted:
            return found
        extra = wanted.pop(0)
        seen.add(extra)
        if extra not in optional:
            raise WheelhouseError(f"{text}: {pyproject} has no extra {extra!r} (it has {sorted(optional)})")
        lines = optional[extra]


# --- wheels -----------------------------------------------------------------------------------------------


@dataclass
class Metadata:
    name: str
    version: str
    requires: list[str]


def read_metadata(wheel: Path) -> Metadata:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            raise WheelhouseError(f"{wheel.name}: no .dist-info/METADATA in it: not a wheel")
        headers = HeaderParser().parsestr(archive.read(names[0]).decode("utf-8"))
    return Metadata(headers["Name"], headers["Version"], headers.get_all("Requires-Dist") or [])


@dataclass
class Target:
    python: str
    platforms: list[str]

    @property
    def description(self) -> str:
        return f"CPython {self.python} on {', '.join(self.platforms)}"


class PipFetcher:
    """One wheel at a time, no dependencies: `pip download` for the target into `dest`."""

    def __init__(self, dest: Path, target: Target, pip_options: list[str] | None = None):
        self.dest, self.target, self.pip_options = dest, target, pip_options or []
        platforms = [tag for platform in target.platforms for tag in expand_platform(platform)]
        self.command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        self.command += ["--python-version", target.python, "--implementation", "cp", "-d", str(dest)]
        self.command += [arg for tag in dict.fromkeys(platforms) for arg in ("--platform", tag)]
        self.command += self.pip_options

    def __call__(self, name: str, requirement: str) -> Path:
        from packaging.utils import canonicalize_name

        self.dest.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([*self.command, requirement], capture_output=True, text=True)
        if result.returncode:
            raise WheelhouseError(self.explain(name, requirement, result.stdout + result.stderr))
        # "Saved DEST/x.whl" or "File was already downloaded DEST/x.whl"
        files = re.findall(r"(?:Saved|already downloaded) (\S+\.whl)", result.stdout)
        paths = [self.dest / Path(f).name for f in files]
        paths = [p for p in paths if p.exists() and canonicalize_name(p.name.split("-")[0]) == name]
        if not paths:
            raise WheelhouseError(f"pip download {requirement}: no wheel of {name} came (pip said: {result.stdout!r})")
        return paths[0]

    def explain(self, name: str, requirement: str, output: str) -> str:
        """Why pip found nothing, from its verbose output: unknown package, no wheel for the target, no version."""
        from packaging.requirements import Requirement

        verbose = subprocess.run([*self.command, "-vv", requirement], capture_output=True, text=True)
        detail = verbose.stdout + verbose.stderr
        specifier = Requirement(requirement).specifier
        # wheels of matching versions that pip refused for their tags: what the target would need instead
        other_tags = []
        for tags, filename in re.findall(r"none of the wheel's tags \(([^)]*)\).*?([^/\s]+\.whl)", detail):
            version = filename.split("-")[1] if filename.count("-") >= 4 else ""
            try:
                matches = specifier.contains(version, prereleases=True)
            except ValueError:  # an odd file name
                matches = False
            if matches:
                other_tags += [tag for tag in tags.split(", ") if tag not in other_tags]
        if other_tags:
            platform = self.target.platforms[0]
            family = platform.split("_")[0].rstrip("0123456789")
            arch = re.sub(r"^[a-z]+\d*(_\d+)*_", "", platform)  # manylinux_2_28_x86_64 -> x86_64
            abis = {"cp" + self.target.python.replace(".", "")[:3], "abi3", "none"}

            def likeness(tag: str) -> tuple:  # the tags closest to the target first
                _, abi, platform_tag = (tag.split("-", 2) + ["", ""])[:3]
                return (family not in platform_tag) + (not platform_tag.endswith(arch)), abi not in abis, tag

            shown = sorted(other_tags, key=likeness)[:4]
            return (
                f"no wheel of {requirement} for {self.target.description}: its wheels are for "
                f"{', '.join(shown)}{', ...' if len(other_tags) > 4 else ''} (another --platform or --python?)"
            )
        versions = re.search(r"\(from versions: ([^)]*)\)", output + detail)
        listed = versions.group(1) if versions else "none"
        if listed != "none":
            shown = listed.split(", ")
            shown = ", ".join(shown) if len(shown) <= 8 else "..., " + ", ".join(shown[-8:])
            return f"no version of {name} matches {requirement!r} for {self.target.description} (wheels: {shown})"
        if "No sources permitted" in detail:
            return f"{name} publishes no wheel (source only): build one (pip wheel {requirement}), add --find-links"
        if "Could not find a version" in output:
            return f"unknown package {name!r}: the index has no such project"
        error = [line for line in output.splitlines() if line.startswith("ERROR")]
        return f"pip download {requirement} failed: {error[-1] if error else output.strip()[-300:]}"


# --- the dependency walk ----------------------------------------------------------------------------------


@dataclass
class Pick:
    name: str  # canonical
    version: str
    wheel: Path | None  # None: the target has it
    extras: set[str]
    fetched_with: SpecifierSet
    metadata: Metadata | None = None
    asked_by: list[str] = field(default_factory=list)


class _Restart(Exception):
    def __init__(self, name: str, specifier: SpecifierSet):
        self.name, self.specifier = name, specifier


def _satisfies(version: str | None, specifier: SpecifierSet) -> bool:
    """An installed version (None: unknown) meets the specifier; an unknown one meets only 'any version'."""
    return specifier.contains(version, prereleases=True) if version else not specifier


def _excluded(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, re.sub(r"[-_.]+", "-", p.lower())) for p in patterns)


class Resolver:
    """The walk: requirements -> one wheel per package the target lacks (breadth first, restarted when a
    later requirement rules out a version already chosen, with the two specifiers joined)."""

    def __init__(
        self,
        fetch: Callable[[str, str], Path],
        env: dict[str, str],
        have: dict[str, str | None] | None = None,
        constraints: Iterable[Requirement] = (),
        exclude: Iterable[str] = (),
        say: Callable[[str], None] = print,
        jobs: int = 1,
    ):
        from packaging.utils import canonicalize_name

        self.fetch, self.env, self.have, self.say, self.jobs = fetch, env, have or {}, say, jobs
        self.pool: ThreadPoolExecutor | None = None
        self.constraints = {canonicalize_name(c.name): c for c in constraints if self._applies(c)}
        self.exclude = list(exclude)
        self.learned: dict[str, SpecifierSet] = {}
        # (name, specifier) -> wheel, across restarts; a Future while a prefetch is under way
        self.fetched: dict[tuple[str, str], Path | Future] = {}
        self.asks: dict[str, dict[str, str]] = {}  # name -> who asked -> specifier, across restarts
        self.said: set[str] = set()

    def _applies(self, requirement: Requirement, extras: Iterable[str] = ("",)) -> bool:
        marker = requirement.marker
        return marker is None or any(marker.evaluate({**self.env, "extra": extra}) for extra in extras)

    def _once(self, line: str) -> None:
        if line not in self.said:
            self.said.add(line)
            self.say(line)

    def resolve(self, requirements: list[Requirement]) -> list[Pick]:
        self.pool = ThreadPoolExecutor(self.jobs) if self.jobs > 1 else None
        try:
            for _ in range(200):
                try:
                    return self._walk(requirements)
                except _Restart as restart:
                    self.learned[restart.name] = restart.specifier
            raise WheelhouseError("the versions did not settle after 200 restarts: pin them with --constraint")
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def _wanted(self, requirement: Requirement) -> tuple[str, SpecifierSet, SpecifierSet, set[str]] | None:
        """Name, specifier asked (a constraint's replaces the requirement's), the same joined with what the
        earlier walks learned, and extras; None if excluded."""
        from packaging.specifiers import SpecifierSet
        from packaging.utils import canonicalize_name

        name = canonicalize_name(requirement.name)
        if _excluded(name, self.exclude):
            return None
        override = self.constraints.get(name)
        specifier = override.specifier if override is not None else requirement.specifier
        extras = {canonicalize_name(e) for e in requirement.extras}
        extras |= {canonicalize_name(e) for e in override.extras} if override is not None else set()
        return name, specifier, specifier & self.learned.get(name, SpecifierSet()), extras

    def _prefetch(self, requirement: Requirement, picks: dict[str, Pick]) -> None:
        """Start fetching what the walk will ask for, in the background (--jobs)."""
        wanted = self._wanted(requirement) if self.pool is not None else None
        if wanted is None:
            return
        name, _, specifier, _ = wanted
        key = (name, str(specifier))
        if name in picks or key in self.fetched or (name in self.have and _satisfies(self.have[name], specifier)):
            return
        self.fetched[key] = self.pool.submit(self.fetch, name, f"{requirement.name}{specifier}")

    def _fetch(self, name: str, requirement: Requirement, specifier: SpecifierSet) -> Path:
        key = (name, str(specifier))
        if not isinstance(self.fetched.get(key), Path):
            try:
                pending = self.fetched.get(key)
                if pending is None:
                    self.fetched[key] = self.fetch(name, f"{requirement.name}{specifier}")
                else:
                    self.fetched[key] = pending.result()
            except WheelhouseError as error:
                asks = self.asks.get(name, {})
                if len({s for s in asks.values() if s}) > 1 and str(error).startswith("no version"):
                    said = "; ".join(f"{by} asks {spec or 'any'}" for by, spec in asks.items())
                    raise WheelhouseError(
                        f"conflicting requirements for {name} ({said}): choose one with a --constraint line"
                    ) from None
                raise
        return self.fetched[key]

    def _dependencies(self, pick: Pick, extras: set[str], base: bool) -> list[Requirement]:
        """Requires-Dist lines of `pick` for the target: the base ones if `base`, and those of `extras`."""
        from packaging.requirements import Requirement

        found = []
        for line in pick.metadata.requires if pick.metadata else []:
            requirement = Requirement(line)
            in_base = self._applies(requirement)
            if (base and in_base) or (not in_base and extras and self._applies(requirement, sorted(extras))):
                found.append(requirement)
        return found

    def _installed_metadata(self, pick: Pick, requirement: Requirement) -> Metadata:
        """The METADATA of the version the target has (of the newest where its version is unknown)."""
        from packaging.specifiers import SpecifierSet

        public = pick.version.split("+")[0]
        return read_metadata(self._fetch(pick.name, requirement, SpecifierSet(f"=={public}" if public else "")))

    def _walk(self, requirements: list[Requirement]) -> list[Pick]:
        from packaging.specifiers import SpecifierSet
        from packaging.utils import canonicalize_name

        picks: dict[str, Pick] = {}
        queue = deque((r, "requested") for r in requirements if self._applies(r))
        for requirement, _ in queue:
            self._prefetch(requirement, picks)
        for requirement in requirements:
            if not self._applies(requirement):
                self._once(f"  . {requirement}: not for this target (marker)")
        while queue:
            requirement, by = queue.popleft()
            found = self._wanted(requirement)
            if found is None:
                self._once(f"  - {canonicalize_name(requirement.name)}: excluded (<- {by})")
                continue
            name, specifier, wanted, extras = found
            self.asks.setdefault(name, {})[by] = str(specifier)
            pick = picks.get(name)
            if pick is not None:
                pick.asked_by.append(by)
                if not _satisfies(pick.version or None, specifier):
                    joined = pick.fetched_with & specifier if pick.wheel else specifier
                    raise _Restart(name, joined & self.learned.get(name, SpecifierSet()))
                new = extras - pick.extras
                if new:
                    pick.extras |= new
                    if pick.metadata is None:  # installed on the target, first asked without these extras
                        pick.metadata = self._installed_metadata(pick, requirement)
                    queue.extend(
                        (r, f"{pick.name}[{','.join(sorted(new))}]") for r in self._dependencies(pick, new, False)
                    )
                continue
            installed = self.have.get(name)
            if name in self.have and _satisfies(installed, wanted):
                pick = Pick(name, installed or "", None, extras, wanted, asked_by=[by])
                picks[name] = pick
                self._once(f"  = {' '.join(filter(None, (name, installed)))}: the target has it")
                if extras:  # its extras may need what the target lacks
                    pick.metadata = self._installed_metadata(pick, requirement)
                    queue.extend(
                        (r, f"{name}[{','.join(sorted(extras))}]") for r in self._dependencies(pick, extras, False)
                    )
                continue
            if name in self.have:
                self._once(f"  ! {name}: the target has {installed or 'an unversioned build'}, {by} asks {wanted}")
            wheel = self._fetch(name, requirement, wanted)
            metadata = read_metadata(wheel)
            pick = Pick(name, metadata.version, wheel, extras, wanted, metadata, [by])
            picks[name] = pick
            self._once(f"  + {metadata.name} {metadata.version} ({human(wheel.stat().st_size)}) <- {by}")
            label = f"{metadata.name} {metadata.version}"
            for dependency in self._dependencies(pick, extras, True):
                queue.append((dependency, label))
                self._prefetch(dependency, picks)
        return sorted(picks.values(), key=lambda p: p.name)


# --- parts ------------------------------------------------------------------------------------------------


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


def build(
    requirements: list[str],
    out: Path,
    target: Target,
    *,
    have: Path | None = None,
    constraints: Iterable[Path] = (),
    exclude: Iterable[str] = (),
    part_size: int | None = None,
    pip_options: list[str] | None = None,
    jobs: int = 1,
    fetch: Callable[[str, str], Path] | None = None,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """The wheelhouse in out/part1, out/part2, ...; returns the part folders."""
    from packaging.requirements import InvalidRequirement, Requirement

    if part_size is not None and part_size < MIN_PART_SIZE:
        raise WheelhouseError(f"part size {part_size} bytes is too small: at least {MIN_PART_SIZE} (100kB)")
    env = marker_environment(target.python, target.platforms[0])
    parsed = []
    for text in requirements:
        project = local_project(text)
        if project is not None:
            say(f"{text}: {len(project)} requirements from its pyproject.toml")
            parsed += project
            continue
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as error:
            raise WheelhouseError(f"{text!r} is not a requirement ({error})") from None
    if not parsed:
        raise WheelhouseError("no requirements: name the packages to put in the wheelhouse")
    pins = [c for path in constraints for c in read_requirement_lines(Path(path), "constraint")]
    if list(out.glob("part*")):
        raise WheelhouseError(f"{out} already holds a wheelhouse ({out / 'part1'}, ...): choose another --out")
    downloads = out / ".download"
    fetch = fetch or PipFetcher(downloads, target, pip_options)
    say(f"resolving for {target.description}")
    resolver = Resolver(fetch, env, read_have(have) if have else {}, pins, exclude, say, jobs)
    picks = [p for p in resolver.resolve(parsed) if p.wheel is not None]
    wheels = [p.wheel for p in picks]
    header = {"format": FORMAT, "build": "0" * 16, "python": target.python, "platforms": target.platforms}
    parts = plan_parts(wheels, part_size, header)
    folders = write_parts(parts, out, header, part_size)
    total = sum(w.stat().st_size for w in wheels)
    shutil.rmtree(downloads, ignore_errors=True)
    limit = f" of at most {human(part_size)}" if part_size else ""
    say(f"{out}: {len(wheels)} wheels, {human(total)} in {len(folders)} part{'s' * (len(folders) > 1)}{limit}")
    return folders


# --- install ----------------------------------------------------------------------------------------------


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


# --- command line -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dayplan.wheelhouse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="fetch the wheels a target lacks and split them into parts")
    b.add_argument(
        "requirements", nargs="+", help="requirements (trl==1.16.0, 'vllm>=0.26') or local projects ('.[gpu]')"
    )
    b.add_argument(
        "--python", default=f"{sys.version_info.major}.{sys.version_info.minor}", help="target Python (3.12)"
    )
    b.add_argument("--platform", action="append", required=True, help="wheel platform tag, e.g. manylinux_2_28_x86_64")
    b.add_argument("--have", type=Path, help="the target's installed packages (its pip freeze)")
    b.add_argument(
        "--constraint", "-c", type=Path, action="append", default=[], help="pins that override dependencies'"
    )
    b.add_argument("--exclude", action="append", default=[], help="a package never fetched (glob: 'nvidia-*')")
    b.add_argument("--part-size", type=parse_size, help="largest part, e.g. 50MB or 56MiB (default: one part)")
    b.add_argument("--out", type=Path, default=Path("wheelhouse"), help="output folder (default: wheelhouse/)")
    b.add_argument("--jobs", type=int, default=4, help="pip downloads at a time (default 4)")
    b.add_argument("--index-url", help="pip's --index-url")
    b.add_argument("--extra-index-url", action="append", default=[], help="pip's --extra-index-url")
    b.add_argument("--find-links", action="append", default=[], help="pip's --find-links (a folder of wheels)")
    b.add_argument("--no-index", action="store_true", help="pip's --no-index (only --find-links)")
    i = commands.add_parser("install", help="check the parts, rejoin the wheels and pip install them")
    i.add_argument("parts", nargs="+", type=Path, help="the wheelhouse folder, or its part folders")
    i.add_argument("--target", type=Path, help="install into this folder (then PYTHONPATH=DIR)")
    i.add_argument("--dry-run", action="store_true", help="check everything and run pip's --dry-run")
    i.add_argument("--keep-wheels", type=Path, help="keep the checked and rejoined wheels in this folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            pip_options = ["--index-url", args.index_url] if args.index_url else []
            pip_options += [arg for url in args.extra_index_url for arg in ("--extra-index-url", url)]
            pip_options += [arg for folder in args.find_links for arg in ("--find-links", folder)]
            pip_options += ["--no-index"] if args.no_index else []
            target = Target(args.python, args.platform)
            build(args.requirements, args.out, target, have=args.have, constraints=args.constraint,
                  exclude=args.exclude, part_size=args.part_size, pip_options=pip_options,
                  jobs=max(1, args.jobs))  # fmt: skip
            return 0
        return install(args.parts, target=args.target, dry_run=args.dry_run, keep_wheels=args.keep_wheels)
    except (WheelhouseError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
