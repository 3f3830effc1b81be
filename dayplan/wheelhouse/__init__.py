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

from dayplan.wheelhouse.building import build
from dayplan.wheelhouse.cli import main
from dayplan.wheelhouse.fetch import Metadata, PipFetcher, read_metadata
from dayplan.wheelhouse.files import (
    FORMAT,
    MANIFEST,
    MIN_PART_SIZE,
    NoMatchingVersion,
    WheelhouseError,
    human,
    parse_size,
    sha256_file,
)
from dayplan.wheelhouse.installing import find_parts, install, verify
from dayplan.wheelhouse.parts import Piece, plan_parts, write_parts
from dayplan.wheelhouse.resolve import Pick, Resolver, _satisfies
from dayplan.wheelhouse.target import (
    Target,
    expand_platform,
    local_project,
    marker_environment,
    read_have,
    read_requirement_lines,
)

__all__ = [
    "FORMAT",
    "MANIFEST",
    "MIN_PART_SIZE",
    "Metadata",
    "NoMatchingVersion",
    "Pick",
    "Piece",
    "PipFetcher",
    "Resolver",
    "Target",
    "WheelhouseError",
    "_satisfies",
    "build",
    "expand_platform",
    "find_parts",
    "human",
    "install",
    "local_project",
    "main",
    "marker_environment",
    "parse_size",
    "plan_parts",
    "read_have",
    "read_metadata",
    "read_requirement_lines",
    "sha256_file",
    "verify",
    "write_parts",
]
