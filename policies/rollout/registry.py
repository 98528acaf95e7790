"""Analysis methods and rollout strategies by name (the pattern of :mod:`policies.registry`).

A scenario's ``[analysis]`` section names a method (``method = "kayenta"``) and its
``[rollout]`` section a strategy (``strategy = "canary"``), each with its parameters; adding
one is one new class and one line in :data:`ANALYSES` or :data:`STRATEGIES`. Both are a
:class:`Registry`; a strategy may also be a *preset*: a class with some parameters fixed under
its owner's name (the CodeDeploy configurations, ``CodeDeployDefault.ECSCanary10Percent5Minutes``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from policies.base import BasePolicy


class AnalysisError(ValueError):
    """Unknown analysis method or bad parameter."""


class StrategyError(ValueError):
    """Unknown rollout strategy or bad parameter."""


class Registry:
    """Classes by name, built with validated parameters.

    ``noun`` names one entry in messages ("analysis method"), ``plural`` the list ("methods"),
    ``label`` the short form ("analysis"); ``error`` is the exception raised. ``presets`` maps
    a name to ``(entry point, fixed parameters)``.
    """

    def __init__(
        self,
        noun: str,
        plural: str,
        label: str,
        error: type[ValueError],
        entry_points: Mapping[str, str],
        presets: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    ) -> None:
        self.noun = noun
        self.plural = plural
        self.label = label
        self.error = error
        self.entry_points: dict[str, str] = dict(entry_points)
        self.presets: dict[str, tuple[str, dict[str, Any]]] = {
            name: (entry, dict(fixed)) for name, (entry, fixed) in (presets or {}).items()
        }

    def register(self, name: str, entry_point: str, fixed: Mapping[str, Any] | None = None) -> None:
        """Register ``module:Class`` under ``name`` (with ``fixed`` parameters: a preset)."""
        known = self.entry_points.get(name) or self.presets.get(name, ("", {}))[0]
        if known and known != entry_point:
            raise self.error(f"{self.label} {name!r} is already registered to {known}")
        if fixed:
            self.presets[name] = (entry_point, dict(fixed))
        else:
            self.entry_points[name] = entry_point

    def names(self) -> list[str]:
        return sorted([*self.entry_points, *self.presets])

    def fixed(self, name: str) -> dict[str, Any]:
        """The parameters a preset fixes (empty for a plain entry)."""
        self.cls(name)
        return dict(self.presets[name][1]) if name in self.presets else {}

    def cls(self, name: str) -> type[BasePolicy]:
        target = self.entry_points.get(name) or self.presets.get(name, ("", {}))[0]
        if not target:
            raise self.error(
                f"unknown {self.noun} {name!r}; valid {self.plural}: {', '.join(self.names())}"
            )
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def param_names(self, name: str) -> list[str]:
        """The parameters a scenario may set (a preset's fixed ones excluded)."""
        fixed = self.fixed(name)
        return [p for p in self.cls(name)._param_names() if p not in fixed]

    def make(self, name: str, **params: Any) -> BasePolicy:
        """Build ``name`` with ``params``; unknown parameters are refused by name and bad
        values by the class's own validation, naming the key and the allowed values."""
        cls = self.cls(name)
        fixed = self.fixed(name)
        clash = sorted(set(params) & set(fixed))
        if clash:
            raise self.error(
                f"{self.label} {name!r} fixes {', '.join(map(repr, clash))} "
                f"({', '.join(f'{k}={fixed[k]!r}' for k in clash)}); valid parameters: "
                f"{', '.join(self.param_names(name)) or '(none)'}"
            )
        valid = self.param_names(name)
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise self.error(
                f"{self.label} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"valid parameters: {', '.join(valid) or '(none)'}"
            )
        try:
            return cls(**fixed, **params).validate()
        except (TypeError, ValueError) as exc:
            raise self.error(f"{self.label} {name!r}: {exc}") from exc

    def defaults(self, name: str) -> dict[str, Any]:
        """Every constructor parameter with its default (a preset's fixed values included)."""
        sig = inspect.signature(self.cls(name).__init__)
        out = {p.name: p.default for p in sig.parameters.values() if p.name != "self"}
        out.update(self.fixed(name))
        return out


#: The analysis methods (policies/rollout/analysis.py is their contract).
ANALYSES = Registry(
    "analysis method",
    "methods",
    "analysis",
    AnalysisError,
    {
        "alarm": "policies.rollout.alarm:AlarmAnalysis",
        "threshold": "policies.rollout.threshold:ThresholdAnalysis",
        "kayenta": "policies.rollout.kayenta:KayentaAnalysis",
        "anomaly": "policies.rollout.anomaly:AnomalyAnalysis",
    },
)

_CANARY = "policies.rollout.strategies:CanaryStrategy"
_LINEAR = "policies.rollout.strategies:LinearStrategy"
#: The rollout strategies (policies/rollout/strategies.py). The CodeDeploy presets are the
#: predefined ECS deployment configurations by their AWS names ("Working with deployment
#: configurations in CodeDeploy", Amazon ECS compute platform table:
#: https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html).
STRATEGIES = Registry(
    "rollout strategy",
    "strategies",
    "strategy",
    StrategyError,
    {
        "all-at-once": "policies.rollout.strategies:AllAtOnceStrategy",
        "rolling": "policies.rollout.strategies:RollingStrategy",
        "blue-green": "policies.rollout.strategies:BlueGreenStrategy",
        "canary": _CANARY,
        "linear": _LINEAR,
    },
    presets={
        "CodeDeployDefault.ECSAllAtOnce": (
            "policies.rollout.strategies:AllAtOnceStrategy",
            {"bake_time": 0.0},
        ),
        "CodeDeployDefault.ECSCanary10Percent5Minutes": (
            _CANARY,
            {"percent": 10.0, "bake_time": 300.0, "final_bake_time": 0.0},
        ),
        "CodeDeployDefault.ECSCanary10Percent15Minutes": (
            _CANARY,
            {"percent": 10.0, "bake_time": 900.0, "final_bake_time": 0.0},
        ),
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": (
            _LINEAR,
            {"step_percent": 10.0, "step_bake_time": 60.0, "final_bake_time": 0.0},
        ),
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": (
            _LINEAR,
            {"step_percent": 10.0, "step_bake_time": 180.0, "final_bake_time": 0.0},
        ),
    },
)


# -- the analysis registry's module-level API ------------------------------------------------
def register(name: str, entry_point: str) -> None:
    """Register the analysis ``module:Class`` under ``name``."""
    ANALYSES.register(name, entry_point)


def names() -> list[str]:
    return ANALYSES.names()


def analysis_class(name: str) -> type[BasePolicy]:
    return ANALYSES.cls(name)


def param_names(name: str) -> list[str]:
    return ANALYSES.param_names(name)


def make(name: str, **params: Any) -> BasePolicy:
    """Build the analysis ``name`` with ``params`` (see :meth:`Registry.make`)."""
    return ANALYSES.make(name, **params)


def defaults(name: str) -> dict[str, Any]:
    return ANALYSES.defaults(name)
