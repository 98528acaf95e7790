"""Task lifecycle as SimPy processes.

PROVISIONING -> PENDING -> ACTIVATING (image pull, billed from here) -> RUNNING -> serving once
the target group health check passes -> DEACTIVATING (draining for the deregistration delay,
no new requests) -> STOPPING -> DEPROVISIONING -> STOPPED: the task lifecycle states of
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html.

Time to healthy: the target group checks each target every ``HealthCheckIntervalSeconds`` and
marks it healthy after ``HealthyThresholdCount`` consecutive successes
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
The first check of a newly registered target falls at an unknown phase of the interval, so
the time from registration to healthy is ``(threshold - 1) x interval`` plus a phase drawn
uniformly within one interval (from the task's start-latency stream); ``interval x
threshold`` is the worst case. (The same page also says that a newly registered target
"must pass one health check to be considered healthy"; if that holds for ECS tasks, the
time to healthy is shorter still. The model keeps the threshold count until measured.)

Every transition is an event record (time, task, AZ, revision, event, reason) through the
``hooks`` object the simulation passes in; this module holds no policy and no AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import simpy

PROVISIONING = "PROVISIONING"
PENDING = "PENDING"
ACTIVATING = "ACTIVATING"
RUNNING = "RUNNING"
DEACTIVATING = "DEACTIVATING"
STOPPING = "STOPPING"
DEPROVISIONING = "DEPROVISIONING"
STOPPED = "STOPPED"
#: Not a lastStatus: the target group marked the task healthy and the ALB routes to it.
HEALTHY = "HEALTHY"
#: Not a lastStatus: removed from the target group, the ALB routes no new request to it.
DEREGISTERED = "DEREGISTERED"

STARTING_STATES = (PROVISIONING, PENDING, ACTIVATING)
STOPPING_STATES = (DEACTIVATING, STOPPING, DEPROVISIONING)


@dataclass(eq=False)
class Task:
    """One Fargate task of the service."""

    id: int
    az: str
    provider: str
    #: The task definition revision: the revision of the target group the task registers
    #: with (sim/service.py). The initial tasks and the desired count's tasks have the
    #: scheduler's primary revision (1 until a deployment promotes another).
    revision: int
    launched_at: float
    state: str = PROVISIONING
    serving: bool = False
    stop_requested: bool = False
    billing_start: float | None = None
    stopped_at: float | None = None
    stop_reason: str = ""
    crashed: bool = False  # stopped without draining: its in-flight requests are lost
    #: The revision's essential container exits at start (a crash-looping release): the
    #: task stops after its image pull without reaching RUNNING (sim/revisions.py).
    fails_to_start: bool = False
    rebalance: bool = False
    process: simpy.Process | None = field(default=None, repr=False)

    @property
    def spot(self) -> bool:
        return self.provider == "FARGATE_SPOT"

    @property
    def active(self) -> bool:
        """Counts towards the desired count: not stopping, not stopped."""
        return not self.stop_requested and self.state != STOPPED


@dataclass(frozen=True)
class LifecycleTimes:
    """Durations of the lifecycle stages; see ServiceConfig for sources and defaults."""

    provisioning: tuple[float, float]
    pull_mean: float
    pull_jitter: float
    container_start: float
    #: ``(healthy_threshold - 1) x interval``: the checks after the first one.
    health_check_min: float
    #: The health check interval: the first check's phase is uniform in [0, this).
    health_check_phase: float
    deregistration_delay: float
    stop_duration: float
    deprovisioning: float

    @property
    def health_check(self) -> float:
        """The longest time from RUNNING to healthy (interval x healthy threshold)."""
        return self.health_check_min + self.health_check_phase


class Hooks(Protocol):
    """What a task tells the simulation."""

    def transition(self, task: Task, old: str, new: str, reason: str) -> None: ...

    def set_serving(self, task: Task, serving: bool, reason: str) -> None: ...

    def stopped(self, task: Task) -> None: ...

    def start_failed(self, task: Task) -> None: ...


class StopRequest:
    """Interrupt cause asking a task to stop. ``drain`` caps the draining time (Spot)."""

    def __init__(self, reason: str, crash: bool = False, drain: float | None = None) -> None:
        self.reason = reason
        self.crash = crash
        self.drain = drain


def _set(hooks: Hooks, task: Task, state: str, reason: str) -> None:
    old = task.state
    task.state = state
    hooks.transition(task, old, state, reason)


def start_time_draws(times: LifecycleTimes, rng: np.random.Generator) -> tuple[float, float, float]:
    """(provisioning, image pull, RUNNING to healthy) seconds for one task, from the
    start-latency stream."""
    lo, hi = times.provisioning
    prov = lo if hi <= lo else float(rng.uniform(lo, hi))
    jitter = 1.0
    if times.pull_jitter > 0:
        jitter = max(0.1, 1.0 + times.pull_jitter * float(rng.standard_normal()))
    healthy = times.health_check_min
    if times.health_check_phase > 0:
        healthy += float(rng.uniform(0.0, times.health_check_phase))
    return prov, times.pull_mean * jitter, healthy


def lifecycle(
    env: simpy.Environment,
    task: Task,
    times: LifecycleTimes,
    hooks: Hooks,
    rng: np.random.Generator,
    warm: bool = False,
):
    """The task's whole life. Interrupt it with a :class:`StopRequest` to stop it."""
    request: StopRequest | None = None
    try:
        if warm:
            task.billing_start = env.now
            _set(hooks, task, RUNNING, "present at start (warm)")
            hooks.set_serving(task, True, "present at start (warm)")
        else:
            prov, pull, healthy = start_time_draws(times, rng)
            yield env.timeout(prov)
            _set(hooks, task, PENDING, "network interface attached")
            _set(hooks, task, ACTIVATING, "image pull started")
            task.billing_start = env.now
            yield env.timeout(pull + times.container_start)
            if task.fails_to_start:
                # The essential container exits at once: ECS stops the task (it never
                # reaches RUNNING) and the service scheduler launches a replacement.
                task.stop_requested = True
                request = StopRequest("TaskFailedToStart: essential container exited", crash=True)
                hooks.start_failed(task)
            else:
                _set(hooks, task, RUNNING, "containers started, registered with target group")
                yield env.timeout(healthy)
                hooks.set_serving(task, True, "target group health check passed")
        if request is None:
            # Serve until asked to stop.
            yield env.event()
    except simpy.Interrupt as interrupt:
        request = interrupt.cause
    assert isinstance(request, StopRequest)
    yield from _stop(env, task, times, hooks, request)


