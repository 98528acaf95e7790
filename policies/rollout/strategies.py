"""Rollout strategies: how a new revision replaces the old one, as pure decision objects.

A strategy reads a :class:`policies.contract.RolloutObservation` (time since the deployment
started, the service's desired count, per-revision active/healthy tasks and failed starts,
the current listener weights, the analysis verdict, its own stage and how long it has been
in it) and returns a :class:`policies.contract.RolloutStep` (task count per revision,
listener weights or None for a split by healthy tasks, and a status ``in_progress``,
``complete`` or ``rolled_back`` with the reason). It keeps no state: the stage it is in comes
back on the observation (the driver, backends/sim_rollout.py, records when it changed), so
the same observation always gives the same step. Constructors store parameters only
(DESIGN.md, conventions 2 and 4); no clock, no randomness.

Counts are computed from the service's desired count at each round, so autoscaling during a
rollout applies to both revisions, as ECS computes its deployment from the service's
desired count (minimumHealthyPercent and maximumPercent are percentages of it; the green
revision of a blue/green deployment is scaled to it).

Strategies (registry names; defaults and sources on each class):

* ``rolling``: the ECS rolling update (deployment controller ECS, strategy ROLLING) with
  ``minimum_healthy_percent``/``maximum_percent`` and the deployment circuit breaker;
  optional ``bake_time`` after steady state during which a failing analysis (alarm) still
  rolls back.
* ``blue-green``: ECS native blue/green: green scaled to the desired count with no
  production traffic, then 100% of the traffic at once, then ``bake_time`` with both
  running, then the blue revision is stopped.
* ``canary``: ECS native canary: ``percent`` of the traffic for ``bake_time``, then all.
* ``linear``: ECS native linear: ``step_percent`` more every ``step_bake_time``.
* ``all-at-once``: the unsafe baseline: all traffic to the new revision as soon as it is
  healthy, no bake, no circuit breaker.
* The CodeDeploy presets (``CodeDeployDefault.ECSAllAtOnce``,
  ``...ECSCanary10Percent5Minutes``, ``...ECSCanary10Percent15Minutes``,
  ``...ECSLinear10PercentEvery1Minutes``, ``...ECSLinear10PercentEvery3Minutes``): canary,
  linear and all-at-once with the parameters the names say (policies/rollout/registry.py).

Rollback: a ``fail`` verdict of the ``[analysis]`` method at any stage, or, with the circuit
breaker on, ``circuit_breaker_threshold(desired)`` failed starts of the new revision. The
verdicts ``inconclusive`` and ``running`` do not hold a rollout (CloudWatch alarm rollback
acts only on ALARM).
"""

from __future__ import annotations

import math
from typing import ClassVar

from policies.base import BasePolicy, ParamError
from policies.contract import RolloutObservation, RolloutStep

__all__ = [
    "AllAtOnceStrategy",
    "BaseStrategy",
    "BlueGreenStrategy",
    "CanaryStrategy",
    "LinearStrategy",
    "RollingStrategy",
    "TrafficShiftStrategy",
    "circuit_breaker_threshold",
]

#: The deployment circuit breaker's bounds on its failure threshold: "The failure threshold
#: is calculated as 0.5 x desired count, rounded up, with a minimum of 3 and a maximum of
#: 200" (Amazon ECS Developer Guide, "How the Amazon ECS deployment circuit breaker detects
#: failures": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html).
CIRCUIT_BREAKER_MIN = 3
CIRCUIT_BREAKER_MAX = 200


def circuit_breaker_threshold(desired: int) -> int:
    """Failed tasks that trip the ECS deployment circuit breaker: ``ceil(0.5 x desired)``
    clamped to [3, 200]. The breaker counts only tasks that fail to start (never reach
    RUNNING) or fail their health checks, never tasks that fail later."""
    if desired < 0:
        raise ValueError(f"desired must be >= 0, got {desired}")
    return max(CIRCUIT_BREAKER_MIN, min(CIRCUIT_BREAKER_MAX, math.ceil(0.5 * desired)))


