"""The conformance suite over every registered policy, and the suite catching broken ones."""

from __future__ import annotations

import datetime
import math
import random
import time
from datetime import date

import numpy as np
import pytest

from policies import registry
from policies.base import BasePolicy, clamp
from policies.checks import (
    CHECK_NAMES,
    KNOWN_EXCEPTIONS,
    check_policy,
    run_checks,
    sample_observations,
)
from policies.contract import Decision, Observation


# -- every registered policy x every check ---------------------------------------------------
@pytest.mark.parametrize("check_name", CHECK_NAMES)
@pytest.mark.parametrize("name", registry.names())
def test_registered_policy_conforms(name: str, check_name: str) -> None:
    reason = KNOWN_EXCEPTIONS.get((name, check_name))
    if reason is not None:
        pytest.skip(f"known exception: {reason}")
    checks = dict(check_policy(registry.make(name)))
    checks[check_name]()


def test_known_exceptions_name_real_policies_and_checks() -> None:
    for (name, check_name), reason in KNOWN_EXCEPTIONS.items():
        assert name in registry.names(), name
        assert check_name in CHECK_NAMES, check_name
        assert reason.strip()


def test_check_policy_yields_every_check_in_order() -> None:
    assert [name for name, _ in check_policy(registry.make("static"))] == list(CHECK_NAMES)


# -- the observations ---------------------------------------------------------------------------
def test_sample_observations_are_deterministic_and_varied() -> None:
    a = sample_observations(n=60, seed=3)
    b = sample_observations(n=60, seed=3)
    assert len(a) == 60
    for x, y in zip(a, b, strict=True):
        assert x.time == y.time and x.desired == y.desired
        for name in x.metrics.columns:
            np.testing.assert_array_equal(x.metrics[name], y.metrics[name])
    times = [o.time for o in a]
    assert all(t1 > t0 for t0, t1 in zip(times, times[1:], strict=False))
    assert len(a[0].metrics) == 0  # nothing published yet
    assert len(a[-1].metrics) > 30
    cpu = a[-1].metrics["CPUUtilization"]
    assert np.isnan(cpu).any() and np.nanmax(cpu) > 90 and np.nanmin(cpu) < 30
    assert np.isnan(a[-1].metrics["RequestCount"]).any()  # a stretch with no requests
    assert any(o.min_tasks == o.max_tasks for o in a)
    assert any(o.desired > o.max_tasks for o in a)
    assert any(o.min_tasks == 0 and o.running == 0 for o in a)
    assert any(o.pending > 0 for o in a)
    assert any(o.deployment.in_progress for o in a)
    assert all(o.future_load is None for o in a)


def test_sample_observations_respect_publication_and_are_read_only() -> None:
    for o in sample_observations(n=40):
        m = o.metrics
        if len(m):
            assert m.start[-1] + m.period_s <= o.time - 60.0
        for values in m.columns.values():
            assert not values.flags.writeable
            assert len(values) == len(m)


def test_sample_observations_follow_the_policy_cadence_and_future() -> None:
    from policies.autoscaling.oracle import OraclePolicy

    obs = sample_observations(OraclePolicy(interval=15.0), n=10)
    assert [o.time for o in obs][:3] == [30.0, 45.0, 60.0]
    for o in obs:
        assert o.future_load is not None
        assert o.future_load.rate[0] == o.future_load.rate[0]  # not NaN
        assert not o.future_load.rate.flags.writeable


