"""The scenario's [risk] and [pipeline] sections: what they build, and bad values refused
when the file loads, naming the key and the allowed values."""

from __future__ import annotations

import pytest

from experiments.scenario_keys import scenario_keys
from policies.rollout.online_risk import OnlineRiskScorer, scorer_from_risk
from policies.rollout.orchestration import (
    DEFAULT_SYNTHETIC_RPS,
    RiskOrchestrator,
    check_sections,
    orchestrator_from_risk,
    plan_from_pipeline,
    template,
    tier_defaults,
)
from policies.rollout.risk import GbmRisk, RulesRisk
from sim.pipeline_config import PipelineConfig, RiskConfig, StageConfig
from sim.scenario import ScenarioError, load_scenario, scenario_from_dict


def test_the_defaults_are_valid_and_declare_no_pipeline() -> None:
    risk, pipeline = RiskConfig(), PipelineConfig()
    check_sections(risk, pipeline)  # scenario loading skips this check for default sections
    assert plan_from_pipeline(pipeline) is None
    assert isinstance(scorer_from_risk(risk).model, RulesRisk)
    for score in (0.2, 0.7, 0.99):
        assert orchestrator_from_risk(risk).plan(score) == RiskOrchestrator().plan(score)


def test_a_toml_file_with_both_sections(tmp_path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        """
[risk]
model = "gbm"
max_iter = 50
min_history = 80
approval_threshold = 0.99
high = { strategy = "CodeDeployDefault.ECSCanary10Percent5Minutes", analysis = "kayenta" }

[pipeline]
approval_median = "30m"

[[pipeline.stages]]
strategy = "all-at-once"
traffic = "synthetic"
synthetic_rps = 25
analysis = "threshold"
bake = "10m"

[[pipeline.stages]]
name = "prod"
strategy = "linear"
strategy_params = { step_percent = 20 }
gate = "approval"
""",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    scorer = scorer_from_risk(scenario.risk)
    assert isinstance(scorer.model, GbmRisk) and scorer.model.max_iter == 50
    assert scorer.min_history == 80
    high = orchestrator_from_risk(scenario.risk).plan(0.995).stages[0]
    assert (high.strategy, high.analysis, high.gate) == (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "kayenta",
        "approval",
    )
    plan = plan_from_pipeline(scenario.pipeline)
    assert plan is not None
    assert [(s.name, s.traffic, s.gate, s.bake) for s in plan.stages] == [
        ("stage1", "synthetic", "auto", 600.0),
        ("prod", "production", "approval", 0.0),
    ]
    assert plan.stages[0].synthetic_rps == 25.0
    assert plan.stages[1].strategy_params == {"step_percent": 20}
    assert scenario.pipeline.approval_median == 1800.0
    assert plan_from_pipeline(PipelineConfig(template="manual-approval")) == template(
        "manual-approval"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"risk": {"model": "forest"}}, "risk.model: unknown risk model 'forest'; allowed: rules"),
        ({"risk": {"model": "logistic", "Cc": 1}}, "risk.Cc: risk model 'logistic' has no"),
        ({"risk": {"model": "gbm", "learning_rate": 3}}, "risk.learning_rate: "),
        ({"risk": {"high": {"strategy": "canry"}}}, "risk.high.strategy: unknown strategy"),
        ({"risk": {"low": {"strategy": "rolling", "gate": "x"}}}, "risk.low.gate: Input should"),
        (
            {"risk": {"medium_threshold": 0.95}},
            "risk.medium_threshold: 0.95 is above high_threshold",
        ),
        ({"risk": {"approval_threshold": 1.5}}, "risk.approval_threshold: must be <= 1"),
        ({"risk": {"min_history": 0}}, "risk.min_history: must be >= 1"),
        ({"pipeline": {"template": "nope"}}, "pipeline.template: unknown pipeline template"),
        (
            {"pipeline": {"stages": [{"strategy": "rolling", "gate": "human"}]}},
            "pipeline.stages.0.gate: Input should be 'auto' or 'approval'",
        ),
        (
            {"pipeline": {"stages": [{"strategy": "rolling"}, {"strategy": "blu-green"}]}},
            "pipeline.stages[1].strategy: unknown strategy 'blu-green'; allowed: CodeDeployDefault.ECSAllAtOnce",
        ),
        (
            {"pipeline": {"stages": [{"strategy": "rolling", "analysis": "kayent"}]}},
            "pipeline.stages[0].analysis: unknown analysis method 'kayent'; allowed: alarm",
        ),
        (
            {"pipeline": {"stages": [{"strategy": "rolling", "traffic": "synthetic"}]}},
            "pipeline.stages[0].traffic: the last stage must serve production traffic",
        ),
        (
            {"pipeline": {"stages": [{"strategy": "rolling", "stratgy": "x"}]}},
            "pipeline.stages.0.stratgy: unknown key",
        ),
        (
            {"pipeline": {"template": "direct", "stages": [{"strategy": "rolling"}]}},
            "pipeline.stages: give template or stages, not both",
        ),
        ({"pipeline": {"approval_median": 0}}, "pipeline.approval_median: must be > 0"),
        ({"pipeline": {"approval_catch_probability": 2}}, "approval_catch_probability: must be"),
        (
            {"risk": {"orchestrate": True}, "pipeline": {"template": "direct"}},
            "risk.orchestrate: true lets the risk tiers choose each release's plan",
        ),
    ],
)
def test_bad_values_are_refused_at_load_naming_the_key(data: dict, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, "s.toml")
    assert expected in str(info.value)
    assert str(info.value).startswith("s.toml: ")


