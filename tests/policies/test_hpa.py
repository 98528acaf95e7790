"""HpaPolicy: the Kubernetes HPA's arithmetic, as table-driven scenarios.

Sources: the controller and its tests in Kubernetes v1.31
(https://github.com/kubernetes/kubernetes/tree/v1.31.0/pkg/controller/podautoscaler:
replica_calculator.go, replica_calculator_test.go, horizontal.go, horizontal_test.go) and the
worked examples of https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import history as make_history
from helpers import observation, policy_scenario

from backends.sim import run_simulation
from policies.autoscaling.hpa import (
    HpaPolicy,
    PodGroups,
    rate_limit,
    replica_recommendation,
    stabilise,
)
from policies.contract import MetricHistory, Observation


def history(t: float, values: dict[str, list[float]], period_s: float = 60.0) -> MetricHistory:
    """Periods ending 60 s before ``t`` (the publication delay), the last one latest."""
    n = len(next(iter(values.values())))
    return make_history(period_s, t - 60.0 - n * period_s, **values)


def obs(
    t: float = 1000.0,
    desired: int = 4,
    cpu: float | None = 50.0,
    running: int | None = None,
    healthy: int | None = None,
    pending: int = 0,
    lo: int = 1,
    hi: int = 100,
    period_running: float | None = None,
    period_healthy: float | None = None,
    memory: float | None = None,
) -> Observation:
    running = desired if running is None else running
    healthy = running if healthy is None else healthy
    values = {
        "CPUUtilization": [np.nan if cpu is None else cpu],
        "MemoryUtilization": [np.nan if memory is None else memory],
        "RunningTaskCount": [running if period_running is None else period_running],
        "HealthyHostCount": [healthy if period_healthy is None else period_healthy],
    }
    return observation(
        metrics=history(t, values),
        time=t,
        desired=desired,
        running=running,
        pending=pending,
        healthy=healthy,
        min_tasks=lo,
        max_tasks=hi,
    )


def running(p: HpaPolicy) -> HpaPolicy:
    """An HPA the controller has reconciled before, with no recommendation in its windows.

    Kubernetes' table tests set ``recommendations: []timestampedRecommendation{}`` for this;
    ``nil`` (a fresh policy here) makes the controller record the current count first.
    """
    p.recommendations_ = []
    return p


# -- the documentation's worked examples --------------------------------------------------
def test_double_when_metric_is_twice_the_target() -> None:
    # kubernetes.io: current 200m, desired 100m -> 200.0 / 100.0 == 2.0: replicas doubled.
    # The same ratio in CPU % (a Fargate task's CPU cannot exceed 100 %): 100 / 50.
    d = HpaPolicy(target=50).decide(obs(desired=4, cpu=100.0))
    assert d.desired == 8
    assert "ceil(4 x 2.000) = 8" in d.reason


def test_halve_when_metric_is_half_the_target() -> None:
    # kubernetes.io: current 50m, desired 100m -> 0.5: replicas halved (25 / 50 here).
    d = running(HpaPolicy(target=50)).decide(obs(desired=4, cpu=25.0))
    assert d.desired == 2


@pytest.mark.parametrize(
    "cpu, expected",
    [
        (52.5, None),  # ratio 1.05: within the 0.1 tolerance
        (55.0, None),  # ratio 1.1: the edge is within
        (45.0, None),  # ratio 0.9: the edge is within
        (56.0, 5),  # ratio 1.12: ceil(4 x 1.12) = 5
        (44.0, 4),  # ratio 0.88: ceil(4 x 0.88) = 4: no change either
        (35.0, 3),  # ratio 0.7: ceil(2.8) = 3
    ],
)
def test_tolerance(cpu: float, expected: int | None) -> None:
    d = running(HpaPolicy()).decide(obs(desired=4, cpu=cpu))
    assert d.desired == (None if expected == 4 else expected)


def test_stabilisation_window_highest_recommendation_wins() -> None:
    # Recommendations 10 (t=0), 8 (t=100), 6 (t=200), 4 (t=250): a scale-down waits for the
    # highest recommendation of the last 300 s.
    p = HpaPolicy()
    steps = [(0, 50.0, None), (100, 40.0, None), (200, 30.0, None), (250, 20.0, None)]
    for t, cpu, expect in steps:
        d = p.decide(obs(t=t, desired=10, cpu=cpu))
        assert d.desired is expect, (t, d.reason)
    assert "stabilised 10 (highest recommendation of the last 300 s)" in d.reason
    # t=300: the t=0 sample is exactly 300 s old, out of the window: highest is 8.
    d = p.decide(obs(t=300, desired=10, cpu=20.0))
    assert d.desired == 8
    d = p.decide(obs(t=401, desired=8, cpu=25.0))  # 8 x 0.5 -> 4; window (101, 401]: 6
    assert d.desired == 6
    d = p.decide(obs(t=551, desired=6, cpu=33.4))  # window (251, 551]: 4, 4, 5 -> 5
    assert d.desired == 5


def test_scale_up_is_not_stabilised_by_default() -> None:
    p = running(HpaPolicy())
    assert p.decide(obs(t=0, desired=4, cpu=20.0)).desired == 2
    assert p.decide(obs(t=15, desired=2, cpu=100.0)).desired == 4


def test_scale_up_stabilisation_window_lowest_wins() -> None:
    p = HpaPolicy(scale_up_stabilization=60)
    assert p.decide(obs(t=0, desired=4, cpu=50.0)).desired is None  # recommend 4
    d = p.decide(obs(t=30, desired=4, cpu=100.0))  # recommend 8, window holds 4
    assert d.desired is None and "lowest recommendation of the last 60 s" in d.reason
    assert p.decide(obs(t=61, desired=4, cpu=100.0)).desired == 8


def test_scale_up_from_one_pod_limited_to_four() -> None:
    # Default policies: the larger of +100 % and +4 pods per 15 s: 1 -> max(2, 5) = 5.
    d = HpaPolicy(target=10).decide(obs(desired=1, cpu=100.0))
    assert d.desired == 5
    assert "max(+100% -> 2, +4 -> 5)" in d.reason


def test_scale_up_from_ten_pods_doubles() -> None:
    # 10 -> max(20, 14) = 20.
    d = HpaPolicy(target=10).decide(obs(desired=10, cpu=100.0))
    assert d.desired == 20


def test_rate_limit_counts_earlier_additions_within_the_period() -> None:
    p = HpaPolicy(target=10, interval=5)
    assert p.decide(obs(t=0, desired=1, cpu=100.0)).desired == 5
    # 5 s later: already +4 within 15 s, the period started at 1 pod: no more.
    d = p.decide(obs(t=5, desired=5, running=1, cpu=100.0))
    assert d.desired is None and "from 1 in 15 s" in d.reason
    # 15 s later the t=0 event has left the period: 5 -> max(10, 9) = 10.
    assert p.decide(obs(t=15, desired=5, running=1, cpu=100.0)).desired == 10


def test_scale_down_at_most_100_percent_per_period() -> None:
    p = HpaPolicy(scale_down_percent=50, scale_down_stabilization=0)
    d = p.decide(obs(t=0, desired=10, cpu=5.0))  # recommend 1, at most -50 %: 5
    assert d.desired == 5
    # 5 s later the period still began at 10 tasks: floor(10 x 0.5) = 5, no further.
    assert p.decide(obs(t=5, desired=5, cpu=5.0)).desired is None
    # At 15 s the period begins at 5: floor(5 x 0.5) = 2.
    assert p.decide(obs(t=15, desired=5, cpu=5.0)).desired == 2


# -- not-ready pods and missing metrics ---------------------------------------------------
def test_not_ready_pods_count_as_zero_on_scale_up_and_can_cancel_it() -> None:
    # 4 ready at 60 % (ratio 1.2) and 4 pending: with those at 0 the ratio is 0.6: the
    # direction reverses, nothing changes.
    d = HpaPolicy().decide(obs(desired=8, running=4, pending=4, cpu=60.0))
    assert d.desired is None
    assert "4 not ready at 0" in d.reason and "reverses direction" in d.reason


def test_not_ready_pods_dampen_a_scale_up_into_the_tolerance() -> None:
    # 4 ready at 66 % (ratio 1.32) plus 1 starting: 264 / (5 x 50) = 1.056: within 0.1.
    d = HpaPolicy().decide(obs(desired=5, running=5, healthy=4, cpu=66.0 * 4 / 5))
    assert d.desired is None and "within tolerance" in d.reason
    # Without the starting task: ceil(4 x 1.32) = 6.
    assert HpaPolicy().decide(obs(desired=4, cpu=66.0)).desired == 6


def test_not_ready_pods_are_ignored_on_scale_down() -> None:
    # 4 ready at 20 %, 4 pending: ratio 0.4 over the 4 ready: ceil(1.6) = 2.
    d = running(HpaPolicy()).decide(obs(desired=8, running=4, pending=4, cpu=20.0))
    assert d.desired == 2


def test_missing_metrics_count_as_full_request_on_scale_down() -> None:
    # 6 ready now, 4 were serving in the datapoint's period: 2 without a metric.
    # Ratio 0.2 -> with the 2 at max(100 %, target) = 100 %: (4 x 10 + 2 x 100) / (6 x 50)
    # = 0.8, ceil(6 x 0.8) = 5 (at 100 % of the target it would be ceil(6 x 0.467) = 3).
    d = running(HpaPolicy()).decide(obs(desired=6, cpu=10.0, period_running=4, period_healthy=4))
    assert d.desired == 5
    assert "2 missing at 100%" in d.reason


# replica_calculator_test.go (v1.31), TestReplicaCalcResourceMissingMetrics-style table:
# (name, current replicas, pod groups, target %, expected replicas). Requests are 1.0 CPU
# each; the pod levels in millicores become utilisation % of the request.
CALC_CASES = [
    # "scale down: unready pod metric missing": readiness [False, True, True, True], levels
    # (100, 100, 100) m for 4 pods: pod 0 unready, pods 1-2 ready at 10 %, pod 3 missing.
    # 0.2 -> missing at max(100, 50) %: (10 + 10 + 100) / 3 = 40 % -> ceil(0.8 x 3) = 3.
    (
        "scale down: unready pod metric missing",
        4,
        PodGroups(ready=2, ready_value=10.0, unready=1, missing=1),
        50.0,
        3,
    ),
    # The same shape with a target over 100 % (the "scale down: target over 100" case of the
    # table, with equal requests as a fleet average implies): missing at 300 %:
    # (10 + 10 + 300) / 3 = 106.7 % -> ratio 0.356 -> ceil(1.07) = 2.
    (
        "scale down: target over 100, equal requests",
        4,
        PodGroups(ready=2, ready_value=10.0, unready=1, missing=1),
        300.0,
        2,
    ),
]


@pytest.mark.parametrize(
    "current, groups, target, expected",
    [c[1:] for c in CALC_CASES],
    ids=[c[0] for c in CALC_CASES],
)
def test_replica_calculator_table(
    current: int, groups: PodGroups, target: float, expected: int
) -> None:
    assert replica_recommendation(current, groups, target, 0.1).replicas == expected


def test_scale_down_unready_pod_metric_missing_through_decide() -> None:
    # The same case through the ECS mapping: 4 tasks running, 3 healthy now; in the
    # datapoint's period 2 ran and served at 10 %: 2 ready with a metric, 1 healthy since
    # (missing), 1 not yet healthy (unready). Kubernetes expects 3; at 100 % of the target
    # the missing one would give 2.
    o = obs(desired=4, running=4, healthy=3, cpu=10.0, period_running=2, period_healthy=2)
    d = running(HpaPolicy(target=50)).decide(o)
    assert d.desired == 3, d.reason
    assert "1 missing at 100%" in d.reason


def test_scale_down_stabilize_initial_size() -> None:
    # horizontal_test.go (v1.31), TestScaleDownStabilizeInitialSize: 5 replicas, levels
    # (100, 300, 500, 250, 250) m of 1.0 CPU requests = 28 % average, target 50 %:
    # ceil(0.56 x 5) = 3, but recommendations nil: the controller records 5 first and the
    # 300 s window holds it: expected 5 (TestScaleDown, with an empty list, expects 3).
    levels = [100, 300, 500, 250, 250]
    cpu = sum(levels) / (1000 * len(levels)) * 100
    fresh = HpaPolicy(target=50)
    d = fresh.decide(obs(t=1000, desired=5, lo=2, hi=6, cpu=cpu))
    assert d.desired is None and "stabilised 5" in d.reason, d.reason
    assert running(HpaPolicy(target=50)).decide(obs(desired=5, lo=2, hi=6, cpu=cpu)).desired == 3
    # The window holds until the initial recommendation is 300 s old.
    assert fresh.decide(obs(t=1299, desired=5, lo=2, hi=6, cpu=cpu)).desired is None
    assert fresh.decide(obs(t=1300, desired=5, lo=2, hi=6, cpu=cpu)).desired == 3


def test_missing_metrics_count_as_zero_on_scale_up() -> None:
    # 4 with a metric at 75 % (ratio 1.5), 2 missing at 0: 300 / 300 = 1.0: no change.
    d = HpaPolicy().decide(obs(desired=6, cpu=75.0, period_running=4, period_healthy=4))
    assert d.desired is None and "2 missing at 0" in d.reason


def test_fleet_average_is_turned_into_the_ready_average() -> None:
    # 8 running, 4 of them not yet healthy (no traffic, 0 %): a fleet average of 25 % is 50 %
    # on the ready ones.
    groups = HpaPolicy().pod_groups(obs(desired=8, running=8, healthy=4, cpu=25.0), 0, 25.0)
    assert groups == PodGroups(ready=4, ready_value=50.0, unready=4, missing=0)
    # Scale-down: ready at 15 % -> ceil(4 x 0.3) = 2.
    d = running(HpaPolicy()).decide(obs(desired=8, running=8, healthy=4, cpu=7.5))
    assert d.desired == 2


def test_tasks_running_late_in_a_period_do_not_inflate_the_ready_average() -> None:
    # Period ending 900 s: 4 tasks at 75 %; the 2 added at 120 s began running in the last
    # second of the period, so RunningTaskCount reads 6 at its end while the average (73.8 %)
    # was taken over about 4.07 tasks. Taking the lower of the start and end counts gives
    # 73.8 % on the 4 ready, and with the 2 not ready at 0 the ratio is 0.98: no change.
    o = obs(desired=6, running=6, healthy=4)
    values = {"CPUUtilization": [75.0, 73.77], "RunningTaskCount": [4, 6],
              "HealthyHostCount": [4, 4]}  # fmt: skip
    o = Observation(**{**o.__dict__, "metrics": history(o.time, values)})
    d = HpaPolicy().decide(o)
    assert d.desired is None and "ready avg 73.8/50" in d.reason


def test_unlaunched_tasks_are_not_ready() -> None:
    # Desired 10, ECS has launched only 6 (4 running + 2 pending): 4 more not ready.
    groups = HpaPolicy().pod_groups(obs(desired=10, running=4, pending=2, cpu=50.0), 0, 50.0)
    assert (groups.ready, groups.unready, groups.missing) == (4, 6, 0)


def test_memory_metric_has_no_readiness_rule() -> None:
    p = HpaPolicy(metric="MemoryUtilization")
    o = obs(desired=6, running=6, healthy=2, pending=0, memory=80.0)
    assert p.pod_groups(o, 0, 80.0) == PodGroups(ready=6, ready_value=80.0, unready=0, missing=0)
    assert p.decide(o).desired == 10  # ceil(6 x 1.6)


# -- metrics, bounds, state ---------------------------------------------------------------
def test_no_datapoint_means_no_action() -> None:
    d = HpaPolicy().decide(obs(cpu=None))
    assert d.desired is None and "no CPUUtilization datapoint" in d.reason
    empty = obs()
    empty = Observation(**{**empty.__dict__, "metrics": MetricHistory.empty()})
    assert HpaPolicy().decide(empty).desired is None


def test_latest_published_datapoint_is_used() -> None:
    o = obs(desired=4)
    values = {"CPUUtilization": [100.0, 25.0, np.nan], "RunningTaskCount": [4, 4, 4],
              "HealthyHostCount": [4, 4, 4]}  # fmt: skip
    o = Observation(**{**o.__dict__, "metrics": history(o.time, values)})
    d = running(HpaPolicy()).decide(o)
    assert d.desired == 2 and "period ending 880 s" in d.reason


def test_no_ready_task_means_no_action() -> None:
    d = HpaPolicy().decide(obs(desired=4, running=4, healthy=0, cpu=5.0))
    assert d.desired is None and "no ready task" in d.reason


@pytest.mark.parametrize(
    "desired, lo, hi, cpu, expected",
    [
        (12, 1, 10, 50.0, 10),  # above max: to max, whatever the metric
        (2, 3, 10, 50.0, 3),  # below min: to min
        (4, 3, 10, 5.0, 3),  # a scale-down stops at min
        (8, 1, 10, 100.0, 10),  # a scale-up stops at max
        (0, 1, 10, 100.0, None),  # desired 0: autoscaling disabled
    ],
)
def test_min_and_max(desired: int, lo: int, hi: int, cpu: float, expected: int | None) -> None:
    d = running(HpaPolicy()).decide(obs(desired=desired, lo=lo, hi=hi, cpu=cpu))
    assert d.desired == expected


@pytest.mark.parametrize(
    "params, message",
    [
        ({"metric": "RequestCountPerTarget"}, "metric must be one of"),
        ({"target": 0}, "target must be > 0"),
        ({"tolerance": 1.5}, r"tolerance must be in \[0, 1\)"),
        ({"interval": 0}, "interval must be > 0"),
        ({"scale_down_stabilization": -1}, "scale_down_stabilization must be >= 0"),
        ({"scale_up_pods": 1.5}, "scale_up_pods must be an integer"),
        ({"scale_down_percent": 150}, r"scale_down_percent must be in \[0, 100\]"),
        ({"scale_up_period": 0}, "scale_up_period must be > 0"),
    ],
)
def test_invalid_parameters(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HpaPolicy(**params).decide(obs())


def test_pure_functions_directly() -> None:
    g = PodGroups(ready=3, ready_value=40.0, unready=0, missing=1)
    # 3 at 40 % + 1 missing at 100 %: (120 + 100) / 200 = 1.1: within the tolerance.
    assert replica_recommendation(4, g, 50.0, 0.1).replicas == 4
    assert stabilise(10, 4, [(0.0, 10), (100.0, 7)], 250.0, 0.0, 300.0)[0] == 10
    assert stabilise(10, 4, [(0.0, 10), (100.0, 7)], 350.0, 0.0, 300.0)[0] == 7
    assert rate_limit(10, 40, 1, 100, [], [], 0.0, 100.0, 4, 15.0, 100.0, 15.0)[0] == 20
    assert rate_limit(10, 40, 1, 15, [], [], 0.0, 100.0, 4, 15.0, 100.0, 15.0)[0] == 15
    assert rate_limit(10, 1, 3, 100, [], [], 0.0, 100.0, 4, 15.0, 100.0, 15.0)[0] == 3


def test_state_resets_and_pickles() -> None:
    p = HpaPolicy()
    assert [k for k in vars(p) if k.endswith("_")] == []
    p.decide(obs(t=0, desired=10, cpu=50.0))
    restored = pickle.loads(pickle.dumps(p))
    assert restored.decide(obs(t=15, desired=10, cpu=10.0)).desired is None  # window holds 10
    p.reset()
    assert not [k for k in vars(p) if k.endswith("_")]
    # Reset is a restarted controller: the count at its first decision is a recommendation.
    assert p.decide(obs(t=15, desired=10, cpu=10.0)).desired is None
    assert p.decide(obs(t=315, desired=10, cpu=10.0)).desired == 2


@pytest.mark.parametrize(
    "policy",
    [HpaPolicy(), HpaPolicy(metric="MemoryUtilization", target=60, interval=5)],
    ids=["default", "memory"],
)
def test_conformance(policy: HpaPolicy) -> None:
    from policies.checks import run_checks

    assert run_checks(policy, name="hpa") == []


def test_in_the_simulator_hpa_settles_on_target() -> None:
    from sim.simulation import Simulation

    sc = policy_scenario("2h", "deterministic")
    rate = np.full(sc.n_ticks, 300.0)
    rate[3600:] = 900.0  # a step at 1 h: 18 tasks at 50 %
    result = run_simulation(Simulation(sc, rate=rate), HpaPolicy())
    desired = result.metrics.DesiredTaskCount.to_numpy()
    minutes = result.metrics.time_s.to_numpy() / 60
    # 4 tasks at 75 %: ceil(4 x 1.5) = 6, once; the 2 starting tasks (not ready, 0 %) keep
    # the next recommendations within the tolerance, so there is no overshoot.
    assert set(desired[minutes < 60]) == {4, 6}
    assert desired[(minutes >= 5) & (minutes < 60)].tolist() == [6] * 55  # 300 / 6 = 50 %
    # After the step: 6 -> 12 (+100 %), then 18 and more while the backlog drains at 100 %
    # CPU, and back to 900 / 18 = 50 % once the scale-down window has passed.
    assert desired[minutes >= 60].max() <= 36
    assert desired[-1] == 18
