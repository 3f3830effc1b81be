#!/usr/bin/env bash
# Creates .venv with the CPU build of torch and the pinned stack (constraints.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -c constraints.txt -e '.[dev]'
