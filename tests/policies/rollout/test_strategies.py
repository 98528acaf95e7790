"""Rollout strategies as pure decision objects: the circuit breaker's threshold, each
strategy's step for a given observation, the registry and its presets."""

from __future__ import annotations

import copy
import pickle

import pytest

from policies.contract import RolloutObservation, RolloutStep
from policies.rollout.registry import STRATEGIES, StrategyError
from policies.rollout.strategies import circuit_breaker_threshold

OLD, NEW = 1, 2


def obs(**kw) -> RolloutObservation:
    base = dict(
        elapsed_s=0.0,
        desired=4,
        old_revision=OLD,
        new_revision=NEW,
        active={OLD: 4, NEW: 0},
        healthy={OLD: 4, NEW: 0},
        failed_starts={OLD: 0, NEW: 0},
    )
    base.update(kw)
    return RolloutObservation(**base)


# ECS: "0.5 x desired count, rounded up, with a minimum of 3 and a maximum of 200".
@pytest.mark.parametrize(
    ("desired", "threshold"),
    [
        (0, 3),
        (1, 3),
        (5, 3),
        (6, 3),
        (7, 4),
        (10, 5),
        (11, 6),
        (100, 50),
        (399, 200),
        (400, 200),
        (401, 200),
        (5000, 200),
    ],
)
def test_circuit_breaker_threshold_table(desired: int, threshold: int) -> None:
    assert circuit_breaker_threshold(desired) == threshold


def test_circuit_breaker_threshold_refuses_negative() -> None:
    with pytest.raises(ValueError, match="desired must be >= 0"):
        circuit_breaker_threshold(-1)


def test_registry_names_are_the_contract() -> None:
    assert STRATEGIES.names() == sorted(
        [
            "all-at-once",
            "rolling",
            "blue-green",
            "canary",
            "linear",
            "CodeDeployDefault.ECSAllAtOnce",
            "CodeDeployDefault.ECSCanary10Percent5Minutes",
            "CodeDeployDefault.ECSCanary10Percent15Minutes",
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        ]
    )


def test_ecs_defaults() -> None:
    assert STRATEGIES.defaults("rolling")["minimum_healthy_percent"] == 100
    assert STRATEGIES.defaults("rolling")["maximum_percent"] == 200
    assert STRATEGIES.defaults("canary")["percent"] == 5
    assert STRATEGIES.defaults("canary")["bake_time"] == 600
    assert STRATEGIES.defaults("linear")["step_percent"] == 10
    assert STRATEGIES.defaults("linear")["step_bake_time"] == 360


@pytest.mark.parametrize(
    ("name", "schedule"),
    [
        ("CodeDeployDefault.ECSAllAtOnce", [(100, 0)]),
        ("CodeDeployDefault.ECSCanary10Percent5Minutes", [(10, 300), (100, 0)]),
        ("CodeDeployDefault.ECSCanary10Percent15Minutes", [(10, 900), (100, 0)]),
        (
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            [(10.0 * k, 60) for k in range(1, 10)] + [(100, 0)],
        ),
        (
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
            [(10.0 * k, 180) for k in range(1, 10)] + [(100, 0)],
        ),
    ],
)
def test_codedeploy_presets_are_what_their_names_say(name: str, schedule: list) -> None:
    assert STRATEGIES.make(name).schedule() == schedule


def test_preset_refuses_its_fixed_parameters() -> None:
    with pytest.raises(StrategyError, match="fixes 'percent'"):
        STRATEGIES.make("CodeDeployDefault.ECSCanary10Percent5Minutes", percent=20)
    # Its other parameters can be set.
    made = STRATEGIES.make("CodeDeployDefault.ECSCanary10Percent5Minutes", circuit_breaker=False)
    assert made.circuit_breaker is False


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("nope", {}, "unknown rollout strategy 'nope'; valid strategies: .*rolling"),
        ("canary", {"percent": 150}, r"percent: must be in \(0, 100\)"),
        ("canary", {"precent": 10}, "no parameter 'precent'; valid parameters: percent"),
        ("rolling", {"maximum_percent": 50}, "maximum_percent: must be >= 100"),
        ("rolling", {"minimum_healthy_percent": 120}, r"must be in \[0, 100\]"),
        ("linear", {"step_bake_time": -1}, "step_bake_time: must be >= 0"),
        ("blue-green", {"bake_time": "5m"}, "bake_time: expected a number"),
    ],
)
def test_bad_parameters_are_refused_by_name(name: str, params: dict, match: str) -> None:
    with pytest.raises(StrategyError, match=match):
        STRATEGIES.make(name, **params)


