"""Sample observations for the policy conformance suite: a synthetic service, deterministically.

:func:`sample_observations` turns a seed into a varied, reproducible sequence of
:class:`~policies.contract.Observation` at increasing times, spaced by a policy's own
``interval_s`` (60 s without a policy). Behind it is a synthetic service (100 requests/s per healthy task) whose
per-period load follows a daily-like wave with a spike and a stretch with no requests, and
whose fleet runs from slack (20% utilisation) to overload (120%). The metric history is what
CloudWatch would show: each period published 60 s after it ends, so the history starts empty
and grows over the sequence; CPU and memory have scattered missing datapoints and a gap of
four periods in a row; the load balancer's metrics are missing while there are no requests.
Individual observations also cover ``min_tasks == max_tasks``, a ``max_tasks`` lowered below
the desired count, a service scaled to zero, pending tasks, a deployment in progress, and,
for a policy that declares ``requires_future``, the future load.

The arrays handed out are read-only. The only randomness is a ``numpy.random.Generator``
built from ``seed``, so the same arguments give the same observations, bit for bit.
:mod:`policies.checks` runs its checks on these observations and re-exports
:func:`sample_observations`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from policies.contract import METRIC_NAMES, DeploymentState, FutureLoad, MetricHistory, Observation

#: Parameters of the synthetic service behind :func:`sample_observations`.
_CAPACITY_RPS = 100.0
_IDLE_CPU = 2.0
_PUBLICATION_DELAY = 60.0
_STARTUP_S = 209.0  # 10 s provisioning + 47 s pull + 2 s start + 150 s health checks
_RHO_SLO = 0.9


def _interval_of(policy: Any) -> float:
    try:
        step = float(policy.interval_s)
    except Exception:  # noqa: BLE001 - a broken interval is the interval check's business
        return 60.0
    return step if math.isfinite(step) and step > 0 else 60.0


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=float)
    a.flags.writeable = False
    return a


def _world(n_periods: int, period_s: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-period load and fleet of a plausible service: a daily-like wave, a spike, a quiet
    stretch with no requests, and CloudWatch's missing datapoints."""
    p = np.arange(n_periods, dtype=float)
    rate = 600.0 + 450.0 * np.sin(2 * np.pi * p / 40.0) + rng.normal(0.0, 40.0, n_periods)
    spike = (p >= 0.55 * n_periods) & (p < 0.55 * n_periods + 4)
    rate[spike] *= 3.5
    quiet = (p >= 0.3 * n_periods) & (p < 0.3 * n_periods + 3)
    rate[quiet] = 0.0
    rate = np.maximum(rate, 0.0)
    # Utilisation the fleet runs at: from slack (20%) to overload (120%).
    util = np.clip(0.65 + 0.45 * np.sin(2 * np.pi * p / 23.0 + 1.0), 0.2, 1.2)
    healthy = np.maximum(1.0, np.round(rate / (_CAPACITY_RPS * util)))
    starting = rng.integers(0, 3, n_periods) * (rng.random(n_periods) < 0.3)
    running = healthy + (rng.random(n_periods) < 0.2)
    desired = running + starting
    served_share = np.minimum(1.0, rate / (healthy * _CAPACITY_RPS))
    cpu = np.minimum(100.0, 100.0 * served_share * healthy / running + _IDLE_CPU)
    requests = rng.poisson(rate * period_s).astype(float)
    rho = np.minimum(0.99, rate / (healthy * _CAPACITY_RPS))
    latency = 0.01 / (1.0 - rho)
    five_xx = np.where(rho > 0.97, np.floor(requests * 0.01), np.nan)
    cols: dict[str, np.ndarray] = {
        "CPUUtilization": cpu,
        "CPUUtilization_Minimum": np.maximum(_IDLE_CPU, cpu - 8.0),
        "CPUUtilization_Maximum": np.minimum(100.0, cpu + 8.0),
        "MemoryUtilization": 20.0 + 0.3 * cpu,
        "MemoryUtilization_Minimum": 18.0 + 0.3 * cpu,
        "MemoryUtilization_Maximum": 22.0 + 0.3 * cpu,
        "RequestCount": requests,
        "RequestCountPerTarget": requests / healthy,
        "TargetResponseTime": latency,
        "TargetResponseTime_p50": 0.7 * latency,
        "TargetResponseTime_p90": 2.3 * latency,
        "TargetResponseTime_p99": 4.6 * latency,
        "HTTPCode_Target_5XX_Count": five_xx,
        "HTTPCode_ELB_5XX_Count": five_xx,
        "HealthyHostCount": healthy,
        "RunningTaskCount": running,
        "PendingTaskCount": starting.astype(float),
        "DesiredTaskCount": desired.astype(float),
    }
    # No requests: the ALB publishes nothing.
    for name in METRIC_NAMES:
        if name.startswith(("RequestCount", "TargetResponseTime", "HTTPCode")):
            cols[name] = np.where(requests > 0, cols[name], np.nan)
    # Missing datapoints: scattered, plus a gap of four periods in a row.
    gaps = rng.random(n_periods) < 0.08
    gaps[int(0.7 * n_periods) : int(0.7 * n_periods) + 4] = True
    for name in METRIC_NAMES:
        if name.startswith(("CPU", "Memory")):
            cols[name] = np.where(gaps, np.nan, cols[name])
    cols = {name: _read_only(cols[name]) for name in METRIC_NAMES}
    cols["_rate"] = _read_only(rate)
    cols["_desired"] = desired.astype(float)
    cols["_running"] = running.astype(float)
    cols["_healthy"] = healthy
    cols["_pending"] = starting.astype(float)
    return cols


