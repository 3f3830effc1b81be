#!/usr/bin/env bash
# Scheduled retraining on one machine: pull, retrain (stages/retrain.py: new DVC experiment, champion/challenger
# gate in the MLflow Model Registry), push, and commit dvc.lock when the challenger was promoted.
#
# crontab (Mondays 03:17, logs appended):
#   17 3 * * 1  cd /srv/dayplan && bash scripts/retrain-cron.sh >> /var/log/dayplan-retrain.log 2>&1
# or systemd: scripts/systemd/dayplan-retrain.{service,timer} (see the service's header).
#
# Extra params overrides: arguments (key=value ...) or RETRAIN_OVERRIDES="key=value ...".
# RETRAIN_GIT_PUSH=0 commits without pushing; RETRAIN_SKIP_SETUP=1 skips scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== retrain $(date -u +%FT%TZ) in $PWD"

if [ "${RETRAIN_SKIP_SETUP:-0}" != "1" ]; then
  bash scripts/setup.sh
  if command -v nvidia-smi >/dev/null 2>&1; then .venv/bin/pip install -q -c constraints.txt '.[gpu]'; fi
fi
export PATH="$PWD/.venv/bin:$PATH"

dvc pull || echo "dvc pull failed (first run or empty remote): starting from scratch"

args=()
# shellcheck disable=SC2086  # space-separated overrides on purpose
for item in ${RETRAIN_OVERRIDES:-} "$@"; do args+=(-S "$item"); done
python -m stages.retrain "${args[@]}"

dvc push

decision=$(python -c "import json; print(json.load(open('reports/retrain/latest.json'))['decision'])")
echo "decision: $decision"
if [ "$decision" = "promoted" ]; then
  summary=$(python -c "import json; d = json.load(open('reports/retrain/latest.json')); \
print(d['registered_model'], 'v' + d['challenger']['version'], d['exp_name'])")
  git add dvc.lock params.yaml reports/retrain
  git -c user.name="${GIT_AUTHOR_NAME:-dayplan-retrain}" -c user.email="${GIT_AUTHOR_EMAIL:-dayplan-retrain@localhost}" \
    commit -m "retrain: promote $summary"
  if [ "${RETRAIN_GIT_PUSH:-1}" = "1" ]; then git push; fi
else
  # the rejected experiment stays in `dvc exp show`; the work tree goes back to the committed champion's state
  git checkout HEAD -- params.yaml $(git ls-files dvc.lock)
  dvc checkout || true
fi
