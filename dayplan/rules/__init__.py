"""The task's rules, split by what they do; dayplan.task gathers them (pure Python, no ML imports)."""
