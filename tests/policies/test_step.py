"""AWS step scaling (policies.autoscaling.step), table-driven from "Step scaling policies for
Application Auto Scaling", the StepScalingPolicyConfiguration and StepAdjustment API
references, and CloudWatch's "M out of N" alarm evaluation (URLs in the module docstring)."""

from __future__ import annotations

import pickle

import pytest
from helpers import history, observation

from policies import registry
from policies.autoscaling.step import (
    DEFAULT_STEPS,
    StepScalingPolicy,
    find_step,
    percent_change,
    validate_steps,
)
from policies.contract import Observation

NAN = float("nan")
ENTRY = "policies.autoscaling.step:StepScalingPolicy"


def obs(
    values,
    desired: int = 10,
    time: float | None = None,
    period: float = 60.0,
    column: str = "CPUUtilization",
    min_tasks: int = 1,
    max_tasks: int = 100,
    extra: dict | None = None,
) -> Observation:
    """An observation whose ``column`` holds ``values`` (other columns NaN or ``extra``)."""
    return observation(
        metrics=history(period, **{column: values, **(extra or {})}),
        time=time,
        desired=desired,
        min_tasks=min_tasks,
        max_tasks=max_tasks,
    )


# -- PercentChangeInCapacity rounding ---------------------------------------------------------
@pytest.mark.parametrize(
    "capacity, percent, change",
    [
        (11, 30, 3),  # AWS's example: 30% of 11 = 3.3 -> 3
        (14, -10, -1),  # AWS example: remove 10% of 14 = 1.4 -> 1
        (127, 10, 12),  # 12.7 -> 12 (above 1: down)
        (4, 10, 1),  # 0.4 -> 1 (between 0 and 1)
        (4, -10, -1),  # -0.4 -> -1 (between -1 and 0)
        (3, -50, -1),  # -1.5 -> -1 (below -1: up, toward zero)
        (60, -11, -6),  # -6.6 -> -6
        (10, 30, 3),  # exact: integer arithmetic, no float noise
        (20, -50, -10),
        (7, 100, 7),
        (0, 30, 0),
        (10, 0, 0),
    ],
)
def test_percent_rounding(capacity, percent, change):
    assert percent_change(capacity, percent) == change


def test_percent_default_ladder_reproduces_the_aws_example():
    # Threshold 70, default percent ladder: 95 % is 25 points above: +30% of 11 = 3.3 -> 3.
    p = StepScalingPolicy(adjustment_type="PercentChangeInCapacity")
    d = p.decide(obs([95.0], desired=11))
    assert d.desired == 14
    assert "30% of 11 = 3.3 -> +3" in d.reason


@pytest.mark.parametrize(
    "desired, adj, mam, expected",
    [
        (4, 25, 2, 6),  # AWS example: 25% of 4 = 1, MinAdjustmentMagnitude 2 -> +2
        (4, 25, None, 5),
        (20, 25, 2, 25),  # 5 >= 2: unchanged
        (4, -25, 2, 2),  # scale-in by at least 2 as well
        (0, 50, 3, 3),  # nothing to take a percentage of: still the minimum
    ],
)
def test_min_adjustment_magnitude(desired, adj, mam, expected):
    p = StepScalingPolicy(
        adjustment_type="PercentChangeInCapacity",
        steps=[(0, None, adj)] if adj > 0 else [(None, 0, adj)],
        comparison="greater" if adj > 0 else "less",
        threshold=70.0 if adj > 0 else 30.0,
        min_adjustment_magnitude=mam,
    )
    d = p.decide(obs([80.0 if adj > 0 else 20.0], desired=desired))
    assert d.desired == expected
    if mam is not None and expected - desired in (mam, -mam) and abs(desired * adj) < 100 * mam:
        assert f"MinAdjustmentMagnitude {mam}" in d.reason


@pytest.mark.parametrize("kind", ["ChangeInCapacity", "ExactCapacity"])
def test_min_adjustment_magnitude_only_with_percent(kind):
    p = StepScalingPolicy(adjustment_type=kind, steps=[(0, None, 5)], min_adjustment_magnitude=2)
    with pytest.raises(ValueError, match="min_adjustment_magnitude applies only with"):
        p.decide(obs([80.0]))


# -- steps: choosing one, and AWS's rules ------------------------------------------------------
@pytest.mark.parametrize(
    "cpu, expected",
    [
        (70.0, 10),  # not above the threshold: no alarm
        (70.5, 11),  # d = 0.5 in [0, 10): +1
        (79.99, 11),
        (80.0, 12),  # d = 10: lower bound inclusive above the threshold: [10, 20) -> +2
        (90.0, 13),  # [20, inf) -> +3
        (100.0, 13),
    ],
)
def test_default_scale_out_ladder(cpu, expected):
    d = StepScalingPolicy().decide(obs([cpu], desired=10))
    assert (d.desired or 10) == expected


