.PHONY: install quality test ci repro

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
