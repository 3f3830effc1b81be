"""The target host: its platform tags, PEP 508 marker values, installed packages, and the requirement lines and
local projects that say what it needs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dayplan.wheelhouse.files import WheelhouseError

if TYPE_CHECKING:  # packaging is imported where used: install runs on the standard library alone
    from packaging.requirements import Requirement


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


@dataclass
class Target:
    python: str
    platforms: list[str]

    @property
    def description(self) -> str:
        return f"CPython {self.python} on {', '.join(self.platforms)}"
