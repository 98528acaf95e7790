"""The policy conformance suite, shipped as library code (DESIGN.md convention 6).

Like scikit-learn's ``check_estimator`` and Gymnasium's ``check_env``: :func:`check_policy`
yields named checks, each a callable that raises :class:`AssertionError` with a clear message
when the policy breaks the contract of :mod:`policies.base` (pure decisions, parameters only
in the constructor, bounds respected, reasons given, picklable). The tests run every check
over every registered policy; a check that does not apply to a policy is declared in
:data:`KNOWN_EXCEPTIONS` with the reason, never skipped silently.

Usage::

    from policies.checks import check_policy, run_checks
    for name, check in check_policy(MyPolicy()):
        check()                      # raises AssertionError on failure
    run_checks(MyPolicy())           # -> [(check name, message), ...] of the failures

Unless given observations, the checks decide on :func:`~policies.samples.sample_observations`
(defined in :mod:`policies.samples`, re-exported here): a deterministic, varied sequence at
increasing times spaced by the policy's own interval, with the future load for a policy that
declares ``requires_future``.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import pickle
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from policies.clock_guard import ClockRead, clock_guards
from policies.contract import Decision, Observation
from policies.samples import sample_observations

#: (policy registry name, check name) -> why the check does not apply to that policy.
#: Empty: the oracle's need for the future load is met by supplying ``future_load`` in the
#: generated observations (see :func:`sample_observations`) rather than by an exception.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: The checks, in the order :func:`check_policy` yields them.
CHECK_NAMES: tuple[str, ...] = (
    "deterministic",
    "no_mutation",
    "bounds",
    "get_params_roundtrip",
    "constructor_stores_only",
    "interval",
    "pickle",
    "reason",
    "no_global_random",
    "purity_time",
)

#: Seed of the global RNGs (numpy's and ``random``'s) while a check other than
#: ``no_global_random`` runs, so that only that check sees global randomness vary.
_GLOBAL_SEED = 12345


# -- helpers -----------------------------------------------------------------------------------
def _param_names(cls: type) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [
        p.name
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _fresh(policy: Any) -> Any:
    """A new, unfitted policy with the same parameters (deep-copied)."""
    return type(policy)(**copy.deepcopy(policy.get_params()))


def _equal(a: Any, b: Any) -> bool:
    """Deep equality for parameters: arrays by content (NaN equal), policies by parameters."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
        except TypeError:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if hasattr(a, "get_params") and hasattr(b, "get_params") and not isinstance(a, type):
        return type(a) is type(b) and _equal(a.get_params(), b.get_params())
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are unequal
        return False


def _seed_globals(seed: int) -> None:
    np.random.seed(seed)
    random.seed(seed)