def _check_duration(name: str, value: float) -> None:
    if not value >= 0:
        raise ParamError(name, f"must be >= 0 seconds, got {value!r}")


class BaseStrategy(BasePolicy):
    """``decide(RolloutObservation) -> RolloutStep``; ``interval`` is the seconds between the
    deployment controller's rounds (model parameter: ECS documents no cadence)."""

    #: Whether the strategy shifts traffic by listener weights (else by healthy tasks).
    weighted: ClassVar[bool] = True

    def __init__(self, *, circuit_breaker: bool = True, interval: float = 15.0) -> None:
        self.circuit_breaker = circuit_breaker
        self.interval = interval

    def _validate(self) -> None:
        if not self.interval > 0:
            raise ParamError("interval", f"must be > 0 seconds, got {self.interval!r}")

    # -- shared steps -------------------------------------------------------------------
    def _weights(self, obs: RolloutObservation, new_percent: float) -> dict[int, float] | None:
        if not self.weighted:
            return None
        return {obs.old_revision: 100.0 - new_percent, obs.new_revision: new_percent}

    def _rollback(self, obs: RolloutObservation) -> RolloutStep | None:
        """The rolled-back step when the analysis failed or the circuit breaker tripped."""
        why = ""
        if obs.verdict == "fail":
            why = f"analysis failed: {obs.verdict_reason}".rstrip(": ")
        elif self.circuit_breaker:
            failed = obs.failed_starts.get(obs.new_revision, 0)
            limit = circuit_breaker_threshold(obs.desired)
            if failed >= limit:
                why = f"circuit breaker: {failed} tasks failed to start (threshold {limit})"
        if not why:
            return None
        return RolloutStep(
            tasks={obs.old_revision: obs.desired, obs.new_revision: 0},
            weights=self._weights(obs, 0.0),
            status="rolled_back",
            reason=why,
            stage=obs.stage,
        )

    def _complete(self, obs: RolloutObservation, why: str) -> RolloutStep:
        return RolloutStep(
            tasks={obs.old_revision: 0, obs.new_revision: obs.desired},
            weights=self._weights(obs, 100.0),
            status="complete",
            reason=why,
            stage=obs.stage,
        )

    def decide(self, observation: RolloutObservation) -> RolloutStep:  # pragma: no cover
        raise NotImplementedError


