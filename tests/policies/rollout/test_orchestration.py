"""Stages, plans, pipeline templates and the risk orchestrator (pure decision objects)."""

from __future__ import annotations

import dataclasses
import pickle
import random

import numpy as np
import pytest
from helpers_rollout import releases_with_outcomes

from policies.clock_guard import clock_guards
from policies.rollout.approval import ApprovalLatency
from policies.rollout.online_risk import OnlineRiskScorer
from policies.rollout.orchestration import (
    DEFAULT_SYNTHETIC_RPS,
    OrchestrationError,
    Plan,
    RiskOrchestrator,
    Stage,
    _strategy_names,
    pipeline_templates,
    stage_from_spec,
    template,
)


@pytest.mark.parametrize(
    ("kwargs", "key", "allowed"),
    [
        ({"strategy": "canry"}, "strategy", "allowed: CodeDeployDefault.ECSAllAtOnce, "),
        ({"analysis": "kayent"}, "analysis", "alarm, anomaly, kayenta, threshold"),
        ({"gate": "human"}, "gate", "auto, approval"),
        ({"traffic": "staging"}, "traffic", "production, synthetic"),
        ({"analysis_params": {"threshold": 0.1}}, "analysis_params", "set analysis too"),
        (
            {"analysis": "alarm", "analysis_params": {"thresh": 0.1}},
            "analysis_params",
            "valid parameters: metric, threshold",
        ),
        ({"synthetic_rps": 5.0}, "synthetic_rps", "applies only to traffic = 'synthetic'"),
        ({"traffic": "synthetic", "synthetic_rps": 0}, "synthetic_rps", "> 0"),
        ({"bake": -1}, "bake", ">= 0"),
        ({"bake": float("inf")}, "bake", "finite"),
        ({"name": ""}, "name", "non-empty"),
        ({"strategy_params": [1, 2]}, "strategy_params", "a table"),
    ],
)
def test_a_bad_stage_is_refused_naming_the_key_and_what_is_allowed(
    kwargs: dict, key: str, allowed: str
) -> None:
    values = {"name": "production", "strategy": "rolling", **kwargs}
    with pytest.raises(OrchestrationError, match=allowed) as info:
        Stage(**values)
    assert info.value.key == key


def test_stage_is_frozen_and_owns_its_parameters() -> None:
    params = {"percent": 10}
    stage = Stage("canary", "canary", strategy_params=params)
    params["percent"] = 50
    assert stage.strategy_params == {"percent": 10}
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.gate = "approval"  # type: ignore[misc]
    assert Stage("s", "all-at-once", traffic="synthetic").synthetic_rps == DEFAULT_SYNTHETIC_RPS
    assert stage.replace(gate="approval").gate == "approval"
    assert pickle.loads(pickle.dumps(stage)) == stage


def test_a_plan_ends_in_production_with_distinct_stage_names() -> None:
    staging = Stage("staging", "all-at-once", traffic="synthetic")
    with pytest.raises(OrchestrationError, match="last stage must serve production") as info:
        Plan("p", (Stage("prod", "rolling"), staging))
    assert info.value.key == "stages[1].traffic"
    with pytest.raises(OrchestrationError, match="stage names repeat: prod"):
        Plan("p", (Stage("prod", "canary"), Stage("prod", "rolling")))
    with pytest.raises(OrchestrationError, match="at least one stage"):
        Plan("p", ())
    assert Plan("p", [staging, Stage("prod", "rolling", gate="approval")]).approvals == 1


def test_stage_from_spec_refuses_unknown_keys_and_needs_a_strategy() -> None:
    with pytest.raises(OrchestrationError, match="allowed keys: name, strategy") as info:
        stage_from_spec({"strategy": "rolling", "strategey": "canary"})
    assert info.value.key == "strategey"
    with pytest.raises(OrchestrationError, match="needs a strategy"):
        stage_from_spec({"analysis": "alarm"})
    assert stage_from_spec({"strategy": "linear", "name": None}, "stage2").name == "stage2"


def test_templates_by_name() -> None:
    assert list(pipeline_templates()) == ["direct", "manual-approval", "staging-canary-full"]
    direct, manual, staged = (template(n) for n in pipeline_templates())
    assert [(s.strategy, s.gate, s.traffic) for s in direct.stages] == [
        ("rolling", "auto", "production")
    ]
    # the manual flow is the direct one behind a human gate, so their lead times differ by
    # the approval alone
    assert manual.stages == (direct.stages[0].replace(gate="approval"),)
    assert (direct.approvals, manual.approvals, staged.approvals) == (0, 1, 0)
    assert [(s.name, s.traffic, s.analysis) for s in staged.stages] == [
        ("staging", "synthetic", "threshold"),
        ("canary", "production", "threshold"),
    ]
    assert staged.stages[1].strategy == "canary"
    for plan in (direct, manual, staged):
        assert plan.reason.startswith(f"template {plan.name!r}")
        assert all(s.strategy in _strategy_names() for s in plan.stages)
    with pytest.raises(OrchestrationError, match="allowed: direct, manual-approval") as info:
        template("canary-only")
    assert info.value.key == "template"


