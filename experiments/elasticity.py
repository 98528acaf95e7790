"""The SPEC Research Group elasticity metrics, as defined in N. Herbst, A. Bauer, S. Kounev,
G. Oikonomou, E. van Eyk, G. Kousiouris, A. Evangelinou, R. Krebs, T. Brecht, C. L. Abad and
A. Iosup, "Quantifying Cloud Performance and Dependability: Taxonomy, Metric Design, and
Emerging Challenges", ACM TOMPECS 3(4), article 19, 2018 (https://doi.org/10.1145/3236332),
section "Elasticity", and as implemented by BUNGEE
(https://github.com/NikolasHerbst/BUNGEE, package ``tools.descartes.bungee.metric``; it has
no instability metric), whose test vector the tests reproduce.

Demand ``d(t)`` (the resources needed to meet the SLO) and supply ``s(t)`` (the resources
provisioned) are step functions over a run of length ``T``. Each may be given as

* **change points**: a sequence of ``(time, amount)`` pairs (an array of shape ``(n, 2)``),
  times non-decreasing; each amount holds until the next change point, and the last point's
  time ends the series. As in BUNGEE, both series start at the same time, the run lasts from
  that start to the later of the two last times, and a series whose last point comes earlier
  keeps its last amount to the end. Of several points at one time the last wins.
* **per-period arrays**: a 1-D array, one amount per period (e.g. per minute), each period a
  step of equal length; ``times`` gives the periods' start times (default 0, 1, 2, ...), and
  the last period ends one period after its start.

The integrals are exact: the change points of both series are merged and the integrands are
constant between two merged points.

* Under-/over-provisioning accuracy ``θ_U = (1/T) ∫ (d − s)⁺ / d dt``,
  ``θ_O = (1/T) ∫ (s − d)⁺ / d dt`` (relative; ``relative=False`` drops the division by d,
  giving resource units). Where ``d = 0`` the relative integrand is undefined; such stretches
  contribute 0 to the relative forms (they are skipped) while ``T`` stays the whole run, so
  over-provisioning while nothing is demanded shows only in the absolute form and the
  timeshare.
* Timeshares ``τ_U = (1/T) ∫ 1[d > s] dt``, ``τ_O = (1/T) ∫ 1[s > d] dt``.
* Jitter ``j = (E_s − E_d) / T``: supply adaptations minus demand changes per unit of time,
  counting unit steps (a +4 jump counts 4; BUNGEE's ``AbstractScaleEvents``). Per unit of the
  times given (per period for per-period arrays without ``times``).
* Instability ``k`` (Herbst et al. 2018), on the changes between consecutive samples, not
  on the levels: ``k = 1/(t_n − t_1) Σ_{i=2..n} min(|sgn Δs_i − sgn Δd_i|, 1)
  (t_i − t_{i−1})``: the share of time in which supply and demand do not move the same way.
  It counts all of: supply up while demand stays or falls, supply stays while demand falls,
  supply falls while demand stays or rises, supply stays while demand rises. It splits
  exactly into two one-sided parts, ``k = k_up + k_down``: ``k_up`` where
  ``sgn Δs > sgn Δd`` (supply moves up relative to demand: rises too early or falls too
  late) and ``k_down`` where ``sgn Δs < sgn Δd`` (supply moves down relative to demand:
  falls too early or rises too late). The samples are the periods of per-period arrays, or
  the merged change points (with the end of the run) of change-point series.
* Elastic speedup against a baseline ``b``:
  ``ε = (θ_U,b/θ_U · θ_O,b/θ_O · τ_U,b/τ_U · τ_O,b/τ_O)^(1/4)``; above 1 is better. It is
  **infinite** for a policy that never under-provisions (θ_U = τ_U = 0) against a baseline
  that does, or never over-provisions against one that does; 0 in the mirror cases; NaN
  when each is perfect on a metric the other is not. These values are returned as they are
  (``math.inf``, ``0.0``, ``math.nan``), never dropped: :func:`elastic_speedup_status` says
  which case a value is ("no under-provisioning", ...), so a report can show it by name
  instead of averaging the finite values of a hidden subset of runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Keys of :func:`elasticity_metrics` that :func:`elastic_speedup` combines.
SPEEDUP_KEYS: tuple[str, ...] = (
    "accuracy_under",
    "accuracy_over",
    "timeshare_under",
    "timeshare_over",
)

Series = Any  # change points (n, 2) or a per-period 1-D array


def _as_steps(x: Series, times: Sequence[float] | np.ndarray | None, what: str):
    """(change times, amounts, end time, per_period) of one series."""
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        raise ValueError(f"{what} is empty")
    if np.isnan(a).any():
        raise ValueError(f"{what} contains NaN; fill or drop missing periods first")
    if a.ndim == 2 and a.shape[1] == 2:
        if times is not None:
            raise ValueError(f"times applies to per-period arrays; {what} has change points")
        t, v = a[:, 0], a[:, 1]
        if np.any(np.diff(t) < 0):
            raise ValueError(f"{what} change points must be in time order")
        return t, v, float(t[-1]), False
    if a.ndim != 1:
        raise ValueError(
            f"{what} must be change points of shape (n, 2) or a 1-D per-period array, "
            f"got shape {a.shape}"
        )
    if times is None:
        t = np.arange(len(a), dtype=float)
        period = 1.0
    else:
        t = np.asarray(times, dtype=float)
        if t.shape != a.shape:
            raise ValueError(f"times has {t.size} entries, {what} has {a.size} periods")
        if len(t) < 2:
            raise ValueError("times needs at least two periods to give the period length")
        steps = np.diff(t)
        period = float(steps[0])
        if period <= 0 or not np.allclose(steps, period, rtol=1e-9, atol=1e-9 * abs(period)):
            raise ValueError("times must be increasing by one period length")
    return t, a, float(t[-1] + period), True


def _value_at(t: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The step function's amount at each grid time (the last change point at or before)."""
    return v[np.searchsorted(t, grid, side="right") - 1]


