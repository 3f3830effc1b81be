.PHONY: install quality test repro compare

install:
	bash scripts/setup.sh

quality:
	.venv/bin/ruff check dayplan stages tests scripts
	.venv/bin/ruff format --check dayplan stages tests scripts

test:
	.venv/bin/python -m pytest

repro:
	. .venv/bin/activate && dvc repro

compare:  # experiments side by side: the main params and scores, and dvc_plots/index.html with their curves
	.venv/bin/dvc exp show --md --drop '.*' --keep 'Experiment|reward\.|train\.grpo\.learning_rate|.*epoch3\.json:(mean_score|valid_schedules)'
	.venv/bin/dvc plots diff $$(.venv/bin/dvc exp list --name-only)
