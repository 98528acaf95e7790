"""Builders of AnalysisInput for the rollout analysis tests, and of simulated release
histories for the risk tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies.rollout.analysis import AnalysisInput
from sim.releases import DAY_S, Release, generate_releases, releases_config, releases_frame


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


def releases_with_outcomes(seed: int, days: float) -> tuple[list[Release], pd.DataFrame]:
    """8 releases a working day over ``days`` days, and their outcomes (``id``, ``bad``,
    ``outcome_known_at_s``) known 10 min to 2 days (log-uniform) after shipping."""
    rng = np.random.default_rng(seed)
    releases = generate_releases(releases_config({"per_day": 8}), days * DAY_S, rng)
    rel = releases_frame(releases)
    delay = np.exp(rng.uniform(np.log(600), np.log(2 * DAY_S), len(rel)))
    out = pd.DataFrame(
        {"id": rel["id"], "bad": rel["bad"], "outcome_known_at_s": rel["at_s"] + delay}
    )
    return releases, out
