"""``anomaly``: a novelty detector flags an injected shift and passes a clean canary."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_rollout import series_input

from policies.rollout import registry
from policies.rollout.anomaly import AnomalyAnalysis

N, START = 60, 30  # 60 one-minute periods; the canary takes traffic from period 30


def group(
    rng: np.random.Generator, err: float = 0.0, slow: float = 1.0, present_from: int = 0
) -> dict:
    req = np.full(N, 1000.0)
    cols = {
        "RequestCount": req,
        "HTTPCode_Target_5XX_Count": rng.binomial(1000, err, N).astype(float)
        if err
        else np.zeros(N),
        "TargetResponseTime_p50": rng.normal(0.050, 0.003, N) * slow,
        "TargetResponseTime_p99": rng.normal(0.200, 0.020, N) * slow,
    }
    if present_from:
        for v in cols.values():
            v[:present_from] = np.nan
    return cols


def case(seed: int, **canary):
    rng = np.random.default_rng(seed)
    base = group(rng)
    can = group(rng, present_from=START, **canary)
    return series_input(can, base, canary_start=START * 60.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_canary_passes(seed):
    v = AnomalyAnalysis().evaluate(case(seed))
    assert v.status == "pass", v.reason
    assert v.score <= 0.2


@pytest.mark.parametrize(
    "seed, detector", [(1, "lof"), (2, "lof"), (3, "lof"), (1, "isolation-forest")]
)
def test_latency_shift_is_flagged(seed, detector):
    v = AnomalyAnalysis(detector=detector).evaluate(case(seed, slow=1.5))
    assert v.status == "fail", v.reason
    assert v.score > 0.8
    assert v.detail("TargetResponseTime_p99").label == "above"


def test_error_only_shift_lof_sees_it_isolation_forest_does_not():
    inp = case(4, err=0.05)  # baseline error rate exactly 0 in every period
    assert AnomalyAnalysis(detector="lof").evaluate(inp).status == "fail"
    # documented limitation: trees never split a feature that is constant in training
    assert AnomalyAnalysis(detector="isolation-forest").evaluate(inp).status == "pass"


def test_a_faster_canary_is_not_a_failure_unless_either_direction():
    inp = case(5, slow=0.5)
    assert AnomalyAnalysis().evaluate(inp).status == "pass"
    assert AnomalyAnalysis(direction="either").evaluate(inp).status == "fail"


def test_too_little_data():
    inp = case(6)
    early = series_input(
        {k: v[: START + 2] for k, v in inp.canary.columns.items()},
        {k: v[: START + 2] for k, v in inp.baseline.columns.items()},
        canary_start=START * 60.0,
    )
    assert AnomalyAnalysis().evaluate(early).status == "running"
    assert AnomalyAnalysis(min_train_periods=100).evaluate(inp).status == "inconclusive"
    assert AnomalyAnalysis(train_on="pre-deployment").evaluate(inp).status == "pass"


def test_seeded_and_deterministic():
    inp = case(7, slow=1.2)
    a = AnomalyAnalysis(detector="isolation-forest", n_estimators=25, random_state=3)
    assert a.evaluate(inp) == a.evaluate(inp)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"detector": "svm"}, "detector must be one of 'lof', 'isolation-forest'"),
        ({"train_on": "canary"}, "train_on"),
        ({"contamination": 0.7}, "contamination"),
        ({"features": "ErrorRate"}, "features"),
        ({"min_scale": {"ErrorRate": 0}}, "min_scale.ErrorRate"),
        ({"direction": "decrease"}, "direction"),
    ],
)
def test_bad_parameters_name_the_key(params, key):
    with pytest.raises(registry.AnalysisError, match=key):
        registry.make("anomaly", **params)