def test_rolling_100_200_starts_all_new_then_stops_old() -> None:
    s = STRATEGIES.make("rolling")
    step = s.decide(obs())
    assert (dict(step.tasks), step.weights, step.status) == ({OLD: 4, NEW: 4}, None, "in_progress")
    # Two new tasks healthy: two old ones may stop (min healthy 4).
    step = s.decide(obs(active={OLD: 4, NEW: 4}, healthy={OLD: 4, NEW: 2}))
    assert dict(step.tasks) == {OLD: 2, NEW: 4}
    step = s.decide(obs(active={OLD: 2, NEW: 4}, healthy={OLD: 2, NEW: 4}))
    assert step.status == "complete" and dict(step.tasks) == {OLD: 0, NEW: 4}


def test_rolling_50_100_stops_before_it_starts() -> None:
    s = STRATEGIES.make("rolling", minimum_healthy_percent=50, maximum_percent=100)
    step = s.decide(obs())
    # Min healthy ceil(2) keeps 2 old; max total 4 leaves room for 2 new.
    assert dict(step.tasks) == {OLD: 2, NEW: 2}


def test_rolling_bake_then_complete() -> None:
    s = STRATEGIES.make("rolling", bake_time=120)
    steady = obs(active={OLD: 0, NEW: 4}, healthy={OLD: 0, NEW: 4})
    step = s.decide(steady)
    assert (step.status, step.stage) == ("in_progress", 1)
    assert s.decide(obs(**{**steady.__dict__, "stage": 1, "stage_elapsed_s": 60})).status == (
        "in_progress"
    )
    assert s.decide(obs(**{**steady.__dict__, "stage": 1, "stage_elapsed_s": 120})).status == (
        "complete"
    )


@pytest.mark.parametrize("name", ["rolling", "blue-green", "canary", "linear"])
def test_circuit_breaker_rolls_back_at_the_threshold(name: str) -> None:
    s = STRATEGIES.make(name)
    assert s.decide(obs(failed_starts={OLD: 0, NEW: 2})).status == "in_progress"
    step = s.decide(obs(failed_starts={OLD: 0, NEW: 3}))
    assert step.status == "rolled_back" and "circuit breaker" in step.reason
    assert dict(step.tasks) == {OLD: 4, NEW: 0}


def test_all_at_once_has_no_circuit_breaker_by_default() -> None:
    s = STRATEGIES.make("all-at-once")
    assert s.decide(obs(failed_starts={OLD: 0, NEW: 50})).status == "in_progress"


@pytest.mark.parametrize("name", [*STRATEGIES.names()])
def test_a_failed_analysis_rolls_back(name: str) -> None:
    step = STRATEGIES.make(name).decide(obs(verdict="fail", verdict_reason="5xx"))
    assert step.status == "rolled_back" and step.reason == "analysis failed: 5xx"


def test_canary_schedule_by_stage() -> None:
    s = STRATEGIES.make("canary", percent=10, bake_time=60)
    ready = dict(active={OLD: 4, NEW: 4}, healthy={OLD: 4, NEW: 4})
    # Green not ready: no production traffic.
    step = s.decide(obs(active={OLD: 4, NEW: 4}, healthy={OLD: 4, NEW: 3}))
    assert (dict(step.weights), step.stage) == ({OLD: 100, NEW: 0}, 0)
    step = s.decide(obs(**ready))
    assert (dict(step.weights), step.stage, dict(step.tasks)) == (
        {OLD: 90, NEW: 10},
        1,
        {OLD: 4, NEW: 4},
    )
    assert s.decide(obs(**ready, stage=1, stage_elapsed_s=45)).stage == 1
    step = s.decide(obs(**ready, stage=1, stage_elapsed_s=60))
    assert step.status == "complete" and dict(step.weights) == {OLD: 0, NEW: 100}


def test_linear_steps_up() -> None:
    s = STRATEGIES.make("linear", step_percent=30, step_bake_time=10, final_bake_time=5)
    assert s.schedule() == [(30, 10), (60, 10), (90, 10), (100, 5)]
    ready = dict(active={OLD: 4, NEW: 4}, healthy={OLD: 4, NEW: 4})
    step = s.decide(obs(**ready, stage=2, stage_elapsed_s=10))
    assert (step.stage, dict(step.weights)) == (3, {OLD: 10, NEW: 90})
    step = s.decide(obs(**ready, stage=4, stage_elapsed_s=5))
    assert step.status == "complete"


@pytest.mark.parametrize("name", [*STRATEGIES.names()])
def test_strategies_are_pure(name: str) -> None:
    s = STRATEGIES.make(name)
    o = obs(active={OLD: 4, NEW: 4}, healthy={OLD: 4, NEW: 4}, stage=1, stage_elapsed_s=5)
    before = copy.deepcopy(o)
    first = s.decide(o)
    assert o == before
    assert s.decide(o) == first
    assert pickle.loads(pickle.dumps(s)).decide(o) == first
    assert s.get_params() == STRATEGIES.defaults(name)


def test_contract_types_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="status must be one of in_progress, complete"):
        RolloutStep(tasks={}, weights=None, status="done", reason="x")
    with pytest.raises(ValueError, match="verdict must be one of none, running"):
        obs(verdict="maybe")
