"""The SPEC Research Group elasticity metrics (Herbst et al., ACM TOMPECS 2018; BUNGEE,
package ``tools.descartes.bungee.metric``), as /work/shared/reference/autoscaling.md defines
them in "How researchers score autoscalers: the SPEC RG elasticity metrics".

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
* Instability ``k`` (and its mirror ``k'``), computed on the changes between consecutive
  samples, not on the levels: ``k = 1/(t_n − t_1) Σ_{i=2..n} min((sgn Δs_i − sgn Δd_i)⁺, 1)
  (t_i − t_{i−1})`` and ``k'`` with ``s`` and ``d`` swapped. ``k`` is the share of time in
  which supply moves up while demand does not (or stays while demand falls); ``k'`` the share
  in which demand moves up while supply does not (or supply falls while demand stays). The
  samples are the periods of per-period arrays, or the merged change points (with the end of
  the run) of change-point series.
* Elastic speedup against a baseline ``b``:
  ``ε = (θ_U,b/θ_U · θ_O,b/θ_O · τ_U,b/τ_U · τ_O,b/τ_O)^(1/4)``; above 1 is better.
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


def _instability(a: np.ndarray, b: np.ndarray, grid: np.ndarray) -> float:
    """1/(t_n − t_1) Σ min((sgn Δa − sgn Δb)⁺, 1) Δt over consecutive samples."""
    if len(grid) < 2:
        return math.nan
    moves = np.minimum(np.maximum(np.sign(np.diff(a)) - np.sign(np.diff(b)), 0.0), 1.0)
    return float(np.sum(moves * np.diff(grid)) / (grid[-1] - grid[0]))


def instability(supply: Series, demand: Series, *, times=None) -> float:
    """k: the share of time in which supply moves in a direction demand does not.

    On the changes between consecutive samples: supply up while demand stays or falls, or
    supply stays while demand falls (``(sgn Δs − sgn Δd)⁺`` capped at 1). NaN with a single
    sample. Parameters are those of :func:`under_provisioning_accuracy`.
    """
    *_, grid, s, d = _merge(supply, demand, times)
    return _instability(s, d, grid)


def instability_prime(supply: Series, demand: Series, *, times=None) -> float:
    """k': the mirror image of :func:`instability` (``(sgn Δd − sgn Δs)⁺``): demand moves up
    while supply does not, or supply falls while demand stays."""
    *_, grid, s, d = _merge(supply, demand, times)
    return _instability(d, s, grid)


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
        ``timeshare_over`` (τ_U, τ_O), ``jitter``, ``instability`` (k),
        ``instability_prime`` (k') and ``duration`` (T).
    """
    _, w, s, d, T, grid, gs, gd = _merge(supply, demand, times)
    return {
        "accuracy_under": _accuracy(d - s, d, w, T, True),
        "accuracy_over": _accuracy(s - d, d, w, T, True),
        "accuracy_under_abs": _accuracy(d - s, d, w, T, False),
        "accuracy_over_abs": _accuracy(s - d, d, w, T, False),
        "timeshare_under": float(np.sum(w[d > s]) / T),
        "timeshare_over": float(np.sum(w[s > d]) / T),
        "jitter": (_unit_steps(supply, times) - _unit_steps(demand, times)) / T,
        "instability": _instability(gs, gd, grid),
        "instability_prime": _instability(gd, gs, grid),
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
        θ_U, θ_O, τ_U, τ_O (relative accuracies), as in the reference's definition.

    Notes
    -----
    A metric that is 0 for both is a tie (ratio 1). A metric that is 0 for the policy only
    makes ε infinite, for the baseline only makes it 0; both at once (the policy perfect on
    one metric, the baseline on another) leave ε undefined: NaN.
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
