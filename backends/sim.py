"""The simulator as a backend: observations come from the SimPy model, decisions go into it,
and the controller's sleeps are SimPy timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from policies.base import Decision, DeploymentState, FutureLoad, Observation

if TYPE_CHECKING:
    from sim.simulation import Simulation


class SimClock:
    """Simulated time: ``drive`` starts the controller loop as a SimPy process, each sleep a
    timeout; the simulation's own ``env.run`` then advances it with everything else (SimPy's
    real-time environment shows the same split: only the stepping differs)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env

    def now(self) -> float:
        return float(self.env.now)

    def drive(self, steps: Iterator[float], until: float | None = None) -> None:
        end = None if until is None else self.env.now + until
        self.env.process(self._process(steps, end))

    def _process(self, steps: Iterator[float], end: float | None):
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
        self.clock = SimClock(sim.env)
        self.wants_future = bool(getattr(policy, "requires_future", False))

    def observe(self) -> Observation:
        sim = self.sim
        sim.sync()
        run = sim.scenario.run
        visible_until = sim.env.now - run.publication_delay
        visible = int(np.floor(visible_until / run.metrics_period + 1e-9))
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
                startup_s=t.provisioning[1]
                + t.pull_mean * (1 + 3 * t.pull_jitter)
                + t.container_start
                + t.health_check,
            )
        return Observation(
            time=sim.env.now,
            desired=sim.scheduler.desired,
            running=sim.n_running,
            pending=sim.n_pending,
            healthy=sim.n_serving,
            min_tasks=sim.min_tasks,
            max_tasks=sim.max_tasks,
            cpu=svc.cpu,
            memory=svc.memory,
            capacity_rps=svc.capacity_rps,
            metrics=sim.store.history(visible),
            deployment=DeploymentState(in_progress=False, revision=1),
            future_load=future,
        )

    def apply(self, decision: Decision) -> None:
        sim = self.sim
        if decision.min_tasks is not None or decision.max_tasks is not None:
            sim.set_range(decision.min_tasks, decision.max_tasks, decision.reason)
        if decision.desired is not None:
            sim.set_desired(decision.desired, decision.reason)