def test_strategy_names_are_the_strategy_registry() -> None:
    from policies.rollout.registry import STRATEGIES

    names = _strategy_names()
    assert names == STRATEGIES.names()
    assert {"all-at-once", "rolling", "blue-green", "canary", "linear"} <= set(names)
    assert "CodeDeployDefault.ECSCanary10Percent5Minutes" in names
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("strategy", "params", "needle"),
    [
        ("canary", {"precent": 10}, "valid parameters: "),
        ("canary", {"percent": 150}, "percent"),
        ("CodeDeployDefault.ECSCanary10Percent5Minutes", {"percent": 20}, "fixes 'percent'"),
    ],
)
def test_stage_strategy_params_are_checked_by_the_registry(
    strategy: str, params: dict, needle: str
) -> None:
    with pytest.raises(OrchestrationError, match=needle) as info:
        Stage("production", strategy, strategy_params=params)
    assert info.value.key == "strategy_params"
    Stage("production", "canary", strategy_params={"percent": 20})  # a valid one passes


@pytest.mark.parametrize(
    ("score", "tier", "strategy", "analysis", "gate"),
    [
        (0.0, "low", "rolling", None, "auto"),
        (0.5, "low", "rolling", None, "auto"),  # "above" a threshold is strict
        (0.51, "medium", "blue-green", "alarm", "auto"),
        (0.9, "medium", "blue-green", "alarm", "auto"),
        (0.93, "high", "canary", "threshold", "auto"),
        (0.95, "high", "canary", "threshold", "auto"),
        (0.951, "high", "canary", "threshold", "approval"),
        (1.0, "high", "canary", "threshold", "approval"),
    ],
)
def test_default_plan_per_tier(
    score: float, tier: str, strategy: str, analysis: str | None, gate: str
) -> None:
    plan = RiskOrchestrator().plan(score)
    (stage,) = plan.stages
    assert (plan.name, stage.strategy, stage.analysis, stage.gate) == (
        f"risk-{tier}",
        strategy,
        analysis,
        gate,
    )
    assert f"{tier} tier" in plan.reason
    assert ("approval_threshold" in plan.reason) == (gate == "approval")


def test_thresholds_and_tier_stages_are_parameters() -> None:
    orchestrator = RiskOrchestrator(
        medium_threshold=0.2,
        high_threshold=0.6,
        approval_threshold=0.3,
        low={"strategy": "all-at-once"},
        high={"strategy": "linear", "analysis": "kayenta", "bake": 300},
    )
    assert orchestrator.plan(0.1).stages[0].strategy == "all-at-once"
    medium = orchestrator.plan(0.4)
    assert (medium.stages[0].strategy, medium.approvals) == ("blue-green", 1)
    high = orchestrator.plan(0.7).stages[0]
    assert (high.strategy, high.analysis, high.bake, high.gate) == (
        "linear",
        "kayenta",
        300.0,
        "approval",
    )
    assert orchestrator.plan(0.7) == orchestrator.plan(0.7)  # pure
    assert set(vars(RiskOrchestrator())) == {
        "medium_threshold",
        "high_threshold",
        "approval_threshold",
        "low",
        "medium",
        "high",
    }
    assert pickle.loads(pickle.dumps(orchestrator)).plan(0.7) == orchestrator.plan(0.7)


@pytest.mark.parametrize(
    ("params", "key", "message"),
    [
        ({"medium_threshold": 1.2}, "medium_threshold", "must be in [0, 1]"),
        ({"approval_threshold": -0.1}, "approval_threshold", "must be in [0, 1]"),
        ({"medium_threshold": 0.95}, "medium_threshold", "above high_threshold"),
        (
            {"high": {"strategy": "canry"}},
            "high.strategy",
            "allowed: CodeDeployDefault.ECSAllAtOnce",
        ),
        ({"low": {"strategy": "rolling", "gate": "human"}}, "low.gate", "allowed: auto"),
        (
            {"medium": {"strategy": "rolling", "traffic": "synthetic"}},
            "medium.traffic",
            "production",
        ),
    ],
)
def test_bad_orchestrator_parameters_are_refused_naming_the_key(
    params: dict, key: str, message: str
) -> None:
    with pytest.raises(OrchestrationError, match=message.replace("[", r"\[")) as info:
        RiskOrchestrator(**params).validate()
    assert info.value.key == key


def test_a_score_outside_0_1_is_refused() -> None:
    with pytest.raises(OrchestrationError, match="risk percentile must be in"):
        RiskOrchestrator().plan(3.5)


def test_no_clock_read_and_no_global_randomness() -> None:
    """The orchestrator, the online scorer and the approval model read time only from their
    arguments and randomness only from the generator passed in."""
    releases, _ = releases_with_outcomes(2, 3)
    np.random.seed(5)
    random.seed(5)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    orchestrator, scorer, approval = RiskOrchestrator(), OnlineRiskScorer(), ApprovalLatency()
    calls: list[str] = []
    with clock_guards(orchestrator, calls), clock_guards(scorer, calls):
        with clock_guards(approval, calls):
            for r in releases:
                plan = orchestrator.plan(scorer.assess(r).percentile)
                scorer.record_outcome(r.id, r.bad, r.at_s + 600)
                approval.review(r.at_s, r.bad, np.random.default_rng(r.id))
    assert plan.stages and len(releases) > 5
    assert calls == []
    assert np.array_equal(np.random.get_state()[1], np_state) and random.getstate() == py_state
