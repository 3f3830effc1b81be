"""The dependency walk: requirements -> one wheel per package the target lacks."""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dayplan.wheelhouse.fetch import Metadata, read_metadata
from dayplan.wheelhouse.files import NoMatchingVersion, WheelhouseError, human

if TYPE_CHECKING:  # packaging is imported where used: install runs on the standard library alone
    from collections.abc import Callable, Iterable

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet


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
            except NoMatchingVersion as error:
                asks = self.asks.get(name, {})
                if len({s for s in asks.values() if s}) > 1:
                    said = "; ".join(f"{by} asks {spec or 'any'}" for by, spec in asks.items())
                    raise WheelhouseError(
                        f"conflicting requirements for {name} ({said}): choose one with a --constraint line"
                    ) from None
                askers = [by for by in asks if by != "requested"]
                if askers:
                    # a release whose pinned dependency has no wheel (mlflow 3.18.0 and mlflow-skinny 3.18.0)
                    verb = "asks" if len(askers) == 1 else "ask"
                    raise WheelhouseError(
                        f"{error}; {' and '.join(askers)} {verb} for it: pin another version of "
                        f"{' and '.join(by.split(' ')[0] for by in askers)} with a --constraint line"
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
