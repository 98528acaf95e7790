"""What a run reports beside its summary: CPU of draining tasks, billed tasks per period, and
the decisions table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import FAST_START, build, constant_rate

from backends.sim import run_simulation
from policies.autoscaling.reactive import ReactivePolicy
from policies.autoscaling.static import StaticPolicy
from sim.fargate import MINIMUM_BILLED_SECONDS
from sim.simulation import DECISION_COLUMNS, Simulation


def test_draining_tasks_count_in_service_cpu() -> None:
    # Two tasks at 50 req/s of 100 req/s capacity; scale-in to one at t = 0. The stopped
    # task drains for 300 s: it still belongs to the service and its containers run, so the
    # service average counts it (idle, no new requests): 25% busy, not 50%.
    sc = build(
        run={"duration": "15m"},
        service={**FAST_START, "initial_tasks": 2, "min_tasks": 1},
    )
    result = run_simulation(Simulation(sc, rate=constant_rate(sc, 50)), StaticPolicy(count=1))
    m = result.metrics.set_index("time_s")
    idle = sc.service.idle_cpu
    draining = m.loc[60.0:240.0]
    assert draining.CPUUtilization.to_numpy() == pytest.approx(25.0 + idle)
    assert draining.CPUUtilization_Minimum.to_numpy() == pytest.approx(idle)
    assert draining.CPUUtilization_Maximum.to_numpy() == pytest.approx(50.0 + idle)
    assert (draining.RunningTaskCount == 1).all()  # lastStatus RUNNING: one task
    after = m.loc[420.0:]
    assert after.CPUUtilization.to_numpy() == pytest.approx(50.0 + idle)


def _raw_billed_seconds(events: pd.DataFrame, end: float) -> float:
    total = 0.0
    for _, ev in events[events.task >= 0].groupby("task"):
        times = dict(zip(ev.event, ev.time_s, strict=False))
        if "ACTIVATING" in times:
            start = times["ACTIVATING"]
        elif times.get("RUNNING") == 0.0:
            start = 0.0
        else:
            continue
        total += times.get("STOPPED", end) - start
    return total


@pytest.mark.parametrize("period", [60, 20])
def test_billed_tasks_integral_is_the_cost(period: int) -> None:
    # Scale-out, scale-in and crashes, all on-demand: the integral of billed_tasks is the
    # exact billed task-time; times the price it is the cost up to the whole-second rounding
    # and the one-minute minimum of each stopped task.
    sc = build(
        run={"duration": "2h", "seed": 5, "metrics_period": period},
        service={**FAST_START, "initial_tasks": 2, "min_tasks": 1, "max_tasks": 20},
        traffic={"arrivals": "poisson"},
        faults={"task_mtbf": "40m"},
    )
    n = sc.n_ticks
    rate = np.where((np.arange(n) > n // 4) & (np.arange(n) < n // 2), 900.0, 150.0)
    result = run_simulation(Simulation(sc, rate=rate), ReactivePolicy(interval=30.0, cooldown=60.0))
    m, ev = result.metrics, result.events
    integral = float(m.billed_tasks.sum() * period)
    assert integral == pytest.approx(_raw_billed_seconds(ev, sc.run.duration), abs=1e-6)
    assert m.billed_tasks.max() > 2.5  # it scaled out
    price = sc.service.task_size.price_per_second()
    stopped = int((ev.event == "STOPPED").sum())
    assert stopped > 0
    gap = result.summary["cost_usd"] - integral * price
    assert 0.0 <= gap <= stopped * (MINIMUM_BILLED_SECONDS + 1.0) * price + 1e-6
    # Billed covers serving: start-up and draining are billed but do not serve.
    assert (m.billed_tasks >= m.supply_tasks - 1e-9).all()


def test_decisions_table_has_a_row_per_round(tmp_path) -> None:
    sc = build(
        run={"duration": "30m"},
        service={**FAST_START, "initial_tasks": 2, "max_tasks": 10},
    )
    n = sc.n_ticks
    rate = np.where(np.arange(n) > n // 3, 600.0, 100.0)
    result = run_simulation(Simulation(sc, rate=rate), ReactivePolicy(interval=30.0, cooldown=60.0))
    d = result.decisions
    assert tuple(d.columns) == DECISION_COLUMNS
    assert len(d) == 60  # a round every 30 s over 30 min
    assert list(d.time_s) == [30.0 * i for i in range(60)]
    assert set(d.policy) == {"ReactivePolicy"}
    assert (d.reason.str.len() > 0).all()
    first = d.iloc[0]
    assert first.desired_before == 2 and first.running == 2 and first.healthy == 2
    assert np.isnan(first.CPUUtilization)  # nothing published yet
    assert (d.CPUUtilization.iloc[4:].notna()).all()
    # What the policy saw is what the metrics say: the latest period visible then.
    m = result.metrics.set_index("time_s")
    row = d.iloc[20]  # at 600 s, periods up to [480, 540) are visible (60 s delay)
    assert row.CPUUtilization == m.CPUUtilization[480.0]
    # The decided counts are the SCALE events of the log.
    acted = d[d.desired.notna() & (d.desired != d.desired_before)]
    scales = result.events[result.events.event == "SCALE"]
    assert list(acted.time_s) == list(scales.time_s)
    assert len(acted) == result.summary["scaling_actions"] > 0
    out = result.write(tmp_path)
    back = pd.read_parquet(out / "decisions.parquet")
    pd.testing.assert_frame_equal(back, d)