class RollingStrategy(BaseStrategy):
    """ECS rolling update: start new tasks up to ``maximum_percent`` of the desired count,
    stop old ones while the healthy count stays at or above ``minimum_healthy_percent``.

    Defaults are ECS's (``deploymentConfiguration``: minimumHealthyPercent 100, rounded up;
    maximumPercent 200, rounded down: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html).
    ``circuit_breaker`` (with rollback) defaults to on: the ECS API's default is off, the
    console turns it on for new services; the model follows the console. ``bake_time``
    (default 0): seconds after steady state during which a failing analysis still rolls
    back (ECS deployment alarms keep watching for a bake time after steady state:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html).

    Per round with desired ``D``: ``keep = min(old active, max(ceil(D x min%) - new healthy,
    0))`` old tasks, ``min(D, floor(D x max%) - keep)`` new ones, traffic by healthy tasks.
    Steady state: ``D`` new tasks healthy and no old task kept.
    """

    weighted: ClassVar[bool] = False

    def __init__(
        self,
        *,
        minimum_healthy_percent: float = 100.0,
        maximum_percent: float = 200.0,
        circuit_breaker: bool = True,
        bake_time: float = 0.0,
        interval: float = 15.0,
    ) -> None:
        self.minimum_healthy_percent = minimum_healthy_percent
        self.maximum_percent = maximum_percent
        self.circuit_breaker = circuit_breaker
        self.bake_time = bake_time
        self.interval = interval

    def _validate(self) -> None:
        super()._validate()
        if not 0 <= self.minimum_healthy_percent <= 100:
            raise ParamError(
                "minimum_healthy_percent",
                f"must be in [0, 100], got {self.minimum_healthy_percent!r}",
            )
        if not self.maximum_percent >= 100:
            raise ParamError("maximum_percent", f"must be >= 100, got {self.maximum_percent!r}")
        if not self.maximum_percent > self.minimum_healthy_percent:
            raise ParamError(
                "maximum_percent",
                f"must be above minimum_healthy_percent ({self.minimum_healthy_percent!r}) "
                f"for the rollout to progress, got {self.maximum_percent!r}",
            )
        _check_duration("bake_time", self.bake_time)

    def decide(self, observation: RolloutObservation) -> RolloutStep:
        obs = observation
        stop = self._rollback(obs)
        if stop is not None:
            return stop
        d = obs.desired
        old, new = obs.old_revision, obs.new_revision
        if obs.stage >= 1:  # baking after steady state
            if obs.stage_elapsed_s >= self.bake_time:
                return self._complete(obs, f"steady state and {self.bake_time:g} s bake passed")
            return RolloutStep(
                tasks={old: 0, new: d},
                weights=None,
                status="in_progress",
                reason=f"baking {obs.stage_elapsed_s:g} of {self.bake_time:g} s",
                stage=1,
            )
        min_healthy = math.ceil(d * self.minimum_healthy_percent / 100.0 - 1e-9)
        max_total = math.floor(d * self.maximum_percent / 100.0 + 1e-9)
        new_healthy = obs.healthy.get(new, 0)
        keep = min(obs.active.get(old, 0), max(min_healthy - new_healthy, 0))
        start = max(0, min(d, max_total - keep))
        if new_healthy >= d and keep == 0:
            if self.bake_time <= 0:
                return self._complete(obs, f"steady state: {d} new tasks healthy")
            return RolloutStep(
                tasks={old: 0, new: d},
                weights=None,
                status="in_progress",
                reason=f"steady state: {d} new tasks healthy; baking {self.bake_time:g} s",
                stage=1,
            )
        return RolloutStep(
            tasks={old: keep, new: start},
            weights=None,
            status="in_progress",
            reason=f"rolling: keep {keep} old (min healthy {min_healthy}), run {start} new "
            f"(max {max_total} in total), {new_healthy} new healthy",
            stage=0,
        )


class TrafficShiftStrategy(BaseStrategy):
    """Blue/green with a traffic schedule: the new revision is scaled to the desired count
    with no production traffic (stage 0); once all its tasks are healthy, the listener gives
    it ``percent`` of the traffic for ``bake`` seconds, step after step (stages 1..n, from
    :meth:`schedule`); after the last step's bake the deployment is complete and the old
    revision is stopped. Both revisions run the desired count throughout."""

    def schedule(self) -> list[tuple[float, float]]:  # pragma: no cover - abstract
        """``(percent of traffic to the new revision, bake seconds)`` per step; the last
        step is 100%."""
        raise NotImplementedError

    def decide(self, observation: RolloutObservation) -> RolloutStep:
        obs = observation
        stop = self._rollback(obs)
        if stop is not None:
            return stop
        d = obs.desired
        old, new = obs.old_revision, obs.new_revision
        both = {old: d, new: d}
        stage, elapsed = obs.stage, obs.stage_elapsed_s
        if stage == 0:
            healthy = obs.healthy.get(new, 0)
            if healthy < d:
                return RolloutStep(
                    tasks=both,
                    weights=self._weights(obs, 0.0),
                    status="in_progress",
                    reason=f"green: {healthy} of {d} tasks healthy, no production traffic",
                    stage=0,
                )
            stage, elapsed = 1, 0.0
        steps = self.schedule()
        while True:
            percent, bake = steps[stage - 1]
            if elapsed < bake:
                break
            if stage == len(steps):
                return self._complete(obs, f"100% of traffic for {bake:g} s")
            stage, elapsed = stage + 1, 0.0
        percent, bake = steps[stage - 1]
        return RolloutStep(
            tasks=both,
            weights=self._weights(obs, percent),
            status="in_progress",
            reason=f"step {stage} of {len(steps)}: {percent:g}% to the new revision, "
            f"bake {elapsed:g} of {bake:g} s",
            stage=stage,
        )


