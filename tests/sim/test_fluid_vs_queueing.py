"""The fluid model against queueing theory and against a request-level simulation.

A fixed fleet of ``n`` tasks under Poisson arrivals in steady state. The model's claim
(sim/serving.py): each task is an M/M/k queue at lambda/n (the ALB's round robin taken as an
independent split). Its request-weighted mean and p99 must be within 10 % of the analytic
M/M/k (Erlang C) values, and within 10 % (mean) / 15 % (p99) of ``ciw``, an independent
request-level queueing simulator, run on one task at lambda/n.
"""

from __future__ import annotations

import numpy as np
import pytest
from ciw_referee import ciw_response_times
from helpers import build

from backends.sim import run_simulation
from policies.autoscaling.static import StaticPolicy
from sim.queueing import mean_response, response_quantile
from sim.simulation import Simulation

N_TASKS = 4
CAPACITY = 100.0  # requests/s per task at full CPU; one worker per 1-vCPU task: mu = 100/s


def run_fleet(rho: float, workers: int):
    sc = build(
        run={"seed": 3, "duration": "2h", "tick": "1s"},
        service={
            "initial_tasks": N_TASKS,
            "min_tasks": N_TASKS,
            "max_tasks": N_TASKS,
            "capacity_rps": CAPACITY,
            "workers": workers,
        },
        traffic={"arrivals": "poisson"},
        slo={"p99_ms": 10_000},
    )
    rate = np.full(sc.n_ticks, rho * N_TASKS * CAPACITY)
    result = run_simulation(Simulation(sc, rate=rate), StaticPolicy())
    m = result.metrics
    mean = float((m.TargetResponseTime * m.served).sum() / m.served.sum())
    return mean, result.summary["latency_p99_ms"] / 1000.0, result


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_fluid_matches_erlang_c(rho: float, workers: int) -> None:
    mean, p99, result = run_fleet(rho, workers)
    mu = CAPACITY / workers
    assert result.summary["requests_failed"] == 0
    assert mean == pytest.approx(float(mean_response(workers, mu, rho)), rel=0.10)
    assert p99 == pytest.approx(float(response_quantile(0.99, workers, mu, rho)), rel=0.10)


@pytest.mark.parametrize(("rho", "duration"), [(0.5, 3_000.0), (0.8, 6_000.0), (0.95, 20_000.0)])
def test_fluid_matches_request_level_simulation(rho: float, duration: float) -> None:
    workers = 1
    mean, p99, _ = run_fleet(rho, workers)
    mu = CAPACITY / workers
    lam = rho * CAPACITY  # one task's share
    times = ciw_response_times(lam, mu, workers, duration, warmup=duration * 0.05, seed=11)
    assert mean == pytest.approx(float(times.mean()), rel=0.10)
    assert p99 == pytest.approx(float(np.quantile(times, 0.99)), rel=0.15)
