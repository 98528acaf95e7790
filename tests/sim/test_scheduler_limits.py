"""Service scheduler: capacity provider strategy, launch limits, vCPU quota, AZ spread."""

from __future__ import annotations

import numpy as np
from helpers import FAST_START, build, constant_rate

from backends.sim import run_simulation
from policies.autoscaling.static import StaticPolicy
from sim.simulation import Simulation


def launches(result) -> np.ndarray:
    ev = result.events
    return ev[ev.event == "PROVISIONING"].time_s.to_numpy()


def test_capacity_provider_base_then_weight() -> None:
    sc = build(
        run={"duration": "5m"},
        service={
            **FAST_START,
            "initial_tasks": 0,
            "min_tasks": 0,
            "max_tasks": 20,
            "capacity_providers": [
                {"name": "FARGATE", "base": 2, "weight": 1},
                {"name": "FARGATE_SPOT", "weight": 3},
            ],
        },
    )
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 10)), StaticPolicy(count=10))
    ev = result.events
    providers = ev[ev.event == "PROVISIONING"].provider.value_counts().to_dict()
    # base 2 on FARGATE, the remaining 8 split 1:3.
    assert providers == {"FARGATE": 4, "FARGATE_SPOT": 6}


def test_account_token_bucket_burst_100_then_20_per_second() -> None:
    sc = build(
        run={"duration": "2m"},
        service={**FAST_START, "initial_tasks": 1, "max_tasks": 300},
    )
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 10)), StaticPolicy(count=300))
    t = launches(result)
    assert len(t) == 299
    assert (t == 0.0).sum() == 100  # the burst
    # then 20 per second: 199 more take 199/20 = 9.95 s
    assert t.max() == np.float64(9.95)
    per_second = np.histogram(t[t > 0], bins=np.arange(0, 11))[0]
    assert per_second.max() <= 20


def test_service_limit_500_per_minute() -> None:
    sc = build(
        run={"duration": "3m"},
        service={
            **FAST_START,
            "initial_tasks": 1,
            "max_tasks": 800,
            "account_burst": 1000,
            "account_rate": 1000,
        },
    )
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 10)), StaticPolicy(count=700))
    t = launches(result)
    assert (t < 60).sum() == 500
    assert t[500:].min() >= 60.0
    assert len(t) == 699


def test_vcpu_quota_caps_the_fleet() -> None:
    sc = build(
        run={"duration": "5m"},
        service={**FAST_START, "initial_tasks": 2, "max_tasks": 50, "vcpu_quota": 8},
    )
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 10)), StaticPolicy(count=20))
    assert len(launches(result)) == 6  # 2 running + 6 new = 8 vCPU of 1-vCPU tasks
    assert "Fargate vCPU quota 8 reached" in set(result.events.reason)
    assert result.metrics.HealthyHostCount.iloc[-1] == 8


def test_spread_across_azs() -> None:
    sc = build(run={"duration": "5m"}, service={**FAST_START, "initial_tasks": 7})
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 10)), StaticPolicy())
    ev = result.events
    per_az = ev[ev.event == "RUNNING"].az.value_counts().to_dict()
    assert per_az == {"us-east-1a": 3, "us-east-1b": 2, "us-east-1c": 2}
