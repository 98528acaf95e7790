"""The ECS service scheduler.

Sources: the ECS service scheduler and its AZ spread and rebalancing
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-rebalancing.html), the
launch rate limits (500 tasks per service per minute:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html; the Fargate
token bucket, 100 tokens refilled at 20 per second, one for on-demand and one for Spot:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html) and the
capacity provider strategy
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html).

Keeps active (running + starting) tasks at the desired count; places a new task in the AZ with
the fewest active tasks of the service and stops from the AZ with the most; honours the launch
limits (500 per minute per service; account token bucket, burst 100, 20 per second, one
bucket each for on-demand and Spot), the optional vCPU quota and the capacity provider
strategy (base, then weight); replaces failed tasks; rebalances AZs after a recovery.

Revisions: the desired count applies to the *primary* revision (``revision``); another
revision started by a deployment keeps a count of its own (``task_sets``, as an ECS task set
has its own scale), set by sim/service.py. While a rollout replaces the primary it may hold
it at a count of its own (``primary_hold``, e.g. a rolling update stopping old tasks); the
rollout computes that count from the desired count, so autoscaling still acts through it. AZ spread and capacity providers count every task
of the service, whatever its revision; scale-in of the desired count stops primary tasks only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from sim.tasks import Task


class TokenBucket:
    """Burst ``capacity`` tokens, refilled at ``rate`` per second."""

    def __init__(self, capacity: float, rate: float, now: float = 0.0) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.t = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
        self.t = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0 - 1e-9:
            self.tokens -= 1.0
            return True
        return False

    def next_token_at(self, now: float) -> float:
        self._refill(now)
        return now + max(0.0, (1.0 - self.tokens) / self.rate)


@dataclass(frozen=True)
class Blocked:
    """Why a launch could not happen now: a structured cause, so that the retry delay never
    depends on the wording of the log message.

    ``kind`` is one of the ``BLOCK_*`` constants; ``provider`` names the capacity provider
    for the per-provider causes (account token bucket, no Spot capacity).
    """

    kind: str
    provider: str = ""
    detail: str = ""

    @property
    def message(self) -> str:
        return {
            BLOCK_NO_AZ: "no Availability Zone available",
            BLOCK_SERVICE_RATE: "service launch rate limit (per minute)",
            BLOCK_QUOTA: f"Fargate vCPU quota {self.detail} reached",
            BLOCK_NO_SPOT: "no Fargate Spot capacity",
            BLOCK_ACCOUNT_RATE: f"account launch rate limit ({self.provider})",
        }[self.kind]


BLOCK_NO_AZ = "no_az"
BLOCK_SERVICE_RATE = "service_rate"
BLOCK_QUOTA = "vcpu_quota"
BLOCK_NO_SPOT = "no_spot"
BLOCK_ACCOUNT_RATE = "account_rate"


class Scheduler:
    """Reconciles the service towards its desired count.

    ``launch(az, provider, rebalance)`` and ``stop(task, reason)`` are callbacks into the
    simulation, which owns the tasks' processes.

    Rebalancing tasks (started in the emptiest AZ after a recovery, ``task.rebalance``) are
    counted from the tasks themselves, never by a separate counter: a rebalancing task that
    is stopped by a scale-in, crashes, or is lost in an outage stops counting at once.
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        azs: list[str],
        providers: list[tuple[str, int, int]],
        vcpu_per_task: float,
        launch_rate_per_minute: int,
        account_burst: int,
        account_rate: float,
        vcpu_quota: float | None,
        retry: float,
        rebalancing: bool,
        launch: Callable[[str, str, bool, int], Task],
        stop: Callable[[Task, str], None],
        log: Callable[[str, str], None],
    ) -> None:
        self.env = env
        self.azs = list(azs)
        self.providers = providers  # (name, base, weight)
        self.vcpu_per_task = vcpu_per_task
        self.launch_rate_per_minute = launch_rate_per_minute
        self.buckets = {name: TokenBucket(account_burst, account_rate) for name, _, _ in providers}
        self.vcpu_quota = vcpu_quota
        self.retry = retry
        self.rebalancing = rebalancing
        self._launch = launch
        self._stop = stop
        self._log = log
        self.tasks: list[Task] = []  # every task not yet STOPPED
        self.desired = 0
        #: The revision the desired count applies to (new tasks launch with it).
        self.revision = 1
        #: Other revisions' task counts (task sets of a deployment), by revision.
        self.task_sets: dict[int, int] = {}
        #: A rollout holding the primary revision at its own count (None: the desired count).
        self.primary_hold: int | None = None
        self.az_down: set[str] = set()
        self.spot_available = True
        self.recent_launches: deque[float] = deque()
        self._retry_pending = False
        self.blocked_reason = ""
        self.rebalance_stops = 0  # surplus created by a rebalance task that became healthy

    # -- views -------------------------------------------------------------------------
    def active(self) -> list[Task]:
        return [t for t in self.tasks if t.active]

    def active_by_az(self) -> dict[str, list[Task]]:
        by = {az: [] for az in self.azs}
        for t in self.tasks:
            if t.active:
                by[t.az].append(t)
        return by

    @property
    def rebalance_in_flight(self) -> int:
        """Active tasks started to rebalance AZs that are not yet healthy."""
        return sum(1 for t in self.tasks if t.active and t.rebalance)

    # -- inputs ------------------------------------------------------------------------
    def set_desired(self, n: int) -> None:
        self.desired = max(0, int(n))
        self.reconcile()

    def set_task_set(self, revision: int, n: int) -> None:
        """Keep ``n`` tasks of a non-primary ``revision``."""
        if revision == self.revision:
            raise ValueError(f"revision {revision} is the primary one: set the desired count")
        self.task_sets[revision] = max(0, int(n))
        self.reconcile()

    def hold_primary(self, n: int | None) -> None:
        """Keep the primary revision at ``n`` tasks instead of the desired count (a rollout
        replacing it); None gives it back to the desired count."""
        self.primary_hold = None if n is None else max(0, int(n))
        self.reconcile()

    @property
    def primary_target(self) -> int:
        """The primary revision's task count: the desired count unless a rollout holds it."""
        return self.desired if self.primary_hold is None else self.primary_hold

    def promote(self, revision: int) -> None:
        """Make ``revision`` primary; the old primary keeps its active tasks as a task set.
        A hold on the old primary ends: the desired count applies to the new one."""
        held = self.primary_hold is not None
        self.primary_hold = None
        if revision == self.revision:
            if held:
                self.reconcile()
            return
        old = self.revision
        self.task_sets[old] = sum(1 for t in self.tasks if t.active and t.revision == old)
        self.task_sets.pop(revision, None)
        self.revision = revision
        self.reconcile()

    def task_stopped(self, task: Task) -> None:
        if task in self.tasks:
            self.tasks.remove(task)

    def task_healthy(self, task: Task) -> None:
        """A task passed its health check. For a rebalancing task, one task in the fullest AZ
        is now surplus: reconcile once this instant's events are done (the call comes from
        the task's own process, which must not be the one asked to stop from inside it)."""
        if task.rebalance:
            task.rebalance = False
            self.rebalance_stops += 1
            self.reconcile_soon()

    def task_lost(self, task: Task) -> None:
        """A task stopped without being asked (crash, Spot, AZ): launch a replacement."""
        task.rebalance = False
        self.reconcile_soon()

    def reconcile_soon(self) -> None:
        """Reconcile once the events of this instant have been processed (the scheduler
        reacts to the task state change it is told about, after it happened)."""
        self.env.process(self._retry_after(0.0, retry=False))

    # -- the loop ----------------------------------------------------------------------
    def reconcile(self) -> None:
        """Launch or stop tasks until active == desired (+ tasks started to rebalance), and
        each task set at its count."""
        if self.task_sets and self._reconcile_task_sets():
            return
        rev = self.revision
        active = [t for t in self.tasks if t.active and t.revision == rev]
        target = self.primary_target
        surplus = len(active) - target - self.rebalance_in_flight
        if surplus > 0:
            for _ in range(len(active)):
                if self._n_primary() <= target + self.rebalance_in_flight:
                    break
                picked = self._pick_for_scale_in(1)
                if not picked:
                    break
                task = picked[0]
                task.rebalance = False  # a rebalancing task picked by a scale-in
                if self.rebalance_stops > 0:
                    self.rebalance_stops -= 1
                    self._stop(task, "AZ rebalancing")
                else:
                    self._stop(task, "scale-in")
            return
        self.rebalance_stops = 0
        plan = self._plan_providers(-surplus)
        waiting: Blocked | None = None
        for provider in plan:
            if provider == "FARGATE_SPOT" and not self.spot_available:
                # No Spot capacity: this share waits; the on-demand share still launches.
                waiting = Blocked(BLOCK_NO_SPOT, provider)
                continue
            blocked = self._try_launch(rebalance=False, provider=provider)
            if blocked is not None:
                self._schedule_retry(blocked)
                return
        if waiting is not None:
            self._schedule_retry(waiting)
            return
        if self.rebalancing:
            self._rebalance()

    def _n_primary(self) -> int:
        rev = self.revision
        return sum(1 for t in self.tasks if t.active and t.revision == rev)

    def _reconcile_task_sets(self) -> bool:
        """Bring each task set to its count; True when a launch is blocked (retry later)."""
        for rev, n in self.task_sets.items():
            mine = [t for t in self.tasks if t.active and t.revision == rev]
            if len(mine) > n:
                mine.sort(key=lambda t: (not t.serving, t.launched_at, t.id), reverse=True)
                for task in mine[: len(mine) - n]:
                    self._stop(task, f"task set of revision {rev} scaled in")
                continue
            for provider in self._plan_providers(n - len(mine)):
                if provider == "FARGATE_SPOT" and not self.spot_available:
                    self._schedule_retry(Blocked(BLOCK_NO_SPOT, provider))
                    return True
                blocked = self._try_launch(rebalance=False, provider=provider, revision=rev)
                if blocked is not None:
                    self._schedule_retry(blocked)
                    return True
        return False

    def _rebalance(self) -> None:
        """AZ rebalancing: start a task in the emptiest up AZ; once it is healthy, reconcile
        stops one in the fullest (ECS service rebalancing, see the module docstring)."""
        if self.rebalance_in_flight or self.az_down:
            return
        by = self.active_by_az()
        counts = {az: len(ts) for az, ts in by.items()}
        if not counts or max(counts.values()) - min(counts.values()) <= 1:
            return
        az = min(self.azs, key=lambda a: (counts[a], self.azs.index(a)))
        provider = self._plan_providers(1)[0]
        if provider == "FARGATE_SPOT" and not self.spot_available:
            self._schedule_retry(Blocked(BLOCK_NO_SPOT, provider))
            return
        blocked = self._try_launch(rebalance=True, provider=provider, az=az)
        if blocked is not None:
            self._schedule_retry(blocked)

    def _try_launch(
        self, rebalance: bool, provider: str, az: str | None = None, revision: int | None = None
    ) -> Blocked | None:
        """Launch one task on ``provider``; return None on success, else why it is blocked."""
        now = self.env.now
        up = [a for a in self.azs if a not in self.az_down]
        if not up:
            return Blocked(BLOCK_NO_AZ)
        while self.recent_launches and self.recent_launches[0] <= now - 60.0:
            self.recent_launches.popleft()
        if len(self.recent_launches) >= self.launch_rate_per_minute:
            return Blocked(BLOCK_SERVICE_RATE)
        if self.vcpu_quota is not None:
            used = len(self.tasks) * self.vcpu_per_task
            if used + self.vcpu_per_task > self.vcpu_quota + 1e-9:
                return Blocked(BLOCK_QUOTA, detail=f"{self.vcpu_quota:g}")
        if not self.buckets[provider].take(now):
            return Blocked(BLOCK_ACCOUNT_RATE, provider)
        if az is None:
            az = self.pick_az()
        self.recent_launches.append(now)
        rev = self.revision if revision is None else revision
        task = self._launch(az, provider, rebalance, rev)
        self.tasks.append(task)
        self.blocked_reason = ""
        return None

    def pick_az(self) -> str:
        """The up AZ with the fewest active tasks (ties: the order of ``azs``)."""
        by = self.active_by_az()
        up = [a for a in self.azs if a not in self.az_down]
        return min(up, key=lambda a: (len(by[a]), self.azs.index(a)))

    def place_warm(self, n: int) -> None:
        """Place ``n`` tasks present at time 0 (warm start): same spread, no launch limits."""
        for provider in self._plan_providers(n):
            self.tasks.append(self._launch(self.pick_az(), provider, False, self.revision))

    def _plan_providers(self, n: int) -> list[str]:
        """The capacity providers of the next ``n`` launches: ``base`` first, then the share
        by ``weight``, each pick counting the ones before it.

        The plan ignores Spot availability: with no Spot capacity the Spot picks wait (there
        is no fallback to on-demand), and the on-demand picks launch, so the on-demand share
        is never held up by Spot.
        """
        counts = {name: 0 for name, _, _ in self.providers}
        for t in self.active():
            counts[t.provider] = counts.get(t.provider, 0) + 1
        plan = []
        for _ in range(max(0, n)):
            choice = self._pick_provider(counts)
            counts[choice] += 1
            plan.append(choice)
        return plan

    def _pick_provider(self, counts: dict[str, int]) -> str:
        """One pick of the capacity provider strategy given the tasks per provider."""
        for name, base, _ in self.providers:
            if base > counts[name]:
                return name
        beyond = {name: counts[name] - base for name, base, _ in self.providers}
        total = sum(max(0, b) for b in beyond.values()) + 1
        wsum = sum(w for _, _, w in self.providers)
        best = None
        for name, _, weight in self.providers:
            if weight == 0:
                continue
            deficit = weight / wsum * total - max(0, beyond[name])
            if best is None or deficit > best[0] + 1e-12:
                best = (deficit, name)
        return best[1] if best else self.providers[0][0]

    def _pick_for_scale_in(self, k: int) -> list[Task]:
        """Stop ``k`` tasks: each from the AZ with the most active tasks; within it the
        ones not yet serving first, then the newest (a model choice: ECS documents only the
        AZ rule)."""
        by = {az: [] for az in self.azs}
        for t in self.tasks:
            if t.active and t.revision == self.revision:
                by[t.az].append(t)
        chosen = []
        for _ in range(k):
            az = max(self.azs, key=lambda a: (len(by[a]), -self.azs.index(a)))
            if not by[az]:
                break
            task = max(by[az], key=lambda t: (not t.serving, t.launched_at, t.id))
            by[az].remove(task)
            chosen.append(task)
        return chosen

    def _schedule_retry(self, blocked: Blocked) -> None:
        reason = blocked.message
        if reason != self.blocked_reason:
            self._log("SCHEDULER_BLOCKED", reason)
        self.blocked_reason = reason
        if self._retry_pending:
            return
        self._retry_pending = True
        delay = self.retry
        if blocked.kind == BLOCK_ACCOUNT_RATE:
            bucket = self.buckets[blocked.provider]
            delay = max(1e-3, bucket.next_token_at(self.env.now) - self.env.now)
        elif blocked.kind == BLOCK_SERVICE_RATE:
            delay = max(1e-3, self.recent_launches[0] + 60.0 - self.env.now)
        self.env.process(self._retry_after(math.ceil(delay * 1000) / 1000))

    def _retry_after(self, delay: float, retry: bool = True):
        yield self.env.timeout(delay)
        if retry:
            self._retry_pending = False
        self.reconcile()
