"""The simulator as a backend: observations come from the SimPy model, decisions go into it,
and the controller's sleeps are SimPy timeouts.

Three delays stand between a load step and the first new task (README, "Metrics, delays and
reaction time"; values and sources on the fields of ``sim.scenario.RunConfig``):

* **Publication**: a metric period becomes visible ``run.publication_delay`` seconds after it
  ends; the default depends on the resolution (60 s or 20 s periods).
* **Alarm evaluation phase**: CloudWatch evaluates an alarm on its own schedule, not when a
  period is published. The controller's rounds (the alarm evaluations) fall at
  ``phase + k x interval``, the phase a fraction of the policy's interval, fixed by
  ``run.alarm_evaluation_phase`` or drawn per run from the seed's ``cloudwatch`` stream.
* **Actuation**: a decision's desired count reaches the service ``run.actuation_delay``
  seconds later (Application Auto Scaling -> ECS UpdateService -> the scheduler starting
  tasks). Meanwhile observations show the requested count, as Application Auto Scaling's
  scalable target does, so a policy does not ask twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import simpy

from policies.contract import Decision, DeploymentState, FutureLoad, Observation
from sim.simulation import RunResult, Simulation

if TYPE_CHECKING:
    from sim.scenario import Scenario


class SimClock:
    """Simulated time: ``drive`` starts the controller loop as a SimPy process, each sleep a
    timeout; the simulation's own ``env.run`` then advances it with everything else (SimPy's
    real-time environment shows the same split: only the stepping differs)."""

    def __init__(self, env: simpy.Environment, offset: float = 0.0) -> None:
        if not (math.isfinite(offset) and offset >= 0):
            raise ValueError(f"a clock offset must be >= 0 s, got {offset}")
        self.env = env
        #: Seconds before the first round (the alarm evaluation phase).
        self.offset = float(offset)

    def now(self) -> float:
        return float(self.env.now)

    def drive(self, steps: Iterator[float], until: float | None = None) -> None:
        end = None if until is None else self.env.now + until
        self.env.process(self._process(steps, end))

    def _process(self, steps: Iterator[float], end: float | None):
        if self.offset > 0:
            if end is not None and self.env.now + self.offset >= end:
                return
            yield self.env.timeout(self.offset)
        for delay in steps:
            if delay <= 0:
                raise ValueError(f"a policy interval must be > 0 s, got {delay}")
            if end is not None and self.env.now + delay >= end:
                return  # the next round would fall at or after the end
            yield self.env.timeout(delay)


class SimBackend:
    """:class:`backends.base.Backend` over a :class:`sim.simulation.Simulation`."""

    deterministic = True

    def __init__(self, sim: Simulation, policy: Any = None) -> None:
        self.sim = sim
        run = sim.scenario.run
        interval = float(getattr(policy, "interval_s", run.metrics_period))
        phase = run.alarm_evaluation_phase
        if phase is None:
            phase = float(sim.rng["cloudwatch"].random())
        #: Seconds into its interval at which the controller's rounds fall.
        self.alarm_offset = phase * interval
        self.clock = SimClock(sim.env, self.alarm_offset)
        self.wants_future = bool(getattr(policy, "requires_future", False))
        self._requested: int | None = None  # desired count on its way to the service
        self._in_flight = 0

    def observe(self) -> Observation:
        sim = self.sim
        sim.sync()
        run = sim.scenario.run
        visible_until = sim.env.now - run.publication_delay
        visible = math.floor(visible_until / run.metrics_period + 1e-9)
        svc = sim.scenario.service
        future = None
        if self.wants_future:
            rate = sim.rate[sim.tick_of(sim.env.now) :]
            rate.flags.writeable = False
            t = sim.times
            future = FutureLoad(
                tick_s=sim.tick,
                rate=rate,
                max_rps_per_task=svc.capacity_rps * sim.rho_slo,
                startup_s=run.actuation_delay
                + t.provisioning[1]
                + t.pull_mean * (1 + 3 * t.pull_jitter)
                + t.container_start
                + t.health_check,
            )
        return Observation(
            time=sim.env.now,
            desired=self.desired,
            running=sim.n_running,
            pending=sim.n_pending,
            healthy=sim.n_serving,
            min_tasks=sim.min_tasks,
            max_tasks=sim.max_tasks,
            cpu=svc.cpu,
            memory=svc.memory,
            capacity_rps=svc.capacity_rps,
            metrics=sim.store.history(visible),
            deployment=self._deployment(),
            future_load=future,
        )

    def _deployment(self) -> DeploymentState:
        """In progress while a revision other than the primary one has active tasks."""
        scheduler = self.sim.scheduler
        primary = scheduler.revision
        others = bool(scheduler.task_sets) and any(
            t.active and t.revision != primary for t in scheduler.tasks
        )
        return DeploymentState(in_progress=others, revision=primary)

    @property
    def desired(self) -> int:
        """The desired count as the scalable target shows it: the latest request, even if it
        has not reached the service yet."""
        if self._requested is None:
            return self.sim.scheduler.desired
        return max(self.sim.min_tasks, min(self.sim.max_tasks, self._requested))

    def apply(self, decision: Decision) -> None:
        sim = self.sim
        if decision.min_tasks is not None or decision.max_tasks is not None:
            sim.set_range(decision.min_tasks, decision.max_tasks, decision.reason)
        if decision.desired is None:
            return
        target = max(sim.min_tasks, min(sim.max_tasks, int(decision.desired)))
        delay = float(sim.scenario.run.actuation_delay)
        if delay <= 0:
            sim.set_desired(target, decision.reason)
            return
        if target == self.desired:
            return
        self._requested = target
        self._in_flight += 1
        reason = f"{decision.reason} (decided at {sim.env.now:g} s)"
        sim.env.process(self._actuate(target, delay, reason))

    def _actuate(self, target: int, delay: float, reason: str):
        """Set the service's desired count ``delay`` seconds after the decision (requests
        land in the order they were made: equal SimPy timeouts fire first in, first out);
        the SCALE event's reason ends with the decision time."""
        yield self.sim.env.timeout(delay)
        self._in_flight -= 1
        if self._in_flight == 0:
            self._requested = None
        self.sim.set_desired(target, reason)


