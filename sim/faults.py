"""Faults, each from its own seeded random stream or listed in the scenario.

- Task crashes: each task draws an exponential time to failure (mean ``task_mtbf``) when it
  reaches RUNNING (a crash is an essential container exiting); explicit crashes hit
  ``tasks`` serving tasks at ``at``.
- AZ outages: every task in the AZ fails, nothing is placed there until it recovers, then
  the scheduler rebalances. Random outages arrive as a Poisson process (mean ``az_mtbf``).
- Spot interruptions: a Poisson process per Spot task-hour from the launch on (AWS can
  reclaim the capacity at any time, a task still starting included); a 2-minute notice
  (SIGTERM, deregistration), then the task stops and the service launches a replacement. A
  task interrupted before it is healthy has nothing to drain and stops at once
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html,
  "Handling Fargate Spot interruptions").
- Windows with no Spot capacity: Spot placements wait until the window ends (overlapping
  windows: until the last one ends); on-demand placements go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.tasks import StopRequest, Task, request_stop

if TYPE_CHECKING:
    from sim.scenario import FaultsConfig
    from sim.scheduler import Scheduler


class Faults:
    """Starts the fault processes for one run."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: FaultsConfig,
        scheduler: Scheduler,
        *,
        crash_rng: np.random.Generator,
        az_rng: np.random.Generator,
        spot_rng: np.random.Generator,
        stop_duration: float,
        log: Callable[[str, str], None],
        duration: float,
    ) -> None:
        self.env = env
        self.cfg = cfg
        self.scheduler = scheduler
        self.crash_rng = crash_rng
        self.az_rng = az_rng
        self.spot_rng = spot_rng
        self.stop_duration = stop_duration
        self.log = log
        self.duration = duration
        self._spot_windows_open = 0

    def start(self) -> None:
        for c in self.cfg.crashes:
            self.env.process(self._explicit(c.at, c.tasks, spot=False))
        for c in self.cfg.spot_interruptions:
            self.env.process(self._explicit(c.at, c.tasks, spot=True))
        for o in self.cfg.az_outages:
            self.env.process(self._az_outage(o.az, o.at, o.duration))
        if self.cfg.az_mtbf is not None:
            self.env.process(self._random_az_outages())
        for w in self.cfg.spot_unavailable:
            self.env.process(self._spot_window(w.at, w.duration))

    # -- per task ---------------------------------------------------------------------
    def task_launched(self, task: Task) -> None:
        """Called when a task is launched (PROVISIONING, or present at time 0): draw its Spot
        interruption time, which may fall before it is RUNNING."""
        rate = self.cfg.spot_interruptions_per_task_hour
        if task.spot and rate > 0:
            tti = float(self.spot_rng.exponential(3600.0 / rate))
            if self.env.now + tti < self.duration:
                self.env.process(self._interrupt_later(task, tti))

    def task_running(self, task: Task) -> None:
        """Called when a task reaches RUNNING: draw its crash time."""
        if self.cfg.task_mtbf is not None:
            ttf = float(self.crash_rng.exponential(self.cfg.task_mtbf))
            if self.env.now + ttf < self.duration:
                self.env.process(self._crash_later(task, ttf))

    def _crash_later(self, task: Task, delay: float):
        yield self.env.timeout(delay)
        self.crash(task, "TaskFailed: essential container exited")

    def _interrupt_later(self, task: Task, delay: float):
        yield self.env.timeout(delay)
        self.spot_interrupt(task)

    def crash(self, task: Task, reason: str) -> None:
        if task.active and request_stop(task, StopRequest(reason, crash=True)):
            self.scheduler.task_lost(task)

    def spot_interrupt(self, task: Task) -> None:
        if not task.active:
            return
        drain = max(0.0, self.cfg.spot_notice - self.stop_duration)
        if request_stop(task, StopRequest("SpotInterruption", drain=drain)):
            self.scheduler.task_lost(task)

    # -- scheduled --------------------------------------------------------------------
    def _explicit(self, at: float, n: int, spot: bool):
        yield self.env.timeout(at)
        pool = [t for t in self.scheduler.tasks if t.active and t.serving and (t.spot or not spot)]
        pool.sort(key=lambda t: t.id)
        if not pool:
            self.log("FAULT_SKIPPED", f"no {'Spot ' if spot else ''}task serving at {at:g}s")
            return
        rng = self.spot_rng if spot else self.crash_rng
        picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
        for i in sorted(int(i) for i in picks):
            if spot:
                self.spot_interrupt(pool[i])
            else:
                self.crash(pool[i], "TaskFailed: essential container exited (scenario)")

    def _az_outage(self, az: str, at: float, duration: float):
        yield self.env.timeout(at)
        if az in self.scheduler.az_down:
            return
        self.log("AZ_DOWN", f"{az} outage for {duration:g}s")
        self.scheduler.az_down.add(az)
        for task in sorted(self.scheduler.tasks, key=lambda t: t.id):
            if task.az == az and task.state != "STOPPED":
                request_stop(task, StopRequest(f"AZ outage {az}", crash=True))
        self.scheduler.reconcile_soon()
        yield self.env.timeout(duration)
        self.scheduler.az_down.discard(az)
        self.log("AZ_UP", f"{az} recovered")
        self.scheduler.reconcile()

    def _random_az_outages(self):
        assert self.cfg.az_mtbf is not None
        while True:
            yield self.env.timeout(float(self.az_rng.exponential(self.cfg.az_mtbf)))
            az = self.scheduler.azs[int(self.az_rng.integers(len(self.scheduler.azs)))]
            self.env.process(self._az_outage(az, 0.0, self.cfg.az_outage_duration))

    def _spot_window(self, at: float, duration: float):
        yield self.env.timeout(at)
        self._spot_windows_open += 1
        self.scheduler.spot_available = False
        self.log("SPOT_UNAVAILABLE", f"no Fargate Spot capacity for {duration:g}s")
        yield self.env.timeout(duration)
        self._spot_windows_open -= 1
        if self._spot_windows_open:
            return  # another window is still open
        self.scheduler.spot_available = True
        self.log("SPOT_AVAILABLE", "Fargate Spot capacity is back")
        self.scheduler.reconcile()
