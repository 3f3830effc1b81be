"""Wheels: their metadata, and `pip download` of one wheel for the target (with why pip found none)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from dayplan.wheelhouse.files import NoMatchingVersion, WheelhouseError
from dayplan.wheelhouse.target import Target, expand_platform


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


def downloaded_wheels(pip_output: str) -> list[str]:
    """The wheel file names `pip download` reports: "Saved DEST/x.whl", "File was already downloaded
    DEST/x.whl", or only "Downloading x.whl (16.6 MB)": pip logs no "Saved" when the file appeared in DEST
    while it downloaded, as when two of the walk's concurrent downloads (--jobs) fetch the same wheel."""
    found = re.findall(r"(?:Saved|already downloaded|Downloading) (\S+\.whl)\b", pip_output)
    return list(dict.fromkeys(Path(f).name for f in found))


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
            raise self.explain(name, requirement, result.stdout + result.stderr)
        paths = [self.dest / f for f in downloaded_wheels(result.stdout)]
        paths = [p for p in paths if p.exists() and canonicalize_name(p.name.split("-")[0]) == name]
        if not paths:
            raise WheelhouseError(f"pip download {requirement}: no wheel of {name} came (pip said: {result.stdout!r})")
        return paths[0]

    def explain(self, name: str, requirement: str, output: str) -> WheelhouseError:
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
            return WheelhouseError(
                f"no wheel of {requirement} for {self.target.description}: its wheels are for "
                f"{', '.join(shown)}{', ...' if len(other_tags) > 4 else ''} (another --platform or --python?)"
            )
        versions = re.search(r"\(from versions: ([^)]*)\)", output + detail)
        listed = versions.group(1) if versions else "none"
        if listed != "none":
            shown = listed.split(", ")
            shown = ", ".join(shown) if len(shown) <= 8 else "..., " + ", ".join(shown[-8:])
            description = self.target.description
            return NoMatchingVersion(
                f"no version of {name} matches {requirement!r} for {description} (wheels: {shown})"
            )
        if "No sources permitted" in detail:
            return WheelhouseError(
                f"{name} publishes no wheel (source only): build one (pip wheel {requirement}), add --find-links"
            )
        if "Could not find a version" in output:
            return WheelhouseError(f"unknown package {name!r}: the index has no such project")
        error = [line for line in output.splitlines() if line.startswith("ERROR")]
        return WheelhouseError(f"pip download {requirement} failed: {error[-1] if error else output.strip()[-300:]}")
