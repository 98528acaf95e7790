"""Shared fixtures: the trace mirror and a private trace cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def mirror() -> Path:
    value = os.environ.get("FARGATE_LAB_TRACE_MIRROR")
    if not value:
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    return Path(value)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Never write to the user's cache: one cache folder per test worker."""
    monkeypatch.setenv("FARGATE_LAB_CACHE", str(tmp_path_factory.getbasetemp() / "trace-cache"))
