.PHONY: install quality test ci repro compare

LINTED = dayplan stages tests scripts benchmarks

install:
	bash scripts/setup.sh

quality:
	.venv/bin/ruff check $(LINTED)
	.venv/bin/ruff format --check $(LINTED)

test:
	.venv/bin/python -m pytest

# what CI runs (.ci/run, .github/workflows/ci.yml): set-up, Chromium for the MLflow UI test, lint, tests
ci:
	bash .ci/run

repro:
	. .venv/bin/activate && dvc repro

compare:  # experiments side by side: the main params and scores, and dvc_plots/index.html with their curves
	.venv/bin/dvc exp show --md --drop '.*' --keep 'Experiment|reward\.|train\.grpo\.learning_rate|reports/metrics/test(_novel)?/epoch3\.json:(mean_score|valid_schedules)'
	.venv/bin/dvc plots diff $$(.venv/bin/dvc exp list --name-only)
