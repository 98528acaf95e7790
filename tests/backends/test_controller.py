"""One controller loop, two clocks: the same policy object drives a simulated service and a
backend on (fake) wall-clock time."""

from __future__ import annotations

from helpers import FAST_START, build, constant_rate, observation

from backends.base import Backend, Clock, Controller, WallClock, run
from backends.sim import SimBackend, SimClock
from policies.autoscaling.reactive import ReactivePolicy
from policies.contract import Decision
from sim.simulation import Simulation


class FakeTime:
    """A wall clock that advances only when slept on."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def sleep(self, dt: float) -> None:
        self.sleeps.append(dt)
        self.t += dt

    def monotonic(self) -> float:
        return self.t


class RecordingBackend:
    """A stand-in for a real service: counts observe/apply calls."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.applied: list[Decision] = []
        self.observed = 0

    def observe(self):
        self.observed += 1
        return observation(time=self.clock.now(), desired=4)

    def apply(self, decision: Decision) -> None:
        self.applied.append(decision)


def test_wall_clock_drives_the_loop_at_the_policy_cadence() -> None:
    fake = FakeTime()
    clock = WallClock(sleep=fake.sleep, monotonic=fake.monotonic, wall=fake.monotonic)
    backend = RecordingBackend(clock)
    assert isinstance(backend, Backend) and isinstance(clock, Clock)
    policy = ReactivePolicy(interval=30.0)
    run(Controller(policy, backend), until=100.0)
    # rounds at 0, 30, 60, 90; the last sleep is cut to the 100 s end
    assert backend.observed == 4
    assert fake.sleeps == [30.0, 30.0, 30.0, 10.0]
    assert all(d.reason for d in backend.applied)


def test_same_policy_object_drives_the_simulator() -> None:
    sc = build(run={"duration": "20m"}, service={**FAST_START, "initial_tasks": 2})
    sim = Simulation(sc, rate=constant_rate(sc, 190.0))
    policy = ReactivePolicy(interval=60.0, cooldown=120.0)
    backend = SimBackend(sim, policy)
    assert isinstance(backend, Backend) and isinstance(backend.clock, SimClock)
    controller = Controller(policy, backend)
    run(controller, until=sc.run.duration)
    sim.env.run(until=sc.run.duration)
    result = sim.finish()
    # 2 tasks at 95% CPU: the rule scales out once the first minute is published.
    assert controller.decisions == 20
    assert result.summary["scaling_actions"] >= 1
    assert (result.metrics.DesiredTaskCount > 2).any()
