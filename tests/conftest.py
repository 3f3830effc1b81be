"""Shared fixtures: the repository root and a small hand-checked instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from dayplan.task import Instance

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def small_instance() -> Instance:
    """A (09:00-10:00, priority) overlaps B (09:30-11:00); C touches B; optimum A + C = 2*60 + 60 = 180."""
    return Instance.from_row(
        [["A", "09:00", "10:00"], ["B", "09:30", "11:00"], ["C", "11:00", "12:00"]],
        ["A"],
    )
