"""The staging model: which bad kinds synthetic traffic shows, and when (sim/staging.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.releases import Release
from sim.staging import STAGING_DEPLOY_S, staging_result

BASE = Release(
    id=0,
    at_s=0.0,
    explicit=True,
    author="a",
    lines_changed=10,
    files_touched=1,
    config_only=False,
    dependency_change=False,
    author_failure_rate=0.1,
    hour_of_day=11.0,
    day_of_week=0,
    off_hours=False,
    truth="good",
    p_bad=0.1,
)


def release(truth: str, **kw) -> Release:
    return dataclasses.replace(BASE, truth=truth, **kw)


@pytest.mark.parametrize(
    ("rel", "analysis", "failed", "duration"),
    [
        (release("good"), True, False, STAGING_DEPLOY_S + 600),
        (release("crash-loop"), False, True, STAGING_DEPLOY_S),
        (release("errors", error_share=0.05), True, True, STAGING_DEPLOY_S + 240),
        (release("errors", error_share=0.05), False, False, STAGING_DEPLOY_S + 600),
        (release("latency", latency_factor=3.0), True, True, STAGING_DEPLOY_S + 240),
        (
            release("late-failure", failure_delay_s=300.0, late_mode="crash"),
            True,
            True,
            STAGING_DEPLOY_S + 540,
        ),
        (
            release("late-failure", failure_delay_s=3600.0, late_mode="crash"),
            True,
            False,
            STAGING_DEPLOY_S + 600,
        ),
    ],
)
def test_what_staging_shows(rel: Release, analysis: bool, failed: bool, duration: float) -> None:
    got = staging_result(
        rel, analysis=analysis, bake_s=600.0, detect_s=240.0, rng=np.random.default_rng(0)
    )
    assert (got.failed, got.duration_s) == (failed, duration)


def test_partial_is_caught_in_proportion_to_coverage() -> None:
    rng = np.random.default_rng(3)
    rel = release("partial", affected_share=0.1)
    caught = [
        staging_result(rel, analysis=True, bake_s=600, detect_s=240, rng=rng, coverage=0.3).failed
        for _ in range(4000)
    ]
    assert abs(np.mean(caught) - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 4000)
    never = staging_result(
        rel, analysis=True, bake_s=600, detect_s=240, rng=rng, coverage=0.0
    ).failed
    assert not never


def test_bad_coverage_is_refused() -> None:
    with pytest.raises(ValueError, match="coverage must be in"):
        staging_result(
            BASE, analysis=True, bake_s=1, detect_s=1, rng=np.random.default_rng(), coverage=2
        )