def run_simulation(sim: Simulation, policy: Any = None, plan: Any = None) -> RunResult:
    """Run ``sim`` to its scenario's duration under ``policy`` (default: the scenario's
    ``[autoscaler]``, made by the policy registry): one controller loop drives the policy
    through a :class:`SimBackend`, and every round is a row of the decisions table. A
    scenario with releases also runs the rollout driver (backends/sim_rollout.py), which
    adds the ``releases`` table and the release summary keys; each release's plan comes
    from ``[risk]`` (orchestrate), ``[pipeline]`` or ``[rollout]``/``[analysis]``
    (backends/sim_pipeline.py), unless ``plan(release) -> RolloutPlan`` overrides it (one
    production stage, no gate)."""
    from backends.base import Controller
    from backends.base import run as run_controller
    from policies import registry

    if policy is None:
        policy = registry.make(sim.scenario.autoscaler.policy, **sim.scenario.autoscaler.params)
    backend = SimBackend(sim, policy)
    run_controller(Controller(policy, backend, record=sim.record_decision))
    driver = None
    if sim.releases:  # the scenario's [releases], deployed by its [rollout] and [analysis]
        from backends.sim_rollout import RolloutDriver

        driver = RolloutDriver(sim, plan)  # plan None: [risk], [pipeline] or [rollout]
        driver.start()
    sim.env.run(until=sim.scenario.run.duration)
    result = sim.finish()
    return result if driver is None else driver.finish(result)


def run_scenario(scenario: Scenario, policy: Any = None, **kwargs: Any) -> RunResult:
    """Build and run one simulation (``kwargs`` go to :class:`Simulation`)."""
    return run_simulation(Simulation(scenario, **kwargs), policy)