def test_scenario_keys_list_both_sections() -> None:
    rows = {r["key"]: r for r in scenario_keys()}
    for key in (
        "risk.model",
        "risk.orchestrate",
        "risk.medium_threshold",
        "risk.high_threshold",
        "risk.approval_threshold",
        "risk.high",
        "pipeline.template",
        "pipeline.stages[].gate",
        "pipeline.stages[].traffic",
        "pipeline.stages[].synthetic_rps",
        "pipeline.approval_median",
        "pipeline.approval_timeout",
    ):
        assert key in rows, key
    assert rows["risk.*"]["doc"].startswith("any other key is a parameter of the named risk model")
    assert rows["pipeline.approval_median"]["type"] == "duration"
    assert rows["pipeline.stages[].gate"]["type"] == "'auto' | 'approval'"


def test_section_docs_and_defaults_match_the_policies() -> None:
    fields = RiskConfig.model_fields
    for tier, spec in tier_defaults().items():
        doc = fields[tier].description or ""
        assert f"default {spec['strategy']}" in doc, (tier, doc)
        if "analysis" in spec:
            assert f"with {spec['analysis']} analysis" in doc, (tier, doc)
        else:
            assert "analysis" not in doc, (tier, doc)
    synthetic = StageConfig.model_fields["synthetic_rps"].description or ""
    assert f"default {DEFAULT_SYNTHETIC_RPS:g}" in synthetic
    scorer = OnlineRiskScorer()
    assert (RiskConfig().min_history, RiskConfig().refit_every) == (
        scorer.min_history,
        scorer.refit_every,
    )
    orchestrator = RiskOrchestrator()
    for key in ("medium_threshold", "high_threshold", "approval_threshold"):
        assert fields[key].default == getattr(orchestrator, key)


def test_checking_a_risk_section_imports_no_scikit_learn(tmp_path) -> None:
    """scikit-learn is imported where a model is fit (policies/rollout/risk.py), not when a
    scenario's [risk] and [pipeline] are checked: a cold process (a sweep worker, `simulate`)
    loading such a scenario with the `rules` model does not pay for it."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    path = tmp_path / "risk.toml"
    path.write_text(
        '[run]\nduration = "1h"\n[risk]\nmodel = "rules"\n[pipeline]\ntemplate = "direct"\n'
    )
    code = (
        "import sys; from sim.scenario import load_scenario; "
        f"load_scenario({str(path)!r}); "
        "print('sklearn' in sys.modules, 'policies.rollout.online_risk' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    # The section was checked (online_risk built its scorer), without importing scikit-learn.
    assert proc.stdout.split() == ["False", "True"]
