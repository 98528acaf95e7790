"""The policy base class, the Policy protocol and parameter checks.

The contract types (Observation, Decision, MetricHistory, ...) live in :mod:`policies.contract`.

Policies are pure (DESIGN.md, convention 2): ``decide(observation)`` reads only its argument
and the policy's own state, never boto3, SimPy, ``time`` or global randomness. Constructors
store keyword parameters only (convention 4); learned state lives in attributes ending in
``_`` and is cleared by :meth:`BasePolicy.reset`.
"""

from __future__ import annotations

import collections.abc
import copy
import inspect
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from policies.contract import Decision, Observation


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


def is_utilisation(metric: object) -> bool:
    """Whether ``metric`` names a percentage (CPU or memory utilisation, any statistic)."""
    return isinstance(metric, str) and metric.startswith(("CPUUtilization", "MemoryUtilization"))


class ParamError(ValueError):
    """A bad policy parameter; ``key`` names it (``target``, ``steps[1][0]``)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


_NAMES: dict[Any, str] = {
    float: "a number",
    int: "an integer",
    bool: "true or false",
    str: "a string",
    type(None): "None",
}


def describe_type(hint: Any) -> str:
    """A reader's name for a parameter's type hint (``a number or None``)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return "any value"
    if hint in _NAMES:
        return _NAMES[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(describe_type(a) for a in args)})"
        inner = describe_type(args[0]) if args else "any value"
        return f"a list (of {inner})"
    if origin in (dict, collections.abc.Mapping):
        return "a table (mapping)"
    return getattr(hint, "__name__", str(hint))


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as a TOML file or a caller gives it) fits the type hint ``hint``.

    Numbers follow the numeric tower (an integer fits ``float``; a bool fits neither); lists
    and tuples both fit a sequence hint, element by element; unknown hints accept anything.
    """
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if hint is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(conforms, value, args))
        return not args or all(conforms(v, args[0]) for v in value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping) and (
            len(args) != 2 or all(conforms(v, args[1]) for v in value.values())
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _non_finite(value: Any, key: str) -> str | None:
    """The key of the first infinite or NaN number in ``value`` (nested lists, tables)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return None if math.isfinite(value) else key
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _non_finite(item, f"{key}[{i}]")
            if found:
                return found
    if isinstance(value, Mapping):
        for name, item in value.items():
            found = _non_finite(item, f"{key}.{name}")
            if found:
                return found
    return None


class BasePolicy:
    """scikit-learn style base: ``__init__`` stores keyword parameters only.

    Subclasses declare their hyperparameters as keyword arguments of ``__init__`` and assign
    each to an attribute of the same name. ``interval`` (seconds between decisions) is the
    policy's cadence.

    :meth:`validate` checks every parameter against the constructor's type hint (or, without
    one, the type of its default), refuses infinite or NaN numbers anywhere in a parameter,
    and checks the utilisation targets a subclass declares in :attr:`percent_params`.
    """

    requires_future: bool = False

    #: Parameters that are a CPU or memory utilisation in %, so must lie in (0, 100]: each
    #: maps to the name of the parameter holding the metric it refers to (the bound applies
    #: only while that metric is a utilisation), or to None when it is always a percentage.
    percent_params: ClassVar[Mapping[str, str | None]] = {}

    @classmethod
    def param_types(cls) -> dict[str, Any]:
        """Each constructor parameter's expected type: its hint, else its default's type."""
        try:
            hints = typing.get_type_hints(cls.__init__)
        except Exception:  # an unresolvable hint: fall back to the defaults
            hints = {}
        out: dict[str, Any] = {}
        params = inspect.signature(cls.__init__).parameters
        for name in cls._param_names():
            hint = hints.get(name, inspect.Parameter.empty)
            default = params[name].default
            if hint is inspect.Parameter.empty and default is not inspect.Parameter.empty:
                if isinstance(default, bool):
                    hint = bool
                elif isinstance(default, numbers.Real):
                    hint = float
                elif isinstance(default, str):
                    hint = str
            out[name] = hint
        return out

    def _check_params(self) -> None:
        """The generic checks of :meth:`validate`: type, finiteness, percentage range."""
        for name, hint in self.param_types().items():
            value = getattr(self, name)
            if not conforms(value, hint):
                raise ParamError(
                    name,
                    f"expected {describe_type(hint)}, got {value!r} ({type(value).__name__})",
                )
            bad = _non_finite(value, name)
            if bad:
                raise ParamError(bad, f"must be finite, got {value!r}")
        for name, metric_param in self.percent_params.items():
            value = getattr(self, name)
            metric = getattr(self, metric_param) if metric_param else None
            if value is None or (metric_param and not is_utilisation(metric)):
                continue
            if not 0 < value <= 100:
                of = f" of {metric}" if metric_param else ""
                raise ParamError(
                    name, f"is a utilisation{of} in %, must be in (0, 100], got {value!r}"
                )

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
        """Check the parameters now (not at the first decision). The generic checks
        (:meth:`_check_params`) raise :class:`ParamError` naming the parameter; then a policy
        with a ``_validate()`` method raises ValueError naming the bad parameter. Returns
        self."""
        self._check_params()
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
