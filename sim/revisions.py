"""What a release's hidden truth does to its revision (issue 10, section 2).

A release is deployed as a new revision whose task definition is identical to the one it
replaces except for the hidden kind (sim/releases.py, ``Release.truth``). The kind acts only on
the new revision's tasks and target group (sim/service.py); nothing here is visible to a
policy except through the metrics and task events it causes:

* ``good``: nothing.
* ``crash-loop``: every task of the revision fails to start: after its image pull the
  essential container exits, the task stops without reaching RUNNING (stop reason
  ``TaskFailedToStart``) and the service scheduler launches a replacement (ECS restarts the
  tasks of a service whose essential container exits:
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html). These are
  the failures the deployment circuit breaker counts (:attr:`ReleaseEffects.failed_starts`).
  *Choice*: no extra back-off between relaunches (ECS throttles tasks that fail repeatedly,
  with no published schedule); a failed start takes the provisioning and pull time.
* ``errors``: from the start, the target group answers ``error_share`` of the requests it
  serves with a 5xx (``HTTPCode_Target_5XX_Count`` of that target group).
* ``latency``: the revision's service time is ``latency_factor`` times longer: its serving
  model has ``capacity_rps / latency_factor`` (the same workers, each slower), so its
  latency and, under load, its timeouts grow.
* ``late-failure``: healthy at first; ``failure_delay_s`` after a task starts serving it
  crashes (``late_mode = 'crash'``: the essential container exits; the task is replaced and
  crashes again after the same delay), or ``failure_delay_s`` after the revision first
  serves, the target group starts failing ``error_share`` of its requests
  (``late_mode = 'errors'``). Neither is caught by the circuit breaker, which counts only
  tasks that fail to start or fail health checks.
* ``partial``: only some request types fail: ``affected_share`` of the target group's
  requests get a 5xx (*choice*: traffic is a fluid without request types, so a failing
  request type is its share of the requests; the same arithmetic as ``errors``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import simpy

from sim.metrics import ServingModel
from sim.releases import Release
from sim.service import Service
from sim.tasks import Task


class ReleaseEffects:
    """The effects of the releases deployed so far, by revision.

    ``crash(task, reason)`` crashes a task (sim/faults.py, ``Faults.crash``: the scheduler
    replaces it).
    """

    def __init__(
        self,
        env: simpy.Environment,
        service: Service,
        crash: Callable[[Task, str], None],
    ) -> None:
        self.env = env
        self.service = service
        self.crash = crash
        self.releases: dict[int, Release] = {}
        #: Tasks of each revision that failed to start (the circuit breaker's count).
        self.failed_starts: dict[int, int] = {}
        self._first_serving: dict[int, float] = {}

    def model_for(self, release: Release, base: ServingModel) -> ServingModel | None:
        """The revision's serving model when the release changes it (``latency``)."""
        if release.truth == "latency" and release.latency_factor:
            return dataclasses.replace(
                base, capacity_rps=base.capacity_rps / release.latency_factor
            )
        return None

    def deployed(self, revision: int, release: Release) -> None:
        """``revision`` carries ``release`` (its target group exists already)."""
        self.releases[revision] = release
        self.failed_starts[revision] = 0
        if release.truth == "errors":
            self.service.set_error_share(revision, release.error_share or 0.0, "errors release")
        elif release.truth == "partial":
            share = release.affected_share or 0.0
            self.service.set_error_share(revision, share, "partial release")

    def launched(self, task: Task) -> None:
        release = self.releases.get(task.revision)
        if release is not None and release.truth == "crash-loop":
            task.fails_to_start = True

    def start_failed(self, task: Task) -> None:
        self.failed_starts[task.revision] = self.failed_starts.get(task.revision, 0) + 1

    def serving(self, task: Task) -> None:
        """A task of the revision passed its health check."""
        release = self.releases.get(task.revision)
        if release is None or release.truth != "late-failure":
            return
        delay = float(release.failure_delay_s or 0.0)
        if release.late_mode == "crash":
            self.env.process(self._crash_later(task, delay))
        elif task.revision not in self._first_serving:
            self._first_serving[task.revision] = self.env.now
            self.env.process(self._errors_later(task.revision, delay, release.error_share or 0.0))

    def _crash_later(self, task: Task, delay: float):
        yield self.env.timeout(delay)
        if task.active:
            self.crash(task, "TaskFailed: essential container exited (late failure)")

    def _errors_later(self, revision: int, delay: float, share: float):
        yield self.env.timeout(delay)
        self.service.set_error_share(revision, share, "late failure")
