"""Revisions and traffic splitting (sim/service.py): target groups per revision, the listener's
split by weights or by healthy tasks, per-target-group metrics, and an exact event trace of a
second revision started through the Service API (no rollout strategy exists yet).

Start latency is exact (tests/helpers.py FAST_START, exact_health_checks): a task launched at
t is RUNNING at t + 22 s and healthy at t + 32 s.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FAST_START, build, constant_rate, exact_health_checks

from backends.sim import run_simulation
from policies.autoscaling.static import StaticPolicy
from sim.simulation import Simulation

RPS = 100.0


def _run(script, *, duration: str = "10m", initial: int = 2, rps: float = RPS):
    sc = build(
        run={"duration": duration},
        service={**FAST_START, "initial_tasks": initial, "min_tasks": 1, "max_tasks": 10},
    )
    sim = exact_health_checks(Simulation(sc, rate=constant_rate(sc, rps)))
    sim.env.process(script(sim))
    return sim, run_simulation(sim, StaticPolicy())


def _canary(sim):
    """Revision 2 with two tasks at 60 s (healthy at 92 s); weights 90/10 from 120 s."""
    yield sim.env.timeout(60)
    sim.service.deploy(2, tasks=2, reason="test")
    yield sim.env.timeout(60)
    sim.service.set_weights({1: 90, 2: 10}, reason="test")


def test_fixed_weights_split_arrivals_in_that_ratio() -> None:
    sim, result = _run(_canary)
    g1, g2 = sim.service.groups[1], sim.service.groups[2]
    total = sim.arrivals
    after = slice(120, sim.n_ticks)
    np.testing.assert_allclose(g1.arrivals[after], 0.9 * total[after], rtol=1e-12)
    np.testing.assert_allclose(g2.arrivals[after], 0.1 * total[after], rtol=1e-12)
    # Each target group's metrics reflect only its share: from the period starting at 120 s.
    tg = result.target_groups
    assert set(tg.TargetGroup) == {"tg-rev1", "tg-rev2"}
    rc = tg.pivot(index="time_s", columns="revision", values="RequestCount")
    service = result.metrics.set_index("time_s").RequestCount
    late = rc.index >= 120
    np.testing.assert_allclose(rc[1][late], 0.9 * service[late], rtol=1e-9)
    np.testing.assert_allclose(rc[2][late], 0.1 * service[late], rtol=1e-9)
    hosts = tg.pivot(index="time_s", columns="revision", values="HealthyHostCount")
    assert list(hosts[2][late]) == [2.0] * int(late.sum())
    assert (tg.HTTPCode_Target_5XX_Count == 0).all()  # no failing releases yet
    # Revision 2 serves 10 requests/s on two tasks: light load, so faster than revision 1.
    p99 = tg.pivot(index="time_s", columns="revision", values="TargetResponseTime_p99")
    assert (p99[2][late] <= p99[1][late]).all()


def test_rolling_split_by_share_of_healthy_tasks() -> None:
    sim, _ = _run(_canary)
    g1, g2 = sim.service.groups[1], sim.service.groups[2]
    total = sim.arrivals
    # 60-92 s: revision 2 has no healthy task, so no traffic; 92-120 s: 2 of 4 healthy.
    np.testing.assert_array_equal(g2.arrivals[60:92], 0.0)
    np.testing.assert_allclose(g1.arrivals[60:92], total[60:92])
    np.testing.assert_allclose(g2.arrivals[92:120], 0.5 * total[92:120], rtol=1e-12)
    np.testing.assert_allclose(g1.arrivals[92:120], 0.5 * total[92:120], rtol=1e-12)
    # Before the second revision, the first target group had every request.
    np.testing.assert_allclose(g1.arrivals[:60], total[:60])
    np.testing.assert_array_equal(g2.arrivals[:60], 0.0)


def test_per_revision_metrics_sum_to_the_service_totals() -> None:
    sim, result = _run(_canary)
    tg = result.target_groups
    m = result.metrics.set_index("time_s")
    for col in ("RequestCount", "served", "failed", "HTTPCode_Target_5XX_Count"):
        per = tg.pivot(index="time_s", columns="revision", values=col).fillna(0.0).sum(axis=1)
        np.testing.assert_allclose(per, m[col].fillna(0.0), rtol=1e-9, atol=1e-9)
    hosts = tg.pivot(index="time_s", columns="revision", values="HealthyHostCount").sum(axis=1)
    np.testing.assert_allclose(hosts, m.HealthyHostCount, rtol=1e-12)
    # Tick arrays too: the service's are the sums of the target groups'.
    f = sim.fluid
    for name in ("served", "failed", "backlog", "n_serving"):
        total = sum(getattr(g.fluid, name) for g in sim.service.groups.values())
        np.testing.assert_allclose(getattr(f, name), total, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        sum(g.arrivals for g in sim.service.groups.values()), sim.arrivals, rtol=1e-12
    )


def test_requests_conserved_per_target_group() -> None:
    def script(sim):
        yield sim.env.timeout(60)
        sim.service.deploy(2, tasks=2, reason="test")
        # Half the traffic to a target group with no healthy task yet: those requests fail.
        sim.service.set_weights({1: 50, 2: 50}, reason="too early")
        yield sim.env.timeout(60)
        # 90% of 250 requests/s on two tasks of 100 requests/s: revision 2 queues.
        sim.service.set_weights({1: 10, 2: 90}, reason="overload")
        yield sim.env.timeout(200)
        sim.service.set_weights({1: 100, 2: 0}, reason="back")

    sim, result = _run(script, initial=3, rps=250.0)
    g2 = sim.service.groups[2].fluid
    assert g2.failed[60:92].sum() == pytest.approx(0.5 * sim.arrivals[60:92].sum())
    assert g2.backlog[319] > 1000.0
    for g in sim.service.groups.values():
        f = g.fluid
        arrived = np.cumsum(g.arrivals)
        done = np.cumsum(f.served + f.failed)
        np.testing.assert_allclose(arrived, done + f.backlog, rtol=1e-9, atol=1e-6)
    s = result.summary
    assert s["requests_total"] == pytest.approx(sim.arrivals.sum())
    assert s["requests_failed"] == pytest.approx(
        sum(g.fluid.failed.sum() for g in sim.service.groups.values())
    )


def test_tasks_carry_their_revision() -> None:
    sim, result = _run(_canary)
    by_task = result.events[result.events.task >= 0].groupby("task").revision.first()
    assert by_task.to_dict() == {0: 1, 1: 1, 2: 2, 3: 2}
    assert {t.revision for t in sim.all_tasks} == {1, 2}


def test_one_revision_has_one_target_group_equal_to_the_service() -> None:
    def nothing(sim):
        yield sim.env.timeout(0)

    sim, result = _run(nothing)
    tg = result.target_groups
    assert list(tg.TargetGroup.unique()) == ["tg-rev1"]
    m = result.metrics
    for col in ("RequestCount", "TargetResponseTime_p99", "HealthyHostCount"):
        np.testing.assert_array_equal(tg[col].to_numpy(), m[col].to_numpy())
    assert not sim.service.split


def test_event_trace_of_a_second_revision_with_weights() -> None:
    _, result = _run(_canary, duration="3m")
    ev = result.events
    rows = [
        (float(t), int(task), int(rev), az, event)
        for t, task, rev, az, event in zip(
            ev.time_s, ev.task, ev.revision, ev.az, ev.event, strict=True
        )
    ]
    assert rows == [
        (0.0, 0, 1, "us-east-1a", "RUNNING"),
        (0.0, 0, 1, "us-east-1a", "HEALTHY"),
        (0.0, 1, 1, "us-east-1b", "RUNNING"),
        (0.0, 1, 1, "us-east-1b", "HEALTHY"),
        (60.0, -1, 0, "", "DEPLOY"),
        # The new revision's tasks spread over the AZs with the service's tasks: c, then a.
        (60.0, 2, 2, "us-east-1c", "PROVISIONING"),
        (60.0, 3, 2, "us-east-1a", "PROVISIONING"),
        (70.0, 2, 2, "us-east-1c", "PENDING"),
        (70.0, 2, 2, "us-east-1c", "ACTIVATING"),
        (70.0, 3, 2, "us-east-1a", "PENDING"),
        (70.0, 3, 2, "us-east-1a", "ACTIVATING"),
        (82.0, 2, 2, "us-east-1c", "RUNNING"),
        (82.0, 3, 2, "us-east-1a", "RUNNING"),
        (92.0, 2, 2, "us-east-1c", "HEALTHY"),
        (92.0, 3, 2, "us-east-1a", "HEALTHY"),
        (120.0, -1, 0, "", "TRAFFIC"),
    ]
    reasons = ev[ev.task < 0].reason.tolist()
    assert reasons == [
        "revision 2: tg-rev2, 2 tasks: test",
        "weights tg-rev1=90, tg-rev2=10: test",
    ]


def test_target_group_history_is_what_canary_analysis_reads() -> None:
    seen = {}

    def script(sim):
        yield from _canary(sim)
        yield sim.env.timeout(300)  # t = 420 s: periods [0, 360) published (60 s delay)
        sim.sync()
        for rev in (1, 2):
            seen[rev] = sim.service.target_group_history(rev, 6)

    sim, result = _run(script)
    assert len(seen[2]) == 6 and seen[2].period_s == 60.0
    counts = seen[1]["RequestCount"] + seen[2]["RequestCount"]
    np.testing.assert_allclose(counts[2:], result.metrics.RequestCount[2:6], rtol=1e-9)
    np.testing.assert_allclose(seen[2]["RequestCount"][2:], 0.1 * counts[2:], rtol=1e-9)
    assert np.isnan(seen[2]["RequestCount"][0])  # no requests before it existed: no datapoint