def _stop(
    env: simpy.Environment, task: Task, times: LifecycleTimes, hooks: Hooks, req: StopRequest
):
    task.stop_reason = req.reason
    task.crashed = req.crash
    was_serving = task.serving
    if task.serving:
        hooks.set_serving(task, False, req.reason)
    escalated: StopRequest | None = None
    if req.crash:
        _set(hooks, task, STOPPING, req.reason)
    elif was_serving:
        _set(hooks, task, DEACTIVATING, f"{req.reason}: deregistered, draining")
        drain = times.deregistration_delay
        if req.drain is not None:
            drain = min(req.drain, drain)
        escalated = yield from _wait(env, drain)
        if escalated is None:
            _set(hooks, task, STOPPING, "SIGTERM")
            escalated = yield from _wait(env, times.stop_duration)
        else:
            _set(hooks, task, STOPPING, escalated.reason)
    elif task.state == RUNNING:
        _set(hooks, task, DEACTIVATING, f"{req.reason}: deregistered before healthy")
        _set(hooks, task, STOPPING, "SIGTERM")
        escalated = yield from _wait(env, times.stop_duration)
    else:
        _set(hooks, task, STOPPING, f"{req.reason}: stopped while starting")
    if escalated is not None:
        task.stop_reason = escalated.reason
    _set(hooks, task, DEPROVISIONING, "network interface detached")
    end = env.now + times.deprovisioning
    while env.now < end:  # a crash cannot speed up deprovisioning
        yield from _wait(env, end - env.now)
    task.stopped_at = env.now
    _set(hooks, task, STOPPED, task.stop_reason)
    hooks.stopped(task)


def _wait(env: simpy.Environment, delay: float):
    """Wait ``delay`` s; return the StopRequest of a crash that cut it short, else None."""
    try:
        yield env.timeout(max(0.0, delay))
    except simpy.Interrupt as interrupt:
        cause = interrupt.cause
        return cause if isinstance(cause, StopRequest) else None
    return None


def request_stop(task: Task, request: StopRequest) -> bool:
    """Ask a task to stop; False when it is already stopping (a crash still escalates)."""
    if task.state == STOPPED:
        return False
    if task.stop_requested and not request.crash:
        return False
    task.stop_requested = True
    assert task.process is not None
    task.process.interrupt(request)
    return True
