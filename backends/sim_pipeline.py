"""Each release's plan in a run, and the part of its pipeline before production.

:class:`ScenarioPipeline` decides, per release as it arrives, which plan ships it
(policies/rollout/orchestration.py), in this order:

1. ``[risk] orchestrate = true``: the release is scored at its arrival by the
   :class:`~policies.rollout.online_risk.OnlineRiskScorer` of ``[risk]`` (fitted only on
   outcomes known before then) and the :class:`~policies.rollout.orchestration.RiskOrchestrator`
   picks the plan of its risk percentile's tier (with a human approval above
   ``approval_threshold``);
2. else ``[pipeline]`` (a ``template`` or ``stages``), the same plan for every release;
3. else ``[rollout]`` and ``[analysis]``: one production stage.

Every release is scored, whatever chooses its plan (the ``risk_score`` column). The scorer
learns outcomes as the run reveals them (:meth:`ScenarioPipeline.outcome`): a rollback, a
failed staging stage or a rejected approval is an observed failure, known at once (a false
rollback is therefore learnt as a failure, as a real team would record it); a completed
release's truth is known ``outcome_window`` seconds after it completes (default one day, a
parameter: the time for an escaped bad release's incident to be traced back to it).

Before production (:meth:`ScenarioPipeline.pre_production`, run per release from its
arrival, in parallel with other releases' deployments): each stage's ``approval`` gate waits
for a human (:class:`~policies.rollout.approval.ApprovalLatency` from ``[pipeline]``, its
delay and the reviewer's catch drawn from the run's ``approvals`` generator); each
``synthetic`` stage runs in staging (sim/staging.py). A release enters the production
deployment queue once they pass; the production stage's own gate is also passed before it
enters the queue, so a release waiting for a human does not hold the service. The simulator
runs plans of staging stages followed by one production stage (check_sections refuses
others at load).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from policies.rollout.orchestration import Plan, Stage
from sim.releases import DAY_S, Release
from sim.staging import staging_result

__all__ = ["OUTCOME_WINDOW_S", "ScenarioPipeline"]

#: Seconds after a release completes until its truth is known to the risk model (a
#: parameter: no public figure for how long an escaped defect takes to be traced back).
OUTCOME_WINDOW_S = DAY_S


class ScenarioPipeline:
    """Plans, risk scores and pre-production stages of a run's releases (module docstring).

    ``override(release) -> RolloutPlan`` (``run_simulation``'s ``plan``) replaces the plan's
    production stage for every release and skips the pre-production stages."""

    def __init__(self, sim: Any, override: Callable[[Release], Any] | None = None) -> None:
        from policies.rollout.approval import approval_from_pipeline
        from policies.rollout.online_risk import scorer_from_risk
        from policies.rollout.orchestration import orchestrator_from_risk, plan_from_pipeline

        sc = sim.scenario
        self.sim = sim
        self.override = override
        self.scorer = scorer_from_risk(sc.risk)
        self.orchestrator = orchestrator_from_risk(sc.risk) if sc.risk.orchestrate else None
        self.fixed = plan_from_pipeline(sc.pipeline)
        if self.fixed is None and self.orchestrator is None:
            stage = Stage(
                "production",
                sc.rollout.strategy,
                sc.rollout.params,
                sc.analysis.method,
                sc.analysis.params if sc.analysis.method is not None else {},
            )
            self.fixed = Plan("rollout", (stage,), reason="the scenario's [rollout] and [analysis]")
        self.approver = approval_from_pipeline(sc.pipeline, sc.releases)
        self.outcome_window = OUTCOME_WINDOW_S
        self._built: dict[tuple[str, str, str], Any] = {}

    # -- the plan ------------------------------------------------------------------------
    def choose(self, release: Release) -> tuple[Plan, dict[str, Any]]:
        """Score ``release`` at its arrival and choose its plan; the second value holds the
        releases-table fields (``risk_score``, ``risk_percentile``, ``risk_model``,
        ``tier``, ``plan``)."""
        assessment = self.scorer.assess(release, release.at_s)
        info: dict[str, Any] = {
            "risk_score": assessment.score,
            "risk_percentile": assessment.percentile,
            "risk_model": assessment.model,
            "tier": "",
        }
        if self.orchestrator is not None:
            plan = self.orchestrator.plan(assessment.percentile)
            info["tier"] = self.orchestrator.tier(assessment.percentile)
        else:
            assert self.fixed is not None
            plan = self.fixed
        info["plan"] = plan.name
        return plan, info

    def rollout_plan(self, plan: Plan, release: Release) -> Any:
        """The driver's :class:`~backends.sim_rollout.RolloutPlan` of the production stage."""
        if self.override is not None:
            return self.override(release)
        from backends.sim_rollout import RolloutPlan
        from policies.rollout.registry import ANALYSES, STRATEGIES

        stage = plan.stages[-1]
        key = (plan.name, stage.name, stage.gate)
        if key not in self._built:
            strategy = STRATEGIES.make(stage.strategy, **stage.strategy_params)
            analysis = None
            if stage.analysis is not None:
                analysis = ANALYSES.make(stage.analysis, **stage.analysis_params)
            self._built[key] = RolloutPlan(
                stage.strategy,
                strategy,
                stage.analysis,
                analysis,
                bake=stage.bake,
                baseline=self.sim.scenario.analysis.baseline_for(stage.analysis),
            )
        return self._built[key]

    # -- outcomes for the risk model -----------------------------------------------------
    def outcome(self, release: Release, outcome: str, now: float) -> None:
        """Tell the scorer how ``release`` ended at ``now`` (see the module docstring)."""
        if outcome == "complete":
            self.scorer.record_outcome(release.id, release.bad, now + self.outcome_window)
        else:
            self.scorer.record_outcome(release.id, True, now)

    # -- before production ---------------------------------------------------------------
    def pre_production(self, dep: Any) -> Iterator[Any]:
        """SimPy process: ``dep``'s gates and staging stages; sets ``dep.outcome`` to
        ``rejected`` or ``rolled_back`` when one stops it, else leaves it ``queued``."""
        sim = self.sim
        env = sim.env
        run = sim.scenario.run
        rng: np.random.Generator = sim.rng["approvals"]
        release = dep.release
        stages = () if self.override is not None else dep.pipeline.stages
        for stage in stages:
            if stage.gate == "approval":
                dep.stages.append(f"{stage.name}:approval")
                dep.approvals += 1
                verdict = self.approver.review(env.now, release.bad, rng)
                yield env.timeout(verdict.waited_s)
                dep.human_wait_s += verdict.waited_s
                if not verdict.approved:
                    dep.stages[-1] = f"{stage.name}:rejected"
                    self._stop(dep, "rejected", f"stage {stage.name}: {verdict.reason}")
                    return
                dep.stages[-1] = f"{stage.name}:approved"
            if stage.traffic != "synthetic":
                continue
            if math.isnan(dep.start_s):
                dep.start_s = env.now
            result = staging_result(
                release,
                analysis=stage.analysis is not None,
                bake_s=stage.bake,
                detect_s=float(run.metrics_period + run.publication_delay),
                rng=rng,
            )
            yield env.timeout(result.duration_s)
            dep.stages.append(f"{stage.name}:{'failed' if result.failed else 'passed'}")
            if result.failed:
                dep.detected_s = env.now
                self._stop(dep, "rolled_back", f"stage {stage.name}: {result.reason}")
                return

    def _stop(self, dep: Any, outcome: str, reason: str) -> None:
        dep.outcome = outcome
        dep.reason = reason
        dep.end_s = self.sim.env.now
        self.sim.log("ROLLOUT", f"release {dep.release.id} {outcome}: {reason}")
        self.outcome(dep.release, outcome, dep.end_s)
