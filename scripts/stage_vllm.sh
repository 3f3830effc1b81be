#!/usr/bin/env bash
# Stage vLLM 0.26.0 wheels on the offline GPU machine.
#   bash scripts/stage_vllm.sh copy DIR   # copy DIR/* into ~/vllm_stage/ (once per carried .vllmN folder)
#   bash scripts/stage_vllm.sh install    # join vllm parts, pip install everything into /tmp/site
set -euo pipefail
STAGE="$HOME/vllm_stage"
SITE=/tmp/site
WHL="$STAGE/vllm-0.26.0-cp38-abi3-manylinux_2_28_x86_64.whl"

case "${1:-}" in
  copy)
    src="${2:?usage: $0 copy DIR}"
    mkdir -p "$STAGE"
    cp -f "$src"/* "$STAGE"/
    echo "copied $(ls "$src" | wc -l) files from $src; stage now has:"; ls "$STAGE"
    ;;
  install)
    cd "$STAGE"
    parts=(vllm.whl.part-*)
    [ -e "${parts[0]}" ] || { echo "no vllm.whl.part-* in $STAGE" >&2; exit 1; }
    echo "${#parts[@]} parts"
    cat "${parts[@]}" > "$WHL.tmp"        # glob sorts aa, ab, ac, ...
    python3 -m zipfile -t "$WHL.tmp" >/dev/null || { echo "joined vllm wheel is corrupt" >&2; exit 1; }
    mv "$WHL.tmp" "$WHL"
    echo "joined ${#parts[@]} parts -> $WHL ($(stat -c %s "$WHL") bytes; expected 303698761)"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" "$STAGE"/*.whl
    echo "installed $(ls "$STAGE"/*.whl | wc -l) wheels into $SITE"
    echo "Now run:  export PYTHONPATH=$SITE\${PYTHONPATH:+:\$PYTHONPATH}"
    echo "Recommended for offline use: export VLLM_USE_FLASHINFER_SAMPLER=0 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1"
    ;;
  *) echo "usage: $0 copy DIR | install" >&2; exit 2 ;;
esac
