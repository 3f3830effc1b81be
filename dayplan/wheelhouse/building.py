"""`build`: resolve the requirements, fetch the wheels and write them as parts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from dayplan.wheelhouse.fetch import PipFetcher
from dayplan.wheelhouse.files import FORMAT, MIN_PART_SIZE, WheelhouseError, human
from dayplan.wheelhouse.parts import plan_parts, write_parts
from dayplan.wheelhouse.resolve import Resolver
from dayplan.wheelhouse.target import Target, local_project, marker_environment, read_have, read_requirement_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


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
