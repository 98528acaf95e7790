"""Analysis methods by name (the pattern of :mod:`policies.registry`).

A scenario's ``[analysis]`` section names a method (``method = "kayenta"``) and gives its
parameters; adding a method is one new module and one line in :data:`_ENTRY_POINTS`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from policies.rollout.analysis import BaseAnalysis

_ENTRY_POINTS: dict[str, str] = {
    "alarm": "policies.rollout.alarm:AlarmAnalysis",
    "threshold": "policies.rollout.threshold:ThresholdAnalysis",
    "kayenta": "policies.rollout.kayenta:KayentaAnalysis",
    "anomaly": "policies.rollout.anomaly:AnomalyAnalysis",
}


class AnalysisError(ValueError):
    """Unknown analysis method or bad parameter."""


def register(name: str, entry_point: str) -> None:
    """Register ``module:Class`` under ``name``."""
    if name in _ENTRY_POINTS and _ENTRY_POINTS[name] != entry_point:
        raise AnalysisError(f"analysis {name!r} is already registered to {_ENTRY_POINTS[name]}")
    _ENTRY_POINTS[name] = entry_point


def names() -> list[str]:
    return sorted(_ENTRY_POINTS)


def analysis_class(name: str) -> type[BaseAnalysis]:
    try:
        target = _ENTRY_POINTS[name]
    except KeyError:
        raise AnalysisError(
            f"unknown analysis method {name!r}; valid methods: {', '.join(names())}"
        ) from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def param_names(name: str) -> list[str]:
    return analysis_class(name)._param_names()


def make(name: str, **params: Any) -> BaseAnalysis:
    """Build the analysis ``name`` with ``params``; unknown parameters are refused by name
    and bad values by the method's own validation, naming the key and the allowed values."""
    cls = analysis_class(name)
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise AnalysisError(
            f"analysis {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(valid) or '(none)'}"
        )
    try:
        return cls(**params).validate()  # type: ignore[return-value]
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"analysis {name!r}: {exc}") from exc


def defaults(name: str) -> dict[str, Any]:
    sig = inspect.signature(analysis_class(name).__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.name != "self"}
