"""The contract both sides share: what a policy sees and what it returns.

The model and its backends (sim/, backends/) build an :class:`Observation` with a
:class:`MetricHistory` of CloudWatch-named columns (:data:`METRIC_NAMES`), a
:class:`DeploymentState` and, for the oracle only, a :class:`FutureLoad`; a policy
(policies/) answers with a :class:`Decision`. Both sides import these types from here and
from nowhere else (DESIGN.md, "Revisions and traffic splitting": the model never imports
upward). The policy base class and parameter checks stay in :mod:`policies.base`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: CloudWatch metric names carried in a :class:`MetricHistory` (ECS service + ALB + counts).
METRIC_NAMES: tuple[str, ...] = (
    "CPUUtilization",
    "CPUUtilization_Minimum",
    "CPUUtilization_Maximum",
    "MemoryUtilization",
    "MemoryUtilization_Minimum",
    "MemoryUtilization_Maximum",
    "RequestCount",
    "RequestCountPerTarget",
    "TargetResponseTime",
    "TargetResponseTime_p50",
    "TargetResponseTime_p90",
    "TargetResponseTime_p99",
    "HTTPCode_Target_5XX_Count",
    "HTTPCode_ELB_5XX_Count",
    "HealthyHostCount",
    "RunningTaskCount",
    "PendingTaskCount",
    "DesiredTaskCount",
)


@dataclass(frozen=True)
class MetricHistory:
    """Per-period metrics as a CloudWatch reader sees them at one moment.

    ``start[i]`` is the start (seconds) of period ``i``; ``columns[name][i]`` its value, NaN
    where CloudWatch publishes nothing (no requests, no running task). Only periods whose
    publication time has passed are present. Arrays are read-only views.
    """

    period_s: float
    start: np.ndarray
    columns: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.start)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"unknown metric {name!r}; available: {sorted(self.columns)}") from None

    def last(self, name: str, n: int) -> np.ndarray:
        """The last ``n`` published values of ``name`` (fewer if fewer exist)."""
        values = self[name]
        return values[max(0, len(values) - n) :]

    @property
    def end(self) -> float:
        """End time of the last published period (0 when empty)."""
        return float(self.start[-1] + self.period_s) if len(self.start) else 0.0

    @staticmethod
    def empty(period_s: float = 60.0) -> MetricHistory:
        z = np.zeros(0)
        z.flags.writeable = False
        return MetricHistory(period_s, z, {name: z for name in METRIC_NAMES})


@dataclass(frozen=True)
class DeploymentState:
    """What a policy may know about a deployment in progress."""

    in_progress: bool = False
    revision: int = 0


@dataclass(frozen=True)
class FutureLoad:
    """What only an oracle may know: the offered load from now on.

    ``rate[i]`` is the arrival rate (requests/s) of tick ``i`` counted from the observation
    time, ``tick_s`` long; ``max_rps_per_task`` is the most load one serving task carries
    while meeting the SLO's p99; ``startup_s`` the longest time from launch to serving
    (provisioning, image pull, container start, health checks).
    """

    tick_s: float
    rate: np.ndarray
    max_rps_per_task: float
    startup_s: float


@dataclass(frozen=True)
class Observation:
    """Everything a policy may read at one decision time.

    ``time`` is seconds since the run started (simulation) or since the epoch (real ECS).
    ``capacity_rps`` is the request rate one task serves at full CPU (a property of the task
    definition, known to the operator). ``future_load`` is filled only for policies that
    declare ``requires_future = True`` (the oracle) and is None for every other policy.
    """

    time: float
    desired: int
    running: int
    pending: int
    healthy: int
    min_tasks: int
    max_tasks: int
    cpu: int
    memory: int
    capacity_rps: float
    metrics: MetricHistory
    deployment: DeploymentState = field(default_factory=DeploymentState)
    future_load: FutureLoad | None = None


@dataclass(frozen=True)
class Decision:
    """A policy's answer. ``desired`` None means "no change"; the reason is always given.

    ``min_tasks``/``max_tasks`` change the service's scalable range (scheduled scaling).
    """

    desired: int | None
    reason: str
    min_tasks: int | None = None
    max_tasks: int | None = None

    def __post_init__(self) -> None:
        if not self.reason:
            raise ValueError("a Decision needs a reason")
        if self.desired is not None and self.desired < 0:
            raise ValueError(f"desired must be >= 0, got {self.desired}")


#: A rollout's status in a :class:`RolloutStep`.
ROLLOUT_STATUSES: tuple[str, ...] = ("in_progress", "complete", "rolled_back")
#: What a :class:`RolloutObservation` says of the analysis: no analysis configured, or the
#: status of its latest verdict (policies.rollout.analysis.STATUSES).
VERDICT_STATUSES: tuple[str, ...] = ("none", "running", "pass", "fail", "inconclusive")


@dataclass(frozen=True)
class RolloutObservation:
    """What a rollout strategy may read at one round of a deployment.

    ``elapsed_s``: seconds since the deployment started; ``desired``: the service's desired
    count now (autoscaling may change it during the rollout); ``old_revision`` is replaced by
    ``new_revision``. Per revision: ``active`` tasks (launched, not stopping), ``healthy``
    tasks (serving behind the load balancer) and ``failed_starts`` (tasks of that revision
    that failed to start since the deployment began: the circuit breaker's count).
    ``weights``: the listener weights by revision, None when traffic splits by healthy
    tasks. ``verdict``: the analysis (``VERDICT_STATUSES``) with its reason. ``stage`` is
    the stage the strategy returned last (0 at the start) and ``stage_elapsed_s`` how long
    ago that stage began.
    """

    elapsed_s: float
    desired: int
    old_revision: int
    new_revision: int
    active: Mapping[int, int]
    healthy: Mapping[int, int]
    failed_starts: Mapping[int, int]
    weights: Mapping[int, float] | None = None
    verdict: str = "none"
    verdict_reason: str = ""
    stage: int = 0
    stage_elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICT_STATUSES:
            raise ValueError(
                f"verdict must be one of {', '.join(VERDICT_STATUSES)}, got {self.verdict!r}"
            )


@dataclass(frozen=True)
class RolloutStep:
    """A rollout strategy's answer: the task count of each revision, the listener weights
    by revision (None: split by share of healthy tasks, a rolling update), the status
    (``ROLLOUT_STATUSES``) with its reason, and the strategy's stage."""

    tasks: Mapping[int, int]
    weights: Mapping[int, float] | None
    status: str
    reason: str
    stage: int = 0

    def __post_init__(self) -> None:
        if self.status not in ROLLOUT_STATUSES:
            raise ValueError(
                f"status must be one of {', '.join(ROLLOUT_STATUSES)}, got {self.status!r}"
            )
        if not self.reason:
            raise ValueError("a RolloutStep needs a reason")
        if any(n < 0 for n in self.tasks.values()):
            raise ValueError(f"task counts must be >= 0, got {dict(self.tasks)}")
