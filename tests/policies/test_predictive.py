"""AWS predictive scaling (policies/autoscaling/predictive.py): tables on hand-built histories,
and a short simulation for the scheduling buffer."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from helpers import history as make_history
from helpers import observation, policy_scenario

from backends.sim import run_simulation
from policies import registry
from policies.autoscaling.predictive import (
    PredictiveScalingPolicy,
    hourly_means,
    seasonal_forecast,
)
from policies.checks import run_checks, sample_observations
from policies.contract import MetricHistory, Observation

HOUR = 3600.0
DAY = 86400.0
DELAY = 60.0
ENTRY_POINT = "policies.autoscaling.predictive:PredictiveScalingPolicy"


def sine_rate(t: np.ndarray) -> np.ndarray:
    """A clean daily sine, requests/s: 200..800, peak at 6 h."""
    return 500.0 + 300.0 * np.sin(2 * np.pi * t / DAY)


def history(rate_fn, until: float, period: float = 60.0, running: float = 10.0) -> MetricHistory:
    """Published periods before ``until``: RequestCount from ``rate_fn``, CPU proportional to
    load per task (a task carries 100 req/s at 100 % CPU, so 50 req/s at CPU 50 %)."""
    n = max(0, int(math.floor(until / period + 1e-9)))
    rate = rate_fn(np.arange(n) * period + period / 2)
    return make_history(
        period,
        RequestCount=rate * period,
        RunningTaskCount=np.full(n, running),
        HealthyHostCount=np.full(n, running),
        CPUUtilization=np.minimum(100.0, rate / running),
        RequestCountPerTarget=rate * period / running,
    )


def obs_at(
    t: float,
    rate_fn=sine_rate,
    desired: int = 5,
    lo: int = 1,
    hi: int = 100,
    delay: float = DELAY,
) -> Observation:
    return observation(
        metrics=history(rate_fn, t - delay),
        time=t,
        desired=desired,
        min_tasks=lo,
        max_tasks=hi,
    )


def peak_hour_rate(t: np.ndarray) -> np.ndarray:
    """200 req/s, except 1000 req/s from 10:00 to 11:00 every day."""
    return np.where((t % DAY >= 10 * HOUR) & (t % DAY < 11 * HOUR), 1000.0, 200.0)


# -- no action before 24 h -----------------------------------------------------------------------
def test_no_forecast_and_no_action_before_24h_of_history() -> None:
    p = PredictiveScalingPolicy()
    for t in (0.0, 3600.0, 12 * HOUR, DAY - 60.0, DAY):  # at DAY only 23 h 59 min are published
        d = p.decide(obs_at(t, desired=1))
        assert d.desired is None, d
        assert "no forecast yet" in d.reason
        assert getattr(p, "forecast_", None) is None
    d = p.decide(obs_at(DAY + DELAY + 60.0, desired=1))
    assert p.forecast_ is not None
    assert d.desired is not None and d.desired > 1


# -- the forecaster --------------------------------------------------------------------------------
def test_clean_daily_sine_forecast_within_a_few_percent() -> None:
    p = PredictiveScalingPolicy(mode="ForecastOnly")
    t = 3 * DAY + 5 * HOUR + 120.0
    d = p.decide(obs_at(t))
    assert d.desired is None and "ForecastOnly" in d.reason and "forecast" in d.reason
    assert p.forecast_made_at_ == t
    assert p.forecast_start_ == 3 * DAY + 5 * HOUR
    assert len(p.forecast_) >= 48
    # Truth: the hourly mean of the sine over each forecast hour.
    hours = p.forecast_start_ + HOUR * np.arange(len(p.forecast_))
    fine = hours[:, None] + np.linspace(0, HOUR, 3601)[None, :-1]
    truth = sine_rate(fine + 0.5).mean(axis=1)
    rel = np.abs(p.forecast_ - truth) / truth
    assert rel.max() < 0.03, rel.max()
    # Load per task at CPU 50 %: 50 req/s (a task carries 100 req/s at 100 % CPU).
    assert p.load_per_task_ == pytest.approx(50.0, rel=1e-6)
    np.testing.assert_array_equal(p.forecast_capacity_, np.ceil(p.forecast_ / 50.0 - 1e-9))


def test_level_adjustment_follows_a_trend() -> None:
    # Three days, each day 10% busier than the one before: the forecast follows the last day.
    hours = np.arange(72)
    means = 100.0 * (1.0 + 0.5 * np.sin(2 * np.pi * hours / 24)) * 1.1 ** (hours // 24)
    fc, how = seasonal_forecast(hours, means, np.arange(72, 96))
    last_day = means[48:]
    assert "level" in how
    assert fc.sum() == pytest.approx(last_day.sum(), rel=1e-9)  # level matches the last 24 h
    assert np.corrcoef(fc, last_day)[0, 1] > 0.999


def test_weekly_seasonality_learns_a_quiet_weekend() -> None:
    hours = np.arange(14 * 24)
    day = hours // 24
    means = np.where(day % 7 >= 5, 60.0, 100.0) * (1.0 + 0.5 * np.sin(2 * np.pi * hours / 24))
    future = np.arange(14 * 24, 16 * 24)  # a Monday and a Tuesday (day 14 = day 0 of a week)
    weekly, how = seasonal_forecast(hours, means, future, "weekly")
    assert "day-of-week" in how
    truth = 100.0 * (1.0 + 0.5 * np.sin(2 * np.pi * future / 24))
    # The last 24 h were a Sunday: the level adjustment corrects for the weekend in the weekly
    # model, and the daily model under-forecasts Monday.
    np.testing.assert_allclose(weekly, truth, rtol=1e-9)
    daily, _ = seasonal_forecast(hours, means, future, "daily")
    assert daily.mean() < 0.8 * truth.mean()


def test_hourly_means_keep_only_complete_hours() -> None:
    start = np.arange(0, 2.5 * HOUR, 60.0)
    values = np.ones(len(start))
    values[:30] = np.nan  # half of hour 0 missing: still a complete hour (all periods present)
    hours, means = hourly_means(start, values, 60.0)
    np.testing.assert_array_equal(hours, [0, 1])  # hour 2 is only half published
    np.testing.assert_allclose(means, [1.0, 1.0])
    hours, _ = hourly_means(start[5:], values[5:], 60.0)
    np.testing.assert_array_equal(hours, [1])  # hour 0 lacks periods


# -- scheduling buffer ----------------------------------------------------------------------------
def test_scales_out_scheduling_buffer_before_the_forecast_peak_hour() -> None:
    p = PredictiveScalingPolicy()
    base = 2 * DAY + 10 * HOUR  # the peak hour of the third day
    # Low hours: 200 req/s / 50 per task = 4 tasks; the peak hour: 1000 / 50 = 20 tasks.
    d = p.decide(obs_at(base - 2 * HOUR, peak_hour_rate, desired=4))
    assert d.desired is None and "never scales in" in d.reason
    d = p.decide(obs_at(base - 300.0 - 60.0, peak_hour_rate, desired=4))
    assert d.desired is None, d
    d = p.decide(obs_at(base - 300.0, peak_hour_rate, desired=4))
    assert d.desired == 20, d
    assert "scale out 4 -> 20" in d.reason and "buffer 300s" in d.reason
    # A 15-minute buffer scales out 15 minutes ahead.
    p = PredictiveScalingPolicy(scheduling_buffer=900.0)
    assert p.decide(obs_at(base - 960.0, peak_hour_rate, desired=4)).desired is None
    assert p.decide(obs_at(base - 900.0, peak_hour_rate, desired=4)).desired == 20


def test_in_the_simulator_scale_out_lands_scheduling_buffer_before_each_hour() -> None:
    from sim.simulation import Simulation

    sc = policy_scenario("30h", initial_tasks=5)
    rate = sine_rate(np.arange(sc.n_ticks) * sc.run.tick)
    policy = PredictiveScalingPolicy()
    result = run_simulation(Simulation(sc, rate=rate), policy)
    scale = result.events[result.events.event == "SCALE"]
    assert len(scale) >= 3
    # The first forecast is made once 24 h are published; every later scale-out comes
    # 300 s before an hour starts, for that hour's forecast.
    assert scale.time_s.iloc[0] > DAY
    later = scale.time_s.iloc[1:].to_numpy()
    np.testing.assert_allclose(later % HOUR, HOUR - 300.0)
    for reason, t in zip(scale.reason.iloc[1:], later, strict=True):
        assert f"hour from {t + 300.0:.0f}s" in reason
    desired = [int(r.split("desired ")[1].split(" -> ")[1].split(":")[0]) for r in scale.reason]
    assert desired == sorted(desired)  # never scales in


# -- never scales in; ForecastOnly --------------------------------------------------------------
def test_never_scales_in_on_its_own() -> None:
    p = PredictiveScalingPolicy()
    for k in range(0, 48 * 60, 7):
        t = 2 * DAY + 60.0 * k
        d = p.decide(obs_at(t, desired=30))
        assert d.desired is None, d
    assert "never scales in" in d.reason
    assert "<= desired 30" in d.reason


def test_forecast_only_never_changes_capacity_but_reports_the_forecast() -> None:
    p = PredictiveScalingPolicy(mode="ForecastOnly")
    act = PredictiveScalingPolicy()
    changed = 0
    for k in range(0, 24 * 60, 13):
        o = obs_at(2 * DAY + 60.0 * k, peak_hour_rate, desired=4)
        d = p.decide(o)
        assert d.desired is None and d.max_tasks is None and d.min_tasks is None
        assert d.reason.startswith("predictive (ForecastOnly): forecast ")
        assert "req/s" in d.reason and "tasks" in d.reason
        changed += act.decide(o).desired is not None
    assert changed > 0  # the same observations make ForecastAndScale act


# -- maximum capacity ------------------------------------------------------------------------------
def test_honor_max_capacity_clamps_to_max() -> None:
    p = PredictiveScalingPolicy()
    d = p.decide(obs_at(2 * DAY + 10 * HOUR - 300.0, peak_hour_rate, desired=4, hi=12))
    assert d.desired == 12 and d.max_tasks is None
    assert "clamped to [1, 12]" in d.reason


def test_increase_max_capacity_raises_max_by_the_buffer_then_restores_it() -> None:
    p = PredictiveScalingPolicy(
        max_capacity_breach_behavior="IncreaseMaxCapacity", max_capacity_buffer=10.0
    )
    t = 2 * DAY + 10 * HOUR - 300.0
    d = p.decide(obs_at(t, peak_hour_rate, desired=4, hi=12))
    # Forecast capacity 20 > max 12: effective max = ceil(20 x 1.1) = 22; desired 20.
    assert d.desired == 20 and d.max_tasks == 22
    assert "max 12 -> 22" in d.reason
    # While the peak lasts the range stays raised and no action is needed.
    d = p.decide(obs_at(t + 1800.0, peak_hour_rate, desired=20, hi=22))
    assert d.desired is None and d.max_tasks is None
    # After the peak: the configured max comes back, never below the current desired count
    # (restoring it must not scale in; only a dynamic policy does that).
    d = p.decide(obs_at(t + 2 * HOUR, peak_hour_rate, desired=20, hi=22))
    assert d.desired is None and d.max_tasks == 20
    d = p.decide(obs_at(t + 2 * HOUR + 60, peak_hour_rate, desired=6, hi=20))
    assert d.desired is None and d.max_tasks == 12
    assert getattr(p, "configured_max_", None) is None


def test_increase_max_capacity_with_zero_buffer_allows_exactly_the_forecast() -> None:
    p = PredictiveScalingPolicy(
        max_capacity_breach_behavior="IncreaseMaxCapacity", max_capacity_buffer=0.0
    )
    d = p.decide(obs_at(2 * DAY + 10 * HOUR - 300.0, peak_hour_rate, desired=4, hi=12))
    assert d.desired == 20 and d.max_tasks == 20


# -- refresh ---------------------------------------------------------------------------------------
def test_forecast_refreshes_every_6h_only() -> None:
    p = PredictiveScalingPolicy()
    made = []
    for k in range(int(23 * 60), int(50 * 60)):
        p.decide(obs_at(60.0 * k, desired=1))
        m = getattr(p, "forecast_made_at_", None)
        if m is not None and (not made or made[-1] != m):
            made.append(m)
    # First when 24 complete hours are published (24 h + the publication delay), then at the
    # first decision of each 6-hour slot.
    assert made == [DAY + DELAY, 30 * HOUR, 36 * HOUR, 42 * HOUR, 48 * HOUR]


def test_refresh_uses_only_the_history_visible_then() -> None:
    p = PredictiveScalingPolicy(mode="ForecastOnly")
    p.decide(obs_at(2 * DAY + 60.0))
    first = p.forecast_.copy()
    # A later observation in the same slot whose history differs does not change the forecast.
    p.decide(obs_at(2 * DAY + 3600.0, peak_hour_rate))
    np.testing.assert_array_equal(p.forecast_, first)
    p.decide(obs_at(2 * DAY + 6 * HOUR, peak_hour_rate))
    assert not np.array_equal(p.forecast_, first)


# -- combined with a dynamic policy ----------------------------------------------------------------
def test_holds_a_dynamic_scale_in_at_the_forecast() -> None:
    from policies.autoscaling.combine import CombinedPolicy

    class WantsIn:
        """A dynamic policy that always asks for 2 tasks."""

        interval_s = 60.0

        def decide(self, observation: Observation):
            from policies.contract import Decision

            return Decision(2, "dynamic: scale in to 2")

    t = 2 * DAY + 10 * HOUR + 600.0  # inside the peak hour: forecast capacity 20
    predictive = PredictiveScalingPolicy()
    combined = CombinedPolicy([predictive, WantsIn()])
    d = combined.decide(obs_at(t, peak_hour_rate, desired=20))
    assert d.desired is None  # at the forecast: predictive holds the capacity
    assert predictive.vetoes_scale_in()
    d = combined.decide(obs_at(t, peak_hour_rate, desired=30))
    # Above the forecast the dynamic policy may scale in, but only down to the forecast
    # capacity: AWS runs at the higher of the two.
    assert d.desired == 20
    assert not predictive.vetoes_scale_in()
    assert predictive.capacity_floor() == 20
    forecast_only = PredictiveScalingPolicy(mode="ForecastOnly")
    forecast_only.decide(obs_at(t, peak_hour_rate, desired=20))
    assert not forecast_only.vetoes_scale_in()


# -- metric pairs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("load_metric", "scaling_metric", "target", "expected"),
    [
        ("RequestCount", "CPUUtilization", 50.0, 20),  # 1000 / 50 req/s per task
        ("RequestCount", "CPUUtilization", 80.0, 13),  # 1000 / 80
        ("RequestCount", "RequestCountPerTarget", 3000.0, 20),  # 3000 per minute = 50 req/s
        ("CPUUtilization", "CPUUtilization", 50.0, 20),  # total CPU 1000 %-tasks / 50
    ],
)
def test_metric_pairs(load_metric: str, scaling_metric: str, target: float, expected: int) -> None:
    p = PredictiveScalingPolicy(
        load_metric=load_metric, scaling_metric=scaling_metric, target=target
    )
    d = p.decide(obs_at(2 * DAY + 10 * HOUR - 300.0, peak_hour_rate, desired=4))
    assert d.desired == expected, d.reason


def test_saturated_periods_do_not_bias_the_load_per_task() -> None:
    def overloaded(t: np.ndarray) -> np.ndarray:
        return np.where(t % DAY < 2 * HOUR, 5000.0, 300.0)  # 2 h a day at 100 % CPU

    p = PredictiveScalingPolicy(mode="ForecastOnly")
    p.decide(obs_at(2 * DAY, overloaded))
    assert p.load_per_task_ == pytest.approx(50.0)


# -- contract --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"mode": "Forecast"}, "mode"),
        ({"scheduling_buffer": 3600.0}, "scheduling_buffer"),
        ({"scheduling_buffer": -1.0}, "scheduling_buffer"),
        ({"max_capacity_buffer": 101.0}, "max_capacity_buffer"),
        ({"max_capacity_breach_behavior": "Ignore"}, "max_capacity_breach_behavior"),
        ({"load_metric": "Latency"}, "load_metric"),
        ({"scaling_metric": "RequestCount"}, "scaling_metric"),
        ({"target": 0.0}, "target"),
        ({"refresh": 0.0}, "refresh"),
        ({"seasonality": "yearly"}, "seasonality"),
        ({"history_window": 3600.0}, "history_window"),
    ],
)
def test_invalid_parameters_are_refused_by_name(params: dict, match: str) -> None:
    p = PredictiveScalingPolicy(**params)
    with pytest.raises(ValueError, match=match):
        p.decide(obs_at(2 * DAY))


def test_registry_defaults_and_conformance() -> None:
    if "predictive" not in registry.names():
        registry.register("predictive", ENTRY_POINT)
    p = registry.make("predictive")
    assert isinstance(p, PredictiveScalingPolicy)
    assert p.get_params()["mode"] == "ForecastAndScale"
    assert run_checks(p, "predictive") == []
    # With a short history requirement the forecast path runs inside the conformance suite.
    quick = PredictiveScalingPolicy(min_history=3600.0, refresh=3600.0)
    assert run_checks(quick, "predictive") == []
    obs = sample_observations(quick, n=200)
    decisions = [quick.decide(o) for o in obs]
    assert getattr(quick, "forecast_", None) is not None
    assert any(d.desired is not None for d in decisions)


def test_pickle_and_reset_after_a_forecast() -> None:
    p = PredictiveScalingPolicy()
    p.decide(obs_at(2 * DAY))
    q = pickle.loads(pickle.dumps(p))
    o = obs_at(2 * DAY + 10 * HOUR - 300.0, peak_hour_rate, desired=4)
    assert p.decide(o) == q.decide(o)
    p.reset()
    assert not [k for k in vars(p) if k.endswith("_")]


# -- warm start ----------------------------------------------------------------------------------
def test_warm_history_gives_a_forecast_from_the_first_decision() -> None:
    """Two days of history before time 0 (``warm_start``): the first decision already has a
    forecast, the same one as a policy that saw those two days as its own metrics."""
    past = history(sine_rate, 2 * DAY)  # periods 0 .. 2 days
    warm = make_history(
        60.0,
        start=-2 * DAY,
        **{name: past[name] for name in ("RequestCount", "RunningTaskCount", "CPUUtilization")},
    )
    cold = PredictiveScalingPolicy(mode="ForecastAndScale", target=50.0)
    d = cold.decide(obs_at(2 * HOUR))
    assert d.desired is None and "no forecast yet" in d.reason
    hot = PredictiveScalingPolicy(mode="ForecastAndScale", target=50.0).warm_start(warm)
    d_hot = hot.decide(obs_at(2 * HOUR))
    assert "no forecast yet" not in d_hot.reason
    assert hot.forecast_made_at_ == 2 * HOUR
    # the same as seeing the history as its own: shift everything by two days
    ref = PredictiveScalingPolicy(mode="ForecastAndScale", target=50.0)
    d_ref = ref.decide(obs_at(2 * DAY + 2 * HOUR))
    assert d_hot.desired == d_ref.desired
    assert np.array_equal(hot.forecast_capacity_, ref.forecast_capacity_)


def test_warm_history_after_the_metrics_start_is_refused() -> None:
    late = make_history(60.0, start=0.0, RequestCount=np.ones(10))
    p = PredictiveScalingPolicy().warm_start(late)
    with pytest.raises(ValueError, match="warm history"):
        p.decide(obs_at(2 * HOUR))
