"""The rollout driver: releases deployed into the simulator by a strategy, judged by an analysis.

At each release time (sim/releases.py) the driver deploys a new revision (the same task
definition but for the release's hidden kind, sim/revisions.py) and drives it with the
scenario's ``[rollout]`` strategy (policies/rollout/strategies.py) through
``Service.deploy``, ``scale_revision``, ``set_weights`` and ``promote`` (sim/service.py). The
``[analysis]`` method (policies/rollout/registry.py), if any, reads only what CloudWatch shows
of the two target groups: their per-period ALB metrics, each period visible
``run.publication_delay`` seconds after it ends, never the release's truth; a ``fail``
verdict makes the strategy roll back.

The baseline (``RolloutPlan.baseline``, the scenario's ``[analysis] baseline``): with
``concurrent`` (the default for ``kayenta``) and a strategy with a canary step, the analysis
compares the canary with a fresh task set of the old revision deployed with it, in a third
target group, of the canary's task count and listener weight (taken out of the stable
revision's), torn down at the first step past the canary step; Spinnaker compares the
canary with a baseline of the same time of deployment, size and traffic
(https://spinnaker.io/guides/user/canary/best-practices). Otherwise (``stable``, the
default for the other methods, or no canary step) the baseline is the old revision's
whole target group.

Rounds: one at the deployment's start, then every ``strategy.interval_s`` seconds, and one
each time the service's desired count changes (the autoscaler keeps working during a
rollout: it sees the service-level metrics of every revision together; the strategy computes
each revision's count from the desired count at every round, so a scale-out during a rollout
grows the new revision, and the old one while it still serves, as ECS derives a deployment's
task counts from the service's desired count).

One deployment at a time: a release that arrives while another is in progress waits in a
first-in, first-out queue (as most pipelines serialise deployments to one service), so its
lead time includes that wait. Releases still queued or in progress when the run ends are
counted in ``releases_total`` with outcome ``queued`` / ``in_progress``.

Times on each release (seconds from the run start; NaN when it did not happen):

* ``at_s``: the release arrives (ready to deploy); ``start_s``: its deployment starts;
* ``first_traffic_s``: the first round at which its target group gets a share of the
  requests; ``full_s``: the first round at which it gets all of them (at the latest, the
  deployment's completion);
* ``detected_s``: the rollback decision (analysis fail or circuit breaker);
* ``end_s``: the deployment completes or is rolled back;
* ``recovered_s`` (bad releases): the time the bad revision stops taking requests: its
  rollback, or, if it reached 100%, the completion of the next deployment that replaced it;
* ``lead_time_s = end_s - at_s`` for completed releases; ``time_to_detect_s = detected_s -
  start_s``; ``time_to_recover_s = recovered_s - start_s``;
* ``failed_requests``: requests its target group failed (target 5xx plus ELB 5xx: timeouts
  and no healthy target), over the whole run.

Times measured at rounds are exact to the round's interval.

Plans (backends/sim_pipeline.py): each release's plan is chosen when it arrives (by its risk
tier with ``[risk] orchestrate = true``, else ``[pipeline]``, else ``[rollout]`` /
``[analysis]``); its approval gates and staging stages run from its arrival, in parallel with
other deployments, and it enters the production queue once they pass. ``start_s`` is then
the start of its first stage (staging, or production). The production stage's ``bake``
holds the new revision at full traffic for that long, the analysis still watching, before
the old revision is released; a ``fail`` then rolls back (the release reached full, so it
does not count as stopped before full). A release stopped by a reviewer has outcome
``rejected``; one stopped in staging ``rolled_back`` (never served, so no recovery time).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backends.sim_pipeline import ScenarioPipeline
from policies.contract import RolloutObservation, RolloutStep
from sim.releases import Release, releases_frame
from sim.simulation import RunResult, Simulation

#: The analysis reads these target-group columns (policies/rollout/analysis.py, METRICS).
ANALYSIS_METRICS: tuple[str, ...] = (
    "RequestCount",
    "HTTPCode_Target_5XX_Count",
    "TargetResponseTime_p50",
    "TargetResponseTime_p90",
    "TargetResponseTime_p99",
)
#: Columns the driver adds to sim.releases.releases_frame in the ``releases`` table.
RELEASE_COLUMNS: tuple[str, ...] = (
    "risk_score",
    "revision",
    "strategy",
    "analysis",
    "outcome",
    "reason",
    "start_s",
    "first_traffic_s",
    "full_s",
    "detected_s",
    "end_s",
    "recovered_s",
    "lead_time_s",
    "time_to_detect_s",
    "time_to_recover_s",
    "failed_requests",
    "risk_percentile",
    "risk_model",
    "tier",
    "plan",
    "approvals",
    "human_wait_s",
    "stage_outcomes",
)
#: Outcomes of a release (``rejected``: a reviewer or the approval timeout stopped it).
OUTCOMES: tuple[str, ...] = ("complete", "rolled_back", "rejected", "in_progress", "queued")
#: Summary keys a run with releases adds (README "Releases and rollouts").
SUMMARY_KEYS: tuple[str, ...] = (
    "releases_total",
    "releases_bad",
    "bad_stopped_before_full",
    "prevention_rate",
    "false_rollbacks",
    "lead_time_p50_s",
    "time_to_detect_p50_s",
    "time_to_recover_p50_s",
    "blast_radius_failed_requests",
    "approvals",
    "human_wait_s",
)


@dataclass(frozen=True)
class RolloutPlan:
    """How one release is shipped: a strategy (and its registry name) and an optional
    analysis. Wave-2 orchestration returns one per release (e.g. chosen by risk)."""

    strategy_name: str
    strategy: Any
    analysis_name: str | None = None
    analysis: Any = None
    bake: float = 0.0
    #: ``concurrent`` or ``stable`` (sim/scenario.py, ``BASELINES``); None: the analysis
    #: method's default (``default_baseline``: concurrent for kayenta, else stable).
    baseline: str | None = None

    @property
    def concurrent(self) -> bool:
        """Whether the analysis compares the canary with a concurrent baseline: an
        analysis, the ``concurrent`` baseline, and a strategy with a canary step (a step
        that gives the new revision more than 0% and at most 50% of the traffic by listener
        weights, so that a baseline of the same weight fits beside it: ``canary``,
        ``linear`` and their CodeDeploy presets; not ``rolling``, ``blue-green`` or
        ``all-at-once``, which are judged against the stable revision)."""
        from sim.scenario import default_baseline

        if self.analysis is None:
            return False
        mode = self.baseline if self.baseline is not None else default_baseline(self.analysis_name)
        schedule = getattr(self.strategy, "schedule", None)
        if mode != "concurrent" or schedule is None or not self.strategy.weighted:
            return False
        return any(0.0 < percent <= 50.0 for percent, _ in schedule())


@dataclass
class Deployment:
    """One release's deployment record (mutable while it runs)."""

    release: Release
    plan: RolloutPlan | None = None
    pipeline: Any = None  # the orchestration Plan (policies/rollout/orchestration.py)
    info: dict[str, Any] = field(default_factory=dict)  # risk score, tier, plan name
    approvals: int = 0
    human_wait_s: float = 0.0
    stages: list[str] = field(default_factory=list)
    bake_until: float = math.nan
    revision: int = 0
    old_revision: int = 0
    #: The concurrent baseline's revision (0: none) and when it was torn down.
    baseline_revision: int = 0
    baseline_end_s: float = math.nan
    baseline_live: bool = False  # all its tasks were healthy once: it takes traffic
    outcome: str = "queued"
    reason: str = ""
    stage: int = 0
    stage_since: float = math.nan
    verdict: str = "none"
    verdict_reason: str = ""
    last_step: RolloutStep | None = field(default=None, repr=False)
    start_s: float = math.nan
    first_traffic_s: float = math.nan
    full_s: float = math.nan
    detected_s: float = math.nan
    end_s: float = math.nan
    recovered_s: float = math.nan


