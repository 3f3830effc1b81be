"""Wall time and peak memory of each pipeline stage (not a test): runs `dvc repro --force --single-item`
for every stage in pipeline order and prints a table. Use on the CPU default:

    .venv/bin/python benchmarks/stages.py            # every stage
    .venv/bin/python benchmarks/stages.py train      # one stage

Peak memory is the largest resident set of the stage's processes (ru_maxrss of the children).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def stage_names() -> list[str]:
    listed = subprocess.run(["dvc", "stage", "list", "--name-only"], capture_output=True, text=True, check=True)
    return listed.stdout.split()


def measure(stage: str) -> tuple[float, float]:
    """Seconds and peak MiB of one stage run in a fresh child (ru_maxrss is per child process tree)."""
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "subprocess.run(['dvc', 'repro', '--force', '--single-item', sys.argv[1]], check=True);"
        "print('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, stage], capture_output=True, text=True, check=True).stdout
    _, seconds, max_kib = next(line for line in out.splitlines() if line.startswith("BENCH")).split()
    return float(seconds), int(max_kib) / 1024


def main() -> None:
    # dvc and the stages' `python` must come from this environment, activated or not
    os.environ["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    stages = sys.argv[1:] or stage_names()
    rows = []
    for stage in stages:
        seconds, peak_mib = measure(stage)
        rows.append({"stage": stage, "seconds": round(seconds, 1), "peak_mib": round(peak_mib)})
        print(f"{stage:20s} {seconds:8.1f} s {peak_mib:8.0f} MiB", flush=True)
    total = sum(r["seconds"] for r in rows)
    print(f"{'total':20s} {total:8.1f} s")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