def _merge(supply: Series, demand: Series, times=None):
    """Merged intervals: (left edges, widths, supply, demand, T, sample grid, s at grid,
    d at grid)."""
    ts, vs, end_s, per_s = _as_steps(supply, times, "supply")
    td, vd, end_d, per_d = _as_steps(demand, times, "demand")
    if per_s != per_d:
        raise ValueError("supply and demand must both be change points or both per-period arrays")
    if ts[0] != td[0]:
        raise ValueError(f"supply starts at {ts[0]:g}, demand at {td[0]:g}; they must agree")
    if per_s and len(vs) != len(vd):
        raise ValueError(f"supply has {len(vs)} periods, demand {len(vd)}")
    start, end = float(ts[0]), max(end_s, end_d)
    if end <= start:
        raise ValueError("the run has zero duration")
    edges = np.unique(np.concatenate([ts, td, [end]]))
    s_at, d_at = _value_at(ts, vs, edges), _value_at(td, vd, edges)
    widths = np.diff(edges)
    if per_s:  # samples are the periods
        grid, gs, gd = ts, vs, vd
    else:  # samples are the merged change points, with the end of the run
        grid, gs, gd = edges, s_at, d_at
    return edges[:-1], widths, s_at[:-1], d_at[:-1], end - start, grid, gs, gd


def _accuracy(gap: np.ndarray, d: np.ndarray, widths: np.ndarray, T: float, relative: bool):
    gap = np.maximum(gap, 0.0)
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.where(d > 0, gap / np.where(d > 0, d, 1.0), 0.0)
    return float(np.sum(gap * widths) / T)


def under_provisioning_accuracy(
    supply: Series, demand: Series, relative: bool = True, *, times=None
) -> float:
    """θ_U = (1/T) ∫ (d − s)⁺ / d dt: how much demand goes unmet, on average.

    Parameters
    ----------
    supply, demand : change points ``[(time, amount), ...]`` or per-period 1-D arrays
        The resources provisioned and the resources needed (see the module docstring).
    relative : bool, default True
        Divide by demand (a fraction; x100 for %); stretches with zero demand are skipped.
        False gives the absolute form, in resource units.
    times : array or None, default None
        Period start times for per-period arrays (default 0, 1, 2, ...).
    """
    _, w, s, d, T, *_ = _merge(supply, demand, times)
    return _accuracy(d - s, d, w, T, relative)


def over_provisioning_accuracy(
    supply: Series, demand: Series, relative: bool = True, *, times=None
) -> float:
    """θ_O = (1/T) ∫ (s − d)⁺ / d dt: how much supply is surplus, on average.

    Parameters are those of :func:`under_provisioning_accuracy`; with ``relative`` True,
    surplus while nothing is demanded (d = 0) is skipped.
    """
    _, w, s, d, T, *_ = _merge(supply, demand, times)
    return _accuracy(s - d, d, w, T, relative)


