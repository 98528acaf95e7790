"""Input checks made before any request to AWS.

moto (and sometimes an older API) accepts what AWS rejects, so the backend refuses bad input
itself, with an error that names the problem. Limits are AWS's, from its API reference:

- Fargate task sizes: :func:`sim.fargate.validate_task_size` (the Fargate size matrix).
- CapacityProviderStrategyItem: ``weight`` 0-1000, ``base`` 0-100000, only one item may set
  a base,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html
- DeploymentConfiguration: ``strategy`` ROLLING | BLUE_GREEN | LINEAR | CANARY,
  ``bakeTimeInMinutes`` 0-1440,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html
- CanaryConfiguration: ``canaryPercent`` 0.1-100, ``canaryBakeTimeInMinutes`` 0-1440,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CanaryConfiguration.html
- LinearConfiguration: ``stepPercent`` 3-100, ``stepBakeTimeInMinutes`` 0-1440,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinearConfiguration.html
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from backends.aws import InputError
from sim.fargate import TaskSizeError, validate_task_size

STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
BAKE_MINUTES = (0, 1440)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_count(name: str, value: object) -> int:
    """A task count: a whole number >= 0."""
    if not _is_int(value) or value < 0:  # type: ignore[operator]
        raise InputError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def check_range(min_tasks: object, max_tasks: object) -> tuple[int, int]:
    lo, hi = check_count("min", min_tasks), check_count("max", max_tasks)
    if lo > hi:
        raise InputError(f"min {lo} is above max {hi}")
    return lo, hi


def check_task_size(cpu: object, memory: object) -> None:
    """The Fargate size matrix (CPU units and MiB, as strings or numbers)."""
    try:
        validate_task_size(int(str(cpu)), int(str(memory)))
    except ValueError as exc:
        if isinstance(exc, TaskSizeError):
            raise InputError(f"task size: {exc}") from None
        raise InputError(f"task size: cpu={cpu!r} and memory={memory!r} must be numbers") from None


def check_capacity_providers(items: Sequence[dict[str, Any]]) -> None:
    """A capacity provider strategy (Fargate providers only)."""
    if not items:
        return
    names = [i.get("capacityProvider") for i in items]
    for item in items:
        name = item.get("capacityProvider")
        if name not in CAPACITY_PROVIDERS:
            raise InputError(
                f"capacity provider {name!r} is not a Fargate provider; valid: "
                f"{', '.join(CAPACITY_PROVIDERS)}"
            )
        weight = item.get("weight", 0)
        if not _is_int(weight) or not 0 <= weight <= 1000:
            raise InputError(f"capacity provider {name}: weight must be 0-1000, got {weight!r}")
        base = item.get("base", 0)
        if not _is_int(base) or not 0 <= base <= 100000:
            raise InputError(f"capacity provider {name}: base must be 0-100000, got {base!r}")
    if len(set(names)) != len(names):
        raise InputError(f"capacity providers repeat: {names}")
    if sum(1 for i in items if i.get("base", 0) > 0) > 1:
        raise InputError("capacity providers: only one provider may set a base")
    if sum(i.get("weight", 0) for i in items) == 0:
        raise InputError("capacity providers: at least one weight must be > 0")


def _number_in(name: str, value: object, lo: float, hi: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:  # type: ignore[operator]
        raise InputError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")


def check_deployment_configuration(cfg: dict[str, Any]) -> None:
    """A DeploymentConfiguration (the fields this tool sets)."""
    strategy = cfg.get("strategy", "ROLLING")
    if strategy not in STRATEGIES:
        raise InputError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if "bakeTimeInMinutes" in cfg:
        _number_in("bake time (minutes)", cfg["bakeTimeInMinutes"], *BAKE_MINUTES)
    if "maximumPercent" in cfg:
        _number_in("maximum percent", cfg["maximumPercent"], 100, 200)
    if "minimumHealthyPercent" in cfg:
        _number_in("minimum healthy percent", cfg["minimumHealthyPercent"], 0, 100)
    canary = cfg.get("canaryConfiguration")
    if canary is not None:
        if strategy != "CANARY":
            raise InputError(f"canary settings need strategy CANARY, not {strategy}")
        if "canaryPercent" in canary:
            _number_in("canary percent", canary["canaryPercent"], 0.1, 100)
        if "canaryBakeTimeInMinutes" in canary:
            _number_in("canary bake time (minutes)", canary["canaryBakeTimeInMinutes"], 0, 1440)
    linear = cfg.get("linearConfiguration")
    if linear is not None:
        if strategy != "LINEAR":
            raise InputError(f"linear settings need strategy LINEAR, not {strategy}")
        if "stepPercent" in linear:
            _number_in("linear step percent", linear["stepPercent"], 3, 100)
        if "stepBakeTimeInMinutes" in linear:
            _number_in("linear step bake time (minutes)", linear["stepBakeTimeInMinutes"], 0, 1440)
    alarms = cfg.get("alarms")
    if alarms is not None and alarms.get("enable") and not alarms.get("alarmNames"):
        raise InputError("deployment alarms are enabled but no alarm name is given")
