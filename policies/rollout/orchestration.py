"""Multi-stage pipelines and risk-driven orchestration, as pure decision objects.

A :class:`Plan` is the ordered list of :class:`Stage` a release goes through; the simulator
(or a real pipeline) executes each stage with its strategy and analysis and stops at the
first stage that rolls back. Nothing here reads the clock, SimPy or global randomness.

* **Stage**: a name; a rollout *strategy* by registry name plus its parameters (both
  validated against the strategy registry, policies/rollout/registry.py ``STRATEGIES``); an *analysis* method by registry name plus its
  parameters, or None (the strategy's own safety net only, e.g. the ECS circuit breaker);
  a *gate* before the stage starts, ``auto`` (starts when the previous stage has passed) or
  ``approval`` (waits for a human, :mod:`policies.rollout.approval`); the *traffic* it
  sees, ``production`` (real users, whose failed requests are the blast radius) or
  ``synthetic`` (a staging environment that receives only generated requests, at
  ``synthetic_rps`` requests/s, from a load generator or smoke tests: a failure there
  harms no user, and what analysis can detect depends on that rate, not on production's);
  and ``bake``, seconds the stage holds after its strategy has finished with the analysis
  still watching (a post-promotion check) before the next stage starts.
* **Templates** by name (:func:`pipeline_templates`, :func:`template`): ``direct``,
  ``manual-approval``, ``staging-canary-full``.
* **RiskOrchestrator**: a release's risk percentile -> a one-stage plan by tier, with a
  human approval gate above ``approval_threshold``.

Strategy names are those of the rollout strategies (``all-at-once``, ``rolling``,
``blue-green``, ``canary``, ``linear`` and the CodeDeploy ECS presets by their AWS names,
https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html), as
the strategy registry lists them; a stage's strategy and analysis parameters are validated by
building them from their registries, so a bad one is refused naming ``strategy_params`` or
``analysis_params`` and the valid parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policies.base import BasePolicy
from policies.rollout import registry as analysis_registry
from sim.pipeline_config import GATES, TRAFFIC, PipelineConfig, RiskConfig

__all__ = [
    "GATES",
    "TRAFFIC",
    "DEFAULT_SYNTHETIC_RPS",
    "OrchestrationError",
    "Plan",
    "RiskOrchestrator",
    "Stage",
    "check_sections",
    "orchestrator_from_risk",
    "pipeline_templates",
    "plan_from_pipeline",
    "stage_from_spec",
    "template",
    "tier_defaults",
]

#: Requests/s a synthetic-traffic stage receives by default (a parameter: no public figure;
#: a small load generator or smoke-test loop).
DEFAULT_SYNTHETIC_RPS = 10.0


def _strategy_names() -> list[str]:
    """The rollout strategies a stage may name: the strategy registry's names
    (policies/rollout/registry.py ``STRATEGIES``, the CodeDeploy ECS presets included)."""
    return analysis_registry.STRATEGIES.names()


class OrchestrationError(ValueError):
    """A bad stage, plan or orchestrator parameter; ``key`` names it (``strategy``,
    ``stages[1].gate``), ``problem`` says what is wrong and what is allowed."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem

    def within(self, prefix: str) -> OrchestrationError:
        """The same error with its key under ``prefix`` (``pipeline.stages[0]``)."""
        return OrchestrationError(f"{prefix}.{self.key}" if prefix else self.key, self.problem)


