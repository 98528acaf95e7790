"""Sizes and prices (AWS Fargate pricing page, https://aws.amazon.com/fargate/pricing/, and
the ECS task size table), and billing in the model."""

from __future__ import annotations

import pytest
from helpers import FAST_START, build, constant_rate, exact_health_checks

from backends.sim import run_simulation
from policies.autoscaling.static import StaticPolicy
from sim.fargate import (
    MINIMUM_BILLED_SECONDS,
    TaskSize,
    TaskSizeError,
    billed_seconds,
    validate_task_size,
)
from sim.simulation import Simulation


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        (256, 512),
        (256, 2048),
        (512, 4096),
        (1024, 8192),
        (2048, 16384),
        (4096, 30720),
        (8192, 61440),
        (16384, 122880),
        (8192, 20480),
        (16384, 40960),
    ],
)
def test_valid_sizes(cpu: int, memory: int) -> None:
    validate_task_size(cpu, memory)


def test_invalid_memory_lists_valid_values() -> None:
    with pytest.raises(TaskSizeError) as err:
        validate_task_size(1024, 1024)
    msg = str(err.value)
    assert "memory=1024 MiB is not valid with cpu=1024" in msg
    assert "2048, 3072, 4096, 5120, 6144, 7168, 8192" in msg


@pytest.mark.parametrize(("cpu", "memory"), [(8192, 18432), (16384, 36864), (4096, 31744)])
def test_step_sizes_are_enforced(cpu: int, memory: int) -> None:
    with pytest.raises(TaskSizeError, match="valid memory values"):
        validate_task_size(cpu, memory)


def test_invalid_cpu_lists_cpu_values() -> None:
    with pytest.raises(TaskSizeError, match=r"valid CPU units: \[256, 512, 1024"):
        validate_task_size(3000, 4096)


def test_prices() -> None:
    x86 = TaskSize(1024, 2048, "x86_64")
    assert x86.hourly_price() == pytest.approx(0.04048 + 2 * 0.004445)
    arm = TaskSize(1024, 2048, "arm64")
    assert arm.hourly_price() == pytest.approx(0.03238 + 2 * 0.00356)
    assert x86.hourly_price(spot=True, spot_discount=0.7) == pytest.approx(
        0.3 * (0.04048 + 2 * 0.004445)
    )


def test_minimum_billing() -> None:
    # Rounded up to the next whole second, at least the one-minute minimum (AWS Fargate
    # pricing page).
    assert MINIMUM_BILLED_SECONDS == 60.0
    assert billed_seconds(0.0, 10.0) == MINIMUM_BILLED_SECONDS
    assert billed_seconds(5.0, 125.5) == 121.0
    assert billed_seconds(5.0, 125.0) == 120.0
    assert billed_seconds(0.25, 60.5) == 61.0
    assert billed_seconds(0.0, 86400.0 + 1e-10) == 86400.0  # float noise is not a second
    assert billed_seconds(0.0, 10.2, minimum=0.0) == 11.0


def test_fixed_fleet_cost_matches_hand_arithmetic() -> None:
    """10 tasks of 1 vCPU / 2 GB, x86, 24 h: 240 x (0.04048 + 2 x 0.004445) = $11.8488."""
    sc = build(run={"duration": "24h", "tick": "1s"}, service={"initial_tasks": 10})
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 300)), StaticPolicy())
    assert result.summary["cost_usd"] == pytest.approx(11.8488, abs=1e-9)
    assert result.summary["task_hours"] == pytest.approx(240.0)
    assert result.summary["vcpu_hours"] == pytest.approx(240.0)


def test_short_lived_task_pays_the_one_minute_minimum() -> None:
    # One AZ; scale 1 -> 2 at t=0, back to 1 at t=30 while the new task is RUNNING but not
    # yet healthy, so the scheduler stops it: billed from its image pull (t = 10 s) to its
    # stop (35 s), but at least 60 s.
    class UpThenDown(StaticPolicy):
        def decide(self, obs):
            from policies.contract import Decision

            return Decision(2 if obs.time < 30 else 1, "test")

    sc = build(
        run={"duration": "10m"},
        service={
            **FAST_START,
            "initial_tasks": 1,
            "max_tasks": 4,
            "stop_duration": 0.0,
            "azs": ["us-east-1a"],
        },
    )
    sim = exact_health_checks(Simulation(sc, rate=constant_rate(sc, 10)))
    result = run_simulation(sim, UpThenDown(interval=15.0))
    ev = result.events
    stopped = ev[(ev.task == 1) & (ev.event == "STOPPED")].time_s.iloc[0]
    price = sc.service.task_size.price_per_second()
    assert stopped == 35.0
    billed = max(60.0, stopped - 10.0)
    assert billed == 60.0
    assert result.summary["cost_usd"] == pytest.approx(price * (600 + billed), abs=1e-6)