@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """Leave numpy's and ``random``'s global state as it was found."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _run(
    policy: Any, observations: Sequence[Observation], seed: int | None = _GLOBAL_SEED
) -> list[Decision]:
    """Decide on each observation in turn, the global RNGs reseeded to ``seed`` before each."""
    out = []
    for obs in observations:
        if seed is not None:
            _seed_globals(seed)
        out.append(policy.decide(obs))
    return out


def _where(obs: Observation, i: int) -> str:
    return f"observation {i} (time {obs.time:g} s)"


def _snapshot(obs: Observation) -> dict[str, Any]:
    """Everything an observation holds, copied, for comparison after a decision."""
    m = obs.metrics
    return {
        "fields": {
            f: copy.deepcopy(getattr(obs, f))
            for f in obs.__dataclass_fields__
            if f not in ("metrics", "future_load")
        },
        "period_s": m.period_s,
        "start": np.array(m.start, copy=True),
        "columns": {name: np.array(v, copy=True) for name, v in m.columns.items()},
        "future": None
        if obs.future_load is None
        else (
            obs.future_load.tick_s,
            np.array(obs.future_load.rate, copy=True),
            obs.future_load.max_rps_per_task,
            obs.future_load.startup_s,
        ),
    }


def _diff(before: dict[str, Any], obs: Observation) -> str:
    """What changed in ``obs`` since ``before`` was taken ('' if nothing)."""
    after = _snapshot(obs)
    for f, v in before["fields"].items():
        if not _equal(v, after["fields"][f]):
            return f"field {f!r} changed from {v!r} to {after['fields'][f]!r}"
    if before["period_s"] != after["period_s"]:
        return "metrics.period_s changed"
    if not _equal(before["start"], after["start"]):
        return "metrics.start changed"
    added = sorted(set(after["columns"]) - set(before["columns"]))
    removed = sorted(set(before["columns"]) - set(after["columns"]))
    if added or removed:
        return f"metrics.columns keys changed (added {added}, removed {removed})"
    for name, v in before["columns"].items():
        if not _equal(v, after["columns"][name]):
            return f"metrics[{name!r}] values changed"
    bf, af = before["future"], after["future"]
    if (bf is None) != (af is None):
        return "future_load replaced"
    if bf is not None and not all(_equal(x, y) for x, y in zip(bf, af, strict=True)):
        return "future_load changed"
    return ""


# -- the checks --------------------------------------------------------------------------------
def _check_deterministic(policy: Any, observations: Sequence[Observation]) -> None:
    with _global_rng_preserved():
        a = _run(_fresh(policy), observations)
        b = _run(_fresh(policy), observations)
    for i, (da, db) in enumerate(zip(a, b, strict=True)):
        if da != db:
            raise AssertionError(
                f"{type(policy).__name__} is not deterministic: two fresh copies given the same "
                f"observations decided differently at {_where(observations[i], i)}: {da} vs {db}"
            )


def _check_no_mutation(policy: Any, observations: Sequence[Observation]) -> None:
    p = _fresh(policy)
    with _global_rng_preserved():
        for i, obs in enumerate(observations):
            before = _snapshot(obs)
            _seed_globals(_GLOBAL_SEED)
            p.decide(obs)
            change = _diff(before, obs)
            if change:
                raise AssertionError(
                    f"{type(policy).__name__}.decide mutated its observation at "
                    f"{_where(obs, i)}: {change}; a policy reads its observation only and keeps "
                    "its own state in attributes ending in '_'"
                )


def _check_bounds(policy: Any, observations: Sequence[Observation]) -> None:
    with _global_rng_preserved():
        decisions = _run(_fresh(policy), observations)
    for i, (obs, d) in enumerate(zip(observations, decisions, strict=True)):
        lo = obs.min_tasks if d.min_tasks is None else d.min_tasks
        hi = obs.max_tasks if d.max_tasks is None else d.max_tasks
        if d.min_tasks is not None or d.max_tasks is not None:
            if not (0 <= lo <= hi):
                raise AssertionError(
                    f"{type(policy).__name__} set an invalid range [{lo}, {hi}] at {_where(obs, i)}"
                )
        if d.desired is None:
            continue
        if isinstance(d.desired, bool) or not isinstance(d.desired, int | np.integer):
            raise AssertionError(
                f"{type(policy).__name__} returned a non-integer desired count "
                f"{d.desired!r} at {_where(obs, i)}"
            )
        if not lo <= d.desired <= hi:
            raise AssertionError(
                f"{type(policy).__name__} returned desired={d.desired} outside [min_tasks, "
                f"max_tasks] = [{lo}, {hi}] at {_where(obs, i)} (reason: {d.reason!r}); a "
                "policy must clamp to the observation's range itself"
            )


def _check_get_params_roundtrip(policy: Any, observations: Sequence[Observation]) -> None:
    cls = type(policy)
    sig = inspect.signature(cls.__init__)
    varargs = [
        p.name for p in sig.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if varargs:
        raise AssertionError(
            f"{cls.__name__}.__init__ takes *args/**kwargs ({varargs}); parameters must be "
            "explicit keywords so get_params can list them"
        )
    names = _param_names(cls)
    params = policy.get_params()
    if set(params) != set(names):
        raise AssertionError(
            f"{cls.__name__}.get_params() keys {sorted(params)} are not the __init__ "
            f"parameters {sorted(names)}"
        )
    again = cls(**copy.deepcopy(params)).get_params()
    for name in names:
        if not _equal(params[name], again[name]):
            raise AssertionError(
                f"{cls.__name__}(**get_params()).get_params() changed {name!r}: "
                f"{params[name]!r} -> {again[name]!r}"
            )


def _check_constructor_stores_only(policy: Any, observations: Sequence[Observation]) -> None:
    cls = type(policy)
    names = _param_names(cls)
    params = copy.deepcopy(policy.get_params())
    fresh = cls(**params)
    attrs = set(vars(fresh))
    extra = sorted(attrs - set(names))
    missing = sorted(set(names) - attrs)
    if extra or missing:
        raise AssertionError(
            f"{cls.__name__}.__init__ must assign its keyword parameters and nothing else: "
            f"extra attributes {extra}, parameters not stored {missing}; build state lazily in "
            "decide, in attributes ending in '_'"
        )
    for name in names:
        if not _equal(getattr(fresh, name), params[name]):
            raise AssertionError(
                f"{cls.__name__}.__init__ changed parameter {name!r}: passed {params[name]!r}, "
                f"stored {getattr(fresh, name)!r}; validation and conversion belong in decide"
            )


def _check_interval(policy: Any, observations: Sequence[Observation]) -> None:
    cls = type(policy)
    if "interval" not in _param_names(cls):
        raise AssertionError(
            f"{cls.__name__} has no 'interval' parameter (seconds between decisions)"
        )
    step = float(policy.interval_s)
    if not (math.isfinite(step) and step > 0):
        raise AssertionError(f"{cls.__name__}.interval_s must be finite and > 0, got {step!r}")


def _check_pickle(policy: Any, observations: Sequence[Observation]) -> None:
    name = type(policy).__name__
    half = len(observations) // 2
    with _global_rng_preserved():
        for label, warmup in (("before any decision", 0), ("after some decisions", half)):
            a = _fresh(policy)
            _run(a, observations[:warmup])
            try:
                b = pickle.loads(pickle.dumps(a))
            except Exception as exc:  # noqa: BLE001 - report any pickling error as a failure
                raise AssertionError(f"{name} cannot be pickled {label}: {exc!r}") from exc
            rest = observations[warmup:]
            for i, (da, db) in enumerate(zip(_run(a, rest), _run(b, rest), strict=True)):
                if da != db:
                    j = warmup + i
                    raise AssertionError(
                        f"{name} unpickled {label} decides differently from the original at "
                        f"{_where(observations[j], j)}: {db} vs {da}"
                    )


def _check_reason(policy: Any, observations: Sequence[Observation]) -> None:
    p = _fresh(policy)
    with _global_rng_preserved():
        for i, obs in enumerate(observations):
            _seed_globals(_GLOBAL_SEED)
            d = p.decide(obs)
            if not isinstance(d, Decision):
                raise AssertionError(
                    f"{type(policy).__name__}.decide returned {type(d).__name__}, not a "
                    f"Decision, at {_where(obs, i)}"
                )
            if not isinstance(d.reason, str) or not d.reason.strip():
                raise AssertionError(
                    f"{type(policy).__name__} gave no reason at {_where(obs, i)}: "
                    f"{d.reason!r}; every decision explains its arithmetic"
                )


def _check_no_global_random(policy: Any, observations: Sequence[Observation]) -> None:
    with _global_rng_preserved():
        a = _run(_fresh(policy), observations, seed=1)
        b = []
        q = _fresh(policy)
        for i, obs in enumerate(observations):
            _seed_globals(1000 + i)
            b.append(q.decide(obs))
    for i, (da, db) in enumerate(zip(a, b, strict=True)):
        if da != db:
            raise AssertionError(
                f"{type(policy).__name__} depends on global randomness: reseeding numpy.random "
                f"and random changed the decision at {_where(observations[i], i)}: {da} vs {db}; "
                "take a random_state parameter and build a Generator from it"
            )


def _check_purity_time(policy: Any, observations: Sequence[Observation]) -> None:
    p = _fresh(policy)
    calls: list[str] = []
    with _global_rng_preserved():
        for i, obs in enumerate(observations):
            _seed_globals(_GLOBAL_SEED)
            error: BaseException | None = None
            with clock_guards(policy, calls):
                try:
                    p.decide(obs)
                except ClockRead as exc:
                    error = exc
            if calls or error is not None:
                raise AssertionError(
                    f"{type(policy).__name__}.decide read the OS clock ({', '.join(calls)}) at "
                    f"{_where(obs, i)}; time comes from observation.time only"
                )


_CHECKS: dict[str, Callable[[Any, Sequence[Observation]], None]] = {
    "deterministic": _check_deterministic,
    "no_mutation": _check_no_mutation,
    "bounds": _check_bounds,
    "get_params_roundtrip": _check_get_params_roundtrip,
    "constructor_stores_only": _check_constructor_stores_only,
    "interval": _check_interval,
    "pickle": _check_pickle,
    "reason": _check_reason,
    "no_global_random": _check_no_global_random,
    "purity_time": _check_purity_time,
}


def check_policy(
    policy: Any, observations: Sequence[Observation] | None = None
) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(check name, check)`` for every conformance check of ``policy``.

    Parameters
    ----------
    policy : policy object
        Checked through fresh copies built from its parameters; it is not itself changed.
    observations : sequence of Observation or None, default None
        What the policy decides on; None generates :func:`sample_observations` for it. Each
        check gets its own copy, so a policy that mutates its observations in one check
        cannot hide it from another.

    Yields
    ------
    (str, callable)
        A name from :data:`CHECK_NAMES` and a callable of no arguments that raises
        :class:`AssertionError` with a message naming the fault when the policy fails.
    """

    def obs() -> Sequence[Observation]:
        # A fresh sequence for every check, so that a policy that mutates its observations in
        # one check does not hide the mutation from ``no_mutation``.
        if observations is None:
            return sample_observations(policy)
        return copy.deepcopy(list(observations))

    for name in CHECK_NAMES:
        fn = _CHECKS[name]

        def check(fn: Callable[[Any, Sequence[Observation]], None] = fn) -> None:
            fn(policy, obs())

        check.__name__ = f"check_{name}"
        yield name, check


