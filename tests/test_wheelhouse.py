"""dayplan.wheelhouse on small synthetic wheels made here: no network (pip runs with --no-index)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from dayplan import wheelhouse
from dayplan.wheelhouse import NoMatchingVersion, Resolver, Target, WheelhouseError

LINUX_312 = wheelhouse.marker_environment("3.12", "manylinux_2_28_x86_64")
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def make_wheel(folder: Path, name: str, version: str, requires=(), payload: bytes = b"", tag="py3-none-any") -> Path:
    """A minimal installable wheel: one module, METADATA with Requires-Dist lines, WHEEL, RECORD."""
    module = name.replace("-", "_")
    path = folder / f"{module}-{version}-{tag}.whl"
    info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{module}/__init__.py", f"VERSION = {version!r}\n")
        if payload:
            archive.writestr(f"{module}/data.bin", payload, compress_type=zipfile.ZIP_STORED)
        archive.writestr(f"{info}/METADATA", metadata)
        archive.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


class FakeIndex:
    """fetch(name, requirement): the newest wheel that satisfies it, like pip download --no-deps; logs the calls."""

    def __init__(self, folder: Path, packages: dict[str, dict[str, list[str]]]):
        self.wheels = {
            canonicalize_name(name): {v: make_wheel(folder, name, v, requires) for v, requires in versions.items()}
            for name, versions in packages.items()
        }
        self.calls: list[str] = []

    def __call__(self, name: str, requirement: str) -> Path:
        self.calls.append(requirement)
        if name not in self.wheels:
            raise WheelhouseError(f"unknown package {name!r}: the index has no such project")
        specifier = Requirement(requirement).specifier
        matching = [v for v in self.wheels[name] if specifier.contains(v, prereleases=True)]
        if not matching:
            raise NoMatchingVersion(f"no version of {name} matches {requirement!r}")
        return self.wheels[name][max(matching, key=Version)]


def resolve(index: FakeIndex, requirements: list[str], **options) -> dict[str, str]:
    said: list[str] = []
    resolver = Resolver(index, LINUX_312, say=said.append, **options)
    picks = resolver.resolve([Requirement(r) for r in requirements])
    return {p.name: p.version for p in picks if p.wheel is not None}


def test_dependency_walk_follows_markers_and_extras(tmp_path):
    index = FakeIndex(
        tmp_path / "index",
        {
            "app": {
                "1.0": [
                    "lib>=1",
                    'winlib; sys_platform == "win32"',
                    'backport; python_version < "3.10"',
                    'only312; python_version >= "3.12"',
                    'fancy-dep; extra == "fancy"',
                    'unused-dep; extra == "other"',
                    "media[image]",
                ]
            },
            "lib": {"1.0": [], "2.0": []},
            "winlib": {"1.0": []},
            "backport": {"1.0": []},
            "only312": {"1.0": []},
            "fancy-dep": {"1.0": []},
            "unused-dep": {"1.0": []},
            "media": {"1.0": ['pycountry; extra == "image"', 'codec; extra == "video"']},
            "pycountry": {"1.0": []},
            "codec": {"1.0": []},
        },
    )
    picked = resolve(index, ["app[fancy]"])
    assert picked == {
        "app": "1.0",
        "lib": "2.0",
        "only312": "1.0",
        "fancy-dep": "1.0",
        "media": "1.0",
        "pycountry": "1.0",
    }


def test_have_skips_only_what_its_version_satisfies(tmp_path):
    index = FakeIndex(
        tmp_path / "index",
        {
            "app": {"1.0": ["torch==2.11.0", "old>=2", "hub<2", "plain"]},
            "torch": {"2.11.0": ["nvidia-big==1.0"]},
            "nvidia-big": {"1.0": []},
            "old": {"1.0": [], "2.1": []},
            "hub": {"1.5": [], "2.0": []},
            "plain": {"1.0": []},
        },
    )
    have_file = tmp_path / "freeze.txt"
    have_file.write_text(
        "# pip freeze\ntorch==2.11.0+cu130\nold==1.0\nhub==2.0\nplain @ file:///src/plain\n-e git+x#egg=y\n"
    )
    have = wheelhouse.read_have(have_file)
    assert have == {"torch": "2.11.0+cu130", "old": "1.0", "hub": "2.0", "plain": None}
    # torch's local version satisfies ==2.11.0 (and its dependencies are the target's); old 1.0 does not
    # satisfy >=2, hub 2.0 not <2; an unversioned install satisfies an unversioned requirement
    assert resolve(index, ["app"], have=have) == {"app": "1.0", "old": "2.1", "hub": "1.5"}
    assert "nvidia-big==1.0" not in index.calls


def test_extras_of_an_installed_package_bring_what_the_target_lacks(tmp_path):
    index = FakeIndex(
        tmp_path / "index",
        {
            "app": {"1.0": ["media", "tool"]},
            "tool": {"1.0": ["media[image]"]},
            "media": {"1.0": ['pycountry; extra == "image"', "numpy"], "2.0": []},
            "pycountry": {"1.0": []},
            "numpy": {"2.0": []},
        },
    )
    # media 1.0 is installed (with numpy): asked first without extras, then with [image], whose
    # dependency comes from the installed version's METADATA; media itself is not in the wheelhouse
    assert resolve(index, ["app"], have={"media": "1.0"}) == {"app": "1.0", "tool": "1.0", "pycountry": "1.0"}
    assert "media==1.0" in index.calls


@pytest.mark.parametrize("jobs", [1, 4])
def test_one_version_per_package_when_a_later_requirement_narrows_it(tmp_path, jobs):
    index = FakeIndex(
        tmp_path / "index",
        {
            "a": {"1.0": ["shared"]},
            "b": {"1.0": ["c"]},
            "c": {"1.0": ["shared<2"]},
            "shared": {"1.0": [], "1.5": ["leaf"], "2.0": ["only-in-2"]},
            "leaf": {"1.0": []},
            "only-in-2": {"1.0": []},
        },
    )
    # a takes shared 2.0 first; c's shared<2 restarts the walk with both specifiers: 2.0's dependency goes too
    expected = {"a": "1.0", "b": "1.0", "c": "1.0", "shared": "1.5", "leaf": "1.0"}
    assert resolve(index, ["a", "b"], jobs=jobs) == expected  # with prefetching (--jobs) too


def test_conflicting_pins_fail_in_one_line_and_a_constraint_settles_them(tmp_path):
    index = FakeIndex(
        tmp_path / "index",
        {
            "vllm": {"0.26.0": ["apache-tvm-ffi==0.1.10", "xgrammar"]},
            "xgrammar": {"0.2.8": ["apache-tvm-ffi>=0.1.11"]},
            "apache-tvm-ffi": {"0.1.10": [], "0.1.11": [], "0.1.12": []},
        },
    )
    with pytest.raises(
        WheelhouseError, match=r"conflicting requirements for apache-tvm-ffi \(vllm 0.26.0 asks ==0"
    ) as e:
        resolve(index, ["vllm"])
    assert "\n" not in str(e.value) and "--constraint" in str(e.value)
    pins = [Requirement("apache-tvm-ffi==0.1.11")]
    assert resolve(index, ["vllm"], constraints=pins)["apache-tvm-ffi"] == "0.1.11"


def test_exclude_drops_a_package_and_its_dependencies(tmp_path):
    index = FakeIndex(
        tmp_path / "index",
        {"app": {"1.0": ["nvidia-kernels", "flashinfer-python"]}, "flashinfer-python": {"1.0": ["jit"]},
         "nvidia-kernels": {"1.0": []}, "jit": {"1.0": []}},
    )  # fmt: skip
    assert resolve(index, ["app"], exclude=["nvidia-*", "FlashInfer_Python"]) == {"app": "1.0"}


def test_local_project_requirements_with_extras(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "proj"\ndependencies = ["trl==1.16.0"]\n'
        '[project.optional-dependencies]\ngpu = ["vllm>=0.26"]\nall = ["proj[gpu]", "deepspeed"]\n'
    )
    found = wheelhouse.local_project(f"{tmp_path}[all]")
    assert sorted(str(r) for r in found) == ["deepspeed", "trl==1.16.0", "vllm>=0.26"]
    assert wheelhouse.local_project("trl==1.16.0") is None
    with pytest.raises(WheelhouseError, match="has no extra 'cuda'"):
        wheelhouse.local_project(f"{tmp_path}[cuda]")


def test_target_markers_and_platform_tags():
    assert LINUX_312["python_full_version"] == "3.12.0" and LINUX_312["platform_machine"] == "x86_64"
    assert wheelhouse.marker_environment("3.11.4", "win_amd64")["sys_platform"] == "win32"
    tags = wheelhouse.expand_platform("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and {"manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux2010_aarch64" not in wheelhouse.expand_platform("manylinux_2_28_aarch64")
    assert wheelhouse.parse_size("56MiB") == 56 * 2**20 and wheelhouse.parse_size("50MB") == 50_000_000
    with pytest.raises(WheelhouseError, match="expected a number"):
        wheelhouse.parse_size("lots")


@pytest.fixture
def built(tmp_path):
    """A wheelhouse of one wheel larger than a part (chunked) and small ones, in 100 kB parts."""
    index = FakeIndex(tmp_path / "index", {})
    big = make_wheel(tmp_path / "index", "big", "1.0", ["small-a", "small-b"], payload=os.urandom(250_000))
    index.wheels.update(
        {
            "big": {"1.0": big},
            "small-a": {"1.0": make_wheel(tmp_path / "index", "small-a", "1.0", payload=os.urandom(30_000))},
            "small-b": {"1.0": make_wheel(tmp_path / "index", "small-b", "1.0")},
        }
    )
    said: list[str] = []
    out = tmp_path / "wheelhouse"
    target = Target(HERE, ["manylinux_2_28_x86_64"])
    folders = wheelhouse.build(["big"], out, target, part_size=100_000, fetch=index, say=said.append)
    return out, folders, index, said


def test_build_splits_into_parts_no_larger_than_the_limit(built):
    out, folders, index, said = built
    assert [f.name for f in folders] == [f"part{i}" for i in range(1, len(folders) + 1)] and len(folders) >= 3
    for folder in folders:
        assert sum(f.stat().st_size for f in folder.iterdir()) <= 100_000
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["parts"] == len(folders) and manifest["python"] == HERE
        for entry in manifest["files"]:
            assert hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert any(line.startswith("  + big 1.0") for line in said)  # progress per package
    assert said[-1].startswith(f"{out}: 3 wheels") and not (out / ".download").exists()


def test_install_rejoins_and_checks_the_chunks(built, tmp_path):
    out, folders, index, said = built
    kept = tmp_path / "kept"
    parts = wheelhouse.find_parts(reversed(folders))  # any order, each part named
    wheels = wheelhouse.verify(parts, kept.mkdir() or kept, say=lambda line: None)
    assert [w.name for w in wheels] == sorted(w.name for w in [index.wheels[n]["1.0"] for n in index.wheels])
    for wheel in wheels:
        original = index.wheels[canonicalize_name(wheel.name.split("-")[0])]["1.0"]
        assert wheel.read_bytes() == original.read_bytes()


def test_a_corrupted_part_is_refused_in_one_line(built, capsys):
    out, folders, index, said = built
    chunk = next(f for folder in folders for f in folder.glob("*.whl.0*"))
    data = bytearray(chunk.read_bytes())
    data[100] ^= 0xFF
    chunk.write_bytes(bytes(data))
    assert wheelhouse.main(["install", str(out), "--dry-run"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "sha256 mismatch" in error and chunk.name in error


def test_a_missing_part_and_a_too_small_part_size_are_refused(built, tmp_path, capsys):
    out, folders, index, said = built
    assert wheelhouse.main(["install", *[str(f) for f in folders[1:]]]) == 1
    assert "part 1 of" in capsys.readouterr().err
    with pytest.raises(WheelhouseError, match="too small"):
        wheelhouse.build(["big"], tmp_path / "other", Target(HERE, ["win_amd64"]), part_size=50_000, fetch=index)
    with pytest.raises(WheelhouseError, match="already holds a wheelhouse"):
        wheelhouse.build(["big"], out, Target(HERE, ["win_amd64"]), fetch=index)


@pytest.fixture
def offline_pip(monkeypatch):
    """pip with no configuration: no index, no find-links, no constraints but the test's own."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV"):
        monkeypatch.delenv(name, raising=False)


