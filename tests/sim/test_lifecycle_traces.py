"""Exact event traces (SimPy's own test style): every transition at its time.

Start latency is made exact (tests/helpers.py FAST_START): PROVISIONING 10 s, then the image
pull (88 MB at 8.8 MB/s = 10 s) plus 2 s container start, then health checks 5 s x 2 = 10 s
(the worst case, made exact by tests/helpers.py exact_health_checks; the model draws the
first check's phase, see test_time_to_healthy_has_a_random_phase).
"""

from __future__ import annotations

import pytest
from helpers import FAST_START, build, constant_rate, exact_health_checks

from backends.sim import run_simulation
from policies.autoscaling.static import StaticPolicy
from sim.simulation import Simulation


def trace(result) -> list[tuple[float, int, str, str]]:
    ev = result.events
    return [
        (float(t), int(task), az, event)
        for t, task, az, event in zip(ev.time_s, ev.task, ev.az, ev.event, strict=True)
    ]


def test_scale_out_from_two_to_four_tasks() -> None:
    sc = build(
        run={"duration": "10m"},
        service={**FAST_START, "initial_tasks": 2, "min_tasks": 1, "max_tasks": 10},
    )
    result = run_simulation(
        exact_health_checks(Simulation(sc, rate=constant_rate(sc, 100))), StaticPolicy(count=4)
    )
    assert trace(result) == [
        (0.0, 0, "us-east-1a", "RUNNING"),
        (0.0, 0, "us-east-1a", "HEALTHY"),
        (0.0, 1, "us-east-1b", "RUNNING"),
        (0.0, 1, "us-east-1b", "HEALTHY"),
        (0.0, -1, "", "SCALE"),
        # New tasks go to the AZ with the fewest tasks: c (0), then a (1, first in order).
        (0.0, 2, "us-east-1c", "PROVISIONING"),
        (0.0, 3, "us-east-1a", "PROVISIONING"),
        (10.0, 2, "us-east-1c", "PENDING"),
        (10.0, 2, "us-east-1c", "ACTIVATING"),
        (10.0, 3, "us-east-1a", "PENDING"),
        (10.0, 3, "us-east-1a", "ACTIVATING"),
        (22.0, 2, "us-east-1c", "RUNNING"),
        (22.0, 3, "us-east-1a", "RUNNING"),
        (32.0, 2, "us-east-1c", "HEALTHY"),
        (32.0, 3, "us-east-1a", "HEALTHY"),
    ]
    m = result.metrics
    assert list(m.HealthyHostCount[:2]) == pytest.approx([2 + 2 * (60 - 32) / 60, 4.0])
    # Billing starts at the image pull (t = 10 s) and runs to the end (600 s).
    price = sc.service.task_size.price_per_second()
    assert result.summary["cost_usd"] == round(price * (2 * 600 + 2 * 590), 6)


def test_az_outage_with_three_azs() -> None:
    sc = build(
        run={"duration": "30m"},
        service={**FAST_START, "initial_tasks": 3},
        faults={"az_outages": [{"az": "us-east-1b", "at": 100, "duration": 600}]},
    )
    result = run_simulation(
        exact_health_checks(Simulation(sc, rate=constant_rate(sc, 100))), StaticPolicy()
    )
    assert trace(result) == [
        (0.0, 0, "us-east-1a", "RUNNING"),
        (0.0, 0, "us-east-1a", "HEALTHY"),
        (0.0, 1, "us-east-1b", "RUNNING"),
        (0.0, 1, "us-east-1b", "HEALTHY"),
        (0.0, 2, "us-east-1c", "RUNNING"),
        (0.0, 2, "us-east-1c", "HEALTHY"),
        (100.0, -1, "", "AZ_DOWN"),
        # The AZ's task fails at once: no draining.
        (100.0, 1, "us-east-1b", "DEREGISTERED"),
        (100.0, 1, "us-east-1b", "STOPPING"),
        (100.0, 1, "us-east-1b", "DEPROVISIONING"),
        # Its replacement goes to an AZ that is up (a and c tie at 1: a, first in order).
        (100.0, 3, "us-east-1a", "PROVISIONING"),
        (105.0, 1, "us-east-1b", "STOPPED"),
        (110.0, 3, "us-east-1a", "PENDING"),
        (110.0, 3, "us-east-1a", "ACTIVATING"),
        (122.0, 3, "us-east-1a", "RUNNING"),
        (132.0, 3, "us-east-1a", "HEALTHY"),
        (700.0, -1, "", "AZ_UP"),
        # Rebalancing: a task starts in the empty AZ; once it is healthy, the newest task of
        # the fullest AZ is drained (deregistration delay 300 s), then stopped.
        (700.0, 4, "us-east-1b", "PROVISIONING"),
        (710.0, 4, "us-east-1b", "PENDING"),
        (710.0, 4, "us-east-1b", "ACTIVATING"),
        (722.0, 4, "us-east-1b", "RUNNING"),
        (732.0, 4, "us-east-1b", "HEALTHY"),
        (732.0, 3, "us-east-1a", "DEREGISTERED"),
        (732.0, 3, "us-east-1a", "DEACTIVATING"),
        (1032.0, 3, "us-east-1a", "STOPPING"),
        (1034.0, 3, "us-east-1a", "DEPROVISIONING"),
        (1039.0, 3, "us-east-1a", "STOPPED"),
    ]
    # The dead task's in-flight requests are lost only if it had a backlog: at 100 req/s
    # on 3 tasks there is none, so nothing fails.
    assert result.summary["requests_failed"] == 0.0


