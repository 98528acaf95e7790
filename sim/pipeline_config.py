"""The ``[risk]`` and ``[pipeline]`` sections of a scenario (pydantic models, no policy import).

``[risk]`` names the risk model that scores every release before it ships (``model``:
``rules``, ``logistic`` or ``gbm``; any other unknown key is a parameter of that model), the
online scorer's ``min_history`` and ``refit_every``, and the risk-driven orchestration:
``orchestrate = true`` lets :class:`policies.rollout.orchestration.RiskOrchestrator` choose
each release's plan from its risk percentile, with the thresholds and tier stages below.

``[pipeline]`` declares the stages every release goes through, by ``template`` name or as
explicit ``stages``, and the human approval latency of stages gated by ``approval``.

The shapes and ranges are checked here; names that belong to the policies (the risk model and
its parameters, strategy and analysis names, analysis parameters, template names) are checked
when the scenario loads by :func:`policies.rollout.orchestration` helpers (``sim/scenario.py``
imports them lazily, as it does for ``[autoscaler]``), each error naming ``risk.<key>`` or
``pipeline.<key>`` and the allowed values.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from sim.traffic.config import Duration as _Duration

__all__ = ["GATES", "TRAFFIC", "PipelineConfig", "RiskConfig", "StageConfig"]

Gate = Literal["auto", "approval"]
Traffic = Literal["production", "synthetic"]
#: When a stage may start: after the previous one passed, or after a human approves too.
GATES: tuple[str, ...] = typing.get_args(Gate)
#: What a stage's revision serves: real users, or generated requests in a staging environment.
TRAFFIC: tuple[str, ...] = typing.get_args(Traffic)

Duration = Annotated[_Duration, Field(ge=0)]
PositiveDuration = Annotated[_Duration, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StageConfig(_Section):
    """One pipeline stage: a strategy, an optional analysis, a gate and its traffic."""

    name: str | None = Field(None, description="Stage name; default stage1, stage2, ...")
    strategy: str = Field(description="Rollout strategy by registry name (fargate-lab rollouts).")
    strategy_params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the strategy; default its defaults."
    )
    analysis: str | None = Field(
        None,
        description="Analysis method by name (alarm, threshold, kayenta, anomaly); None: "
        "only the strategy's own safety net (e.g. the ECS circuit breaker).",
    )
    analysis_params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the analysis method."
    )
    gate: Gate = Field(
        "auto",
        description="auto: starts when the previous stage passed; approval: also "
        "waits for a human ([pipeline] approval_* keys).",
    )
    traffic: Traffic = Field(
        "production",
        description="production: real users (their failed requests are the blast "
        "radius); synthetic: a staging environment serving only generated requests.",
    )
    synthetic_rps: float | None = Field(
        None,
        gt=0,
        description="Requests/s of a synthetic stage; default 10 (a parameter: no public figure).",
    )
    bake: Duration = Field(
        0.0,
        description="Seconds the stage holds after its strategy finished, analysis still "
        "watching, before the next stage (parameter).",
    )


class RiskConfig(BaseModel):
    """``model`` names a risk model; every other unknown key is one of its parameters."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    #: How scenario_keys documents the extra keys of this section.
    extra_doc: typing.ClassVar[str] = (
        "any other key is a parameter of the named risk model (rules, logistic, gbm)"
    )
    extra_default: typing.ClassVar[str] = "the model's default"

    model: str = Field("rules", description="Risk model: rules, logistic or gbm.")
    min_history: int = Field(
        50, ge=1, description="Outcomes known before the model replaces the rules cold start."
    )
    refit_every: int = Field(25, ge=1, description="Refit once this many more outcomes are known.")
    orchestrate: bool = Field(
        False,
        description="true: each release's plan is chosen by its risk tier (below) "
        "instead of [pipeline] / [rollout]; false: releases are only scored.",
    )
    medium_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Risk percentile above which the medium tier applies (the "
        "riskiest 50%: one of Meta's Diff Risk Score gating zones; no public figure for tiers).",
    )
    high_threshold: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Risk percentile above which the high tier applies (the riskiest 10%).",
    )
    approval_threshold: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Risk percentile above which a human approval is required (the riskiest 5%).",
    )
    low: StageConfig | None = Field(
        None,
        description="Low tier's stage, a table with the keys of "
        "pipeline.stages[]; default rolling.",
    )
    medium: StageConfig | None = Field(
        None,
        description="Medium tier's stage, a table with the keys of "
        "pipeline.stages[]; default blue-green with alarm analysis.",
    )
    high: StageConfig | None = Field(
        None,
        description="High tier's stage, a table with the keys of "
        "pipeline.stages[]; default canary with threshold analysis.",
    )

    @property
    def model_params(self) -> dict[str, Any]:
        """The risk model's parameters (the keys this section does not name)."""
        return dict(self.model_extra or {})


class PipelineConfig(_Section):
    """Stages by ``template`` name or explicit ``stages``; human approval latency."""

    template: str | None = Field(
        None, description="Pipeline template: direct, manual-approval, staging-canary-full."
    )
    stages: list[StageConfig] = Field(default_factory=list)
    approval_median: PositiveDuration = Field(
        14400.0,
        description="Median human approval delay in working time, 4 h (Google's median "
        "code review latency is under 4 hours, Sadowski et al., ICSE-SEIP 2018; no public "
        "figure for deployment approvals).",
    )
    approval_sigma: float = Field(
        1.0, ge=0, description="Log-sd of the approval delay (parameter, no public figure)."
    )
    approval_catch_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance a reviewer rejects a bad release (parameter, no public figure).",
    )
    approval_timeout: PositiveDuration = Field(
        604800.0,
        description="An approval not given within it fails, 7 days (AWS CodePipeline "
        "manual approval actions).",
    )

    @field_validator("stages")
    @classmethod
    def _one_source(cls, value: list[StageConfig], info: ValidationInfo) -> list[StageConfig]:
        if value and info.data.get("template") is not None:
            raise ValueError("give template or stages, not both")
        return value

    @property
    def declared(self) -> bool:
        """Whether the section declares a pipeline (a template or stages)."""
        return self.template is not None or bool(self.stages)