def test_pip_engine_builds_and_installs_offline(tmp_path, offline_pip, capsys):
    """The real engine: pip download from a folder of wheels, then install --target from the parts."""
    index = tmp_path / "index"
    make_wheel(index, "alpha", "1.0", ["beta>=1", 'gamma; sys_platform == "win32"'])
    make_wheel(index, "beta", "1.0")
    make_wheel(index, "beta", "2.0")
    make_wheel(index, "winonly", "1.0", tag="cp312-cp312-win_amd64")
    out, site = tmp_path / "wheelhouse", tmp_path / "site"
    common = ["--python", HERE, "--platform", "manylinux_2_28_x86_64", "--no-index", "--find-links", str(index)]
    assert wheelhouse.main(["build", "alpha", *common, "--out", str(out)]) == 0
    assert "+ beta 2.0" in capsys.readouterr().out
    assert wheelhouse.main(["install", str(out), "--target", str(site)]) == 0
    assert (site / "alpha" / "__init__.py").exists() and "2.0" in (site / "beta" / "__init__.py").read_text()
    assert wheelhouse.main(["build", "nosuch", *common, "--out", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == "error: unknown package 'nosuch': the index has no such project\n"
    assert wheelhouse.main(["build", "winonly", *common, "--out", str(tmp_path / "y")]) == 1
    assert "no wheel of winonly for CPython" in capsys.readouterr().err
    target = Target(HERE, ["manylinux_2_28_x86_64"])
    fetch = wheelhouse.PipFetcher(tmp_path / "z", target, ["--no-index", "--find-links", str(index)])
    with pytest.raises(NoMatchingVersion, match=r"no version of beta matches 'beta>=3' .*\(wheels: 1.0, 2.0\)"):
        fetch("beta", "beta>=3")  # the type the resolver turns into "pin another version" advice


def test_module_runs_as_a_command():
    result = subprocess.run(
        [sys.executable, "-m", "dayplan.wheelhouse", "install", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--target" in result.stdout and "--dry-run" in result.stdout


def test_specifiers_of_installed_versions():
    assert wheelhouse._satisfies("2.11.0+cu130", SpecifierSet("==2.11.0"))
    assert not wheelhouse._satisfies(None, SpecifierSet(">=1")) and wheelhouse._satisfies(None, SpecifierSet())


def test_downloaded_wheels_reads_each_form_pip_reports():
    from dayplan.wheelhouse.fetch import downloaded_wheels

    local = "Processing /srv/index/a-1.0-py3-none-any.whl\nSaved ./wh/a-1.0-py3-none-any.whl\n"
    again = "File was already downloaded /tmp/wh/b-2.0-py3-none-any.whl\n"
    raced = (
        "Collecting numpy<2.4\n  Downloading numpy-2.3.5-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
        " (16.6 MB)\n     ━━━━━━━━━━ 16.6/16.6 MB\nSuccessfully downloaded numpy\n"
    )
    assert downloaded_wheels(local) == ["a-1.0-py3-none-any.whl"]
    assert downloaded_wheels(again) == ["b-2.0-py3-none-any.whl"]
    assert downloaded_wheels(raced) == ["numpy-2.3.5-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"]


def test_a_dependency_pinned_to_a_version_without_wheels_names_what_to_pin(tmp_path):
    index = FakeIndex(
        tmp_path / "index",
        {
            "mlflow": {"3.17.2": ["mlflow-skinny==3.17.2"], "3.18.0": ["mlflow-skinny==3.18.0"]},
            "mlflow-skinny": {"3.17.2": []},
        },
    )
    with pytest.raises(WheelhouseError, match=r"mlflow 3.18.0 asks for it: pin another version of mlflow with") as e:
        resolve(index, ["mlflow<3.19"])
    assert "\n" not in str(e.value)
    assert resolve(index, ["mlflow<3.19"], constraints=[Requirement("mlflow==3.17.2")])["mlflow-skinny"] == "3.17.2"
