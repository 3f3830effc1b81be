.PHONY: install quality test repro

install:
	bash scripts/setup.sh

quality:
	.venv/bin/ruff check dayplan stages tests scripts
	.venv/bin/ruff format --check dayplan stages tests scripts

test:
	.venv/bin/python -m pytest

repro:
	. .venv/bin/activate && dvc repro
