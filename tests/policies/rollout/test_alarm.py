"""``alarm``: CloudWatch "N of M" evaluation and TreatMissingData, table-driven ("Evaluating
an alarm" and "Configuring how CloudWatch alarms treat missing data", AWS documentation)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_rollout import series_input, traffic

from policies.rollout import registry
from policies.rollout.alarm import AlarmAnalysis, alarm_state

NAN = float("nan")
X, O, M = 0.05, 0.0, NAN  # noqa: E741 (breaching, not breaching, missing threshold 0.01, greater)

# window (oldest -> newest), N, then the state under missing / notBreaching / breaching / ignore
# (ignore's previous state is OK in this table)
TABLE = [
    ([O, O, O], 2, "OK", "OK", "OK", "OK"),
    ([X, X, O], 2, "ALARM", "ALARM", "ALARM", "ALARM"),
    ([X, O, O], 2, "OK", "OK", "OK", "OK"),
    ([O, X, X], 3, "OK", "OK", "OK", "OK"),
    ([X, X, X], 3, "ALARM", "ALARM", "ALARM", "ALARM"),
    ([M, M, M], 2, "INSUFFICIENT_DATA", "OK", "ALARM", "OK"),
    ([M, M, M], 1, "INSUFFICIENT_DATA", "OK", "ALARM", "OK"),
    ([X, M, M], 2, "OK", "OK", "ALARM", "OK"),
    ([X, M, X], 2, "ALARM", "ALARM", "ALARM", "ALARM"),
    ([O, M, X], 2, "OK", "OK", "ALARM", "OK"),
    ([O, M, X], 1, "ALARM", "ALARM", "ALARM", "ALARM"),
    ([M, X, X], 3, "OK", "OK", "ALARM", "OK"),
    ([O, O, M], 1, "OK", "OK", "ALARM", "OK"),
]


@pytest.mark.parametrize("window, n, missing, not_breaching, breaching, ignore", TABLE)
def test_n_of_m_table(window, n, missing, not_breaching, breaching, ignore):
    w = np.array(window)
    args = (n, "GreaterThanThreshold", 0.01)
    assert alarm_state(w, *args, "missing") == missing
    assert alarm_state(w, *args, "notBreaching") == not_breaching
    assert alarm_state(w, *args, "breaching") == breaching
    assert alarm_state(w, *args, "ignore", previous="OK") == ignore


def test_ignore_keeps_the_previous_state_and_missing_does_not():
    w = np.array([M, M, M])
    assert alarm_state(w, 2, "GreaterThanThreshold", 0.01, "ignore", previous="ALARM") == "ALARM"
    assert alarm_state(w, 2, "GreaterThanThreshold", 0.01, "missing", previous="ALARM") == (
        "INSUFFICIENT_DATA"
    )


@pytest.mark.parametrize(
    "comparison, value, expected",
    [
        ("GreaterThanThreshold", 0.01, "OK"),
        ("GreaterThanOrEqualToThreshold", 0.01, "ALARM"),
        ("LessThanThreshold", 0.01, "OK"),
        ("LessThanOrEqualToThreshold", 0.01, "ALARM"),
        ("LessThanThreshold", 0.0, "ALARM"),
    ],
)
def test_comparison_operators(comparison, value, expected):
    assert alarm_state(np.array([value]), 1, comparison, 0.01, "missing") == expected


def test_error_spike_on_the_canary_fails_with_a_reason():
    inp = series_input(traffic([0, 0, 0.05, 0.04, 0, 0]))
    v = AlarmAnalysis(evaluation_periods=3, datapoints_to_alarm=2).evaluate(inp)
    assert v.status == "fail" and v.rollback
    assert "ALARM at the period starting 180" in v.reason
    assert v.detail("ErrorRate").label == "ALARM"


def test_clean_canary_passes_and_nothing_published_is_running():
    clean = series_input(traffic([0, 0.001, 0, 0]))
    assert AlarmAnalysis().evaluate(clean).status == "pass"
    early = series_input(traffic([0, 0, 0]), delay=180.0, time=200.0)
    v = AlarmAnalysis().evaluate(early)
    assert v.status == "running" and "no period" in v.reason


def test_publication_delay_hides_the_breach_until_published():
    cols = traffic([0, 0, 0.05, 0.05])
    before = series_input(cols, delay=180.0, time=4 * 60 + 179.0)
    after = series_input(cols, delay=180.0, time=4 * 60 + 180.0)
    a = AlarmAnalysis(evaluation_periods=2, datapoints_to_alarm=2)
    assert a.evaluate(before).status == "pass"
    assert a.evaluate(after).status == "fail"


def test_all_missing_is_insufficient_data_unless_treated():
    inp = series_input(traffic([M, M, M]))
    assert AlarmAnalysis(treat_missing_data="missing").evaluate(inp).status == "inconclusive"
    assert AlarmAnalysis(treat_missing_data="notBreaching").evaluate(inp).status == "pass"
    assert AlarmAnalysis(treat_missing_data="breaching").evaluate(inp).status == "fail"


def test_alarm_before_the_canary_started_does_not_count():
    inp = series_input(traffic([0.05, 0.05, 0.05, 0, 0, 0]), canary_start=180.0)
    assert AlarmAnalysis().evaluate(inp).status == "pass"


def test_total_combines_both_target_groups():
    canary = traffic([0.05, 0.05, 0.05], requests=100.0)  # 5 errors in 100
    base = traffic([0, 0, 0], requests=900.0)  # total 5 / 1000 = 0.005
    inp = series_input(canary, base)
    assert AlarmAnalysis(target_group="canary").evaluate(inp).status == "fail"
    assert AlarmAnalysis(target_group="total").evaluate(inp).status == "pass"
    assert AlarmAnalysis(target_group="total", threshold=0.004).evaluate(inp).status == "fail"


@pytest.mark.parametrize(
    "params, key",
    [
        ({"comparison": "Above"}, "comparison"),
        ({"treat_missing_data": "zero"}, "treat_missing_data"),
        ({"evaluation_periods": 0}, "evaluation_periods"),
        ({"evaluation_periods": 3, "datapoints_to_alarm": 4}, "datapoints_to_alarm"),
        ({"target_group": "blue"}, "target_group"),
        ({"target_group": "total", "metric": "TargetResponseTime_p99"}, "total"),
        ({"threshold": "high"}, "threshold"),
    ],
)
def test_bad_parameters_name_the_key(params, key):
    with pytest.raises(registry.AnalysisError, match=key):
        registry.make("alarm", **params)


def test_breaching_counts_the_periods_before_a_new_target_group_existed():
    inp = series_input(traffic([M, M, M, 0, 0, 0]), canary_start=180.0)
    breaching = AlarmAnalysis(
        treat_missing_data="breaching", evaluation_periods=3, datapoints_to_alarm=2
    )
    v = breaching.evaluate(inp)
    assert v.status == "fail" and "ALARM at the period starting 180" in v.reason
    assert breaching.set_params(treat_missing_data="notBreaching").evaluate(inp).status == "pass"