@pytest.mark.parametrize(
    "cpu, expected",
    [
        (30.0, None),  # not below the threshold
        (25.0, 9),  # d = -5 in (-10, 0]: -1
        (20.0, 8),  # d = -10: upper bound inclusive below the threshold: (-20, -10] -> -2
        (15.0, 8),
        (10.0, 7),  # d = -20 in (-inf, -20] -> -3
    ],
)
def test_default_scale_in_ladder(cpu, expected):
    p = StepScalingPolicy(comparison="less", threshold=30.0)
    assert p.decide(obs([cpu], desired=10)).desired == expected


def test_reason_shows_the_step_and_the_arithmetic():
    d = StepScalingPolicy().decide(obs([80.0], desired=10))
    assert "breach 80 - 70 = 10 in step [10, 20) adjustment +2: 10 + 2 = 12" in d.reason
    d = StepScalingPolicy(comparison="less", threshold=30.0).decide(obs([20.0], desired=10))
    assert "breach 20 - 30 = -10 in step (-20, -10] adjustment -2: 10 - 2 = 8" in d.reason


def test_find_step_bounds_follow_aws():
    steps = validate_steps(
        [(None, -10, -2), (-10, 0, -1), (0, 10, 1), (10, None, 2)], "ChangeInCapacity"
    )
    assert find_step(steps, 0.0)[2] == 1  # above: lower inclusive
    assert find_step(steps, -10.0)[2] == -2  # below: upper inclusive
    assert find_step(steps, 10.0)[2] == 2
    assert find_step(steps, -0.1)[2] == -1


@pytest.mark.parametrize(
    "steps, match",
    [
        ([(0, 10, 1), (15, None, 2)], "gap between steps"),
        ([(0, 10, 1), (5, None, 2)], "overlaps"),
        ([(None, 0, -1), (None, 10, 1)], "open lower bound"),
        ([(0, None, 1), (10, None, 2)], "open upper bound"),
        ([(10, 20, 2), (0, 10, 1), (20, None, 3)], "sorted"),
        ([(None, None, 1)], "both bounds open"),
        ([(10, 0, 1), (0, None, 2)], "lower_bound < upper_bound"),
        ([(0, 10, 1)], "open \\(None\\) upper bound is needed"),
        ([(-10, 0, -1)], "open \\(None\\) lower bound is needed"),
        ([], "non-empty"),
        ([(0, None)], "must be \\(lower_bound, upper_bound, adjustment\\)"),
        ([(0, None, 1.5)], "must be an integer"),
        ([(0, float("inf"), 1)], "finite numbers or None"),
    ],
)
def test_bad_steps_are_refused(steps, match):
    p = StepScalingPolicy(steps=steps)
    with pytest.raises(ValueError, match=match):
        p.decide(obs([80.0]))


@pytest.mark.parametrize(
    "steps",
    [
        [(0, None, 1)],
        [(None, 0, -1)],
        [(None, -10, -2), (-10, 0, -1), (0, 10, 1), (10, None, 2)],
        [(10, None, 2)],  # a step above the threshold only: allowed, leaves (0, 10) uncovered
        *DEFAULT_STEPS.values(),
    ],
)
def test_good_steps_are_accepted(steps):
    validate_steps(steps, "ChangeInCapacity")


def test_no_step_covers_the_breach():
    p = StepScalingPolicy(steps=[(10, None, 2)])
    d = p.decide(obs([75.0]))
    assert d.desired is None and "no step covers" in d.reason
    assert p.decide(obs([85.0])).desired == 12


# -- ExactCapacity ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cpu, desired, expected",
    [
        (80.0, 3, 5),  # d = 10 in [0, 20): exactly 5
        (95.0, 3, 10),  # d = 25: exactly 10
        (80.0, 8, 5),  # exactly 5 is below 8: a scale-in
        (80.0, 5, None),  # already 5
        (95.0, 3, 10),
    ],
)
def test_exact_capacity(cpu, desired, expected):
    p = StepScalingPolicy(adjustment_type="ExactCapacity", steps=[(0, 20, 5), (20, None, 10)])
    assert p.decide(obs([cpu], desired=desired)).desired == expected


def test_exact_capacity_needs_steps_and_non_negative_adjustments():
    with pytest.raises(ValueError, match="no default steps"):
        StepScalingPolicy(adjustment_type="ExactCapacity").decide(obs([80.0]))
    with pytest.raises(ValueError, match="must be >= 0"):
        StepScalingPolicy(adjustment_type="ExactCapacity", steps=[(0, None, -1)]).decide(
            obs([80.0])
        )


