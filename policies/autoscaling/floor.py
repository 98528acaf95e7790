"""The cost floor: the cheapest serving schedule over a known future, by dynamic programming.

Given the tasks needed in each metric period (``demand_tasks``, the fewest serving tasks whose
p99 meets the SLO at that period's load, see :mod:`sim.metrics`), :func:`cost_floor` finds the
cheapest schedule of serving task counts ``n[t]`` such that at least ``good_bar`` of the
periods are *good* (``n[t] >= demand[t]``). It is the floor every autoscaler is scored
against: no policy, however clever, can bill less at the same good-period fraction.

The cost model (billed task-seconds, times the price per task-second)
--------------------------------------------------------------------
A task serving in periods ``t0 .. t1`` is billed its start-up before ``t0`` (image pull,
container start and health checks: it does not serve yet), its serving time ``(t1 - t0 + 1)
x period_s``, and its draining after ``t1`` (the deregistration delay, SIGTERM and
deprovisioning). So a schedule costs::

    sum_t n[t] x period_s                   (hold: every serving task-period)
  + startup_s x sum_t max(0, n[t] - n[t-1])   (each launch, amortised to the period it serves)
  + drain_s   x sum_t max(0, n[t-1] - n[t])   (each stop; cut at the end of the horizon)

with ``n[-1] = initial_tasks`` serving at time 0 and billed from then (a warm start: no
start-up). Tasks still serving at the end are billed up to the end, with no draining, as the
simulator does. Stopping costs ``min(drain_s, (N - t - 1) x period_s)`` for a stop into period
``t`` (the draining billed inside the horizon; one period optimistic, see below). With
``free_initial`` the schedule may start from any warm count up to ``initial_tasks``.

Why this is a lower bound on any run
------------------------------------
Let a run's serving count be ``s(tau)`` and ``supply[t]`` its mean over period ``t`` (the
``supply_tasks`` metric). If ``supply[t] >= demand[t]`` then ``m[t] = floor(supply[t]) >=
demand[t]`` (demand is a whole number), so ``m`` is good wherever the run is. Each ``m[t]``
lies between the least and the most ``s`` takes in period ``t``, so some instant ``tau_t`` of
the period has ``s(tau_t) = m[t]`` (joining the jumps of ``s`` by ramps); then every rise of
``m`` is at least as many tasks turning healthy between ``tau_{t-1}`` and ``tau_t``, each
billed at least ``startup_s`` before it served, and every fall at least as many tasks
deregistered, each billed its draining. A fall into ``m[t]`` is a deregistration no later than
the end of period ``t``, so the draining it bills inside the horizon is at least ``min(drain_s,
(N - t - 1) x period_s)``; a rise into ``m[t]`` is a task healthy by the end of period ``t``,
launched at least the shortest start-up before, hence no rise before ``startup_periods``. The
run's serving task-seconds are ``sum supply[t] x period_s >= sum m[t] x period_s``. So the
run bills at least what the schedule ``m`` costs in the model above, which is at least the
optimum. Every assumption is taken in the floor's favour: the shortest start-up the model
allows (:func:`floor_inputs` states each choice), the cheapest price among the capacity
providers, no faults (a crashed task skips its draining), no tasks that start but never
serve, the launch limit widened by the spread of start-up times.

Two definitions of a good minute: here a period is good when the serving tasks cover the
demand (``supply_tasks >= demand_tasks``); the simulator's ``good_minutes_fraction`` asks that
the period's p99 and error rate meet the SLO. They agree in steady state; they differ where a
backlog left by an earlier bad period makes a covered period bad (the simulator stricter), or
where a period whose mean supply falls just short of the demand still meets the p99 (the
simulator more lenient). The floor is a lower bound for runs compared at their *covered*
fraction; tests/policies/test_floor.py measures both.

The method: DP over (period, bad periods so far, serving count)
-------------------------------------------------------------
The transition cost from ``i`` to ``j`` tasks is linear in ``|j - i|`` (``startup_s`` per
launch, ``drain_s`` per stop), so ``min_i V(i) + cost(i, j)`` for all ``j`` splits into a
running minimum of ``V(i) - startup_s x i`` over ``i <= j`` and one of ``V(i) + drain_s x i``
over ``i >= j``: O(M) per period for M + 1 counts, vectorised with numpy, instead of O(M^2).
The launch limit ``n[t] - n[t-1] <= max_launch_per_period``, when it binds (fewer than M),
makes the first a sliding-window minimum, computed in O(M x U); with the experiment's 300
tasks and the service limit of 500 launches per minute it never binds.

"At least ``good_bar`` of the periods good" couples all periods. Two ways were built and
measured (``method``):

* ``"exact"`` (the default): the state carries the bad periods so far, ``b <= B`` with ``B =
  floor((1 - good_bar) x N)``, one row of the value array per ``b``; a short count moves a
  schedule one row down. Exact, O(N x B x M). The plan is recovered from checkpoints of the
  value array in a second pass (``want_plan``), so memory stays small.
* ``"lagrangian"``: a penalty ``lam`` per bad period instead of the count, one DP per ``lam``
  (16 at once, vectorised), maximising the concave dual ``g(lam) = min_x [cost(x) + lam x
  bad(x)] - lam x B`` over ``lam``. Every ``g(lam)`` is a lower bound on the cheapest schedule
  with at most B bad periods (weak duality), equal to it only where B is a vertex of the lower
  convex hull of (bad periods, cheapest cost); between vertices it is the hull's linear
  interpolation, below the optimum. The plan it returns is the Lagrangian optimum just above
  the dual optimum: it meets the bar but may cost more than the optimum.

Measured on 7 days of one-minute periods (10,080) with up to 300 tasks and a noisy daily
demand (benchmarks/bench_floor.py, figures in the README): at ``good_bar = 1`` both are one DP
(``B`` is then the fewest bad periods possible, found with a penalty above any schedule's
cost, which is exact). At 0.99 the Lagrangian bound was 0.05% under the exact optimum but its
plan 1.6% over it: the hull is far from the curve there (a bad period saves little unless it
spares a launch), so the plan it yields is poor. The exact DP is kept as the default, slower
(B = 100 rows) but exact in both the cost and the plan. A MILP (scipy.optimize.milp) was not
chosen: N x M integer counts with a binary per period are an instance size whose solve time
is not bounded, while the DP is exact in polynomial time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Tolerance when turning a good-period fraction into a count of allowed bad periods.
_EPS = 1e-9

#: Penalty values evaluated per bisection pass (one vectorised DP each pass).
_GRID = 16
_PASSES = 4


@dataclass(frozen=True)
class FloorPlan:
    """The result of :func:`cost_floor`.

    ``serving[t]`` tasks serve in period ``t``; ``launches[t]`` of them start serving at its
    start and ``stops[t]`` tasks stop serving then (all three None without ``want_plan``).
    ``cost_usd`` is the floor: the exact optimum (method "exact") or a lower bound on it
    (method "lagrangian", the dual value). ``plan_cost_usd`` is the cost of ``serving`` in the
    same model, equal to ``cost_usd`` when the plan is optimal. ``good_fraction`` is the plan's
    share of periods with ``serving >= demand``. ``feasible`` is False when no schedule reaches
    ``good_bar`` (demand above ``max_tasks``, or rising before a task launched at time 0 could
    serve); the plan is then the cheapest with the fewest bad periods possible. ``penalty_s``
    is the penalty per bad period (billed task-seconds) the plan was found at (NaN for the
    exact method). ``billed_task_s`` is the plan's billed task-seconds.
    """

    serving: np.ndarray | None
    launches: np.ndarray | None
    stops: np.ndarray | None
    cost_usd: float
    plan_cost_usd: float
    good_fraction: float
    good_bar: float
    feasible: bool
    penalty_s: float
    billed_task_s: float


def schedule_billed_s(
    serving: np.ndarray,
    period_s: float,
    *,
    startup_s: float,
    drain_s: float,
    initial_tasks: int = 0,
) -> float:
    """Billed task-seconds of a serving schedule in the floor's model (see the module docstring).

    A stop into period ``t`` of ``N`` bills ``min(drain_s, (N - t - 1) x period_s)``.
    """
    n = np.asarray(serving, dtype=np.int64)
    steps = np.diff(np.concatenate([[int(initial_tasks)], n]))
    t = np.arange(len(n))
    drain = np.minimum(drain_s, (len(n) - t - 1) * period_s)
    return float(
        n.sum() * period_s
        + startup_s * np.maximum(steps, 0).sum()
        + (drain * np.maximum(-steps, 0)).sum()
    )


def _suffix_argmin(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum of ``a[..., i:]`` for every ``i`` (along the last axis) and an index attaining
    it."""
    rev = a[..., ::-1]
    m = np.minimum.accumulate(rev, axis=-1)
    idx = np.arange(a.shape[-1])
    last = np.maximum.accumulate(np.where(rev == m, idx, 0), axis=-1)
    return m[..., ::-1], (a.shape[-1] - 1 - last)[..., ::-1]