def sample_observations(
    policy: Any = None,
    n: int = 60,
    seed: int = 0,
    period_s: float = 60.0,
) -> list[Observation]:
    """A varied but deterministic sequence of observations, at increasing times.

    Parameters
    ----------
    policy : policy or None, default None
        Spaces the observations by its ``interval_s`` (60 s if None) and, when it declares
        ``requires_future``, fills ``future_load``.
    n : int, default 60
        Number of observations.
    seed : int, default 0
        Seed of the generator behind the load and the fleet.
    period_s : float, default 60
        Metric period (60 s standard or 20 s high resolution).

    Returns
    -------
    list of Observation
        The first observations see an empty metric history (nothing published yet); later
        ones a growing history with NaN gaps (missing datapoints, a stretch with no
        requests). Among them: ``min_tasks == max_tasks``, ``min_tasks == 0`` with no task
        running, a desired count above a lowered ``max_tasks``, pending tasks, a deployment
        in progress, overload and idle stretches.
    """
    rng = np.random.default_rng(seed)
    step = _interval_of(policy) if policy is not None else 60.0
    times = 30.0 + step * np.arange(n)
    horizon = float(times[-1]) + 2 * 3600.0
    n_periods = int(math.ceil(horizon / period_s)) + 1
    w = _world(n_periods, period_s, rng)
    start = _read_only(np.arange(n_periods) * period_s)
    wants_future = bool(getattr(policy, "requires_future", False)) if policy is not None else False
    tick_rate = None
    if wants_future:
        tick_s = 1.0
        per = int(round(period_s / tick_s))
        tick_rate = _read_only(np.repeat(w["_rate"], per))
    out: list[Observation] = []
    for k, t in enumerate(times):
        t = float(t)
        visible = int(max(0, math.floor((t - _PUBLICATION_DELAY) / period_s + 1e-9)))
        visible = min(visible, n_periods)
        cur = min(int(t // period_s), n_periods - 1)
        desired = int(w["_desired"][cur])
        running = int(w["_running"][cur])
        healthy = int(w["_healthy"][cur])
        pending = int(w["_pending"][cur])
        lo, hi = 1, 40
        deployment = DeploymentState(False, 1)
        if k % 11 == 5:  # scheduled scaling pinned the count
            lo = hi = 3 + k % 4
        elif k % 13 == 7:  # max lowered below the current count
            hi = max(1, desired // 2)
        elif k % 17 == 9:  # scaled to zero
            lo, desired, running, healthy, pending = 0, 0, 0, 0, 0
        if k % 9 == 4:
            deployment = DeploymentState(True, 2)
            pending = max(pending, 2)
            desired = max(desired, running + pending)
        future = None
        if tick_rate is not None:
            i0 = int(t)
            future = FutureLoad(
                tick_s=1.0,
                rate=tick_rate[i0:],
                max_rps_per_task=_CAPACITY_RPS * _RHO_SLO,
                startup_s=_STARTUP_S,
            )
        metrics = MetricHistory(
            period_s, start[:visible], {name: w[name][:visible] for name in METRIC_NAMES}
        )
        out.append(
            Observation(
                time=t,
                desired=desired,
                running=running,
                pending=pending,
                healthy=healthy,
                min_tasks=lo,
                max_tasks=hi,
                cpu=1024,
                memory=2048,
                capacity_rps=_CAPACITY_RPS,
                metrics=metrics,
                deployment=deployment,
                future_load=future,
            )
        )
    return out
