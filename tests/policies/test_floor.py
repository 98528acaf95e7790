"""The cost floor: the DP against brute force on tiny cases, the good-period bar, and no
registered policy beating the floor in the simulator.

How the two good-minute measures relate: :func:`covered_fraction` counts periods whose mean
serving supply covers the demand (``supply_tasks >= demand_tasks``), the definition the floor
is a lower bound for; the simulator's ``good_minutes_fraction`` counts periods whose p99 and
error rate meet the SLO. A backlog left by a bad period can make a covered period fail the
SLO, and a period whose mean supply falls just short of the demand can still meet it, so the
two differ by a few periods either way. The floor is compared at the covered fraction, and at
the lower of the two (the floor only falls as the bar is lowered).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import policy_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.sim import run_simulation
from policies import registry
from policies.autoscaling.floor import (
    FloorPlan,
    cost_floor,
    covered_fraction,
    floor_for_metrics,
    floor_inputs,
    schedule_billed_s,
)
from sim.simulation import Simulation

P = 60.0


def _brute(
    demand: np.ndarray,
    *,
    startup: float,
    drain: float,
    bar: float,
    initial: int,
    top: int,
    lo: int = 0,
    first_up: int = 0,
    limit: int | None = None,
    free: bool = False,
) -> float:
    """The cheapest schedule by enumerating every one (inf when none meets the bar); with
    ``free``, every warm start up to ``initial`` too."""
    if free:
        kw = {"startup": startup, "drain": drain, "bar": bar, "top": top, "lo": lo}
        return min(
            _brute(demand, initial=k, first_up=first_up, limit=limit, **kw)
            for k in range(initial + 1)
        )
    n = len(demand)
    allowed_bad = int(np.floor((1.0 - bar) * n + 1e-9))
    best = np.inf
    for counts in itertools.product(range(lo, top + 1), repeat=n):
        s = np.array(counts)
        if np.sum(s < demand) > allowed_bad:
            continue
        steps = np.diff(np.concatenate([[initial], s]))
        if (steps[:first_up] > 0).any():
            continue
        if limit is not None and steps.max() > limit:
            continue
        billed = schedule_billed_s(s, P, startup_s=startup, drain_s=drain, initial_tasks=initial)
        best = min(best, billed)
    return best


def _tiny_cases(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        top = int(rng.integers(1, 4))
        initial = int(rng.integers(0, top + 1))
        cases.append(
            {
                "demand": rng.integers(0, top + 1, int(rng.integers(1, 7))),
                "startup": float(rng.integers(0, 300)),
                "drain": float(rng.integers(0, 400)),
                "bar": float(rng.choice([1.0, 0.8, 0.6, 0.0])),
                "initial": initial,
                "top": top,
                "lo": int(rng.integers(0, 2)) if initial >= 1 else 0,
                "first_up": int(rng.integers(0, 3)),
                "limit": int(rng.choice([1, 2])) if rng.random() < 0.3 else None,
                "free": bool(rng.random() < 0.3),
            }
        )
    return cases


def _solve(case: dict, method: str = "exact") -> FloorPlan:
    return cost_floor(
        case["demand"],
        P,
        price_per_task_s=1.0,
        startup_s=case["startup"],
        drain_s=case["drain"],
        good_bar=case["bar"],
        initial_tasks=case["initial"],
        max_tasks=case["top"],
        min_tasks=case["lo"],
        startup_periods=case["first_up"],
        max_launch_per_period=case["limit"],
        free_initial=case["free"],
        method=method,
    )


# -- exact against brute force ------------------------------------------------------------------
@pytest.mark.parametrize("case", _tiny_cases(120, seed=7))
def test_exact_dp_equals_the_brute_force_optimum(case: dict) -> None:
    best = _brute(**case)
    plan = _solve(case)
    assert plan.serving is not None
    if np.isinf(best):
        assert not plan.feasible
        return
    assert plan.feasible
    assert plan.cost_usd == pytest.approx(best, abs=1e-6)
    assert plan.plan_cost_usd == pytest.approx(best, abs=1e-6)
    # The plan is a schedule the brute force admits, at the cost reported.
    start = min(int(plan.serving[0]), case["initial"]) if case["free"] else case["initial"]
    billed = schedule_billed_s(
        plan.serving, P, startup_s=case["startup"], drain_s=case["drain"], initial_tasks=start
    )
    assert billed == pytest.approx(best, abs=1e-6)
    assert plan.good_fraction >= case["bar"] - 1e-9
    assert ((plan.serving >= case["lo"]) & (plan.serving <= case["top"])).all()
    assert (plan.launches[: case["first_up"]] == 0).all()
    if case["limit"] is not None:
        assert plan.launches.max() <= case["limit"]


@pytest.mark.parametrize("case", _tiny_cases(60, seed=11))
def test_lagrangian_is_a_lower_bound_and_its_plan_is_feasible(case: dict) -> None:
    best = _brute(**case)
    plan = _solve(case, method="lagrangian")
    if np.isinf(best):
        assert not plan.feasible
        return
    assert plan.cost_usd <= best + 1e-6
    assert plan.plan_cost_usd >= best - 1e-6
    assert plan.good_fraction >= case["bar"] - 1e-9


def test_a_worked_case() -> None:
    # Demand 2, 0, 2 from 2 tasks serving: keeping both through the dip (2 x 60 s) is cheaper
    # than stopping and relaunching them (2 x (300 + 200) s), so the floor holds 2 throughout.
    plan = cost_floor(
        np.array([2, 0, 2]), P, price_per_task_s=1.0, startup_s=200, drain_s=300, initial_tasks=2
    )
    assert plan.serving is not None and list(plan.serving) == [2, 2, 2]
    assert plan.cost_usd == pytest.approx(360.0)
    # A long dip: stopping (300 s of draining) and relaunching (200 s) beats holding 10 periods.
    plan = cost_floor(
        np.array([2] + [0] * 10 + [2]),
        P,
        price_per_task_s=1.0,
        startup_s=200,
        drain_s=300,
        initial_tasks=2,
    )
    assert plan.serving is not None and list(plan.serving) == [2] + [0] * 10 + [2]
    assert plan.cost_usd == pytest.approx(2 * 60 + 2 * 300 + 2 * 200 + 2 * 60)


# -- the good-period bar ------------------------------------------------------------------------
def _noisy_day(n: int = 600, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.clip(np.ceil(20 + 12 * np.sin(2 * np.pi * t / 300) + rng.normal(0, 3, n)), 0, 40)


def _floor(demand: np.ndarray, bar: float, **kw) -> FloorPlan:
    return cost_floor(
        demand,
        P,
        price_per_task_s=1.0,
        startup_s=157.0,
        drain_s=307.0,
        good_bar=bar,
        initial_tasks=int(demand[0]),
        **kw,
    )


def test_relaxing_the_bar_lowers_the_cost_monotonically() -> None:
    demand = _noisy_day()
    bars = [1.0, 0.995, 0.99, 0.98, 0.95, 0.9]
    plans = [_floor(demand, bar) for bar in bars]
    costs = [p.cost_usd for p in plans]
    assert all(a >= b for a, b in zip(costs, costs[1:], strict=False)), costs
    assert costs[0] > costs[2]  # at 1.0 strictly dearer than at 0.99 on noisy demand
    for bar, plan in zip(bars, plans, strict=True):
        assert plan.feasible and plan.good_fraction >= bar - 1e-9


def test_lagrangian_bound_is_below_the_exact_optimum() -> None:
    demand = _noisy_day()
    exact = _floor(demand, 0.98)
    lagr = _floor(demand, 0.98, method="lagrangian")
    assert lagr.cost_usd <= exact.cost_usd + 1e-6
    assert lagr.plan_cost_usd >= exact.cost_usd - 1e-6


def test_unattainable_demand_is_reported_infeasible() -> None:
    # 5 tasks needed at once but only 2 warm and none can start in time; then 9 > max 8.
    plan = cost_floor(
        np.array([5, 2, 9, 2]),
        P,
        price_per_task_s=1.0,
        startup_s=100,
        drain_s=300,
        initial_tasks=2,
        max_tasks=8,
        startup_periods=2,
    )
    assert not plan.feasible
    assert plan.good_fraction == pytest.approx(0.5)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    demand=st.lists(st.integers(0, 6), min_size=1, max_size=40),
    bar=st.sampled_from([1.0, 0.95, 0.9, 0.75, 0.5]),
    startup=st.floats(0, 400),
    drain=st.floats(0, 400),
    initial=st.integers(0, 6),
    method=st.sampled_from(["exact", "lagrangian"]),
)
def test_plan_meets_the_bar(demand, bar, startup, drain, initial, method) -> None:
    d = np.array(demand)
    plan = cost_floor(
        d,
        P,
        price_per_task_s=1.0,
        startup_s=startup,
        drain_s=drain,
        good_bar=bar,
        initial_tasks=initial,
        method=method,
    )
    assert plan.feasible  # no start-up delay and no cap: every bar is reachable
    assert plan.serving is not None
    assert np.mean(plan.serving >= d) >= bar - 1e-9
    assert plan.good_fraction == pytest.approx(np.mean(plan.serving >= d))
    assert plan.cost_usd <= plan.plan_cost_usd + 1e-6
    if method == "exact":
        assert plan.cost_usd == pytest.approx(plan.plan_cost_usd)


def test_without_the_plan_the_cost_is_the_same() -> None:
    demand = _noisy_day(300)
    full = _floor(demand, 0.97)
    bare = cost_floor(
        demand,
        P,
        price_per_task_s=1.0,
        startup_s=157.0,
        drain_s=307.0,
        good_bar=0.97,
        initial_tasks=int(demand[0]),
        want_plan=False,
    )
    assert bare.serving is None
    assert bare.cost_usd == pytest.approx(full.cost_usd)
    assert bare.good_fraction == pytest.approx(full.good_fraction)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"good_bar": 1.5}, "good_bar"),
        ({"period_s": 0}, "period_s"),
        ({"startup_s": -1}, "startup_s"),
        ({"method": "milp"}, "method"),
        ({"demand_tasks": np.array([1.0, np.nan])}, "demand_tasks"),
    ],
)
def test_bad_inputs_are_named(kwargs, name) -> None:
    args = {
        "demand_tasks": np.array([1, 2]),
        "period_s": P,
        "price_per_task_s": 1.0,
        "startup_s": 100.0,
        "drain_s": 300.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        cost_floor(**args)


# -- the scenario's inputs are the optimistic ones ------------------------------------------------
def test_floor_inputs_take_each_value_in_the_floors_favour() -> None:
    sc = policy_scenario("1h")
    svc = sc.service
    kw = floor_inputs(sc)
    sim = Simulation(sc)
    t = sim.times
    # Billed before serving: never more than the simulator's shortest start (pull onwards).
    assert kw["startup_s"] <= t.pull_mean + t.container_start + t.health_check
    assert kw["startup_s"] >= t.container_start
    assert kw["drain_s"] == svc.deregistration_delay + svc.stop_duration + svc.deprovisioning
    assert kw["price_per_task_s"] == pytest.approx(sim.size.price_per_second())
    assert kw["initial_tasks"] == svc.initial_tasks and kw["max_tasks"] == svc.max_tasks
    assert kw["min_tasks"] == 0
    # No jitter in this scenario: the launch limit holds, widened by the health-check phase.
    assert kw["max_launch_per_period"] == svc.launch_rate_per_minute * 2
    assert floor_inputs(sc, initial_tasks=9)["initial_tasks"] == 9


# -- no registered policy beats the floor in the simulator -----------------------------------------
def _flash_crowd(n_ticks: int) -> np.ndarray:
    """6 h of a daily-like swell with a flash crowd at 3 h (x2.5 in 2 min, decaying 10 min)."""
    t = np.arange(n_ticks, dtype=float)
    rate = 600.0 + 600.0 * np.sin(np.pi * t / n_ticks) ** 2
    start = 3 * 3600
    rise = np.clip((t - start) / 120.0, 0.0, 1.0)
    decay = np.exp(-np.clip(t - start - 120.0, 0.0, None) / 600.0)
    return rate * (1.0 + 1.5 * rise * decay * (t >= start))


@pytest.fixture(scope="module")
def flash_runs() -> dict:
    sc = policy_scenario("6h", arrivals="poisson")
    rate = _flash_crowd(sc.n_ticks)
    runs = {}
    for name in registry.names():
        policy = registry.make("static", count=40) if name == "static" else registry.make(name)
        runs[name] = run_simulation(Simulation(sc, rate=rate), policy)
    return {"scenario": sc, "runs": runs}


def test_every_run_of_a_window_shares_its_demand(flash_runs) -> None:
    demands = [r.metrics["demand_tasks"].to_numpy() for r in flash_runs["runs"].values()]
    for d in demands[1:]:
        np.testing.assert_array_equal(d, demands[0])


@pytest.mark.parametrize("name", registry.names())
def test_no_policy_beats_the_floor_at_its_good_minutes(flash_runs, name: str) -> None:
    sc, result = flash_runs["scenario"], flash_runs["runs"][name]
    covered = covered_fraction(result.metrics)
    simulated = result.summary["good_minutes_fraction"]
    cost = result.summary["cost_usd"]
    floor = floor_for_metrics(result.metrics, sc, good_bar=covered)
    assert floor["floor_feasible"] == 1.0
    assert floor["floor_good_fraction"] >= covered - 1e-9
    assert cost >= floor["floor_cost_usd"], (name, cost, floor)
    # At the lower of the two measures the floor is no higher (monotone in the bar).
    low = floor_for_metrics(result.metrics, sc, good_bar=min(covered, simulated))
    assert low["floor_cost_usd"] <= floor["floor_cost_usd"] + 1e-9
    assert cost >= low["floor_cost_usd"]


def test_the_floor_is_tight_enough_to_matter(flash_runs) -> None:
    """The floor is not vacuous: the oracle, which knows the future, lands within 10% of it,
    and static provisioning for the peak costs far more."""
    sc, runs = flash_runs["scenario"], flash_runs["runs"]
    oracle = runs["oracle"]
    floor = floor_for_metrics(oracle.metrics, sc, good_bar=covered_fraction(oracle.metrics))
    assert oracle.summary["cost_usd"] <= 1.10 * floor["floor_cost_usd"]
    assert runs["static"].summary["cost_usd"] >= 1.5 * floor["floor_cost_usd"]


def test_one_floor_covers_runs_with_different_warm_starts(flash_runs) -> None:
    """As in the experiment, static starts warm at its peak count and the others at the first
    minute's need: one floor with the largest warm start holds for all of them."""
    sc = flash_runs["scenario"]
    big = policy_scenario("6h", arrivals="poisson", initial_tasks=40)
    static = run_simulation(
        Simulation(big, rate=_flash_crowd(big.n_ticks)), registry.make("static", count=40)
    )
    runs = {**flash_runs["runs"], "static warm at 40": static}
    lowest = min(covered_fraction(r.metrics) for r in runs.values())
    floor = floor_for_metrics(static.metrics, sc, good_bar=lowest, initial_tasks=40)
    for name, result in runs.items():
        assert result.summary["cost_usd"] >= floor["floor_cost_usd"], name
    # Free to start lower, the floor is no higher than with the warm start fixed at 4.
    fixed = floor_for_metrics(static.metrics, sc, good_bar=lowest)
    assert floor["floor_cost_usd"] <= fixed["floor_cost_usd"] + 1e-9