# -- the alarm ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, datapoints, expected",
    [
        ([90.0], 1, 13),
        ([60.0, 90.0], 1, 13),
        ([90.0, 60.0, 90.0], 3, None),
        ([90.0, 90.0], 3, None),  # not enough datapoints published
        ([90.0, 90.0, 90.0], 3, 13),
        ([90.0, NAN, 90.0], 3, None),  # missing data does not breach
        ([NAN], 1, None),
    ],
)
def test_datapoints(values, datapoints, expected):
    p = StepScalingPolicy(datapoints=datapoints)
    assert p.decide(obs(values)).desired == expected


@pytest.mark.parametrize(
    "values, n, m, expected",
    [
        ([60.0, 90.0, 90.0], 3, 2, 12),  # 2 of 3 breach: ALARM; Average 80: d = 10, +2
        ([60.0, 60.0, 90.0], 3, 2, None),  # 1 of 3: OK
        ([90.0, NAN, 90.0], 3, 2, 13),  # missing left out of the alarm and the average
        ([40.0, 40.0, 100.0], 3, 1, None),  # ALARM, but the Average 60 is below 70: no step
        ([90.0, 90.0], 3, 1, None),  # fewer than N published
    ],
)
def test_datapoints_to_alarm_m_of_n(values, n, m, expected):
    p = StepScalingPolicy(datapoints=n, datapoints_to_alarm=m)
    assert p.decide(obs(values)).desired == expected


@pytest.mark.parametrize(
    "aggregation, expected",
    [
        ("Average", 12),  # mean(75, 85, 95) = 85: d = 15 in [10, 20): +2
        ("Minimum", 11),  # 75: d = 5 in [0, 10): +1
        ("Maximum", 13),  # 95: d = 25 in [20, inf): +3
    ],
)
def test_metric_aggregation_type_over_the_alarm_datapoints(aggregation, expected):
    # The step follows "the value of the aggregated CloudWatch metric" (StepAdjustment), not
    # the latest datapoint: the latest here (95) would pick +3 whatever the aggregation.
    p = StepScalingPolicy(datapoints=3, metric_aggregation_type=aggregation)
    d = p.decide(obs([75.0, 85.0, 95.0]))
    assert d.desired == expected
    assert f"{aggregation} " in d.reason


def test_default_aggregation_is_average():
    assert StepScalingPolicy().metric_aggregation_type == "Average"


def test_alarm_statistic_and_aggregation_combine():
    # The alarm's statistic picks the per-period column (Maximum across tasks); the
    # aggregation then reduces the alarm's datapoints of that column (Minimum of 85, 95).
    extra = {"CPUUtilization_Maximum": [85.0, 95.0]}
    o = obs([50.0, 50.0], extra=extra)
    p = StepScalingPolicy(statistic="Maximum", datapoints=2, metric_aggregation_type="Minimum")
    d = p.decide(o)
    assert d.desired == 12  # 85 - 70 = 15: +2
    assert "CPUUtilization_Maximum" in d.reason


def test_scale_in_limits_are_described():
    assert "none" in StepScalingPolicy().scale_in_limits
    text = StepScalingPolicy(comparison="less", threshold=30.0, datapoints=15).scale_in_limits
    assert "15 of 15 datapoints less than 30" in text and "cooldown of 300 s" in text


def test_statistic_picks_the_column():
    extra = {"CPUUtilization_Maximum": [95.0], "CPUUtilization_Minimum": [5.0]}
    o = obs([50.0], extra=extra)
    assert StepScalingPolicy().decide(o).desired is None
    assert StepScalingPolicy(statistic="Maximum").decide(o).desired == 13
    assert (
        StepScalingPolicy(statistic="Minimum", comparison="less", threshold=30).decide(o).desired
        == 7
    )
    with pytest.raises(ValueError, match="RequestCountPerTarget_Maximum"):
        StepScalingPolicy(metric="RequestCountPerTarget", statistic="Maximum").decide(o)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"statistic": "p99"}, "statistic must be one of Average, Minimum, Maximum"),
        ({"metric": "Latency"}, "valid columns"),
        ({"comparison": ">"}, "comparison must be one of greater, less"),
        ({"datapoints": 0}, "datapoints"),
        ({"datapoints": 3, "datapoints_to_alarm": 4}, "datapoints_to_alarm"),
        ({"datapoints_to_alarm": 0}, "datapoints_to_alarm"),
        ({"metric_aggregation_type": "p99"}, "metric_aggregation_type must be one of"),
        ({"adjustment_type": "Change"}, "adjustment_type must be one of"),
        ({"threshold": float("nan")}, "threshold"),
        ({"cooldown": -1}, "cooldown"),
        ({"interval": 0}, "interval"),
        (
            {"adjustment_type": "PercentChangeInCapacity", "min_adjustment_magnitude": 0},
            "min_adjustment_magnitude must be",
        ),
    ],
)
def test_bad_parameters_are_refused_by_name(params, match):
    with pytest.raises(ValueError, match=match):
        StepScalingPolicy(**params).decide(obs([50.0]))


