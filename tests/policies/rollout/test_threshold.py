"""``threshold``: Argo Rollouts' measurement phases and limits, Flagger's failed-check
threshold and no-data rule, table-driven."""

from __future__ import annotations

import math

import pytest
from helpers_rollout import series_input, traffic

from policies.rollout import registry
from policies.rollout.threshold import ThresholdAnalysis, measure_phase

NAN = math.nan
RATE = {"G": 0.0, "B": 0.05, "N": NAN}  # good, bad (5 % errors), no data
ERR = [{"metric": "ErrorRate", "max": 0.01}]


def run(pattern: str, **params):
    """One period per letter (60 s, published at once); the first measurement reads the first
    period (initial_delay = 60 s), the decision time is the end of the last period."""
    inp = series_input(traffic([RATE[c] for c in pattern]))
    a = ThresholdAnalysis(checks=ERR, initial_delay=60.0, **params)
    return a.evaluate(inp)


@pytest.mark.parametrize(
    "value, check, no_data, phase",
    [
        (0.005, {"max": 0.01}, "fail", "Successful"),
        (0.02, {"max": 0.01}, "fail", "Failed"),  # success condition only: not met -> Failed
        (0.02, {"fail_above": 0.05}, "fail", "Successful"),  # failure condition only
        (0.06, {"fail_above": 0.05}, "fail", "Failed"),
        (0.02, {"max": 0.01, "fail_above": 0.05}, "fail", "Inconclusive"),  # neither met
        (0.06, {"max": 0.01, "fail_above": 0.05}, "fail", "Failed"),
        (0.5, {"min": 0.4, "max": 0.6}, "fail", "Successful"),
        (0.3, {"min": 0.4, "max": 0.6}, "fail", "Failed"),
        (NAN, {"max": 0.01}, "fail", "Failed"),  # Flagger: no values -> failed check
        (NAN, {"max": 0.01}, "error", "Error"),  # Argo: the provider returns nothing
        (NAN, {"max": 0.01}, "inconclusive", "Inconclusive"),
        (NAN, {"max": 0.01}, "pass", "Successful"),
    ],
)
def test_measurement_phase(value, check, no_data, phase):
    assert measure_phase(value, {"metric": "ErrorRate", **check}, no_data) == phase


# pattern, params, status, time of the terminating measurement (None: not terminated)
FAILURE_LIMIT_TABLE = [
    ("GGBG", {}, "fail", 180),
    ("GBGB", {"failure_limit": 1}, "fail", 240),
    ("GBGG", {"failure_limit": 1}, "running", None),
    ("BBB", {"failure_limit": 2}, "fail", 180),
    ("BB", {"failure_limit": 2}, "running", None),
    ("GGG", {"count": 3}, "pass", None),
    ("GBG", {"count": 3, "failure_limit": 1}, "pass", None),
    ("GBG", {"count": 3}, "fail", 120),
    ("GG", {"count": 3}, "running", None),
]


@pytest.mark.parametrize("pattern, params, status, at", FAILURE_LIMIT_TABLE)
def test_failure_limit_table(pattern, params, status, at):
    v = run(pattern, **params)
    assert v.status == status, v.reason
    if at is not None:
        assert f"at {at}s" in v.reason


NO_DATA_TABLE = [
    ("GNG", {"no_data": "fail"}, "fail", "ErrorRate Failed at 120s"),
    ("GNG", {"no_data": "pass"}, "running", "within limits"),
    (
        "GNG",
        {"no_data": "inconclusive"},
        "inconclusive",
        "inconclusive (1) > inconclusive_limit (0)",
    ),
    ("GNGG", {"no_data": "inconclusive", "inconclusive_limit": 1}, "running", "within limits"),
    # Argo retries an Error after 10 s: errors at 120, 130, 140, 150, 160 -> 5 > 4
    ("GNGG", {"no_data": "error"}, "fail", "consecutive errors (5) > consecutive_error_limit (4)"),
    # ... and a Successful measurement (at 180 s, the next period) resets the count
    ("GNGG", {"no_data": "error", "consecutive_error_limit": 6}, "running", "within limits"),
    ("NNN", {"no_data": "fail", "failure_limit": 5}, "running", "within limits"),
]


@pytest.mark.parametrize("pattern, params, status, words", NO_DATA_TABLE)
def test_no_data_table(pattern, params, status, words):
    v = run(pattern, **params)
    assert v.status == status, v.reason
    assert words in v.reason


def test_error_retry_counts_only_errors_not_count():
    v = run("GNGG", no_data="error", consecutive_error_limit=6)
    d = v.detail("ErrorRate")
    assert d.data["errors"] == 6  # 120, 130, ..., 170
    assert d.data["count"] == 3  # 60, 180, 240


def test_flagger_counts_failed_checks_across_metrics():
    checks = [
        {"metric": "ErrorRate", "max": 0.01},
        {"metric": "TargetResponseTime_p99", "max": 0.5},
    ]
    cols = traffic([0.05, 0.0, 0.0], p99=[0.1, 0.9, 0.1])  # errors at m0, latency at m1
    inp = series_input(cols)
    argo = ThresholdAnalysis(checks=checks, initial_delay=60.0, failure_limit=1)
    flagger = ThresholdAnalysis(
        checks=checks, initial_delay=60.0, failure_limit=1, counting="per-check"
    )
    assert argo.evaluate(inp).status == "running"
    v = flagger.evaluate(inp)
    assert v.status == "fail" and "failed checks (2) > failure_limit (1)" in v.reason


def test_publication_delay_and_window():
    # 3 min delay: at t = 60 + 180 the first period is published
    cols = traffic([0.0, 0.05, 0.0])
    inp = series_input(cols, delay=180.0, time=60.0 * 3 + 180.0)
    early = ThresholdAnalysis(checks=ERR, initial_delay=60.0)  # first reads nothing
    assert early.evaluate(inp).status == "fail"
    late = ThresholdAnalysis(checks=ERR, initial_delay=240.0)
    v = late.evaluate(inp)
    assert v.status == "fail" and "at 300s" in v.reason  # the bad period, published at 300 s
    wide = ThresholdAnalysis(checks=ERR, initial_delay=360.0, window=180.0)
    assert wide.evaluate(inp).detail("ErrorRate").value == pytest.approx(50 / 3000)


def test_measurements_start_at_canary_start():
    cols = traffic([0.05, 0.05, 0.0, 0.0])  # bad before the canary started (stale)
    inp = series_input(cols, canary_start=120.0)
    assert ThresholdAnalysis(checks=ERR, initial_delay=60.0).evaluate(inp).status == "running"


@pytest.mark.parametrize(
    "params, key",
    [
        ({"checks": [{"metric": "ErrorRate"}]}, "needs a bound"),
        ({"checks": [{"metric": "ErrorRate", "maximum": 1}]}, "unknown key 'maximum'"),
        ({"checks": {"metric": "ErrorRate", "max": 1}}, "checks: expected a list"),
        ({"checks": []}, "at least one"),
        ({"interval": 0}, "interval"),
        ({"count": 0}, "count"),
        ({"failure_limit": -1}, "failure_limit"),
        ({"consecutive_error_limit": 1.5}, "consecutive_error_limit"),
        ({"no_data": "zero"}, "no_data must be one of 'fail', 'error', 'inconclusive', 'pass'"),
        ({"counting": "both"}, "counting"),
        ({"target_group": "total"}, "target_group 'total'"),
    ],
)
def test_bad_parameters_name_the_key(params, key):
    with pytest.raises(registry.AnalysisError, match=key):
        registry.make("threshold", **params)
