"""The command line: `python -m dayplan.wheelhouse build|install` (usage: dayplan/wheelhouse/__init__.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.wheelhouse.building import build
from dayplan.wheelhouse.files import WheelhouseError, parse_size
from dayplan.wheelhouse.installing import install
from dayplan.wheelhouse.target import Target


def main(argv: list[str] | None = None) -> int:
    from dayplan import wheelhouse  # its docstring is the usage

    parser = argparse.ArgumentParser(
        prog="python -m dayplan.wheelhouse",
        description=wheelhouse.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
