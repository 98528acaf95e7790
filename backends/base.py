"""One protocol, two worlds (DESIGN.md convention 3).

A :class:`Backend` has one read, :meth:`~Backend.observe`, and one write,
:meth:`~Backend.apply`. The :class:`Controller` joins a policy to a backend at the policy's
own cadence; it does not know whether time is simulated: its loop is a generator that yields
the seconds to sleep, and the backend's clock does the sleeping (a SimPy timeout in
simulation, ``time.sleep`` against AWS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from policies.base import Decision, Observation, Policy


@runtime_checkable
class Backend(Protocol):
    """Where a policy's decisions land."""

    def now(self) -> float: ...

    def observe(self) -> Observation: ...

    def apply(self, decision: Decision) -> None: ...


@dataclass(frozen=True)
class DecisionRecord:
    time: float
    desired_before: int
    desired: int | None
    reason: str


class Controller:
    """Runs ``policy`` against ``backend``: observe, decide, apply, sleep, repeat."""

    def __init__(self, policy: Policy, backend: Backend) -> None:
        self.policy = policy
        self.backend = backend
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
        return DecisionRecord(obs.time, obs.desired, decision.desired, decision.reason)

    def loop(self) -> Iterator[float]:
        """Forever: a round, then yield how long to sleep before the next one."""
        while True:
            self.step()
            yield self.policy.interval_s


def run_on_wall_clock(
    controller: Controller,
    duration_s: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Drive a controller on real time for ``duration_s`` seconds (the real ECS backend)."""
    end = monotonic() + duration_s
    for delay in controller.loop():
        remaining = end - monotonic()
        if remaining <= 0:
            return
        sleep(min(delay, remaining))
