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
(:func:`front_cost`, the Pareto front of the baseline's settings on one window), on good
minutes and availability at once (:func:`cost_at_quality`), per baseline and against the best
baseline of each window (:func:`equal_quality_costs`, :func:`relative_to`).
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


#: The quality measures a baseline is matched on at "equal quality" (issue 8): the share of
#: minutes within the SLO and the share of requests served (request availability).
QUALITY_MEASURES: tuple[str, ...] = ("good_minutes_fraction", "availability")


def cost_at_quality(
    baseline: pd.DataFrame, at: dict[str, float], measures: Sequence[str] = QUALITY_MEASURES
) -> float:
    """The baseline's cost at a run's quality on ``measures`` (one window): per measure, the
    cost at which the baseline's Pareto front on that measure reaches ``at[measure]``
    (:func:`front_cost`); the larger of them. NaN when any front never reaches its value.

    Why the larger: a setting (or an interpolation between settings) that matches the run on
    every measure costs at least what each one-measure front asks, so the larger is the
    cheapest the baseline could match them all; it never takes a point that matches good
    minutes but loses more requests. It is a lower bound on the baseline's cost (it favours
    the baseline), so a policy found cheaper than it is cheaper than any matching setting."""
    costs = baseline.cost_usd.to_numpy(dtype=float)
    values = [front_cost(baseline[m].to_numpy(dtype=float), costs, float(at[m])) for m in measures]
    return math.nan if any(math.isnan(v) for v in values) else float(max(values))


def equal_quality_costs(
    runs: pd.DataFrame,
    policy: str,
    baselines: Sequence[str],
    measures: Sequence[str] = QUALITY_MEASURES,
) -> pd.DataFrame:
    """Per (trace, window) where ``policy`` has an evaluation run, one row per reference:
    each baseline with runs on that window (its cost at the policy's quality,
    :func:`cost_at_quality` over all its runs there, whatever their ``kind``) and ``best``
    (the cheapest of those baselines' costs that reach the quality). Columns: trace, window,
    policy, reference, cost_usd (the policy's), reference_cost_usd (NaN: beyond the
    reference's range; for ``best``, no baseline reaches the quality)."""
    rows = []
    for (trace, window), wg in runs.groupby(["trace", "window"], sort=False):
        mine = wg[(wg.policy == policy) & (wg.kind == "evaluation")]
        if len(mine) == 0:
            continue
        at = {m: float(mine[m].iloc[0]) for m in measures}
        base_row = {
            "trace": trace,
            "window": window,
            "policy": policy,
            "cost_usd": float(mine.cost_usd.iloc[0]),
        }
        found = []
        for base in baselines:
            theirs = wg[wg.policy == base]
            if len(theirs):
                found.append(cost_at_quality(theirs, at, measures))
                rows.append(base_row | {"reference": base, "reference_cost_usd": found[-1]})
        if found:
            reached = [c for c in found if not math.isnan(c)]
            best = min(reached) if reached else math.nan
            rows.append(base_row | {"reference": "best", "reference_cost_usd": best})
    return pd.DataFrame(rows)


def relative_to(costs: pd.DataFrame) -> pd.DataFrame:
    """Per (trace, reference) of :func:`equal_quality_costs`: the policy's cost relative to
    the reference's, paired by window: mean, 95% Student-t half-width, ``n`` (windows where
    the reference reaches the policy's quality) and ``beyond`` (windows where it does not;
    left out of the mean). Negative: the policy is cheaper at equal quality."""
    rows = []
    if len(costs) == 0:
        return pd.DataFrame(rows)
    for (trace, reference), g in costs.groupby(["trace", "reference"], sort=False):
        ref = g.reference_cost_usd.to_numpy(dtype=float)
        ok = np.isfinite(ref)
        mean, half = ci95(g.cost_usd.to_numpy(dtype=float)[ok] / ref[ok] - 1.0)
        rows.append(
            {
                "trace": trace,
                "policy": str(g.policy.iloc[0]),
                "reference": reference,
                "mean": mean,
                "ci95": half,
                "n": int(ok.sum()),
                "beyond": int((~ok).sum()),
            }
        )
    return pd.DataFrame(rows)
