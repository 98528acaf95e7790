"""No served request is slower than the request timeout; the ones that would be fail.

The latency model (sim/serving.py, sim/queueing.py) used to report the M/M/k response time
of every served request, even when it exceeded the timeout: with 100,000 workers per task
(each request then takes 1,000 s of service on average) p50 was 693 s under a 60 s timeout,
and nothing failed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import build
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.sim import run_simulation
from policies.autoscaling.static import StaticPolicy
from sim.queueing import MMkTable, response_sf
from sim.simulation import Simulation

LATENCY = ("TargetResponseTime", "TargetResponseTime_p50", "TargetResponseTime_p90",
           "TargetResponseTime_p99")  # fmt: skip


def _run(workers: int, capacity_rps: float, timeout: float, load: float, tasks: int, seed: int):
    sc = build(
        run={"seed": seed, "duration": "20m"},
        service={
            "initial_tasks": tasks,
            "min_tasks": tasks,
            "max_tasks": tasks,
            "workers": workers,
            "capacity_rps": capacity_rps,
            "request_timeout": timeout,
        },
        traffic={"arrivals": "poisson"},
    )
    n = sc.n_ticks
    # A step from `load` to 1.3 x `load` half way: overload builds a backlog when load > 0.77.
    rate = load * tasks * capacity_rps * np.where(np.arange(n) < n // 2, 1.0, 1.3)
    sim = Simulation(sc, rate=rate)
    return sim, run_simulation(sim, StaticPolicy())


def _assert_bounded_and_conserved(sim: Simulation, result, timeout: float) -> None:
    limit_ms = timeout * 1000.0 * (1 + 1e-9)
    for key in ("latency_p50_ms", "latency_p99_ms"):
        value = result.summary[key]
        assert math.isnan(value) or value <= limit_ms, (key, value)
    for column in LATENCY:
        values = result.metrics[column].to_numpy()
        values = values[~np.isnan(values)]
        assert (values <= timeout * (1 + 1e-9)).all(), (column, values.max())
    f = sim.fluid
    queued = np.cumsum(f.arrivals) - np.cumsum(f.served) - np.cumsum(f.failed)
    np.testing.assert_allclose(queued, f.backlog, atol=1e-6 * max(1.0, f.arrivals.sum()))
    assert (f.served >= -1e-9).all() and (f.failed >= -1e-9).all()
    assert (f.late >= 0).all() and (f.late <= f.failed + 1e-9).all()
    s = result.summary
    assert s["requests_failed"] <= s["requests_total"] + 1e-6


@settings(max_examples=30, deadline=None)
@given(
    workers=st.integers(1, 2000),
    capacity_rps=st.floats(0.05, 2000.0),
    timeout=st.floats(0.5, 120.0),
    load=st.floats(0.05, 1.5),
    tasks=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_served_latency_never_exceeds_the_timeout(
    workers: int, capacity_rps: float, timeout: float, load: float, tasks: int, seed: int
) -> None:
    sim, result = _run(workers, capacity_rps, timeout, load, tasks, seed)
    _assert_bounded_and_conserved(sim, result, timeout)


@pytest.mark.parametrize(
    ("workers", "capacity_rps", "timeout"), [(100_000, 100.0, 60.0), (1, 0.5, 10.0)]
)
def test_the_probe_cases_fail_the_slow_requests(
    workers: int, capacity_rps: float, timeout: float
) -> None:
    """The two cases from issue 6: most requests cannot be answered within the timeout."""
    sim, result = _run(workers, capacity_rps, timeout, 0.95, 2, 1)
    _assert_bounded_and_conserved(sim, result, timeout)
    s = result.summary
    # A request's service alone exceeds the timeout with probability e^{-mu timeout}; with
    # queueing at utilisation 0.95, then an overload, more than half do.
    mu = capacity_rps / workers
    assert s["requests_failed"] / s["requests_total"] > 0.9 * math.exp(-mu * timeout)
    assert s["requests_failed"] > 0.5 * s["requests_total"]


def test_late_share_is_the_mmk_tail_at_the_timeout() -> None:
    """Without backlog, the failed share of a tick is P(T > timeout) of the M/M/k queue."""
    workers, capacity, timeout = 4, 2.0, 5.0
    sim, result = _run(workers, capacity, timeout, 0.5, 1, 3)
    f = sim.fluid
    first = slice(0, sim.n_ticks // 2)
    calm = first.start + np.flatnonzero(f.backlog[first] == 0)[1:]  # previous tick empty too
    calm = calm[(f.backlog[calm - 1] == 0) & (f.served[calm] + f.failed[calm] > 0)]
    assert len(calm) > 100
    rho = sim.rate[calm] / capacity
    expected = response_sf(timeout, workers, capacity / workers, rho)
    share = f.failed[calm] / (f.served[calm] + f.failed[calm])
    np.testing.assert_allclose(share, expected, rtol=1e-3)


@pytest.mark.parametrize("k", [1, 3])
def test_truncated_quantile_and_mean_match_a_conditioned_sample(k: int) -> None:
    rng = np.random.default_rng(7)
    mu, rho, shift, limit = 1.0, 0.9, 2.0, 12.0
    table = MMkTable(k)
    # Sample M/M/k response times by inverting the exact tail on a fine grid.
    t = np.linspace(0.0, 200.0, 200_001)
    cdf = 1.0 - response_sf(t, k, mu, rho)
    sample = shift + np.interp(rng.random(400_000), cdf, t)
    kept = sample[sample <= limit]
    for p in (0.5, 0.9, 0.99):
        got = float(table.truncated_quantile(p, rho, mu, shift, limit))
        assert got <= limit
        assert got == pytest.approx(float(np.quantile(kept, p)), rel=0.01)
    mean = float(table.truncated_mean(rho, mu, shift, limit))
    assert mean == pytest.approx(float(kept.mean()), rel=0.01)


def test_requests_answered_after_the_timeout_still_used_cpu() -> None:
    """In overload the tasks are busy all the time, though many answers come too late: CPU is
    the work done (served + late), not only the requests answered in time."""
    sim, result = _run(1, 10.0, 2.0, 1.2, 2, 5)
    m = result.metrics
    late_periods = m.time_s.to_numpy() >= 900  # well into the overload at 1.56
    assert sim.fluid.late.sum() > 0.1 * sim.fluid.arrivals.sum()
    np.testing.assert_allclose(m.CPUUtilization.to_numpy()[late_periods], 100.0, rtol=1e-3)
