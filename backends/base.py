"""One protocol, two worlds (DESIGN.md convention 3).

A :class:`Backend` has one read, :meth:`~Backend.observe`, and one write,
:meth:`~Backend.apply`. The :class:`Controller` joins a policy to a backend at the policy's
own cadence; it does not know whether time is simulated: its loop is a generator that yields
the seconds to sleep, and the backend's clock does the sleeping (a SimPy timeout in
simulation, ``time.sleep`` against AWS).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from policies.base import Policy
from policies.contract import Decision, Observation


@runtime_checkable
class Clock(Protocol):
    """What the controller sleeps on."""

    def now(self) -> float: ...

    def drive(self, steps: Iterator[float], until: float | None = None) -> None:
        """Run a controller loop, sleeping each delay it yields; stop before a round that
        would fall ``until`` seconds or more from now, if given."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Where a policy's decisions land: one read, one write, and a clock."""

    clock: Clock

    def observe(self) -> Observation: ...

    def apply(self, decision: Decision) -> None: ...


@dataclass(frozen=True)
class DeployRequest:
    """A deployment for a :class:`Deployer`: a new revision running ``image`` (in
    ``container``, default the task definition's first), shipped by the rollout strategy
    ``strategy`` (a name of policies/rollout/registry.py's ``STRATEGIES``, as a scenario's
    ``[rollout]``) with ``params``; ``alarms`` are CloudWatch alarms that roll it back."""

    image: str
    strategy: str = "rolling"
    params: Mapping[str, Any] = field(default_factory=dict)
    container: str | None = None
    alarms: tuple[str, ...] = ()
    reason: str = ""


@runtime_checkable
class Deployer(Protocol):
    """A backend that ships new revisions: the write of a rollout, beside ``apply``'s desired
    count. :class:`backends.ecs.EcsBackend` implements it through ECS's native deployments
    (RegisterTaskDefinition, UpdateService with the task definition and deployment
    configuration); in the simulator, releases are deployed by the rollout driver
    (backends/sim_rollout.py) from the scenario's ``[releases]``."""

    def deploy(self, request: DeployRequest) -> Any: ...


class WallClock:
    """Real time: ``drive`` blocks, sleeping between rounds (the real ECS backend)."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._sleep = sleep
        self._monotonic = monotonic
        self._wall = wall

    def now(self) -> float:
        return self._wall()

    def drive(self, steps: Iterator[float], until: float | None = None) -> None:
        end = None if until is None else self._monotonic() + until
        for delay in steps:  # each item: one round done, then the time to sleep
            if end is None:
                self._sleep(delay)
                continue
            remaining = end - self._monotonic()
            if remaining <= 0:
                return
            self._sleep(min(delay, remaining))
            if delay >= remaining:
                return  # the next round would fall at or after the end


@dataclass(frozen=True)
class DecisionRecord:
    """One controller round as a row: when, which policy, what it saw, what it decided."""

    time: float
    policy: str
    observed: dict[str, Any]
    desired_before: int
    desired: int | None
    reason: str


def observed_summary(obs: Observation) -> dict[str, Any]:
    """The key values a policy saw: counts, range, and the latest visible period's
    CPUUtilization and RequestCount (NaN when no period is visible or none was published)."""
    cpu = requests = math.nan
    metrics = obs.metrics
    if len(metrics.start):
        columns = metrics.columns
        if "CPUUtilization" in columns:
            cpu = float(columns["CPUUtilization"][-1])
        if "RequestCount" in columns:
            requests = float(columns["RequestCount"][-1])
    return {
        "desired": obs.desired,
        "running": obs.running,
        "pending": obs.pending,
        "healthy": obs.healthy,
        "min_tasks": obs.min_tasks,
        "max_tasks": obs.max_tasks,
        "CPUUtilization": cpu,
        "RequestCount": requests,
    }


class Controller:
    """Runs ``policy`` against ``backend``: observe, decide, apply, sleep, repeat.

    ``record``, if given, receives every round's :class:`DecisionRecord` (the simulator keeps
    them as its decisions table).
    """

    def __init__(
        self,
        policy: Policy,
        backend: Backend,
        record: Callable[[DecisionRecord], None] | None = None,
    ) -> None:
        self.policy = policy
        self.backend = backend
        self.record = record
        self.decisions = 0
        self.actions = 0

    def step(self) -> DecisionRecord:
        """One observe-decide-apply round."""
        obs = self.backend.observe()
        decision = self.policy.decide(obs)
        if not isinstance(decision, Decision):
            raise TypeError(
                f"{type(self.policy).__name__}.decide returned {type(decision).__name__}, "
                "not a Decision"
            )
        self.backend.apply(decision)
        self.decisions += 1
        if decision.desired is not None and decision.desired != obs.desired:
            self.actions += 1
        rec = DecisionRecord(
            obs.time,
            type(self.policy).__name__,
            observed_summary(obs),
            obs.desired,
            decision.desired,
            decision.reason,
        )
        if self.record is not None:
            self.record(rec)
        return rec

    def loop(self) -> Iterator[float]:
        """Forever: a round, then yield how long to sleep before the next one."""
        while True:
            self.step()
            yield self.policy.interval_s


def run(controller: Controller, until: float | None = None) -> None:
    """Run a controller on its backend's clock (simulated or real), for ``until`` seconds
    from now if given."""
    controller.backend.clock.drive(controller.loop(), until)
