"""Invariants of whole runs over generated scenarios (Ciw-style Hypothesis properties)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FAST_START, build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.sim import run_simulation
from policies.autoscaling.reactive import ReactivePolicy
from policies.autoscaling.static import StaticPolicy
from sim.fargate import billed_seconds
from sim.simulation import Simulation

scenarios = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 10_000),
        "initial": st.integers(0, 6),
        "min": st.integers(0, 2),
        "max": st.integers(6, 12),
        "load": st.floats(0, 1500),
        "step": st.floats(0.2, 3.0),
        "crash_mtbf": st.one_of(st.none(), st.floats(120, 3600)),
        "az_outage_at": st.one_of(st.none(), st.floats(0, 1500)),
        "spot": st.booleans(),
        "reactive": st.booleans(),
        "poisson": st.booleans(),
    }
)


def run_generated(p: dict):
    initial = min(max(p["initial"], p["min"]), p["max"])
    providers = [{"name": "FARGATE", "weight": 1}]
    faults: dict = {}
    if p["spot"]:
        providers.append({"name": "FARGATE_SPOT", "weight": 2})
        faults["spot_interruptions_per_task_hour"] = 2.0
    if p["crash_mtbf"]:
        faults["task_mtbf"] = p["crash_mtbf"]
    if p["az_outage_at"] is not None:
        faults["az_outages"] = [{"az": "us-east-1b", "at": p["az_outage_at"], "duration": 300}]
    sc = build(
        run={"seed": p["seed"], "duration": "30m"},
        service={
            **FAST_START,
            "initial_tasks": initial,
            "min_tasks": p["min"],
            "max_tasks": p["max"],
            "capacity_providers": providers,
            "request_timeout": "5s",
        },
        traffic={"arrivals": "poisson" if p["poisson"] else "deterministic"},
        faults=faults,
    )
    n = sc.n_ticks
    rate = p["load"] * (1 + (p["step"] - 1) * (np.arange(n) > n // 2))
    policy = ReactivePolicy(interval=30.0, cooldown=60.0) if p["reactive"] else StaticPolicy()
    sim = Simulation(sc, rate=rate)
    return sc, sim, run_simulation(sim, policy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=scenarios)
def test_requests_conserved_every_tick_and_counts_valid(p) -> None:
    sc, sim, result = run_generated(p)
    f = sim.fluid
    net = np.cumsum(f.arrivals) - np.cumsum(f.served) - np.cumsum(f.failed)
    np.testing.assert_allclose(net, f.backlog, rtol=1e-9, atol=1e-6)
    assert (f.served >= -1e-9).all() and (f.failed >= -1e-9).all()
    assert result.summary["requests_total"] == pytest.approx(f.arrivals.sum())
    m = result.metrics
    for col in ("RunningTaskCount", "PendingTaskCount", "DesiredTaskCount", "HealthyHostCount"):
        assert (m[col] >= 0).all(), col
    assert (sim.running.values >= 0).all() and (sim.pending.values >= 0).all()
    desired = m["DesiredTaskCount"]
    assert ((desired >= sc.service.min_tasks) & (desired <= sc.service.max_tasks)).all()
    # Never more tasks serving than started; draining tasks serve nothing.
    assert (f.n_serving <= sim.running.values).all()
    # Cost = billed task-seconds x price, recomputed from the event log, per provider.
    ev = result.events
    size = sc.service.task_size
    for spot, key in ((False, "cost_on_demand_usd"), (True, "cost_spot_usd")):
        seconds = sum(
            _billed_seconds(ev[ev.task == t.id], sc.run.duration)
            for t in sim.all_tasks
            if t.spot == spot
        )
        price = size.price_per_second(spot, sc.service.spot_discount)
        assert result.summary[key] == pytest.approx(seconds * price, abs=1e-5)


def _billed_seconds(events, duration: float) -> float:
    """From the image pull (ACTIVATING; time 0 for a warm task) to STOPPED, rounded up to
    the whole second, at least 60 s; a task still running at the end is billed to the end."""
    times = dict(zip(events.event, events.time_s, strict=False))
    if "ACTIVATING" in times:
        start = times["ACTIVATING"]
    elif times.get("RUNNING") == 0.0:
        start = 0.0
    else:
        return 0.0  # stopped before its image pull began
    if "STOPPED" in times:
        return billed_seconds(start, times["STOPPED"])
    return billed_seconds(start, duration, minimum=0.0)


def test_same_seed_same_result_bit_for_bit() -> None:
    p = dict(
        seed=7,
        initial=3,
        min=1,
        max=10,
        load=400.0,
        step=2.0,
        crash_mtbf=600.0,
        az_outage_at=500.0,
        spot=True,
        reactive=True,
        poisson=True,
    )
    _, _, a = run_generated(p)
    _, _, b = run_generated(p)
    assert a.summary == b.summary
    assert a.metrics.equals(b.metrics)
    assert a.events.equals(b.events)
    _, sim_c, c = run_generated({**p, "seed": 8})
    assert not np.array_equal(sim_c.arrivals, run_generated(p)[1].arrivals), (
        "different seeds must give different arrivals"
    )


def test_one_period_and_batch_aggregation_agree() -> None:
    """MetricStore aggregates one period at a time with scalar arithmetic (the common case of
    a policy observing every minute) and several at once with arrays; both must give the
    same columns."""
    from sim.metrics import LATENCY_COLUMNS

    p = dict(
        seed=3,
        initial=2,
        min=1,
        max=10,
        load=700.0,
        step=1.8,
        crash_mtbf=400.0,
        az_outage_at=300.0,
        spot=True,
        reactive=True,
        poisson=True,
    )
    _, sim, _ = run_generated(p)  # every period filled one at a time by the controller
    store = sim.store
    one_by_one = {k: v.copy() for k, v in store.columns.items()}
    store.done = 0
    store.fill(store.n_periods)  # the whole run in one batch
    for name, values in store.columns.items():
        if name in LATENCY_COLUMNS:
            continue
        np.testing.assert_allclose(values, one_by_one[name], rtol=1e-12, err_msg=name)