def under_provisioning_timeshare(supply: Series, demand: Series, *, times=None) -> float:
    """τ_U = (1/T) ∫ 1[d > s] dt: the share of time with too little supply.

    Parameters are those of :func:`under_provisioning_accuracy`.
    """
    _, w, s, d, T, *_ = _merge(supply, demand, times)
    return float(np.sum(w[d > s]) / T)


def over_provisioning_timeshare(supply: Series, demand: Series, *, times=None) -> float:
    """τ_O = (1/T) ∫ 1[s > d] dt: the share of time with too much supply.

    Parameters are those of :func:`under_provisioning_accuracy`.
    """
    _, w, s, d, T, *_ = _merge(supply, demand, times)
    return float(np.sum(w[s > d]) / T)


def _unit_steps(x: Series, times) -> float:
    _, v, _, _ = _as_steps(x, times, "series")
    return float(np.sum(np.abs(np.diff(v))))


def jitter(supply: Series, demand: Series, *, times=None) -> float:
    """j = (E_s − E_d) / T, unit steps of supply minus those of demand, per unit of time.

    Positive: supply oscillates more than demand; negative: it adapts too rarely.
    Parameters are those of :func:`under_provisioning_accuracy`.
    """
    *_, T, _, _, _ = _merge(supply, demand, times)
    return (_unit_steps(supply, times) - _unit_steps(demand, times)) / T


def _instability_parts(s: np.ndarray, d: np.ndarray, grid: np.ndarray) -> tuple[float, float]:
    """(k_up, k_down): the shares of time with sgn Δs > sgn Δd and with sgn Δs < sgn Δd."""
    if len(grid) < 2:
        return math.nan, math.nan
    diff = np.sign(np.diff(s)) - np.sign(np.diff(d))
    dt, span = np.diff(grid), grid[-1] - grid[0]
    return float(np.sum(dt[diff > 0]) / span), float(np.sum(dt[diff < 0]) / span)


def instability(supply: Series, demand: Series, *, times=None) -> float:
    """k (Herbst et al. 2018): the share of time in which supply and demand do not move the
    same way, ``1/(t_n − t_1) Σ min(|sgn Δs − sgn Δd|, 1) Δt`` over consecutive samples.

    Counts supply moving while demand stays, demand moving while supply stays, and the two
    moving in opposite directions. NaN with a single sample. Parameters are those of
    :func:`under_provisioning_accuracy`.
    """
    *_, grid, s, d = _merge(supply, demand, times)
    up, down = _instability_parts(s, d, grid)
    return up + down


def instability_parts(supply: Series, demand: Series, *, times=None) -> tuple[float, float]:
    """``(k_up, k_down)``, the one-sided parts of :func:`instability` (``k = k_up + k_down``):
    ``k_up`` the share of time with ``sgn Δs > sgn Δd`` (supply up while demand stays or
    falls, or supply stays while demand falls), ``k_down`` with ``sgn Δs < sgn Δd`` (supply
    down while demand stays or rises, or supply stays while demand rises)."""
    *_, grid, s, d = _merge(supply, demand, times)
    return _instability_parts(s, d, grid)


def elasticity_metrics(
    supply: Series, demand: Series, times: Sequence[float] | np.ndarray | None = None
) -> dict[str, float]:
    """All the metrics of one run.

    Parameters
    ----------
    supply, demand : per-period 1-D arrays (or change points ``[(time, amount), ...]``)
        Resources provisioned and needed, one amount per period.
    times : array or None, default None
        Period start times (equally spaced); default 0, 1, 2, ... so jitter is per period.

    Returns
    -------
    dict
        ``accuracy_under``, ``accuracy_over`` (relative θ_U, θ_O), ``accuracy_under_abs``,
        ``accuracy_over_abs`` (absolute, resource units), ``timeshare_under``,
        ``timeshare_over`` (τ_U, τ_O), ``jitter``, ``instability`` (k), its one-sided
        parts ``instability_up`` and ``instability_down`` (k = up + down) and
        ``duration`` (T).
    """
    _, w, s, d, T, grid, gs, gd = _merge(supply, demand, times)
    up, down = _instability_parts(gs, gd, grid)
    return {
        "accuracy_under": _accuracy(d - s, d, w, T, True),
        "accuracy_over": _accuracy(s - d, d, w, T, True),
        "accuracy_under_abs": _accuracy(d - s, d, w, T, False),
        "accuracy_over_abs": _accuracy(s - d, d, w, T, False),
        "timeshare_under": float(np.sum(w[d > s]) / T),
        "timeshare_over": float(np.sum(w[s > d]) / T),
        "jitter": (_unit_steps(supply, times) - _unit_steps(demand, times)) / T,
        "instability": up + down,
        "instability_up": up,
        "instability_down": down,
        "duration": T,
    }


