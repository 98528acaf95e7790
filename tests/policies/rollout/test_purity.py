"""Every registered analysis method: registry contract and purity (same input, same verdict;
the input is not mutated; no clock read; no global randomness; parameters only in the
constructor; pickling)."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from helpers_rollout import series_input

from policies.clock_guard import clock_guards
from policies.rollout import registry
from policies.rollout.analysis import AnalysisInput, Verdict

NAMES = ["alarm", "anomaly", "kayenta", "threshold"]


def inputs() -> list[AnalysisInput]:
    rng = np.random.default_rng(11)
    n = 40
    out = []
    for slow, err in ((1.0, 0.0), (1.6, 0.04)):
        base = {
            "RequestCount": np.full(n, 900.0),
            "HTTPCode_Target_5XX_Count": np.zeros(n),
            "TargetResponseTime_p50": rng.normal(0.05, 0.003, n),
            "TargetResponseTime_p99": rng.normal(0.2, 0.02, n),
        }
        can = {
            "RequestCount": np.r_[np.full(20, np.nan), np.full(20, 100.0)],
            "HTTPCode_Target_5XX_Count": np.r_[
                np.full(20, np.nan), rng.binomial(100, err, 20).astype(float)
            ],
            "TargetResponseTime_p50": np.r_[
                np.full(20, np.nan), rng.normal(0.05, 0.003, 20) * slow
            ],
            "TargetResponseTime_p99": np.r_[np.full(20, np.nan), rng.normal(0.2, 0.02, 20) * slow],
        }
        can["TargetResponseTime_p99"][25] = np.nan  # a missing datapoint
        out.append(series_input(can, base, delay=60.0, canary_start=1200.0))
    return out


def snapshot(inp: AnalysisInput) -> dict:
    groups = {"canary": inp.canary, "baseline": inp.baseline}
    return {
        "scalars": (inp.time, inp.period_s, inp.canary_start, inp.publication_delay_s),
        "start": inp.start.copy(),
        **{f"{g}.{k}": v.copy() for g, tg in groups.items() for k, v in tg.columns.items()},
    }


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k], equal_nan=True) if isinstance(a[k], np.ndarray) else a[k] == b[k]
        for k in a
    )


def test_registry_names_and_defaults():
    assert registry.names() == NAMES
    for name in NAMES:
        assert list(registry.defaults(name)) == registry.param_names(name)
    with pytest.raises(
        registry.AnalysisError, match="valid methods: alarm, anomaly, kayenta, threshold"
    ):
        registry.make("p-value")
    with pytest.raises(
        registry.AnalysisError, match="no parameter 'pvalue'; valid parameters: .*tolerance"
    ):
        registry.make("kayenta", pvalue=0.05)


@pytest.mark.parametrize("name", NAMES)
def test_same_input_same_verdict_and_no_mutation(name):
    policy = registry.make(name)
    for inp in inputs():
        before = snapshot(inp)
        v1 = policy.evaluate(inp)
        v2 = policy.evaluate(inp)
        assert isinstance(v1, Verdict) and v1.reason
        assert repr(v1) == repr(v2)  # repr: NaN figures compare equal
        assert repr(policy.clone().evaluate(inp)) == repr(v1)
        assert repr(pickle.loads(pickle.dumps(policy)).evaluate(inp)) == repr(v1)
        assert same(before, snapshot(inp))
        assert (
            not inp.start.flags.writeable and not inp.canary.columns["RequestCount"].flags.writeable
        )


@pytest.mark.parametrize("name", NAMES)
def test_constructor_stores_parameters_only_and_evaluate_keeps_no_state(name):
    policy = registry.make(name)
    assert set(vars(policy)) == set(registry.param_names(name))
    policy.evaluate(inputs()[1])
    assert set(vars(policy)) == set(registry.param_names(name))


@pytest.mark.parametrize("name", NAMES)
def test_no_clock_read_and_no_global_randomness(name):
    policy = registry.make(name)
    inp = inputs()[1]
    np.random.seed(5)
    random.seed(5)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    calls: list[str] = []
    with clock_guards(policy, calls):
        policy.evaluate(inp)
    assert calls == []
    assert np.array_equal(np.random.get_state()[1], np_state) and random.getstate() == py_state


def test_the_bad_input_fails_every_method_and_the_good_one_does_not():
    good, bad = inputs()
    params = {
        "threshold": {"initial_delay": 120.0, "failure_limit": 1}
    }  # one missing p99 datapoint
    for name in NAMES:
        policy = registry.make(name, **params.get(name, {}))
        assert policy.evaluate(bad).status == "fail", (name, policy.evaluate(bad).reason)
        assert policy.evaluate(good).status != "fail", (name, policy.evaluate(good).reason)
