"""Builders of AnalysisInput for the rollout analysis tests."""

from __future__ import annotations

import numpy as np

from policies.rollout.analysis import AnalysisInput


def series_input(
    canary: dict,
    baseline: dict | None = None,
    period: float = 60.0,
    delay: float = 0.0,
    canary_start: float = 0.0,
    time: float | None = None,
    first_start: float = 0.0,
) -> AnalysisInput:
    """Columns given as lists; periods start at ``first_start`` every ``period`` seconds;
    by default the decision time is the end of the last period plus the delay."""
    n = len(next(iter(canary.values())))
    start = first_start + period * np.arange(n)
    if time is None:
        time = float(start[-1] + period + delay) if n else 0.0
    return AnalysisInput.build(
        time=time,
        period_s=period,
        start=start,
        canary=canary,
        baseline=baseline,
        canary_start=canary_start,
        publication_delay_s=delay,
    )


def traffic(rate: list[float], requests: float = 1000.0, p99: list[float] | None = None) -> dict:
    """A target group's columns from per-period error rates (NaN: no requests published)."""
    rate = np.asarray(rate, float)
    req = np.where(np.isnan(rate), np.nan, requests)
    err = np.where(np.isnan(rate), np.nan, np.round(rate * requests))
    cols = {"RequestCount": req, "HTTPCode_Target_5XX_Count": err}
    if p99 is not None:
        cols["TargetResponseTime_p99"] = np.asarray(p99, float)
    return cols