def registry_name(policy: Any) -> str | None:
    """The registry name of ``policy``'s class, or None if it is not registered."""
    from policies import registry

    for name in registry.names():
        try:
            if registry.policy_class(name) is type(policy):
                return name
        except Exception:  # noqa: BLE001 - a broken entry point is not this policy
            continue
    return None


def run_checks(policy: Any, name: str | None = None) -> list[tuple[str, str]]:
    """Run every check; return the failures as ``(check name, message)``.

    Parameters
    ----------
    policy : policy object
        The policy to check.
    name : str or None, default None
        Its registry name, for :data:`KNOWN_EXCEPTIONS`; None looks it up by class.

    Returns
    -------
    list of (str, str)
        Empty when the policy conforms. A check raising anything other than AssertionError
        (the policy crashed) is reported with the exception's type. Checks declared in
        :data:`KNOWN_EXCEPTIONS` for ``name`` are not run.
    """
    if name is None:
        name = registry_name(policy)
    failures: list[tuple[str, str]] = []
    for check_name, check in check_policy(policy):
        if (name, check_name) in KNOWN_EXCEPTIONS:
            continue
        try:
            check()
        except AssertionError as exc:
            failures.append((check_name, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a crash is a failure of that check
            failures.append((check_name, f"{type(exc).__name__}: {exc}"))
    return failures
