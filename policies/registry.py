"""Policies by name (Gymnasium's ``register(id=..., entry_point=...)`` pattern).

A scenario's ``[autoscaler]`` section names a policy; adding one is one new module and one
line in :data:`_ENTRY_POINTS`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from policies.base import BasePolicy, ParamError

_ENTRY_POINTS: dict[str, str] = {
    "static": "policies.autoscaling.static:StaticPolicy",
    "reactive": "policies.autoscaling.reactive:ReactivePolicy",
    "target-tracking": "policies.autoscaling.target_tracking:TargetTrackingPolicy",
    "step": "policies.autoscaling.step:StepScalingPolicy",
    "scheduled": "policies.autoscaling.scheduled:ScheduledPolicy",
    "hpa": "policies.autoscaling.hpa:HpaPolicy",
    "predictive": "policies.autoscaling.predictive:PredictiveScalingPolicy",
    "learned": "policies.autoscaling.learned:LearnedPolicy",
    "oracle": "policies.autoscaling.oracle:OraclePolicy",
    "combined": "policies.autoscaling.combine:CombinedPolicy",
    "mpc": "policies.autoscaling.mpc:MpcPolicy",
}


class PolicyError(ValueError):
    """Unknown policy name or bad parameter; ``key`` names the parameter when one is at fault
    (a scenario reports it as ``autoscaler.<key>``), and ``problem`` says what is wrong."""

    def __init__(self, message: str, key: str | None = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.problem = problem if problem is not None else message


def register(name: str, entry_point: str) -> None:
    """Register ``module:Class`` under ``name``."""
    if name in _ENTRY_POINTS and _ENTRY_POINTS[name] != entry_point:
        raise PolicyError(f"policy {name!r} is already registered to {_ENTRY_POINTS[name]}")
    _ENTRY_POINTS[name] = entry_point


def names() -> list[str]:
    return sorted(_ENTRY_POINTS)


def policy_class(name: str) -> type[BasePolicy]:
    try:
        target = _ENTRY_POINTS[name]
    except KeyError:
        raise PolicyError(
            f"unknown policy {name!r}; valid policies: {', '.join(names())}"
        ) from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def param_names(name: str) -> list[str]:
    return policy_class(name)._param_names()


def make(name: str, **params: Any) -> BasePolicy:
    """Build the policy ``name`` with ``params``; unknown parameters are refused by name and
    bad values by the policy's own validation (:meth:`BasePolicy.validate`)."""
    cls = policy_class(name)
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise PolicyError(
            f"policy {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(valid) or '(none)'}"
        )
    try:
        return cls(**params).validate()
    except ParamError as exc:
        raise PolicyError(f"policy {name!r}: {exc}", key=exc.key, problem=exc.problem) from exc
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"policy {name!r}: {exc}") from exc


def defaults(name: str) -> dict[str, Any]:
    sig = inspect.signature(policy_class(name).__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.name != "self"}
