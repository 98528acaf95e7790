"""AWS target tracking (policies.autoscaling.target_tracking), table-driven from the AWS
pages cited in the module's docstring ("Target tracking scaling policies for Application Auto
Scaling", "How target tracking scaling for Application Auto Scaling works", the
TargetTrackingScalingPolicyConfiguration API reference), plus one simulator run checking when
the reaction to a step in load happens."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest
from helpers import history, observation, policy_scenario

from backends.sim import run_simulation
from policies import registry
from policies.autoscaling.target_tracking import TargetTrackingPolicy
from policies.contract import DeploymentState, Observation

NAN = float("nan")
ENTRY = "policies.autoscaling.target_tracking:TargetTrackingPolicy"


def obs(
    values,
    desired: int = 10,
    time: float | None = None,
    period: float = 60.0,
    metric: str = "CPUUtilization",
    min_tasks: int = 1,
    max_tasks: int = 100,
    deploying: bool = False,
) -> Observation:
    """An observation whose ``metric`` periods are ``values`` (other columns NaN), at ``time``
    (default: one publication delay after the last period)."""
    return observation(
        metrics=history(period, **{metric: values}),
        time=time,
        desired=desired,
        min_tasks=min_tasks,
        max_tasks=max_tasks,
        deployment=DeploymentState(in_progress=deploying),
    )


LOW = [40.0] * 15  # below the scale-in threshold 0.9 x 50 = 45
CALM = [47.5] * 20  # between the two thresholds: neither alarm


# -- the scale-out alarm: 3 of 3 datapoints above target -------------------------------------
@pytest.mark.parametrize(
    "values, expected",
    [
        (CALM + [80, 80, 40], None),  # 2 high + 1 low: no action
        (CALM + [40, 80, 80], None),  # the low one first: still no action
        (CALM + [80, 40, 80], None),
        ([80, 80], None),  # fewer published periods than the alarm needs
        (CALM + [80, 80, 80], 16),  # 3 high: ceil(10 x 80 / 50) = 16
        (CALM + [90, 60, 80], 16),  # the latest datapoint (80) sizes the step
        (CALM + [50, 50, 50], None),  # at the target is not above it
        (CALM + [80, NAN, 80], None),  # missing data breaks the run
        ([NAN] + [80, 80, 80], 16),  # ... but only inside the last 3
    ],
)
def test_scale_out_needs_3_of_3(values, expected):
    assert TargetTrackingPolicy().decide(obs(values)).desired == expected


@pytest.mark.parametrize(
    "desired, cpu, target, expected",
    [
        (10, 80.0, 50.0, 16),  # ceil(current x metric / target)
        (4, 100.0, 50.0, 8),
        (3, 51.0, 50.0, 4),  # ceil(3.06) = 4
        (10, 77.0, 70.0, 11),  # 10 x 77 / 70 = 11.000000000000002 in floats: 11, not 12
        (1, 99.0, 60.0, 2),
        (20, 55.0, 50.0, 22),
    ],
)
def test_scale_out_is_proportional(desired, cpu, target, expected):
    d = TargetTrackingPolicy(target=target).decide(obs([cpu] * 3, desired=desired))
    assert d.desired == expected
    assert f"ceil({desired} x {cpu:g} / {target:g}) = {expected}" in d.reason


def test_reason_shows_the_datapoints_and_the_arithmetic():
    d = TargetTrackingPolicy().decide(obs(CALM + [80, 80, 80]))
    assert "3 of 3 60s datapoints [80, 80, 80] > target 50" in d.reason
    assert "ceil(10 x 80 / 50) = 16" in d.reason
    assert "scale out 10 -> 16" in d.reason


# -- the scale-in alarm: 15 of 15 below 0.9 x target -----------------------------------------
@pytest.mark.parametrize(
    "values, max_fraction, expected",
    [
        ([40.0] * 15, 0.1, 9),  # with the optional cap: max(8, 10 - 1) = 9
        ([40.0] * 15, None, 8),  # plain proportional
        ([50.0] + [40.0] * 14, 0.1, None),  # 14 below: no action
        ([40.0] * 14, 0.1, None),  # only 14 published
        ([44.9] * 15, 0.1, 9),
        ([45.0] * 15, 0.1, None),  # at the threshold is not below it
        ([40.0] * 7 + [NAN] + [40.0] * 7, 0.1, None),  # missing data is never low load
        ([NAN] + [40.0] * 15, 0.1, 9),  # ... outside the 15 it does not matter
        ([0.0] * 15, None, 1),  # ceil(10 x 0 / 50) = 0, clamped to min 1
    ],
)
def test_scale_in_needs_15_of_15(values, max_fraction, expected):
    p = TargetTrackingPolicy(scale_in_max_fraction=max_fraction)
    assert p.decide(obs(values)).desired == expected


@pytest.mark.parametrize(
    "desired, cpu, expected",
    [
        (40, 10.0, 8),  # ceil(40 x 10 / 50) = 8: AWS documents no cap on one scale-in
        (100, 20.0, 40),
        (5, 10.0, 1),
        (12, 44.0, 11),  # ceil(10.56) = 11: rounding up removes less
    ],
)
def test_scale_in_is_proportional_by_default(desired, cpu, expected):
    # [TT]: the adjustment is calculated from the metric and the target value, in both
    # directions; scale-in is gradual through its alarm, threshold and cooldown only.
    p = TargetTrackingPolicy()
    assert p.scale_in_max_fraction is None
    d = p.decide(obs([cpu] * 15, desired=desired))
    assert d.desired == expected
    assert "0.9 x 50 = 45" in d.reason
    assert f"ceil({desired} x {cpu:g} / 50) = {expected}" in d.reason


@pytest.mark.parametrize(
    "desired, cpu, expected",
    [
        (40, 10.0, 36),  # max(ceil(40 x 10 / 50) = 8, 40 - 4) = 36
        (100, 20.0, 90),  # 10% of 100
        (5, 10.0, 4),  # at least one task
        (12, 44.0, 11),  # ceil(12 x 44 / 50) = 11 = 12 - 1
    ],
)
def test_optional_scale_in_cap(desired, cpu, expected):
    d = TargetTrackingPolicy(scale_in_max_fraction=0.1).decide(obs([cpu] * 15, desired=desired))
    assert d.desired == expected


def test_scale_in_limits_are_described():
    default = TargetTrackingPolicy().scale_in_limits
    assert "15 datapoints below 0.9 x target" in default
    assert "scale-in cooldown 300 s" in default
    assert "no cap on one scale-in" in default
    capped = TargetTrackingPolicy(target=60, scale_in_max_fraction=0.1).scale_in_limits
    assert "below 54" in capped and "at most 10% of the tasks" in capped
    assert "not an AWS setting" in capped


def test_scale_in_threshold_follows_ratio():
    p = TargetTrackingPolicy(target=60.0, scale_in_ratio=0.5)
    assert p.decide(obs([31.0] * 15)).desired is None  # 0.5 x 60 = 30
    assert p.decide(obs([29.0] * 15)).desired == 5  # ceil(10 x 29 / 60)


# -- cooldowns ---------------------------------------------------------------------------------
def test_scale_out_cooldown_counts_capacity_already_added():
    p = TargetTrackingPolicy()
    t0 = 1000.0
    # t0: 10 tasks at 80 %: ceil(10 x 80 / 50) = 16.
    assert p.decide(obs([80] * 3, desired=10, time=t0)).desired == 16
    # +60 s: still 80 % (the new tasks are starting). From the 10 before the cooldown:
    # ceil(10 x 80 / 50) = 16, not above the 16 already set: nothing (not ceil(16 x 80/50) = 26).
    d = p.decide(obs([80] * 4, desired=16, time=t0 + 60))
    assert d.desired is None
    assert "cooldown" in d.reason and "ceil(10 x 80 / 50) = 16, not above 16" in d.reason
    # +120 s: 90 %: ceil(10 x 90 / 50) = 18 > 16: only the difference (2) is added.
    d = p.decide(obs([80] * 4 + [90], desired=16, time=t0 + 120))
    assert d.desired == 18
    assert "ceil(10 x 90 / 50) = 18" in d.reason
    # +299 s: still in the cooldown of the first scale-out (a follow-up does not restart it).
    assert p.decide(obs([80] * 4 + [90] * 3, desired=18, time=t0 + 299)).desired is None
    # +300 s: the cooldown is over: from the current desired count, ceil(18 x 60 / 50) = 22.
    assert p.decide(obs([60] * 3, desired=18, time=t0 + 300)).desired == 22


def test_without_cooldown_scale_out_compounds():
    p = TargetTrackingPolicy(scale_out_cooldown=0)
    assert p.decide(obs([80] * 3, desired=10, time=0)).desired == 16
    assert p.decide(obs([80] * 3, desired=16, time=60)).desired == 26


def test_scale_in_blocked_within_scale_in_cooldown():
    p = TargetTrackingPolicy()
    t0 = 2000.0
    assert p.decide(obs(LOW, desired=10, time=t0)).desired == 8
    for dt in (60, 120, 240, 299):
        d = p.decide(obs(LOW, desired=8, time=t0 + dt))
        assert d.desired is None
        assert "scale-in cooldown" in d.reason
    # 300 s later: ceil(8 x 40 / 50) = 7.
    assert p.decide(obs(LOW, desired=8, time=t0 + 300)).desired == 7


def test_scale_out_ends_the_scale_in_cooldown():
    p = TargetTrackingPolicy()
    assert p.decide(obs(LOW, desired=10, time=0)).desired == 8
    # 60 s later the scale-out alarm fires: ceil(8 x 80 / 50) = 13, not blocked...
    assert p.decide(obs([80] * 3, desired=8, time=60)).desired == 13
    # ... and it ended the scale-in cooldown: a scale-in 60 s after is allowed.
    assert p.decide(obs(LOW, desired=13, time=120)).desired == 11


def test_a_scale_out_by_another_policy_ends_the_scale_in_cooldown():
    p = TargetTrackingPolicy()
    assert p.decide(obs(LOW, desired=10, time=0)).desired == 8
    assert p.decide(obs(LOW, desired=8, time=60)).desired is None  # in cooldown
    d = p.decide(obs(LOW, desired=12, time=120))  # someone scaled out to 12
    assert d.desired == 10
    assert "cooldown ended" in d.reason


@pytest.mark.parametrize("period", [60.0, 20.0])
def test_scale_out_cooldown_does_not_block_scale_in(period):
    # [API]: ScaleOutCooldown delays the next scale-out, ScaleInCooldown the next scale-in;
    # no AWS page says a scale-out cooldown blocks scale-in. With 20 s metrics the scale-in
    # alarm's 15 datapoints span 300 s, so a scale-in can follow within the cooldown.
    p = TargetTrackingPolicy()
    assert p.decide(obs([80] * 3, desired=10, time=0, period=period)).desired == 16
    d = p.decide(obs(LOW, desired=16, time=60, period=period))
    assert d.desired == 13  # ceil(16 x 40 / 50)


# -- DisableScaleIn, deployments, clamping -----------------------------------------------------
def test_disable_scale_in():
    p = TargetTrackingPolicy(disable_scale_in=True)
    d = p.decide(obs(LOW))
    assert d.desired is None and "disabled" in d.reason
    assert p.decide(obs([80] * 3)).desired == 16  # scale-out still works


def test_deployment_in_progress_blocks_scale_in_only():
    p = TargetTrackingPolicy()
    d = p.decide(obs(LOW, deploying=True))
    assert d.desired is None and "deployment" in d.reason
    assert p.decide(obs([80] * 3, deploying=True)).desired == 16
    assert p.decide(obs(LOW, desired=16, deploying=False, time=10_000)).desired == 13


@pytest.mark.parametrize(
    "values, desired, lo, hi, expected",
    [
        ([100] * 3, 10, 1, 15, 15),  # ceil(10 x 100 / 50) = 20, clamped to max 15
        ([100] * 3, 10, 1, 10, None),  # already at max
        ([40] * 15, 10, 10, 50, None),  # already at min
        ([10] * 15, 10, 9, 50, 9),  # max(2, 9) = 9, min 9
        ([80] * 3, 2, 5, 50, 5),  # ceil(2 x 80 / 50) = 4, clamped up to min 5
    ],
)
def test_min_max_clamp(values, desired, lo, hi, expected):
    p = TargetTrackingPolicy()
    d = p.decide(obs(values, desired=desired, min_tasks=lo, max_tasks=hi))
    assert d.desired == expected
    if d.desired is not None:
        assert lo <= d.desired <= hi


# -- 20-second periods -------------------------------------------------------------------------
def test_20_second_periods_count_datapoints_not_minutes():
    p = TargetTrackingPolicy()
    # 3 datapoints of 20 s (one minute of data) are enough for the scale-out alarm.
    d = p.decide(obs([47.5] * 9 + [80] * 3, period=20.0))
    assert d.desired == 16 and "3 of 3 20s datapoints" in d.reason
    assert p.clone().decide(obs([47.5] * 9 + [80] * 2, period=20.0)).desired is None
    # 15 datapoints of 20 s (5 minutes) for the scale-in alarm.
    assert p.clone().decide(obs([40] * 15, period=20.0)).desired == 8
    assert p.clone().decide(obs([40] * 14, period=20.0)).desired is None


# -- other metrics and validation --------------------------------------------------------------
def test_request_count_per_target_needs_a_target():
    p = TargetTrackingPolicy(metric="RequestCountPerTarget")
    with pytest.raises(ValueError, match="target"):
        p.decide(obs([1000] * 3, metric="RequestCountPerTarget"))
    p = TargetTrackingPolicy(metric="RequestCountPerTarget", target=600.0)
    d = p.decide(obs([900] * 3, metric="RequestCountPerTarget"))
    assert d.desired == 15  # ceil(10 x 900 / 600)


def test_memory_utilisation_defaults_to_50():
    p = TargetTrackingPolicy(metric="MemoryUtilization")
    assert p.decide(obs([60] * 3, metric="MemoryUtilization")).desired == 12


@pytest.mark.parametrize(
    "params, match",
    [
        ({"metric": "Latency"}, "valid metrics: CPUUtilization"),
        ({"target": 0.0}, "target must be"),
        ({"target": -5.0}, "target must be"),
        ({"target": float("nan")}, "target must be"),
        ({"scale_in_ratio": 1.5}, "scale_in_ratio"),
        ({"scale_in_ratio": 0.0}, "scale_in_ratio"),
        ({"scale_out_datapoints": 0}, "scale_out_datapoints"),
        ({"scale_in_datapoints": 2.5}, "scale_in_datapoints"),
        ({"scale_out_cooldown": -1}, "scale_out_cooldown"),
        ({"scale_in_max_fraction": 0.0}, "scale_in_max_fraction"),
        ({"interval": 0}, "interval"),
    ],
)
def test_bad_parameters_are_refused_by_name(params, match):
    p = TargetTrackingPolicy(**params)  # the constructor only stores
    with pytest.raises(ValueError, match=match):
        p.decide(obs(CALM))


def test_registry_params_pickle_and_reset():
    registry.register("target-tracking", ENTRY)
    p = registry.make("target-tracking")
    assert isinstance(p, TargetTrackingPolicy)
    assert p.get_params() == TargetTrackingPolicy(**p.get_params()).get_params()
    assert p.decide(obs([80] * 3, time=0)).desired == 16
    q = pickle.loads(pickle.dumps(p))
    assert q.decide(obs([80] * 4, desired=16, time=60)).desired is None  # state travelled
    p.reset()
    assert p.decide(obs([80] * 4, desired=16, time=60)).desired == 26  # state forgotten


# -- in the simulator: the reaction to a step in load ------------------------------------------
@pytest.mark.parametrize("period", [60, 20])
def test_reaction_to_a_load_step_happens_when_the_arithmetic_says(period):
    """Target tracking's reaction to a step increase in load happens when the datapoint and
    cooldown arithmetic says it should."""
    from sim.simulation import Simulation

    sc = policy_scenario("2h", metrics_period=period)
    step_at = 3600.0
    rate = np.full(sc.n_ticks, 190.0)  # 4 tasks x 100 rps: CPU 47.5 %, between 45 and 50
    rate[int(step_at / sc.run.tick) :] = 600.0  # CPU 100 % (capped: 600 > 400 rps)
    policy = TargetTrackingPolicy()
    result = run_simulation(Simulation(sc, rate=rate), policy)

    p = float(sc.run.metrics_period)
    delay = float(sc.run.publication_delay)
    interval = policy.interval_s
    n = policy.scale_out_datapoints
    cooldown = policy.scale_out_cooldown
    # The first n periods that start at or after the step are all high; the last of them ends
    # at step_at + n x p and is visible publication_delay later. The controller decides at
    # 0, interval, 2 x interval, ...: the first decision at or after that moment acts.
    visible_at = step_at + n * p + delay
    expected_first = math.ceil(visible_at / interval) * interval
    assert expected_first == (3840.0 if period == 60 else 3720.0)

    scale = result.events[result.events.event == "SCALE"]
    times = scale.time_s.to_numpy()
    counts = [
        tuple(map(int, re.match(r"desired (\d+) -> (\d+)", r).groups())) for r in scale.reason
    ]
    assert times[0] == expected_first
    assert counts[0] == (4, math.ceil(4 * 100.0 / 50.0))  # ceil(4 x 100 / 50) = 8

    # The second scale-out respects the cooldown: nothing within 300 s of the first (while it
    # runs, ceil(4 x CPU / 50) <= 8 because CPU <= 100 %), then the first decision whose last
    # n visible datapoints are all above 50 %, replayed from the published metrics.
    assert times[1] >= times[0] + cooldown
    cpu = result.metrics.CPUUtilization.to_numpy()
    starts = result.metrics.time_s.to_numpy()
    t = times[0] + interval
    while True:
        visible = cpu[starts + p <= t - delay + 1e-9]
        if t - times[0] >= cooldown and np.all(visible[-n:] > 50.0):
            break
        t += interval
    assert times[1] == t
    assert counts[1] == (8, math.ceil(8 * visible[-1] / 50.0 - 1e-9))