# -- cooldown -------------------------------------------------------------------------------------
def test_larger_step_during_cooldown_adds_only_the_difference():
    p = StepScalingPolicy()  # +1 / +2 / +3 at 0 / 10 / 20 points above 70
    t0 = 500.0
    assert p.decide(obs([85.0], desired=10, time=t0)).desired == 12  # +2
    # Same step again within the cooldown: from the 10 before it, 10 + 2 = 12: nothing new.
    d = p.decide(obs([85.0], desired=12, time=t0 + 60))
    assert d.desired is None and "10 + 2 = 12, not above 12" in d.reason
    # A smaller step: nothing.
    assert p.decide(obs([75.0], desired=12, time=t0 + 120)).desired is None
    # A larger step (+3): 10 + 3 = 13, so only 1 is added (not 12 + 3 = 15).
    d = p.decide(obs([95.0], desired=12, time=t0 + 180))
    assert d.desired == 13 and "adds only the difference" in d.reason
    # The cooldown of the initiating scale-out ends at t0 + 300: from 13 now, +2 = 15.
    assert p.decide(obs([85.0], desired=13, time=t0 + 299)).desired is None
    assert p.decide(obs([85.0], desired=13, time=t0 + 300)).desired == 15


def test_percent_larger_step_during_cooldown():
    p = StepScalingPolicy(adjustment_type="PercentChangeInCapacity")  # +10 / +20 / +30 %
    assert p.decide(obs([75.0], desired=20, time=0)).desired == 22  # +10% of 20
    assert p.decide(obs([95.0], desired=22, time=60)).desired == 26  # 20 + 30% of 20


def test_scale_in_blocked_during_cooldown():
    p = StepScalingPolicy(comparison="less", threshold=30.0)
    assert p.decide(obs([20.0], desired=10, time=0)).desired == 8
    for t in (60, 180, 299):
        d = p.decide(obs([20.0], desired=8, time=t))
        assert d.desired is None and "scale-in blocked" in d.reason
    assert p.decide(obs([20.0], desired=8, time=300)).desired == 6


def test_scale_out_interrupts_a_scale_in_cooldown():
    # ExactCapacity can go either way from one alarm: 4 tasks for a small breach, 12 for a big one.
    p = StepScalingPolicy(
        threshold=50.0, adjustment_type="ExactCapacity", steps=[(0, 20, 4), (20, None, 12)]
    )
    assert p.decide(obs([60.0], desired=10, time=0)).desired == 4  # a scale-in
    d = p.decide(obs([80.0], desired=4, time=60))
    assert d.desired == 12 and "interrupts" in d.reason
    # ... and that scale-out starts a scale-out cooldown, which blocks the scale-in back to 4.
    assert p.decide(obs([60.0], desired=12, time=120)).desired is None


def test_scale_out_by_another_policy_interrupts_the_scale_in_cooldown():
    p = StepScalingPolicy(comparison="less", threshold=30.0)
    assert p.decide(obs([20.0], desired=10, time=0)).desired == 8
    d = p.decide(obs([20.0], desired=11, time=60))  # another policy scaled out to 11
    assert d.desired == 9 and "interrupted" in d.reason


def test_clamp_to_min_max():
    assert StepScalingPolicy().decide(obs([99.0], desired=10, max_tasks=11)).desired == 11
    assert StepScalingPolicy().decide(obs([99.0], desired=10, max_tasks=10)).desired is None
    p = StepScalingPolicy(comparison="less", threshold=30.0)
    assert p.decide(obs([5.0], desired=10, min_tasks=9)).desired == 9


def test_registry_params_pickle_and_reset():
    registry.register("step", ENTRY)
    p = registry.make("step")
    assert isinstance(p, StepScalingPolicy)
    assert p.get_params() == StepScalingPolicy(**p.get_params()).get_params()
    assert p.decide(obs([85.0], desired=10, time=0)).desired == 12
    q = pickle.loads(pickle.dumps(p))
    assert q.decide(obs([85.0], desired=12, time=60)).desired is None  # cooldown travelled
    p.reset()
    assert p.decide(obs([85.0], desired=12, time=60)).desired == 14