def test_spot_interruption() -> None:
    sc = build(
        run={"duration": "10m"},
        service={
            **FAST_START,
            "initial_tasks": 1,
            "capacity_providers": [{"name": "FARGATE_SPOT"}],
        },
        faults={"spot_interruptions": [{"at": 100}]},
    )
    result = run_simulation(
        exact_health_checks(Simulation(sc, rate=constant_rate(sc, 50))), StaticPolicy()
    )
    assert trace(result) == [
        (0.0, 0, "us-east-1a", "RUNNING"),
        (0.0, 0, "us-east-1a", "HEALTHY"),
        # Notice: deregistered and draining for the 2-minute notice less the stop time.
        (100.0, 0, "us-east-1a", "DEREGISTERED"),
        (100.0, 0, "us-east-1a", "DEACTIVATING"),
        (100.0, 1, "us-east-1a", "PROVISIONING"),
        (110.0, 1, "us-east-1a", "PENDING"),
        (110.0, 1, "us-east-1a", "ACTIVATING"),
        (122.0, 1, "us-east-1a", "RUNNING"),
        (132.0, 1, "us-east-1a", "HEALTHY"),
        (218.0, 0, "us-east-1a", "STOPPING"),
        (220.0, 0, "us-east-1a", "DEPROVISIONING"),
        (225.0, 0, "us-east-1a", "STOPPED"),
    ]
    reasons = result.events.set_index(["task", "event"]).reason
    assert reasons[(0, "STOPPED")] == "SpotInterruption"
    # Nothing serves from 100 s to 132 s: every request of those 32 s fails.
    assert result.summary["requests_failed"] == 32 * 50
    assert result.summary["cost_on_demand_usd"] == 0.0
    assert result.summary["cost_spot_usd"] > 0.0


def test_no_spot_capacity_window_blocks_spot_placement() -> None:
    sc = build(
        run={"duration": "10m"},
        service={
            **FAST_START,
            "initial_tasks": 1,
            "capacity_providers": [{"name": "FARGATE_SPOT"}],
            "scheduler_retry": "15s",
        },
        faults={
            "spot_interruptions": [{"at": 100}],
            "spot_unavailable": [{"at": 50, "duration": 200}],
        },
    )
    result = run_simulation(
        exact_health_checks(Simulation(sc, rate=constant_rate(sc, 50))), StaticPolicy()
    )
    ev = result.events
    launches = ev[(ev.event == "PROVISIONING") & (ev.task == 1)]
    # No fallback: the replacement waits for Spot capacity (back at 250 s).
    assert list(launches.time_s) == [250.0]
    assert "SCHEDULER_BLOCKED" in set(ev.event)


def test_a_crash_loses_the_tasks_share_of_the_backlog() -> None:
    # 2 tasks of 100 req/s under 300 req/s: the backlog grows by 100 per second. At 30 s it
    # holds 3,000 requests; one task crashes with its half, 1,500, which fail at once (a
    # drained stop would have lost none).
    sc = build(
        run={"duration": "2m"},
        service={**FAST_START, "initial_tasks": 2, "azs": ["us-east-1a"]},
        faults={"crashes": [{"at": 30}]},
    )
    sim = exact_health_checks(Simulation(sc, rate=constant_rate(sc, 300)))
    run_simulation(sim, StaticPolicy())
    assert sim.fluid.backlog[29] == pytest.approx(3000.0)
    assert sim.fluid.failed[30] == pytest.approx(1500.0)
    assert sim.fluid.failed[:30].sum() == 0.0


def test_time_to_healthy_has_a_random_phase() -> None:
    # (threshold - 1) x interval plus a phase uniform within one interval: with 30 s x 5,
    # between 120 s and 150 s after RUNNING, different per task, the same for the same seed.
    def healthy_after(seed: int) -> list[float]:
        sc = build(
            run={"duration": "20m", "seed": seed},
            service={
                **FAST_START,
                "health_check_interval": "30s",
                "healthy_threshold": 5,
                "initial_tasks": 0,
                "min_tasks": 0,
                "max_tasks": 40,
            },
        )
        result = run_simulation(Simulation(sc, rate=constant_rate(sc, 10)), StaticPolicy(count=40))
        ev = result.events
        running = ev[ev.event == "RUNNING"].set_index("task").time_s
        healthy = ev[ev.event == "HEALTHY"].set_index("task").time_s
        return list((healthy - running.loc[healthy.index]).to_numpy())

    waits = healthy_after(1)
    assert len(waits) == 40
    assert min(waits) >= 120.0 and max(waits) < 150.0
    assert len(set(waits)) == 40
    # 40 uniform phases on [0, 30): mean 15 s, standard error 1.4 s.
    assert abs(sum(waits) / 40 - 135.0) < 6.0
    assert healthy_after(1) == waits
    assert healthy_after(2) != waits