class AllAtOnceStrategy(TrafficShiftStrategy):
    """The unsafe baseline: all traffic to the new revision as soon as its tasks are
    healthy (CodeDeploy ``ECSAllAtOnce``: "shifts all traffic to the updated Amazon ECS
    container at once"), then ``bake_time`` (default 0); circuit breaker off by default."""

    def __init__(
        self, *, bake_time: float = 0.0, circuit_breaker: bool = False, interval: float = 15.0
    ) -> None:
        self.bake_time = bake_time
        self.circuit_breaker = circuit_breaker
        self.interval = interval

    def _validate(self) -> None:
        super()._validate()
        _check_duration("bake_time", self.bake_time)

    def schedule(self) -> list[tuple[float, float]]:
        return [(100.0, float(self.bake_time))]


class BlueGreenStrategy(AllAtOnceStrategy):
    """ECS native blue/green (strategy BLUE_GREEN): green scaled up with no production
    traffic, all traffic shifted at once, then ``bake_time`` with both revisions running
    before blue is stopped (``bakeTimeInMinutes``, 0-1440 minutes:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html).
    AWS's API reference gives no default; the Terraform/Pulumi providers default it to 0,
    which the model keeps. Circuit breaker on by default (ECS native deployments support it)."""

    def __init__(
        self, *, bake_time: float = 0.0, circuit_breaker: bool = True, interval: float = 15.0
    ) -> None:
        self.bake_time = bake_time
        self.circuit_breaker = circuit_breaker
        self.interval = interval


def _check_percent(name: str, value: float) -> None:
    if not 0 < value < 100:
        raise ParamError(name, f"must be in (0, 100) percent, got {value!r}")


class CanaryStrategy(TrafficShiftStrategy):
    """ECS native canary (strategy CANARY): ``percent`` of the traffic to the new revision
    for ``bake_time`` s, then all of it, then ``final_bake_time`` s before the old revision
    is stopped. Defaults are ECS's: canaryPercent 5, canaryBakeTimeInMinutes 10, and
    bakeTimeInMinutes (the final bake) 0 as for blue/green
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/canary-deployment.html)."""

    def __init__(
        self,
        *,
        percent: float = 5.0,
        bake_time: float = 600.0,
        final_bake_time: float = 0.0,
        circuit_breaker: bool = True,
        interval: float = 15.0,
    ) -> None:
        self.percent = percent
        self.bake_time = bake_time
        self.final_bake_time = final_bake_time
        self.circuit_breaker = circuit_breaker
        self.interval = interval

    def _validate(self) -> None:
        super()._validate()
        _check_percent("percent", self.percent)
        _check_duration("bake_time", self.bake_time)
        _check_duration("final_bake_time", self.final_bake_time)

    def schedule(self) -> list[tuple[float, float]]:
        return [(float(self.percent), float(self.bake_time)), (100.0, float(self.final_bake_time))]


class LinearStrategy(TrafficShiftStrategy):
    """ECS native linear (strategy LINEAR): ``step_percent`` more of the traffic every
    ``step_bake_time`` s until all of it, then ``final_bake_time`` s. Defaults are ECS's:
    stepPercent 10, stepBakeTimeInMinutes 6, bakeTimeInMinutes 0
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/linear-deployment.html)."""

    def __init__(
        self,
        *,
        step_percent: float = 10.0,
        step_bake_time: float = 360.0,
        final_bake_time: float = 0.0,
        circuit_breaker: bool = True,
        interval: float = 15.0,
    ) -> None:
        self.step_percent = step_percent
        self.step_bake_time = step_bake_time
        self.final_bake_time = final_bake_time
        self.circuit_breaker = circuit_breaker
        self.interval = interval

    def _validate(self) -> None:
        super()._validate()
        _check_percent("step_percent", self.step_percent)
        _check_duration("step_bake_time", self.step_bake_time)
        _check_duration("final_bake_time", self.final_bake_time)

    def schedule(self) -> list[tuple[float, float]]:
        n = math.ceil(100.0 / self.step_percent - 1e-9)
        steps = [
            (min(100.0, k * self.step_percent), float(self.step_bake_time)) for k in range(1, n)
        ]
        return [*steps, (100.0, float(self.final_bake_time))]