# -- broken policies are caught by the right check ---------------------------------------------
class _Good(BasePolicy):
    """A conforming baseline the broken ones are variations of."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval

    def decide(self, observation: Observation) -> Decision:
        n = clamp(observation.desired, observation.min_tasks, observation.max_tasks)
        return Decision(n, f"keep {n}")


class _Mutates(_Good):
    def decide(self, observation: Observation) -> Decision:
        observation.metrics.columns["CPU_smoothed"] = np.zeros(len(observation.metrics))
        return super().decide(observation)


class _GlobalNumpyRandom(_Good):
    def decide(self, observation: Observation) -> Decision:
        n = observation.desired + int(np.random.randint(-1, 2))
        n = clamp(n, observation.min_tasks, observation.max_tasks)
        return Decision(n, f"jitter to {n}")


class _GlobalPythonRandom(_Good):
    def decide(self, observation: Observation) -> Decision:
        n = observation.desired + random.choice([-1, 0, 1])
        n = clamp(n, observation.min_tasks, observation.max_tasks)
        return Decision(n, f"jitter to {n}")


class _UnseededGenerator(_Good):
    def decide(self, observation: Observation) -> Decision:
        n = observation.desired + int(np.random.default_rng().integers(-1, 2))
        n = clamp(n, observation.min_tasks, observation.max_tasks)
        return Decision(n, f"jitter to {n}")


class _ExtraState(_Good):
    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.history_ = []


class _ConvertsParam(_Good):
    def __init__(self, target: float = 50.0, interval: float = 60.0) -> None:
        self.target = target * 2
        self.interval = interval


class _ExceedsMax(_Good):
    def decide(self, observation: Observation) -> Decision:
        return Decision(observation.max_tasks + 1, "one more than allowed")


class _FloatDesired(_Good):
    def decide(self, observation: Observation) -> Decision:
        return Decision(observation.min_tasks + 0.5, "half a task")  # type: ignore[arg-type]


class _BlankReason(_Good):
    def decide(self, observation: Observation) -> Decision:
        return Decision(None, "   ")


class _Unpicklable(_Good):
    def decide(self, observation: Observation) -> Decision:
        self.hook_ = lambda x: x
        return super().decide(observation)


class _ReadsTimeModule(_Good):
    def decide(self, observation: Observation) -> Decision:
        if time.monotonic() < 0:
            return Decision(None, "never")
        return super().decide(observation)


class _ReadsDatetime(_Good):
    def decide(self, observation: Observation) -> Decision:
        hour = datetime.datetime.now().hour
        return Decision(None, f"hour {hour}")


class _ReadsImportedDate(_Good):
    def decide(self, observation: Observation) -> Decision:
        return Decision(None, f"weekday {date.today().weekday()}")


class _SwallowsClockError(_Good):
    def decide(self, observation: Observation) -> Decision:
        try:
            time.time()
        except Exception:  # noqa: BLE001
            pass
        return super().decide(observation)


class _StatefulDrift(_Good):
    """Depends on how many times it was called, but deterministically: conforms."""

    def decide(self, observation: Observation) -> Decision:
        self.calls_ = getattr(self, "calls_", 0) + 1
        n = clamp(self.calls_ % 5 + 1, observation.min_tasks, observation.max_tasks)
        return Decision(n, f"call {self.calls_} -> {n}")


@pytest.mark.parametrize(
    "policy, check_name",
    [
        (_Mutates(), "no_mutation"),
        (_GlobalNumpyRandom(), "no_global_random"),
        (_GlobalPythonRandom(), "no_global_random"),
        (_UnseededGenerator(), "deterministic"),
        (_ExtraState(), "constructor_stores_only"),
        (_ConvertsParam(), "get_params_roundtrip"),
        (_ConvertsParam(), "constructor_stores_only"),
        (_ExceedsMax(), "bounds"),
        (_FloatDesired(), "bounds"),
        (_BlankReason(), "reason"),
        (_Unpicklable(), "pickle"),
        (_ReadsTimeModule(), "purity_time"),
        (_ReadsDatetime(), "purity_time"),
        (_ReadsImportedDate(), "purity_time"),
        (_SwallowsClockError(), "purity_time"),
    ],
    ids=lambda v: type(v).__name__.lstrip("_") if isinstance(v, BasePolicy) else v,
)
def test_suite_catches_broken_policy(policy: BasePolicy, check_name: str) -> None:
    failures = dict(run_checks(policy, name="broken"))
    assert check_name in failures, failures
    assert failures[check_name]  # a message
    with pytest.raises(AssertionError):
        dict(check_policy(policy))[check_name]()


@pytest.mark.parametrize("policy", [_GlobalNumpyRandom(), _GlobalPythonRandom(), _ExceedsMax()])
def test_a_fault_fails_only_its_own_checks(policy: BasePolicy) -> None:
    """Global randomness is not also reported as non-determinism or a pickling fault."""
    failures = {name for name, _ in run_checks(policy, name="broken")}
    expected = {"bounds"} if isinstance(policy, _ExceedsMax) else {"no_global_random"}
    assert failures == expected


@pytest.mark.parametrize("policy", [_Good(), _StatefulDrift()])
def test_conforming_policies_pass(policy: BasePolicy) -> None:
    assert run_checks(policy) == []


def test_checks_restore_the_clock_and_the_global_rngs() -> None:
    before_np = np.random.get_state()[1].copy()
    before_py = random.getstate()
    real = (time.time, time.monotonic, datetime.datetime, datetime.date, date)
    run_checks(_ReadsTimeModule(), name="broken")
    run_checks(_ReadsImportedDate(), name="broken")
    run_checks(_GlobalNumpyRandom(), name="broken")
    assert (time.time, time.monotonic, datetime.datetime, datetime.date, date) == real
    np.testing.assert_array_equal(np.random.get_state()[1], before_np)
    assert random.getstate() == before_py
    assert math.isfinite(time.time())


def test_run_checks_honours_known_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KNOWN_EXCEPTIONS, ("broken", "bounds"), "exceeds max on purpose")
    assert run_checks(_ExceedsMax(), name="broken") == []


def test_run_checks_reports_a_crash_as_a_failure() -> None:
    class _Crashes(_Good):
        def decide(self, observation: Observation) -> Decision:
            raise ZeroDivisionError("boom")

    failures = dict(run_checks(_Crashes(), name="broken"))
    assert "ZeroDivisionError: boom" in failures["deterministic"]
