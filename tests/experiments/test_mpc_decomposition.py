"""The mpc analyses (experiments/mpc_decomposition.py): the perfect-forecast variant reads the
true future over mpc's windows, the floor's components are ordered, and the comparison with
the baselines pairs windows and reads the Pareto front."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import observation

from experiments.mpc_decomposition import PerfectForecastMpc, compare, floor_components
from policies.contract import FutureLoad
from sim.scenario import scenario_from_dict


def test_perfect_forecast_is_the_peak_of_the_future_over_each_window() -> None:
    rate = np.full(2000, 100.0)
    rate[300] = 900.0  # inside the launch window [250, 370] s
    rate[600] = 700.0  # inside the keep window [0, 670] s only
    future = FutureLoad(tick_s=1.0, rate=rate, max_rps_per_task=90.0, startup_s=250.0)
    p = PerfectForecastMpc()
    fc = p.forecast(observation(time=1000.0, future_load=future))
    assert fc == {"launch": 900.0, "keep": 900.0}
    per_task = p.per_task_rps(observation())
    d = p.decide(observation(time=1000.0, future_load=future, desired=3, max_tasks=50))
    assert d.desired == math.ceil(900.0 / per_task) == 10  # launches for the launch window
    rate[300] = 100.0
    fc = p.forecast(observation(time=1000.0, future_load=future))
    assert fc == {"launch": 100.0, "keep": 700.0}
    d = p.decide(observation(time=1000.0, future_load=future, desired=12, max_tasks=50))
    assert d.desired == math.ceil(700.0 / per_task) == 8  # keeps what the keep window needs
    with pytest.raises(ValueError, match="future_load"):
        p.forecast(observation(time=1000.0))


def test_floor_components_are_ordered() -> None:
    sc = scenario_from_dict({"service": {"initial_tasks": 2, "min_tasks": 1}})
    demand = np.array([2, 2, 8, 8, 2, 2, 2, 2, 9, 2, 2, 2] * 3, dtype=float)
    parts = floor_components(pd.DataFrame({"demand_tasks": demand}), sc, initial=2)
    full, bare = parts["floor_usd"], parts["floor_bare_usd"]
    for name in ("floor_no_startup_usd", "floor_no_drain_usd", "floor_no_min_billing_usd"):
        assert bare - 1e-12 <= parts[name] <= full + 1e-12, name
    assert parts["floor_no_drain_usd"] < full  # dips cost a drain or a hold


def _runs(trace: str, policy: str, kind: str, window: int, cost: float, good: float) -> dict:
    return {
        "trace": trace,
        "policy": policy,
        "kind": kind,
        "window": window,
        "param": 0.9 if policy == "mpc" else 50.0,
        "cost_usd": cost,
        "good_minutes_fraction": good,
        "availability": good,
    }


def test_compare_pairs_windows_and_reads_the_front(tmp_path: Path) -> None:
    runs = pd.DataFrame(
        [
            _runs("t", "mpc", "evaluation", 1, 8.0, 0.995),
            _runs("t", "mpc", "evaluation", 2, 9.0, 0.995),
            _runs("t", "learned", "evaluation", 1, 10.0, 0.99),
            _runs("t", "learned", "evaluation", 2, 10.0, 0.99),
        ]
    )
    tuning = pd.DataFrame(
        [
            {**_runs("t", "mpc", "tuning", 0, 8.0, 0.995), "param": 0.9},
            {**_runs("t", "mpc", "tuning", 0, 6.0, 0.98), "param": 0.5},
            {**_runs("t", "learned", "tuning", 0, 8.0, 0.99), "param": 0.5},
            {**_runs("t", "learned", "tuning", 0, 12.0, 1.0), "param": 0.3},
        ]
    )
    runs.to_parquet(tmp_path / "runs.parquet")
    tuning.to_parquet(tmp_path / "tuning.parquet")
    (tmp_path / "config.json").write_text(json.dumps({"tuned": {"t": {"mpc": 0.9}}}))
    table = compare(tmp_path).set_index("baseline")
    row = table.loc["learned"]
    assert row.tuned_mean == pytest.approx((8 / 10 + 9 / 10) / 2 - 1)
    assert row.tuned_n == 2
    # learned's front at 0.995 good minutes: halfway from $8 (0.99) to $12 (1.0) = $10
    assert row.equal_quality_tuning_window == pytest.approx(8.0 / 10.0 - 1)
