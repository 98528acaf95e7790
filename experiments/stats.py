"""Statistics over independent windows for experiment tables.

Method: a 95% Student-t confidence interval of the mean over the ``n`` independent evaluation
windows (one run per window and policy). The windows are disjoint stretches of a trace, so
the runs are independent draws of "a week of this service" (not of the whole trace's
population: each interval is about these ``n`` windows' kind of traffic). With n of 2 to 5,
a bootstrap interval is not usable: the percentile bootstrap of 3 values can only take 10
distinct resamples and under-covers badly, while Student t is exact for normal data and
conservative in width at small n. So: Student t, and every table states n. For n = 1 there is
no interval (NaN half-width).

Infinite values (the elastic speedup of a run that never under-provisions) are not averaged
away: :func:`summarise` counts them (``<col>_inf``) and the mean and interval are NaN when any
value is infinite; the report says "no under-provisioning in k of n windows".

Also here: per-group summaries with the SLO verdict, paired differences (a policy against a
reference on the same windows), and the baseline's cost interpolated at another run's quality
(:func:`front_cost`, the Pareto front of the baseline's settings on one window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

METHOD = "Student t over independent windows"


def ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t confidence interval of finite ``values``
    (half-width nan for one value)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def summarise(
    runs: pd.DataFrame,
    columns: Sequence[str],
    slo: dict[str, float] | None = None,
    bar: float | None = None,
) -> pd.DataFrame:
    """One row per (trace, policy): ``n`` (independent windows), mean and 95% CI half-width
    of each of ``columns`` (``<col>_inf``: how many values are infinite; mean and interval
    NaN when any is), and with ``slo`` and ``bar``: ``meets_slo`` (mean good minutes >= bar
    and mean availability >= 1 - slo error_rate, the error budget)."""
    rows = []
    for (trace, policy), group in runs.groupby(["trace", "policy"], sort=False):
        row: dict[str, Any] = {"trace": trace, "policy": policy, "n": len(group)}
        for col in columns:
            values = group[col].to_numpy(dtype=float)
            n_inf = int(np.isinf(values).sum())
            mean, half = ci95(values) if n_inf == 0 else (math.nan, math.nan)
            row[col] = mean
            row[f"{col}_ci95"] = half
            row[f"{col}_inf"] = n_inf
        if slo is not None and bar is not None:
            row["meets_slo"] = bool(
                row.get("good_minutes_fraction", math.nan) >= bar
                and row.get("availability", math.nan) >= 1.0 - slo["error_rate"]
            )
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(
    runs: pd.DataFrame,
    policy: str,
    reference: str,
    column: str = "cost_usd",
    key: str = "window",
) -> pd.DataFrame:
    """Per trace: relative difference of ``column`` (policy vs reference), paired by window,
    with its 95% CI and ``n``; negative means the policy is cheaper."""
    if key not in runs:
        key = "seed"
    rows = []
    for trace, group in runs.groupby("trace", sort=False):
        a = group[group.policy == policy].set_index(key)[column]
        b = group[group.policy == reference].set_index(key)[column]
        common = a.index.intersection(b.index)
        if len(common) == 0:
            continue
        rel = (a[common] / b[common] - 1.0).to_numpy()
        mean, half = ci95(rel)
        rows.append(
            {
                "trace": trace,
                "policy": policy,
                "reference": reference,
                "mean": mean,
                "ci95": half,
                "n": len(common),
            }
        )
    return pd.DataFrame(rows)


def front_cost(quality: np.ndarray, cost: np.ndarray, at: float) -> float:
    """The baseline's cost at quality ``at`` from its settings' (quality, cost) points on one
    window: the cheapest cost of reaching each quality (the Pareto front, non-decreasing in
    quality), linearly interpolated between front points. Below the lowest quality: the
    cheapest point (it already gives more). Above the highest: NaN (the baseline never reaches
    it in its range)."""
    q = np.asarray(quality, dtype=float)
    c = np.asarray(cost, dtype=float)
    ok = np.isfinite(q) & np.isfinite(c)
    q, c = q[ok], c[ok]
    if len(q) == 0 or not math.isfinite(at) or at > q.max() + 1e-12:
        return math.nan
    order = np.argsort(q)
    q, c = q[order], c[order]
    # front: for each point, the cheapest cost among points of at least its quality
    best = np.minimum.accumulate(c[::-1])[::-1]
    if at <= q[0]:
        return float(best[0])
    # unique qualities, keep the cheapest
    uq = np.unique(q)
    ub = np.array([best[q == v].min() for v in uq])
    return float(np.interp(at, uq, ub))


def equal_quality_difference(
    runs: pd.DataFrame, policy: str, baseline: str, quality: str = "good_minutes_fraction"
) -> pd.DataFrame:
    """Per trace: the policy's cost relative to the baseline's Pareto-front cost at the
    policy's own quality, paired by window (``runs`` holds every baseline setting of each
    window, whatever its ``kind``). ``n``: windows where the front reaches that quality;
    ``beyond``: windows where it does not (the baseline's range never gets there)."""
    rows = []
    for trace, group in runs.groupby("trace", sort=False):
        rel = []
        beyond = 0
        for _, wg in group.groupby("window"):
            base = wg[wg.policy == baseline]
            mine = wg[(wg.policy == policy) & (wg.kind == "evaluation")]
            if len(base) == 0 or len(mine) == 0:
                continue
            at = float(mine[quality].iloc[0])
            ref = front_cost(base[quality].to_numpy(), base.cost_usd.to_numpy(), at)
            if math.isnan(ref):
                beyond += 1
                continue
            rel.append(float(mine.cost_usd.iloc[0]) / ref - 1.0)
        if not rel and not beyond:
            continue
        mean, half = ci95(np.array(rel))
        rows.append(
            {
                "trace": trace,
                "policy": policy,
                "mean": mean,
                "ci95": half,
                "n": len(rel),
                "beyond": beyond,
            }
        )
    return pd.DataFrame(rows)
