"""Monorepo checks: the helpers under tools/ are imported from the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from conformance import papers_from_makefile  # noqa: E402

PAPERS = papers_from_makefile(ROOT)
IMPLEMENTED = [p for p in PAPERS if (ROOT / p / "pyproject.toml").is_file()]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def papers() -> list[str]:
    return PAPERS