def _prefix_argmin(a: np.ndarray, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Minimum of ``a[..., i - window : i + 1]`` (all of ``a[..., : i + 1]`` when ``window``
    is None) for every ``i``, and an index attaining it."""
    idx = np.arange(a.shape[-1])
    if window is None:
        m = np.minimum.accumulate(a, axis=-1)
        return m, np.maximum.accumulate(np.where(a == m, idx, 0), axis=-1)
    m, arg = a.copy(), np.broadcast_to(idx, a.shape).copy()
    for k in range(1, window + 1):  # O(M x window): only where the launch limit binds
        better = a[..., :-k] < m[..., k:]
        m[..., k:] = np.where(better, a[..., :-k], m[..., k:])
        arg[..., k:] = np.where(better, idx[:-k], arg[..., k:])
    return m, arg


def _prefix_min(a: np.ndarray, window: int | None) -> np.ndarray:
    """Minimum over ``a[..., i - window : i + 1]`` along the last axis (no window: a running
    minimum)."""
    if window is None:
        return np.minimum.accumulate(a, axis=-1)
    m = a.copy()
    for k in range(1, window + 1):  # O(M x window): only where the launch limit binds
        np.minimum(m[..., k:], a[..., :-k], out=m[..., k:])
    return m


class _Problem:
    """The DP's data: per-period needs and the linear costs (billed task-seconds)."""

    def __init__(
        self,
        need: np.ndarray,
        *,
        hold: float,
        launch: float,
        drain: np.ndarray,
        top: int,
        lo: int,
        initial: int,
        first_up: int,
        window: int | None,
        free_initial: bool = False,
    ) -> None:
        self.need, self.hold, self.launch, self.drain = need, hold, launch, drain
        self.top, self.lo, self.initial = top, lo, initial
        self.free_initial = free_initial
        self.first_up, self.window = first_up, window

    def _starts(self) -> slice:
        """The counts a schedule may start from (free of cost): the warm start, or any count
        up to it with ``free_initial``."""
        return slice(0 if self.free_initial else self.initial, self.initial + 1)

    def _forward(
        self,
        value: np.ndarray,
        t0: int,
        t1: int,
        *,
        lam: np.ndarray | None = None,
        checkpoints: list[np.ndarray] | None = None,
        segment: int = 0,
    ) -> np.ndarray:
        """Advance the value array over periods [t0, t1), in place (the hot loop).

        With ``lam`` (one penalty per row) a short count adds the row's penalty; without it,
        row ``b`` holds schedules with ``b`` bad periods and a short count moves one row down.
        With ``checkpoints``, a copy of the array at each multiple of ``segment`` is kept.
        """
        width = value.shape[-1]
        jf = np.arange(width, dtype=float)
        up_slope, hold_j = self.launch * jf, self.hold * jf
        lam_col = None if lam is None else lam[:, None]
        down, up = np.empty_like(value), np.empty_like(value)
        drain_prev, down_slope = None, jf
        for t in range(t0, t1):
            if checkpoints is not None and t % segment == 0:
                checkpoints.append(value.copy())
            d = self.drain[t]
            if d != drain_prev:
                down_slope, drain_prev = d * jf, d
            np.add(value, down_slope, out=down)
            np.minimum.accumulate(down[:, ::-1], axis=-1, out=down[:, ::-1])
            down -= down_slope
            if t >= self.first_up:
                np.subtract(value, up_slope, out=up)
                if self.window is None:
                    np.minimum.accumulate(up, axis=-1, out=up)
                else:
                    up = _prefix_min(up, self.window)
                up += up_slope
                np.minimum(up, down, out=value)
            else:
                value[:] = down
            value += hold_j
            need = min(int(self.need[t]), width)
            if need > 0:
                if lam_col is not None:
                    value[:, :need] += lam_col
                else:
                    value[1:, :need] = value[:-1, :need].copy()
                    value[0, :need] = np.inf
            if self.lo:
                value[:, : self.lo] = np.inf
        return value

    def lagrangian(self, lam: np.ndarray) -> np.ndarray:
        """min over schedules of cost + lam x bad periods, for every penalty in ``lam`` at
        once (one row per penalty)."""
        value = np.full((len(lam), self.top + 1), np.inf)
        value[:, self._starts()] = 0.0
        return self._forward(value, 0, len(self.need), lam=lam).min(axis=-1)

    def _step(self, value: np.ndarray, t: int, track: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """min over the previous count of value + transition cost, per row, for period
        ``t``; with ``track``, also the previous count attaining it."""
        jf = np.arange(value.shape[-1], dtype=float)
        d = self.drain[t]
        if track:
            down, arg = _suffix_argmin(value + d * jf)
        else:
            down, arg = np.minimum.accumulate((value + d * jf)[..., ::-1], axis=-1)[..., ::-1], None
        down = down - d * jf
        if t >= self.first_up:
            shifted = value - self.launch * jf
            if track:
                up, arg_up = _prefix_argmin(shifted, self.window)
            else:
                up, arg_up = _prefix_min(shifted, self.window), None
            up = up + self.launch * jf
            use_up = up < down
            down = np.where(use_up, up, down)
            if track:
                arg = np.where(use_up, arg_up, arg)
        return down, arg

    def path(self, lam: float) -> np.ndarray:
        """The serving counts of a schedule minimising cost + lam x bad periods."""
        n, width = len(self.need), self.top + 1
        hold_j = self.hold * np.arange(width, dtype=float)
        value = np.full(width, np.inf)
        value[self._starts()] = 0.0
        preds = np.empty((n, width), dtype=np.int32)
        for t, need in enumerate(self.need):
            value, arg = self._step(value, t, track=True)
            value += hold_j
            value[: min(need, width)] += lam
            value[: self.lo] = np.inf
            preds[t] = arg
        out = np.empty(n, dtype=np.int64)
        cur = int(np.argmin(value))
        for t in range(n - 1, -1, -1):
            out[t] = cur
            cur = int(preds[t, cur])
        return out

    def _exact_step(
        self, value: np.ndarray, t: int, track: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One period of the exact DP: row ``b`` holds schedules with ``b`` bad periods."""
        width = value.shape[-1]
        best, arg = self._step(value, t, track)
        need = min(int(self.need[t]), width)
        out = best + self.hold * np.arange(width, dtype=float)
        if need > 0:  # a count short of the need makes the period bad: one row down
            out[1:, :need] = out[:-1, :need]
            out[0, :need] = np.inf
            if arg is not None:
                arg[1:, :need] = arg[:-1, :need]
        out[:, : self.lo] = np.inf
        return out, arg

    def exact(
        self, budget: int, want_path: bool = True, segment: int = 256
    ) -> tuple[float, int, np.ndarray | None]:
        """The cheapest schedule with at most ``budget`` bad periods, exactly: a DP over
        (period, bad periods so far, serving count). Returns its cost, its bad periods and,
        with ``want_path``, its serving counts, recovered segment by segment from checkpoints
        of the value array (a second pass), so memory stays O(segment x budget x M)."""
        n, width, rows = len(self.need), self.top + 1, budget + 1
        value = np.full((rows, width), np.inf)
        value[0, self._starts()] = 0.0
        checkpoints: list[np.ndarray] = []
        value = self._forward(
            value, 0, n, checkpoints=checkpoints if want_path else None, segment=segment
        )
        b, j = np.unravel_index(int(np.argmin(value)), value.shape)
        cost, bad = float(value[b, j]), int(b)
        if not want_path:
            return cost, bad, None
        out = np.empty(n, dtype=np.int64)
        b, j = int(b), int(j)
        for s in range(len(checkpoints) - 1, -1, -1):
            t0, t1 = s * segment, min(n, (s + 1) * segment)
            v = checkpoints[s]
            preds = np.empty((t1 - t0, rows, width), dtype=np.int32)
            for t in range(t0, t1):
                v, arg = self._exact_step(v, t, track=True)
                assert arg is not None
                preds[t - t0] = arg
            for t in range(t1 - 1, t0 - 1, -1):
                out[t] = j
                prev = int(preds[t - t0, b, j])
                b -= int(j < self.need[t])
                j = prev
        return cost, bad, out


def cost_floor(
    demand_tasks: np.ndarray,
    period_s: float,
    *,
    price_per_task_s: float,
    startup_s: float,
    drain_s: float,
    min_billed_s: float = 60.0,
    max_launch_per_period: int | None = None,
    good_bar: float = 1.0,
    min_tasks: int = 0,
    max_tasks: int | None = None,
    initial_tasks: int = 0,
    free_initial: bool = False,
    startup_periods: int = 0,
    method: str = "exact",
    want_plan: bool = True,
) -> FloorPlan:
    """The cheapest serving schedule over a known future with at least ``good_bar`` good periods.

    Parameters
    ----------
    demand_tasks : array of N numbers
        Tasks needed per period (whole numbers; ``inf`` where no count suffices).
    period_s : float
        Period length in seconds (the metric period).
    price_per_task_s : float
        USD per billed task-second.
    startup_s : float
        Billed seconds before a task serves (amortised to the period it first serves).
    drain_s : float
        Billed seconds after a task stops serving (cut at the end of the horizon).
    min_billed_s : float
        The per-task billing minimum. Every task the floor launches serves at least one
        period, so its bill is at least ``startup_s + period_s`` (plus its draining); when that
        reaches ``min_billed_s`` (always, for one-minute periods) the minimum can never bind
        and the floor is exact with respect to it. Otherwise it is not charged: dropping a
        constraint keeps a lower bound a lower bound.
    max_launch_per_period : int or None
        Most tasks that may start serving in one period (None: unlimited).
    good_bar : float in [0, 1]
        Least fraction of periods with ``serving >= demand``.
    min_tasks, max_tasks : int
        Bounds on the serving count (``max_tasks`` None: the most ever needed).
    initial_tasks : int
        Tasks serving at time 0, billed from then without start-up (a warm start).
    free_initial : bool
        Let the schedule start from any count up to ``initial_tasks`` (each warm task costs
        nothing before time 0). The floor is then a lower bound for runs with any warm start
        up to ``initial_tasks`` at once (a warm start is not only a saving: a surplus warm
        task must be held or drained). The plan's cost counts ``min(serving[0],
        initial_tasks)`` warm tasks.
    startup_periods : int
        The first period a launched task can serve in: no count above ``initial_tasks``
        before it (a task launched at time 0 serves only after its start-up).
    method : "exact" or "lagrangian"
        How the good-period bar is met (see the module docstring): exactly (the default) or
        by a Lagrangian penalty (a lower bound, and a feasible plan that may cost more).
    want_plan : bool
        False skips recovering the schedule (the exact method's second pass): ``serving``,
        ``launches`` and ``stops`` are then None and the cost is exact.

    Returns
    -------
    FloorPlan
        The plan and its cost; ``cost_usd`` is a lower bound on every schedule meeting the
        bar in this model (see the module docstring).
    """
    demand = np.asarray(demand_tasks, dtype=float)
    if demand.ndim != 1 or len(demand) == 0:
        raise ValueError("cost_floor: demand_tasks must be a non-empty 1-D array")
    if np.isnan(demand).any() or (demand < 0).any():
        raise ValueError("cost_floor: demand_tasks must be >= 0 and not NaN")
    for name, v in (("period_s", period_s), ("price_per_task_s", price_per_task_s)):
        if not v > 0:
            raise ValueError(f"cost_floor: {name} must be > 0, got {v!r}")
    for name, v in (("startup_s", startup_s), ("drain_s", drain_s), ("min_billed_s", min_billed_s)):
        if not v >= 0:
            raise ValueError(f"cost_floor: {name} must be >= 0, got {v!r}")
    if not 0.0 <= good_bar <= 1.0:
        raise ValueError(f"cost_floor: good_bar must be in [0, 1], got {good_bar!r}")
    if method not in ("exact", "lagrangian"):
        raise ValueError(f"cost_floor: method must be 'exact' or 'lagrangian', got {method!r}")
    if max_launch_per_period is not None and max_launch_per_period < 0:
        raise ValueError("cost_floor: max_launch_per_period must be >= 0 or None")
    n = len(demand)
    finite = demand[np.isfinite(demand)]
    most = int(finite.max()) if len(finite) else 0
    top = max(most, int(initial_tasks), int(min_tasks))
    if max_tasks is not None:
        top = min(top, int(max_tasks))
    if not 0 <= min_tasks <= top:
        raise ValueError(f"cost_floor: min_tasks={min_tasks} is outside [0, {top}]")
    if not 0 <= initial_tasks <= top:
        raise ValueError(f"cost_floor: initial_tasks={initial_tasks} is outside [0, {top}]")
    # Needs above the top are unattainable: every count is short of them.
    need = np.where(demand > top, top + 1, np.ceil(demand - _EPS)).astype(np.int64)
    t = np.arange(n)
    drain = np.minimum(float(drain_s), np.maximum(n - t - 1, 0) * float(period_s))
    window = max_launch_per_period
    if window is not None and window >= top:
        window = None
    allowed_bad = int(math.floor((1.0 - good_bar) * n + _EPS))
    problem = _Problem(
        need,
        hold=float(period_s),
        launch=float(startup_s),
        drain=drain,
        top=top,
        lo=int(min_tasks),
        initial=int(initial_tasks),
        first_up=int(startup_periods),
        window=window,
        free_initial=free_initial,
    )

    def start(path: np.ndarray) -> int:
        return min(int(path[0]), int(initial_tasks)) if free_initial else int(initial_tasks)

    def billed(path: np.ndarray) -> float:
        return schedule_billed_s(
            path, period_s, startup_s=startup_s, drain_s=drain_s, initial_tasks=start(path)
        )

    def n_bad(path: np.ndarray) -> int:
        return int(np.sum(path < need))

    # A penalty above any schedule's cost ranks schedules by bad periods first: its optimum
    # has the fewest bad periods possible, and is the cheapest of those.
    big = float((top + 1) * n * (period_s + startup_s + drain_s) + 1.0)
    path: np.ndarray | None = problem.path(big)
    assert path is not None
    fewest = n_bad(path)
    feasible = fewest <= allowed_bad
    lam_plan, plan_s = big, billed(path)
    if fewest >= allowed_bad:
        bound_s = plan_s  # exact: no schedule has fewer bad periods, this is the cheapest
    elif method == "exact":
        bound_s, bad, exact_path = problem.exact(allowed_bad, want_path=want_plan)
        lam_plan = math.nan
        if exact_path is None:
            path, plan_s, good_count = None, bound_s, n - bad
        else:
            path, plan_s = exact_path, billed(exact_path)
    else:
        # Maximise the concave dual g(lam) = L(lam) - lam x B over a geometric grid, then
        # refine around the best point; every g(lam) is a lower bound.
        target = allowed_bad
        lams = np.concatenate([[0.0], np.geomspace(period_s / 100.0, big, _GRID - 1)])
        best_bound, lo_lam, hi_lam = -math.inf, 0.0, big
        for _ in range(_PASSES):
            g = problem.lagrangian(lams) - lams * target
            i = int(np.argmax(g))
            best_bound = max(best_bound, float(g[i]))
            lo_lam = float(lams[i - 1]) if i > 0 else float(lams[0])
            hi_lam = float(lams[i + 1]) if i + 1 < len(lams) else float(lams[i])
            lams = np.linspace(lo_lam, hi_lam, _GRID)
        # The plan: a penalty just above the dual optimum, where bad periods <= B.
        lam, step = hi_lam, max(hi_lam - lo_lam, period_s / 100.0)
        while lam < big:
            cand = problem.path(lam)
            if n_bad(cand) <= target:
                path, lam_plan, plan_s = cand, lam, billed(cand)
                break
            lam, step = lam + step, step * 4.0
        bad_plan = n_bad(path)
        best_bound = max(best_bound, plan_s + lam_plan * (bad_plan - target))
        bound_s = plan_s if bad_plan == target else min(best_bound, plan_s)
    if path is None:
        serving = launches = stops = None
        good_fraction = good_count / n
    else:
        steps = np.diff(np.concatenate([[start(path)], path]))
        serving, launches, stops = path, np.maximum(steps, 0), np.maximum(-steps, 0)
        good_fraction = float(np.mean(path >= need))
    return FloorPlan(
        serving=serving,
        launches=launches,
        stops=stops,
        cost_usd=bound_s * price_per_task_s,
        plan_cost_usd=plan_s * price_per_task_s,
        good_fraction=good_fraction,
        good_bar=float(good_bar),
        feasible=feasible,
        penalty_s=float(lam_plan),
        billed_task_s=plan_s,
    )


#: The simulator's shortest image pull, as a fraction of the mean: sim.tasks.start_time_draws
#: draws ``pull_mean x max(0.1, 1 + pull_jitter x N(0, 1))``.
MIN_PULL_FACTOR = 0.1


def covered_fraction(metrics: pd.DataFrame) -> float:
    """Share of periods whose serving supply covers the demand (``supply_tasks >=
    demand_tasks``): the good-period definition of :func:`cost_floor`, for any run."""
    supply = np.asarray(metrics["supply_tasks"], dtype=float)
    demand = np.asarray(metrics["demand_tasks"], dtype=float)
    return float(np.mean(supply >= demand - _EPS)) if len(demand) else 1.0


def floor_inputs(scenario: Any, initial_tasks: int | None = None) -> dict[str, Any]:
    """The keyword arguments of :func:`cost_floor` for a scenario, each taken in the floor's
    favour (so that no run of the scenario can bill less):

    * ``startup_s`` (billed before serving): the shortest image pull the simulator can draw
      (``MIN_PULL_FACTOR`` x the mean), the container start, and ``(healthy_threshold - 1) x
      health_check_interval``, the earliest the target group can count a target healthy (the
      first check may fall at once after registration; the simulator's check takes the full
      ``threshold x interval``). Billing starts at the image pull, so provisioning is not billed.
    * ``startup_periods``: the first period a task launched at time 0 can serve in, from the
      same shortest start plus the shortest provisioning.
    * ``drain_s``: the deregistration delay, SIGTERM to exit and deprovisioning, all billed
      (the simulator bills until STOPPED). Faults are assumed away: a crashed task skips its
      draining, so the floor is for fault-free runs.
    * ``price_per_task_s``: the cheapest capacity provider in the strategy (Spot at its
      discount when FARGATE_SPOT is listed), for the scenario's task size.
    * ``min_billed_s``: the one-minute minimum (sim.fargate.MINIMUM_BILLED_SECONDS).
    * ``max_launch_per_period``: the per-service launch limit (the scenario's
      ``launch_rate_per_minute``, default AWS's 500, "Rate of tasks launched by a service on
      AWS Fargate", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
      service-quotas.html) over one period widened by the
      spread of start-up times (the tasks that turn healthy in one period were launched within
      ``period + spread``); None (unlimited) when the pull time is random, whose spread is
      unbounded.
    * ``min_tasks`` 0 (a policy's minimum may be met by tasks still starting), ``max_tasks``
      the scenario's (no more tasks can serve than are desired), ``initial_tasks`` the
      scenario's warm start unless given.
    """
    from sim.fargate import MINIMUM_BILLED_SECONDS, TaskSize

    svc, run = scenario.service, scenario.run
    period = float(run.metrics_period)
    pull_min = svc.image_size_mb / svc.pull_mbps * (MIN_PULL_FACTOR if svc.pull_jitter > 0 else 1)
    health_min = (svc.healthy_threshold - 1) * svc.health_check_interval
    startup_billed = pull_min + svc.container_start + health_min
    first_serving = float(svc.provisioning[0]) + startup_billed
    spot = any(
        p.name == "FARGATE_SPOT" and (p.weight > 0 or p.base > 0) for p in svc.capacity_providers
    )
    size = TaskSize(svc.cpu, svc.memory, svc.arch)
    limit: int | None = None
    if svc.pull_jitter == 0:
        spread = float(svc.provisioning[1] - svc.provisioning[0]) + svc.health_check_interval
        limit = svc.launch_rate_per_minute * math.ceil((period + spread) / 60.0 - _EPS)
    return {
        "period_s": period,
        "price_per_task_s": size.price_per_second(spot, svc.spot_discount),
        "startup_s": startup_billed,
        "drain_s": svc.deregistration_delay + svc.stop_duration + svc.deprovisioning,
        "min_billed_s": MINIMUM_BILLED_SECONDS,
        "max_launch_per_period": limit,
        "min_tasks": 0,
        "max_tasks": svc.max_tasks,
        "initial_tasks": svc.initial_tasks if initial_tasks is None else int(initial_tasks),
        "startup_periods": int(math.floor(first_serving / period + _EPS)),
    }


def floor_for_metrics(
    metrics: pd.DataFrame,
    scenario: Any,
    *,
    good_bar: float = 0.99,
    initial_tasks: int | None = None,
) -> dict[str, float]:
    """The cost floor of one (trace, window) from the per-period metrics of any run of it.

    Every run of a window shares its realised load, so ``demand_tasks`` is the same in all of
    them; ``scenario`` gives the service (start-up, draining, price, limits: see
    :func:`floor_inputs`). ``good_bar`` defaults to the experiment's tuning bar, 0.99.

    The schedule may start from any warm count up to ``initial_tasks`` (default the
    scenario's), so the floor holds for every run whose warm start is at most that: where
    the runs of a window start differently (the experiment sizes static's warm start for the
    peak and the others' for the first minute), pass the largest.

    Returns ``floor_cost_usd`` (the lower bound: no fault-free run whose covered fraction,
    :func:`covered_fraction`, reaches ``good_bar`` bills less), ``floor_good_fraction`` (the
    optimal schedule's covered fraction, at least ``good_bar``), ``floor_plan_cost_usd`` (the
    same cost: the exact method's plan is optimal) and ``floor_feasible`` (1.0, or 0.0 when no
    schedule reaches the bar; the floor is then that of the fewest bad periods possible).
    """
    demand = np.asarray(metrics["demand_tasks"], dtype=float)
    plan = cost_floor(
        demand,
        good_bar=good_bar,
        want_plan=False,
        free_initial=True,
        **floor_inputs(scenario, initial_tasks),
    )
    return {
        "floor_cost_usd": plan.cost_usd,
        "floor_good_fraction": plan.good_fraction,
        "floor_plan_cost_usd": plan.plan_cost_usd,
        "floor_feasible": 1.0 if plan.feasible else 0.0,
    }
