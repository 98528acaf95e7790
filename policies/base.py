"""The policy contract: what a policy sees (Observation) and what it returns (Decision).

Policies are pure (DESIGN.md, convention 2): ``decide(observation)`` reads only its argument
and the policy's own state, never boto3, SimPy, ``time`` or global randomness. Constructors
store keyword parameters only (convention 4); learned state lives in attributes ending in
``_`` and is cleared by :meth:`BasePolicy.reset`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


def clamp(n: int, lo: int, hi: int) -> int:
    """Clamp a task count into [lo, hi]."""
    return max(lo, min(hi, n))


@runtime_checkable
class Policy(Protocol):
    """What the controller needs from a policy."""

    def decide(self, observation: Observation) -> Decision: ...

    def get_params(self) -> dict[str, Any]: ...

    @property
    def interval_s(self) -> float: ...


class BasePolicy:
    """scikit-learn style base: ``__init__`` stores keyword parameters only.

    Subclasses declare their hyperparameters as keyword arguments of ``__init__`` and assign
    each to an attribute of the same name. ``interval`` (seconds between decisions) is the
    policy's cadence.
    """

    requires_future: bool = False

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind is not p.VAR_KEYWORD and p.kind is not p.VAR_POSITIONAL
        ]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, so experiments can record and sweep them."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BasePolicy:
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {valid}")
            setattr(self, name, value)
        return self

    def validate(self) -> BasePolicy:
        """Check the parameters now (not at the first decision): a policy with a
        ``_validate()`` method raises ValueError naming the bad parameter. Returns self."""
        check = getattr(self, "_validate", None)
        if callable(check):
            check()
        return self

    def reset(self) -> None:
        """Forget learned state (attributes ending in ``_``)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)

    def clone(self) -> BasePolicy:
        """A fresh, unfitted copy with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    @property
    def interval_s(self) -> float:
        return float(getattr(self, "interval", 60.0))

    def decide(self, observation: Observation) -> Decision:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