def elasticity_from_metrics(metrics: Any) -> dict[str, float]:
    """:func:`elasticity_metrics` of a run's per-period metrics table
    (:attr:`sim.simulation.RunResult.metrics`): supply ``supply_tasks`` (tasks serving,
    averaged over the period), demand ``demand_tasks`` (tasks the SLO needs), times
    ``time_s`` in minutes so that jitter is per minute, as BUNGEE reports it."""
    return elasticity_metrics(
        np.asarray(metrics["supply_tasks"], dtype=float),
        np.asarray(metrics["demand_tasks"], dtype=float),
        times=np.asarray(metrics["time_s"], dtype=float) / 60.0,
    )


def elastic_speedup(
    metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, float],
    keys: Sequence[str] = SPEEDUP_KEYS,
) -> float:
    """ε = (Π_k baseline[k] / metrics[k])^(1/n) over ``keys``; above 1 beats the baseline.

    Parameters
    ----------
    metrics, baseline_metrics : mapping
        Results of :func:`elasticity_metrics` for the policy and for the baseline.
    keys : sequence of str, default ``SPEEDUP_KEYS``
        θ_U, θ_O, τ_U, τ_O (relative accuracies), as in Herbst et al. (2018).

    Returns
    -------
    float
        ε, or one of three explicit values: ``math.inf`` when the policy is perfect (0) on
        a metric where the baseline is not, e.g. a policy that never under-provisions
        (θ_U = τ_U = 0); ``0.0`` in the mirror case; ``math.nan`` when each is perfect on a
        metric the other is not. :func:`elastic_speedup_status` names the case.

    Notes
    -----
    A metric that is 0 for both is a tie (ratio 1).
    """
    logs = []
    for k in keys:
        m, b = float(metrics[k]), float(baseline_metrics[k])
        if m < 0 or b < 0 or math.isnan(m) or math.isnan(b):
            raise ValueError(f"elastic speedup needs metrics >= 0; {k}: {m} vs baseline {b}")
        if m == 0 and b == 0:
            logs.append(0.0)
        elif m == 0:
            logs.append(math.inf)
        elif b == 0:
            logs.append(-math.inf)
        else:
            logs.append(math.log(b) - math.log(m))
    if math.inf in logs and -math.inf in logs:
        return math.nan
    return math.exp(sum(logs) / len(logs))


#: What :func:`elastic_speedup_status` returns for a finite, positive speedup.
FINITE = "finite"


def elastic_speedup_status(
    metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, float],
    keys: Sequence[str] = SPEEDUP_KEYS,
) -> str:
    """Which case :func:`elastic_speedup` is in, for a report to show by name.

    ``"finite"``; ``"no under-provisioning"`` / ``"no over-provisioning"`` (the policy is 0 on
    the under- or over-provisioning metrics where the baseline is not: ε is infinite);
    ``"baseline: no under-provisioning"`` / ``"baseline: no over-provisioning"`` (ε is 0);
    ``"undefined"`` (ε is NaN: each perfect where the other is not).
    """
    policy_perfect = [k for k in keys if float(metrics[k]) == 0 and float(baseline_metrics[k]) > 0]
    baseline_perfect = [
        k for k in keys if float(baseline_metrics[k]) == 0 and float(metrics[k]) > 0
    ]
    if policy_perfect and baseline_perfect:
        return "undefined"

    def sides(perfect: list[str]) -> str:
        under = any(k.endswith("_under") for k in perfect)
        over = any(k.endswith("_over") for k in perfect)
        if under and over:
            return "no under- or over-provisioning"
        return "no under-provisioning" if under else "no over-provisioning"

    if policy_perfect:
        return sides(policy_perfect)
    if baseline_perfect:
        return "baseline: " + sides(baseline_perfect)
    return FINITE


def never_under_provisions(metrics: Mapping[str, float]) -> bool:
    """True when a run never under-provisions (θ_U = τ_U = 0): its elastic speedup against
    any baseline that does is infinite, reported as "no under-provisioning"."""
    return float(metrics["accuracy_under"]) == 0 and float(metrics["timeshare_under"]) == 0