class RolloutDriver:
    """Deploys ``sim.releases`` one at a time, each by ``plan(release)``."""

    def __init__(
        self, sim: Simulation, plan: Callable[[Release], RolloutPlan] | None = None
    ) -> None:
        self.sim = sim
        self.pipeline = ScenarioPipeline(sim, override=plan)
        self.deployments = [Deployment(r) for r in sim.releases]
        self.active: Deployment | None = None
        self._serving_bad: list[Deployment] = []  # promoted bad releases still serving
        self._ready: list[Deployment] = []  # passed their pre-production stages, FIFO
        self._wake: Any = None

    def start(self) -> None:
        """Start the driver's SimPy processes and listen to desired-count changes."""
        self.sim.desired_listeners.append(self._on_desired)
        self.sim.env.process(self._arrivals())
        self.sim.env.process(self._run())

    # -- the processes --------------------------------------------------------------------
    def _arrivals(self):
        """Each release at its arrival: scored, planned, then its pre-production stages."""
        env = self.sim.env
        for dep in self.deployments:
            if env.now < dep.release.at_s:
                yield env.timeout(dep.release.at_s - env.now)
            dep.pipeline, dep.info = self.pipeline.choose(dep.release)
            dep.plan = self.pipeline.rollout_plan(dep.pipeline, dep.release)
            if self.pipeline.override is None and (
                len(dep.pipeline.stages) > 1 or dep.pipeline.approvals
            ):
                env.process(self._prepare(dep))
            else:
                self._enqueue(dep)

    def _prepare(self, dep: Deployment):
        yield from self.pipeline.pre_production(dep)
        if dep.outcome == "queued":
            self._enqueue(dep)

    def _enqueue(self, dep: Deployment) -> None:
        self._ready.append(dep)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _run(self):
        env = self.sim.env
        while True:
            if not self._ready:
                self._wake = env.event()
                yield self._wake
            dep = self._ready.pop(0)
            self._begin(dep)
            assert dep.plan is not None
            interval = float(dep.plan.strategy.interval_s)
            while self.active is dep:
                yield env.timeout(interval)
                if self.active is dep:
                    self._round()

    def _begin(self, dep: Deployment) -> None:
        sim = self.sim
        now = sim.env.now
        dep.revision = max(sim.service.groups) + 1
        dep.old_revision = sim.scheduler.revision
        if math.isnan(dep.start_s):
            dep.start_s = now
        dep.stage_since = now
        dep.outcome = "in_progress"
        sim.deploy_release(
            dep.revision,
            dep.release,
            f"release {dep.release.id} by {dep.plan.strategy_name}",  # type: ignore[union-attr]
        )
        if dep.plan.concurrent:  # type: ignore[union-attr]
            self._deploy_baseline(dep)
        self.active = dep
        self._round()

    def _deploy_baseline(self, dep: Deployment) -> None:
        """A fresh task set of the old revision's task definition beside the canary, in a
        target group of its own (revision ``dep.revision + 1``: ECS gives every task set its
        own target group), carrying the old revision's release, if any, with its effects."""
        sim = self.sim
        dep.baseline_revision = dep.revision + 1
        reason = f"release {dep.release.id}: concurrent baseline of revision {dep.old_revision}"
        old_release = sim.effects.releases.get(dep.old_revision) if sim.effects else None
        if old_release is not None:
            sim.deploy_release(dep.baseline_revision, old_release, reason)
        else:
            sim.service.deploy(dep.baseline_revision, 0, reason)

    def _with_baseline(self, dep: Deployment, step: RolloutStep) -> RolloutStep:
        """``step`` with the concurrent baseline: during a canary step (the new revision
        has at most half of the traffic), the baseline runs the canary's task count and,
        once all its tasks have been healthy (an ALB target group without a healthy target
        fails its requests, so the stable revision keeps that share until then), takes the
        canary's weight out of the stable revision's; at the first step past it
        (more than half, the bake at full traffic, completion or rollback) it is torn down
        (no task, weight 0) for good."""
        base = dep.baseline_revision
        if not base or not math.isnan(dep.baseline_end_s):
            return step
        service = self.sim.service
        weights = step.weights
        total = sum(weights.values()) if weights else 0.0
        canary_w = weights.get(dep.revision, 0.0) if weights else 0.0
        share = canary_w / total if total > 0 else 0.0
        if step.status == "in_progress" and weights is not None and share <= 0.5:
            n = int(step.tasks.get(dep.revision, 0))
            if n != self._baseline_tasks(dep):
                service.scale_revision(base, n, f"baseline: the canary's {n} tasks")
            if not dep.baseline_live and n > 0 and service.groups[base].n_serving >= n:
                dep.baseline_live = True
            base_w = canary_w if dep.baseline_live else 0.0
            wanted = dict(weights)
            wanted[dep.old_revision] = wanted.get(dep.old_revision, 0.0) - base_w
            wanted[base] = base_w
            return dataclasses.replace(step, weights=wanted)
        dep.baseline_end_s = self.sim.env.now
        service.scale_revision(base, 0, f"baseline torn down: {step.reason}")
        self.sim.log("ROLLOUT", f"release {dep.release.id} baseline revision {base} torn down")
        if weights is None:
            return step
        return dataclasses.replace(step, weights={**weights, base: 0.0})

    def _baseline_tasks(self, dep: Deployment) -> int:
        return int(self.sim.scheduler.task_sets.get(dep.baseline_revision, 0))

    def _on_desired(self) -> None:
        if self.active is not None:
            self._round()

    # -- one round ------------------------------------------------------------------------
    def observation(self, dep: Deployment) -> RolloutObservation:
        """What the strategy sees now (the analysis verdict is refreshed first)."""
        sim = self.sim
        now = sim.env.now
        revs = (dep.old_revision, dep.revision)
        active = dict.fromkeys(revs, 0)
        for task in sim.scheduler.tasks:
            if task.active and task.revision in active:
                active[task.revision] += 1
        groups = sim.service.groups
        weights = sim.service.weights
        return RolloutObservation(
            elapsed_s=now - dep.start_s,
            desired=int(sim.scheduler.desired),
            old_revision=dep.old_revision,
            new_revision=dep.revision,
            active=active,
            healthy={rev: groups[rev].n_serving for rev in revs},
            failed_starts={rev: sim.effects.failed_starts.get(rev, 0) for rev in revs},
            weights=None if weights is None else dict(weights),
            verdict=dep.verdict,
            verdict_reason=dep.verdict_reason,
            stage=dep.stage,
            stage_elapsed_s=now - dep.stage_since,
        )

    def _round(self) -> None:
        dep = self.active
        assert dep is not None and dep.plan is not None
        self._analyse(dep)
        if not math.isnan(dep.bake_until):
            self._bake(dep)
            return
        step = dep.plan.strategy.decide(self.observation(dep))
        if step.status == "complete" and dep.plan.bake > 0:
            self._start_bake(dep, step)
            return
        self._apply(dep, step)

    def _start_bake(self, dep: Deployment, step: RolloutStep) -> None:
        """The strategy finished: hold the new revision at full traffic for the stage's
        bake, the old one still running (traffic-shifting) for a fast rollback."""
        now = self.sim.env.now
        assert dep.plan is not None
        dep.bake_until = now + dep.plan.bake
        bake = RolloutStep(
            status="in_progress",
            reason=f"bake {dep.plan.bake:g} s at full traffic",
            stage=step.stage,
            tasks=dict(step.tasks),
            weights=None if step.weights is None else {dep.revision: 100.0, dep.old_revision: 0.0},
        )
        bake = self._with_baseline(dep, bake)
        if bake.weights is not None:
            self._set_weights(bake, dep)
        for rev, n in step.tasks.items():
            if rev == dep.revision:
                self.sim.service.scale_revision(rev, n, step.reason)
        if math.isnan(dep.first_traffic_s):
            dep.first_traffic_s = now
        if math.isnan(dep.full_s):
            dep.full_s = now
        dep.last_step = step
        self.sim.log("ROLLOUT", f"release {dep.release.id} baking: {step.reason}")

    def _bake(self, dep: Deployment) -> None:
        now = self.sim.env.now
        assert dep.last_step is not None
        desired = int(self.sim.scheduler.desired)  # the autoscaler keeps working
        if dep.last_step.tasks.get(dep.revision) != desired:
            self.sim.service.scale_revision(dep.revision, desired, "bake: the desired count")
            tasks = {**dep.last_step.tasks, dep.revision: desired}
            dep.last_step = dataclasses.replace(dep.last_step, tasks=tasks)
        if dep.verdict == "fail":
            reason = f"analysis failed during the bake: {dep.verdict_reason}"
            step = RolloutStep(
                status="rolled_back",
                reason=reason,
                stage=dep.last_step.stage,
                tasks={dep.revision: 0},
                weights=None
                if dep.last_step.weights is None
                else {dep.old_revision: 100.0, dep.revision: 0.0},
            )
            self._apply(dep, step)
        elif now >= dep.bake_until - 1e-9:
            self._apply(dep, dep.last_step)

    def _analyse(self, dep: Deployment) -> None:
        """Refresh the verdict from CloudWatch's view of both target groups; a fail sticks."""
        analysis = dep.plan.analysis
        if analysis is None or dep.verdict == "fail":
            return
        if math.isnan(dep.first_traffic_s):
            dep.verdict, dep.verdict_reason = "running", "the new revision has no traffic yet"
            return
        from policies.rollout.analysis import AnalysisInput

        sim = self.sim
        run = sim.scenario.run
        sim.sync()
        now = sim.env.now
        visible = int(np.floor((now - run.publication_delay) / run.metrics_period + 1e-9))
        control = dep.old_revision
        if dep.baseline_revision:
            control = dep.baseline_revision
            if not math.isnan(dep.baseline_end_s):  # the periods the baseline served whole
                end = int(np.floor(dep.baseline_end_s / run.metrics_period + 1e-9))
                visible = min(visible, end)
        new = sim.service.target_group_history(dep.revision, visible)
        old = sim.service.target_group_history(control, visible)
        data = AnalysisInput.build(
            time=now,
            period_s=float(run.metrics_period),
            start=new.start,
            canary={m: new[m] for m in ANALYSIS_METRICS},
            baseline={m: old[m] for m in ANALYSIS_METRICS},
            canary_start=dep.first_traffic_s,
            publication_delay_s=float(run.publication_delay),
        )
        verdict = analysis.evaluate(data)
        dep.verdict, dep.verdict_reason = verdict.status, verdict.reason

    def _apply(self, dep: Deployment, step: RolloutStep) -> None:
        sim = self.sim
        service = sim.service
        now = sim.env.now
        step = self._with_baseline(dep, step)
        changed = dep.last_step is None or (
            step.status,
            step.stage,
            dict(step.tasks),
            step.weights,
        ) != (
            dep.last_step.status,
            dep.last_step.stage,
            dict(dep.last_step.tasks),
            dep.last_step.weights,
        )
        if changed:
            sim.log("ROLLOUT", f"release {dep.release.id} {step.status}: {step.reason}")
        dep.last_step = step
        if step.stage != dep.stage:
            dep.stage, dep.stage_since = step.stage, now
        self._set_weights(step, dep)
        if step.status == "rolled_back":
            service.scale_revision(dep.revision, 0, step.reason)
            service.scale_revision(dep.old_revision, None, step.reason)
            dep.detected_s = now
            self._end(dep, "rolled_back", step.reason)
            if dep.release.bad:
                dep.recovered_s = now
            return
        if step.status == "complete":
            service.promote(dep.revision, step.reason)
            service.scale_revision(dep.old_revision, 0, step.reason)
            if math.isnan(dep.first_traffic_s):
                dep.first_traffic_s = now
            if math.isnan(dep.full_s):
                dep.full_s = now
            for earlier in self._serving_bad:
                earlier.recovered_s = now
            self._serving_bad = [dep] if dep.release.bad else []
            self._end(dep, "complete", step.reason)
            return
        for rev, n in step.tasks.items():
            service.scale_revision(rev, n, step.reason)
        share = service.shares().get(dep.revision, 0.0)
        if share > 0 and math.isnan(dep.first_traffic_s):
            dep.first_traffic_s = now
        if share >= 1.0 - 1e-12 and math.isnan(dep.full_s):
            dep.full_s = now

    def _set_weights(self, step: RolloutStep, dep: Deployment) -> None:
        service = self.sim.service
        if step.weights is None:
            if service.weights is not None:
                service.set_weights(None, f"release {dep.release.id}: rolling")
            return
        wanted = {rev: float(w) for rev, w in step.weights.items()}
        current = service.weights or {}
        if any(current.get(rev, 0.0) != w for rev, w in wanted.items()) or not current:
            service.set_weights(wanted, f"release {dep.release.id}: {step.reason}")

    def _end(self, dep: Deployment, outcome: str, reason: str) -> None:
        dep.outcome = outcome
        dep.reason = reason
        dep.end_s = self.sim.env.now
        dep.stages.append(
            f"{dep.pipeline.stages[-1].name if dep.pipeline else 'production'}:{outcome}"
        )
        self.active = None
        self.pipeline.outcome(dep.release, outcome, dep.end_s)

    # -- results ----------------------------------------------------------------------------
    def releases_table(self) -> pd.DataFrame:
        """The ``releases`` table: releases_frame's columns plus :data:`RELEASE_COLUMNS`."""
        frame = releases_frame([d.release for d in self.deployments])
        groups = self.sim.service.groups
        rows = []
        for dep in self.deployments:
            group = groups.get(dep.revision) if dep.revision else None
            failed = 0.0
            if group is not None:  # per-period sums, summed exactly (math.fsum)
                cols = (group.store or self.sim.store).columns
                failed = math.fsum(cols["failed"]) + math.fsum(cols["HTTPCode_Target_5XX_Count"])
            at = dep.release.at_s
            info = dep.info
            rows.append(
                {
                    "risk_score": info.get("risk_score", math.nan),
                    "revision": dep.revision,
                    "strategy": dep.plan.strategy_name if dep.plan else "",
                    "analysis": (dep.plan.analysis_name or "") if dep.plan else "",
                    "outcome": dep.outcome,
                    "reason": dep.reason,
                    "start_s": dep.start_s,
                    "first_traffic_s": dep.first_traffic_s,
                    "full_s": dep.full_s,
                    "detected_s": dep.detected_s,
                    "end_s": dep.end_s,
                    "recovered_s": dep.recovered_s,
                    "lead_time_s": dep.end_s - at if dep.outcome == "complete" else math.nan,
                    "time_to_detect_s": dep.detected_s - dep.start_s,
                    "time_to_recover_s": dep.recovered_s - dep.start_s,
                    "failed_requests": failed,
                    "risk_percentile": info.get("risk_percentile", math.nan),
                    "risk_model": info.get("risk_model", ""),
                    "tier": info.get("tier", ""),
                    "plan": info.get("plan", ""),
                    "approvals": dep.approvals,
                    "human_wait_s": dep.human_wait_s,
                    "stage_outcomes": ";".join(dep.stages),
                }
            )
        extra = pd.DataFrame(rows, columns=list(RELEASE_COLUMNS))
        extra = extra.astype(
            {
                "revision": "int64",
                "strategy": str,
                "analysis": str,
                "risk_model": str,
                "tier": str,
                "plan": str,
                "approvals": "int64",
                "human_wait_s": float,
                "stage_outcomes": str,
            }
        )
        return pd.concat([frame, extra], axis=1)

    def finish(self, result: RunResult) -> RunResult:
        """Add the ``releases`` table and the release summary keys to ``result``."""
        table = self.releases_table()
        result.releases = table
        result.summary.update(release_summary(table))
        return result


def _p50(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else math.nan


def release_summary(table: pd.DataFrame) -> dict[str, Any]:
    """The summary keys (:data:`SUMMARY_KEYS`) from a ``releases`` table."""
    bad = table["bad"].astype(bool)
    rolled = table["outcome"].isin(["rolled_back", "rejected"])
    stopped = int((bad & rolled & table["full_s"].isna()).sum())
    n_bad = int(bad.sum())
    return {
        "releases_total": len(table),
        "releases_bad": n_bad,
        "bad_stopped_before_full": stopped,
        "prevention_rate": stopped / n_bad if n_bad else math.nan,
        "false_rollbacks": int((~bad & rolled).sum()),
        "lead_time_p50_s": _p50(table.loc[table["outcome"] == "complete", "lead_time_s"]),
        "time_to_detect_p50_s": _p50(table.loc[bad, "time_to_detect_s"]),
        "time_to_recover_p50_s": _p50(table.loc[bad, "time_to_recover_s"]),
        "blast_radius_failed_requests": float(table.loc[bad, "failed_requests"].sum()),
        "approvals": int(table["approvals"].sum()),
        "human_wait_s": float(table["human_wait_s"].sum()),
    }
