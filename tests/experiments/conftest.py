"""Shared fixtures of the experiment tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The demo spec shrunk to seconds: one trace, 3-hour windows, two of them, target tracking
#: and predictive scaling only, rollout runs of half a day on 2 seeds (the demo's claims,
#: definitions and faults otherwise).
TINY_DEMO = {
    "run": {"traces": ["aws-elb"], "days": 0.125, "windows": 2},
    "cost": {"ai": ["predictive"]},
    "uptime": {"policies": ["target-tracking", "predictive"]},
    "rollouts": {"seeds": 2, "releases": 8, "days": 0.5, "candidates": []},
}


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, str]:
    """``make demo``'s code on :data:`TINY_DEMO`, once per test process: the output folder,
    the rows and what it printed."""
    if not os.environ.get("FARGATE_LAB_TRACE_MIRROR"):
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    import contextlib
    import io

    from experiments import demo

    parent = tmp_path_factory.mktemp("tiny-demo")
    out = parent / "demo-output"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rows = demo.run_demo(out, overrides=TINY_DEMO, workers=1, progress=False)
    return out, rows, printed.getvalue()


@pytest.fixture(scope="session")
def tiny_overrides() -> dict:
    """:data:`TINY_DEMO`, for tests that run the claims themselves (test_claims_resume.py)."""
    return TINY_DEMO