def _check_params(key: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise OrchestrationError(key, f"expected a table of parameters, got {params!r}")
    return dict(params)


@dataclass(frozen=True)
class Stage:
    """One stage of a pipeline (see the module docstring). Validated on construction:
    a bad value raises :class:`OrchestrationError` naming the field and the allowed values."""

    name: str
    strategy: str
    strategy_params: Mapping[str, Any] = field(default_factory=dict)
    analysis: str | None = None
    analysis_params: Mapping[str, Any] = field(default_factory=dict)
    gate: str = "auto"
    traffic: str = "production"
    synthetic_rps: float | None = None
    bake: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise OrchestrationError("name", f"expected a non-empty string, got {self.name!r}")
        strategies = _strategy_names()
        if self.strategy not in strategies:
            raise OrchestrationError(
                "strategy", f"unknown strategy {self.strategy!r}; allowed: {', '.join(strategies)}"
            )
        strategy_params = _check_params("strategy_params", self.strategy_params)
        object.__setattr__(self, "strategy_params", strategy_params)
        try:
            analysis_registry.STRATEGIES.make(self.strategy, **strategy_params)
        except analysis_registry.StrategyError as exc:
            raise OrchestrationError("strategy_params", str(exc)) from None
        analysis_params = _check_params("analysis_params", self.analysis_params)
        object.__setattr__(self, "analysis_params", analysis_params)
        if self.analysis is None:
            if analysis_params:
                raise OrchestrationError(
                    "analysis_params", "given without an analysis method; set analysis too"
                )
        else:
            methods = analysis_registry.names()
            if self.analysis not in methods:
                raise OrchestrationError(
                    "analysis",
                    f"unknown analysis method {self.analysis!r}; allowed: {', '.join(methods)}",
                )
            try:
                analysis_registry.make(self.analysis, **analysis_params)
            except analysis_registry.AnalysisError as exc:
                raise OrchestrationError("analysis_params", str(exc)) from None
        if self.gate not in GATES:
            raise OrchestrationError(
                "gate", f"unknown gate {self.gate!r}; allowed: {', '.join(GATES)}"
            )
        if self.traffic not in TRAFFIC:
            raise OrchestrationError(
                "traffic", f"unknown traffic {self.traffic!r}; allowed: {', '.join(TRAFFIC)}"
            )
        if self.traffic == "synthetic":
            rps = DEFAULT_SYNTHETIC_RPS if self.synthetic_rps is None else self.synthetic_rps
            if not (_is_number(rps) and rps > 0):
                raise OrchestrationError(
                    "synthetic_rps", f"must be a finite number > 0, got {self.synthetic_rps!r}"
                )
            object.__setattr__(self, "synthetic_rps", float(rps))
        elif self.synthetic_rps is not None:
            raise OrchestrationError(
                "synthetic_rps", "applies only to traffic = 'synthetic', not 'production'"
            )
        if not (_is_number(self.bake) and self.bake >= 0):
            raise OrchestrationError(
                "bake", f"must be a finite number of seconds >= 0, got {self.bake!r}"
            )
        object.__setattr__(self, "bake", float(self.bake))

    def replace(self, **changes: Any) -> Stage:
        """A copy with ``changes`` (validated again)."""
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(changes)
        return Stage(**values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Plan:
    """The ordered stages of one release's pipeline, with the reason it was chosen."""

    name: str
    stages: tuple[Stage, ...]
    reason: str = ""

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        if not stages:
            raise OrchestrationError("stages", "a plan needs at least one stage")
        for i, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise OrchestrationError(f"stages[{i}]", f"expected a Stage, got {stage!r}")
        names = [s.name for s in stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise OrchestrationError("stages", f"stage names repeat: {', '.join(dup)}")
        if stages[-1].traffic != "production":
            raise OrchestrationError(
                f"stages[{len(stages) - 1}].traffic",
                "the last stage must serve production traffic (a plan ends in production)",
            )
        object.__setattr__(self, "stages", stages)

    @property
    def approvals(self) -> int:
        """Human approvals this plan requires (stages gated by ``approval``)."""
        return sum(s.gate == "approval" for s in self.stages)


_STAGE_KEYS = tuple(Stage.__dataclass_fields__)


def stage_from_spec(spec: Mapping[str, Any], default_name: str = "production") -> Stage:
    """A :class:`Stage` from a table (a scenario's stage: ``strategy``, ``strategy_params``,
    ``analysis``, ``analysis_params``, ``gate``, ``traffic``, ``synthetic_rps``, ``bake``,
    optional ``name``); an unknown key is refused with the allowed keys."""
    unknown = sorted(set(spec) - set(_STAGE_KEYS))
    if unknown:
        raise OrchestrationError(
            unknown[0], f"unknown stage key; allowed keys: {', '.join(_STAGE_KEYS)}"
        )
    values = dict(spec)
    if values.get("name") is None:
        values["name"] = default_name
    if "strategy" not in values:
        raise OrchestrationError(
            "strategy", f"a stage needs a strategy; allowed: {', '.join(_strategy_names())}"
        )
    return Stage(**values)


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------

#: Bake of the staging stage and of the production stage after the canary has shifted all
#: traffic (a parameter: no public figure; Argo Rollouts' post-promotion analysis and
#: CodeDeploy's bake both leave it to the user).
TEMPLATE_BAKE_S = 600.0
#: The production ``threshold`` analysis of the templates and the high tier: its first check
#: waits ``initial_delay`` 300 s, the first whole CloudWatch period after the traffic starts
#: plus its publication delay (up to 60 s to the next period, 60 s of period, 180 s of
#: delay); with Flagger's default no-data rule (a failed check) and no delay, every release
#: would be rolled back before its first datapoint is published.
THRESHOLD_PARAMS: dict[str, Any] = {"initial_delay": 300.0}


def _templates() -> dict[str, tuple[str, tuple[Stage, ...]]]:
    return {
        "direct": (
            "one production stage, rolling update with the ECS circuit breaker, no human gate",
            (Stage("production", "rolling"),),
        ),
        "manual-approval": (
            "a human approval, then a rolling update: the manual flow automated pipelines are "
            "measured against",
            (Stage("production", "rolling", gate="approval"),),
        ),
        "staging-canary-full": (
            "staging with synthetic traffic, then a production canary with analysis that ends "
            "by shifting all traffic (full), watched for a bake",
            (
                Stage(
                    "staging",
                    "all-at-once",
                    analysis="threshold",
                    traffic="synthetic",
                    bake=TEMPLATE_BAKE_S,
                ),
                Stage(
                    "canary",
                    "canary",
                    analysis="threshold",
                    analysis_params=THRESHOLD_PARAMS,
                    bake=TEMPLATE_BAKE_S,
                ),
            ),
        ),
    }


def pipeline_templates() -> dict[str, str]:
    """The pipeline templates by name, each with a one-line description."""
    return {name: doc for name, (doc, _) in _templates().items()}


def template(name: str) -> Plan:
    """The plan of the template ``name``; an unknown name is refused with the allowed ones."""
    found = _templates().get(name)
    if found is None:
        raise OrchestrationError(
            "template",
            f"unknown pipeline template {name!r}; allowed: {', '.join(_templates())}",
        )
    doc, stages = found
    return Plan(name, stages, reason=f"template {name!r}: {doc}")


# ---------------------------------------------------------------------------------------------
# Risk-driven orchestration
# ---------------------------------------------------------------------------------------------

_TIER_DEFAULTS: dict[str, dict[str, Any]] = {
    "low": {"strategy": "rolling"},
    "medium": {"strategy": "blue-green", "analysis": "alarm"},
    "high": {"strategy": "canary", "analysis": "threshold", "analysis_params": THRESHOLD_PARAMS},
}


def tier_defaults() -> dict[str, dict[str, Any]]:
    """The default stage of each tier (copies)."""
    return {k: dict(v) for k, v in _TIER_DEFAULTS.items()}


class RiskOrchestrator(BasePolicy):
    """Chooses a release's plan from its risk percentile (pure: :meth:`plan`).

    ``score`` is the release's *risk percentile* in [0, 1]: where its risk model score
    falls among the earlier releases' (:meth:`OnlineRiskScorer.assess
    <policies.rollout.online_risk.OnlineRiskScorer.assess>`), so the thresholds mean the
    same for every model (the ``rules`` points and the learned models' probabilities are on
    different scales) and a threshold ``t`` gates the riskiest ``1 - t`` of releases, the
    share the gating curve reports. Tiers: ``score > high_threshold`` -> ``high``, else
    ``score > medium_threshold`` -> ``medium``, else ``low``; each tier is a stage table
    (default low: ``rolling``; medium: ``blue-green`` with ``alarm`` analysis; high:
    ``canary`` with ``threshold`` analysis). ``score > approval_threshold`` also gates the
    stage with a human approval.

    Defaults 0.5 / 0.9 / 0.95 (the riskiest 50%, 10% and 5%) are the gating zones Meta
    reports its Diff Risk Score at (Abreu et al., arXiv:2410.06351, 2024), so the expected
    catch of each tier can be read off the gating curve; there is no public figure for which
    strategy or approval each zone should get: they are parameters.
    """

    def __init__(
        self,
        medium_threshold: float = 0.5,
        high_threshold: float = 0.9,
        approval_threshold: float = 0.95,
        low: dict | None = None,
        medium: dict | None = None,
        high: dict | None = None,
    ) -> None:
        self.medium_threshold = medium_threshold
        self.high_threshold = high_threshold
        self.approval_threshold = approval_threshold
        self.low = low
        self.medium = medium
        self.high = high

    def _validate(self) -> None:
        for key in ("medium_threshold", "high_threshold", "approval_threshold"):
            value = getattr(self, key)
            if not 0 <= value <= 1:
                raise OrchestrationError(
                    key, f"is a risk percentile, must be in [0, 1], got {value!r}"
                )
        if self.medium_threshold > self.high_threshold:
            raise OrchestrationError(
                "medium_threshold",
                f"{self.medium_threshold!r} is above high_threshold {self.high_threshold!r}",
            )
        self.stages_ = {tier: self._tier_stage(tier) for tier in _TIER_DEFAULTS}

    def _tier_stage(self, tier: str) -> Stage:
        spec = getattr(self, tier)
        spec = _TIER_DEFAULTS[tier] if spec is None else spec
        try:
            stage = stage_from_spec(spec)
        except OrchestrationError as exc:
            raise exc.within(tier) from None
        if stage.traffic != "production":
            raise OrchestrationError(f"{tier}.traffic", "a tier's stage serves production traffic")
        return stage

    def tier(self, score: float) -> str:
        """``low``, ``medium`` or ``high`` for a risk percentile."""
        if not (_is_number(score) and 0 <= score <= 1):
            raise OrchestrationError("score", f"a risk percentile must be in [0, 1], got {score!r}")
        if score > self.high_threshold:
            return "high"
        return "medium" if score > self.medium_threshold else "low"

    def plan(self, score: float) -> Plan:
        """The plan for a release of risk percentile ``score``, with the reason."""
        if not hasattr(self, "stages_"):
            self.validate()
        tier = self.tier(score)
        stage = self.stages_[tier]
        if tier == "high":
            rule = f"> high_threshold {self.high_threshold:g}"
        elif tier == "medium":
            rule = f"> medium_threshold {self.medium_threshold:g}"
        else:
            rule = f"<= medium_threshold {self.medium_threshold:g}"
        what = stage.strategy + (f" with {stage.analysis} analysis" if stage.analysis else "")
        reason = f"risk {score:.3f} {rule}: {tier} tier, {what}"
        if score > self.approval_threshold:
            stage = stage.replace(gate="approval")
            reason += f"; {score:.3f} > approval_threshold {self.approval_threshold:g}: approval"
        return Plan(f"risk-{tier}", (stage,), reason=reason)


# ---------------------------------------------------------------------------------------------
# From a scenario's [risk] and [pipeline] sections
# ---------------------------------------------------------------------------------------------


def plan_from_pipeline(cfg: PipelineConfig) -> Plan | None:
    """The plan a ``[pipeline]`` section declares (None when it declares none); errors name
    ``pipeline.<key>``."""
    if cfg.template is not None:
        try:
            return template(cfg.template)
        except OrchestrationError as exc:
            raise exc.within("pipeline") from None
    if not cfg.stages:
        return None
    stages = []
    for i, spec in enumerate(cfg.stages):
        try:
            stages.append(stage_from_spec(spec.model_dump(), default_name=f"stage{i + 1}"))
        except OrchestrationError as exc:
            raise exc.within(f"pipeline.stages[{i}]") from None
    try:
        return Plan("pipeline", tuple(stages), reason="the scenario's [pipeline] stages")
    except OrchestrationError as exc:
        raise exc.within("pipeline") from None


def orchestrator_from_risk(cfg: RiskConfig) -> RiskOrchestrator:
    """The orchestrator a ``[risk]`` section configures; errors name ``risk.<key>``."""
    tiers = {
        tier: None if getattr(cfg, tier) is None else getattr(cfg, tier).model_dump()
        for tier in _TIER_DEFAULTS
    }
    orchestrator = RiskOrchestrator(
        medium_threshold=cfg.medium_threshold,
        high_threshold=cfg.high_threshold,
        approval_threshold=cfg.approval_threshold,
        **tiers,
    )
    try:
        orchestrator.validate()
    except OrchestrationError as exc:
        raise exc.within("risk") from None
    return orchestrator


def check_sections(risk: RiskConfig, pipeline: PipelineConfig) -> None:
    """Everything in ``[risk]`` and ``[pipeline]`` that names a policy: the risk model and its
    parameters, the tiers' and stages' strategies and analyses, the template. Raises
    :class:`OrchestrationError` (or the risk model's ``RiskModelError``) naming the key."""
    from policies.rollout.online_risk import scorer_from_risk

    scorer_from_risk(risk)
    orchestrator_from_risk(risk)
    plan = plan_from_pipeline(pipeline)
    if plan is not None:
        for i, stage in enumerate(plan.stages[:-1]):
            if stage.traffic != "synthetic":
                raise OrchestrationError(
                    f"pipeline.stages[{i}].traffic",
                    "the simulator runs staging (synthetic) stages, then one production stage "
                    "(the last); for canary then full use one stage whose strategy ends at full "
                    "traffic (canary, linear) with a bake",
                )
    if risk.orchestrate and pipeline.declared:
        raise OrchestrationError(
            "risk.orchestrate",
            "true lets the risk tiers choose each release's plan, so [pipeline] may not also "
            "declare a template or stages; remove them or set orchestrate = false",
        )
