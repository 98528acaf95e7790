"""Tests for sim.traffic: durations, config models, synthetic load, trace replay, arrivals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sim.traces.base import Trace
from sim.traffic.config import FlashCrowd, SyntheticTraffic, TrafficConfig, parse_duration
from sim.traffic.rates import arrivals, build_rate
from sim.traffic.replay import trace_rate
from sim.traffic.synthetic import synthetic_rate

DAY = 86400.0


def make_trace(counts, interval_s=60.0, start="2020-01-06T00:00:00", name="t") -> Trace:
    return Trace(
        name=name,
        start=np.datetime64(start, "s"),
        interval_s=float(interval_s),
        counts=np.asarray(counts, dtype=np.float64),
        source="test",
    )


def quiet(**kw) -> SyntheticTraffic:
    """Synthetic config without noise, so shapes can be checked exactly."""
    return SyntheticTraffic(noise_cv=0.0, **kw)


# --------------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (30, 30.0),
        (2.5, 2.5),
        ("45", 45.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("7d", 7 * DAY),
        ("1h30m", 5400.0),
        ("1d 2h 3m 4s", DAY + 7200 + 180 + 4),
        ("1.5h", 5400.0),
        (" 10M ", 600.0),
    ],
)
def test_parse_duration_good(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (-1, "-1"),
        ("-5m", "'-5m'"),
        ("", "''"),
        ("abc", "'abc'"),
        ("5x", "'5x'"),
        ("m5", "'m5'"),
        ("5m5", "'5m5'"),
        ("1h1h", "appears twice"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (True, "True"),
        (None, "None"),
        ([5], "[5]"),
    ],
)
def test_parse_duration_bad(value, fragment):
    with pytest.raises(ValueError, match="invalid duration") as err:
        parse_duration(value)
    assert fragment in str(err.value)


def test_duration_fields_accept_strings():
    fc = FlashCrowd(at="1h", multiplier=2, rise="5m", decay=120)
    assert (fc.at, fc.rise, fc.decay) == (3600.0, 300.0, 120.0)
    assert TrafficConfig(resolution="5m").resolution == 300.0
    assert SyntheticTraffic(noise_corr_s="10m").noise_corr_s == 600.0


def test_bad_duration_field_names_key_and_value():
    with pytest.raises(ValidationError) as err:
        TrafficConfig.model_validate({"synthetic": {"flash_crowds": [{"at": "soon"}]}})
    text = str(err.value)
    assert "synthetic.flash_crowds.0.at" in text
    assert "'soon'" in text
    with pytest.raises(ValidationError, match="rise"):
        FlashCrowd(at=0, multiplier=1, rise=0, decay=1)


# --------------------------------------------------------------------------- config models


def test_defaults():
    cfg = TrafficConfig()
    assert cfg.trace is None
    assert cfg.resolution == 60.0
    assert (cfg.gap_policy, cfg.interpolation, cfg.arrivals) == ("interpolate", "step", "poisson")
    assert cfg.scale == 1.0
    s = cfg.synthetic
    assert (s.base_rps, s.daily_amplitude, s.daily_peak_hour, s.weekend_factor) == (
        500.0,
        0.6,
        14.0,
        0.6,
    )
    assert (s.trend_per_day, s.noise_cv, s.noise_corr_s) == (0.0, 0.05, 300.0)
    assert (s.start_weekday, s.start_hour, s.flash_crowds) == (0, 0.0, [])


def test_peak_and_mean_together_refused():
    with pytest.raises(ValidationError) as err:
        TrafficConfig(trace="nasa", peak_rps=100, mean_rps=50)
    assert "peak_rps" in str(err.value)
    assert "mean_rps" in str(err.value)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"peak_rp": 3}, "peak_rp"),
        ({"synthetic": {"base": 3}}, "synthetic.base"),
        (
            {
                "synthetic": {
                    "flash_crowds": [{"at": 1, "multiplier": 1, "rise": 1, "decay": 1, "x": 0}]
                }
            },
            "synthetic.flash_crowds.0.x",
        ),
    ],
)
def test_unknown_key_refused(data, key):
    with pytest.raises(ValidationError) as err:
        TrafficConfig.model_validate(data)
    assert key in str(err.value)
    assert "Extra inputs are not permitted" in str(err.value)


def test_literals_and_start_validated():
    with pytest.raises(ValidationError, match="gap_policy"):
        TrafficConfig(gap_policy="zero")
    with pytest.raises(ValidationError, match="'yesterday'"):
        TrafficConfig(trace="x", start="yesterday")
    with pytest.raises(ValidationError, match="UTC offset"):
        TrafficConfig(trace="x", start="2020-01-01T00:00:00+02:00")
    with pytest.raises(ValidationError, match="start only apply to a trace"):
        TrafficConfig(start="2020-01-01T00:00:00")
    assert TrafficConfig(trace="x", start="2020-01-01 06:30").start.hour == 6


# --------------------------------------------------------------------------- synthetic


def test_synthetic_length_and_defaults_run():
    r = synthetic_rate(SyntheticTraffic(), 3601, 2.0, np.random.default_rng(0))
    assert r.shape == (1801,)
    assert r.dtype == np.float64
    assert synthetic_rate(SyntheticTraffic(), 10 * DAY, 0.1, np.random.default_rng(0)).size == (
        8_640_000
    )


def test_synthetic_mean_is_base_rps_over_whole_weeks():
    r = synthetic_rate(quiet(base_rps=200), 14 * DAY, 60.0, np.random.default_rng(0))
    assert r.mean() == pytest.approx(200.0, rel=1e-9)
    noisy = synthetic_rate(SyntheticTraffic(base_rps=200), 14 * DAY, 60.0, np.random.default_rng(1))
    assert noisy.mean() == pytest.approx(200.0, rel=0.01)


@pytest.mark.parametrize("peak_hour", [14.0, 3.0, 20.5])
def test_synthetic_daily_peak_near_peak_hour(peak_hour):
    cfg = SyntheticTraffic(daily_peak_hour=peak_hour)  # default noise
    r = synthetic_rate(cfg, 5 * DAY, 60.0, np.random.default_rng(3))  # Monday..Friday
    by_minute_of_day = r.reshape(5, 1440).mean(axis=0)
    peak = np.argmax(by_minute_of_day) / 60.0
    assert abs((peak - peak_hour + 12) % 24 - 12) < 1.0
    # peak/trough of the daily sine: (1 + a) / (1 - a) = 4 for the default a = 0.6
    q = quiet(daily_peak_hour=peak_hour)
    day = synthetic_rate(q, DAY, 60.0, np.random.default_rng(0))
    assert day.max() / day.min() == pytest.approx(4.0, rel=1e-3)


def test_synthetic_start_hour_and_weekday_shift_the_pattern():
    a = synthetic_rate(quiet(), 7 * DAY, 60.0, np.random.default_rng(0))
    b = synthetic_rate(quiet(start_weekday=2, start_hour=6), DAY, 60.0, np.random.default_rng(0))
    offset = int((2 * DAY + 6 * 3600) / 60)
    np.testing.assert_allclose(b, a[offset : offset + b.size], rtol=1e-12)


def test_synthetic_weekend_lower_by_weekend_factor():
    cfg = SyntheticTraffic(weekend_factor=0.5, start_weekday=0)
    r = synthetic_rate(cfg, 14 * DAY, 60.0, np.random.default_rng(7))
    days = r.reshape(14, -1).mean(axis=1)
    weekday = np.r_[days[0:5], days[7:12]].mean()
    weekend = np.r_[days[5:7], days[12:14]].mean()
    assert weekend / weekday == pytest.approx(0.5, rel=0.02)
    exact = synthetic_rate(quiet(weekend_factor=0.5), 7 * DAY, 60.0, np.random.default_rng(0))
    d = exact.reshape(7, -1).mean(axis=1)
    assert d[5] / d[0] == pytest.approx(0.5, rel=1e-12)


def test_synthetic_trend_compounds():
    r = synthetic_rate(quiet(trend_per_day=0.1, daily_amplitude=0), 7 * DAY, 60, None)
    assert r[1440] / r[0] == pytest.approx(1.1, rel=1e-12)
    assert r[4 * 1440] / r[0] == pytest.approx(1.1**4, rel=1e-12)


def test_flash_crowd_shape():
    fc = FlashCrowd(at="2h", multiplier=3, rise="10m", decay="20m")
    base = quiet(daily_amplitude=0, weekend_factor=1, base_rps=100)
    cfg = base.model_copy(update={"flash_crowds": [fc]})
    r = synthetic_rate(cfg, 6 * 3600, 1.0, np.random.default_rng(0))
    peak_i = int(fc.at + fc.rise)
    assert np.argmax(r) == peak_i
    assert r[peak_i] == pytest.approx(100 * (1 + 3), rel=1e-12)
    assert r[int(fc.at) - 1] == pytest.approx(100.0)  # untouched before
    assert r[int(fc.at + fc.rise / 2)] == pytest.approx(100 * (1 + 1.5))  # half way up the ramp
    one_tau = peak_i + int(fc.decay)
    assert r[one_tau] == pytest.approx(100 * (1 + 3 * math.exp(-1)))
    assert np.all(np.diff(r[peak_i:]) <= 0)  # decays monotonically
    assert r[-1] == pytest.approx(100.0, rel=1e-4)


def test_flash_crowd_on_noisy_baseline_scales_the_baseline():
    fc = FlashCrowd(at=600, multiplier=2, rise=60, decay=60)
    cfg = SyntheticTraffic(flash_crowds=[fc])
    with_fc = synthetic_rate(cfg, 3600, 1.0, np.random.default_rng(5))
    without = synthetic_rate(SyntheticTraffic(), 3600, 1.0, np.random.default_rng(5))
    assert with_fc[660] == pytest.approx(3 * without[660])


def test_synthetic_seeded_reproducible():
    cfg = SyntheticTraffic(noise_cv=0.2)
    a = synthetic_rate(cfg, DAY, 1.0, np.random.default_rng(42))
    b = synthetic_rate(cfg, DAY, 1.0, np.random.default_rng(42))
    c = synthetic_rate(cfg, DAY, 1.0, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_synthetic_noise_cv_and_correlation():
    cfg = SyntheticTraffic(
        daily_amplitude=0, weekend_factor=1, noise_cv=0.3, noise_corr_s=600, base_rps=1
    )
    r = synthetic_rate(cfg, 60 * DAY, 60.0, np.random.default_rng(11))
    assert r.mean() == pytest.approx(1.0, rel=0.03)
    assert r.std() / r.mean() == pytest.approx(0.3, rel=0.05)
    z = np.log(r)
    z -= z.mean()
    lag1 = (z[1:] * z[:-1]).mean() / z.var()
    assert lag1 == pytest.approx(math.exp(-60 / 600), abs=0.02)


@settings(max_examples=60, deadline=None)
@given(
    base=st.floats(0, 1e5),
    amp=st.floats(0, 1),
    peak=st.floats(0, 23.99),
    weekend=st.floats(0, 3),
    trend=st.floats(-0.9, 1.0),
    cv=st.floats(0, 3),
    corr=st.floats(0, 1e5),
    weekday=st.integers(0, 6),
    hour=st.floats(0, 23.99),
    mult=st.floats(0.01, 100),
    tick=st.sampled_from([0.5, 1.0, 5.0, 60.0, 300.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_synthetic_never_negative(
    base, amp, peak, weekend, trend, cv, corr, weekday, hour, mult, tick, seed
):
    cfg = SyntheticTraffic(
        base_rps=base,
        daily_amplitude=amp,
        daily_peak_hour=peak,
        weekend_factor=weekend,
        trend_per_day=trend,
        noise_cv=cv,
        noise_corr_s=corr,
        start_weekday=weekday,
        start_hour=hour,
        flash_crowds=[FlashCrowd(at=100, multiplier=mult, rise=50, decay=500)],
    )
    r = synthetic_rate(cfg, 2 * DAY, tick, np.random.default_rng(seed))
    assert r.size == math.ceil(2 * DAY / tick)
    assert np.all(np.isfinite(r))
    assert np.all(r >= 0)


# --------------------------------------------------------------------------- trace_rate


def test_trace_step_replays_rates_per_tick():
    tr = make_trace([60, 120, 180, 240], interval_s=60)
    r = trace_rate(tr, TrafficConfig(trace="t"), 240, 1.0)
    assert r.shape == (240,)
    np.testing.assert_allclose(r, np.repeat([1.0, 2.0, 3.0, 4.0], 60))


def test_trace_rescale_peak_exact():
    rng = np.random.default_rng(0)
    tr = make_trace(rng.uniform(10, 1000, 2000), interval_s=60)
    for interp in ("step", "linear"):
        for tick in (1.0, 0.3, 7.0):
            cfg = TrafficConfig(trace="t", peak_rps=1234.567, interpolation=interp)
            r = trace_rate(tr, cfg, 1000 * 60, tick)
            assert r.max() == 1234.567


def test_trace_rescale_mean():
    tr = make_trace(np.random.default_rng(1).uniform(0, 50, 500), interval_s=300)
    r = trace_rate(tr, TrafficConfig(trace="t", mean_rps=42.0), 400 * 300, 1.0)
    assert r.mean() == pytest.approx(42.0, rel=1e-12)
    scaled = trace_rate(tr, TrafficConfig(trace="t", mean_rps=42.0, scale=2), 400 * 300, 1.0)
    np.testing.assert_allclose(scaled, 2 * r)


def test_trace_own_rate_when_no_rescale():
    tr = make_trace([300.0, 600.0], interval_s=300)
    r = trace_rate(tr, TrafficConfig(trace="t"), 600, 60)
    np.testing.assert_allclose(r, [1.0] * 5 + [2.0] * 5)


def test_trace_gap_interpolated_not_zero():
    tr = make_trace([60, np.nan, np.nan, 240, 240], interval_s=60)
    r = trace_rate(tr, TrafficConfig(trace="t"), 300, 60)
    np.testing.assert_allclose(r, [1, 2, 3, 4, 4])


def test_trace_gap_held():
    tr = make_trace([60, np.nan, np.nan, 240, 240], interval_s=60)
    r = trace_rate(tr, TrafficConfig(trace="t", gap_policy="hold"), 300, 60)
    np.testing.assert_allclose(r, [1, 1, 1, 4, 4])


@pytest.mark.parametrize("policy", ["interpolate", "hold"])
def test_trace_leading_gap_takes_first_valid(policy):
    tr = make_trace([np.nan, np.nan, 120, 180], interval_s=60)
    r = trace_rate(tr, TrafficConfig(trace="t", gap_policy=policy), 240, 60)
    np.testing.assert_allclose(r, [2, 2, 2, 3])


def test_trace_all_missing_window_refused():
    tr = make_trace([60, np.nan, np.nan, np.nan, 60], interval_s=60)
    cfg = TrafficConfig(trace="t", start="2020-01-06T00:01:00")
    with pytest.raises(ValueError, match="missing"):
        trace_rate(tr, cfg, 180, 1.0)


def test_trace_aggregation_conserves_requests():
    counts = np.random.default_rng(2).poisson(0.7, 3 * 3600).astype(float)
    tr = make_trace(counts, interval_s=1)
    for tick in (1.0, 0.5, 60.0, 120.0):
        r = trace_rate(tr, TrafficConfig(trace="t"), 3 * 3600, tick)
        assert r.sum() * tick == pytest.approx(counts.sum(), rel=1e-12)
    # Each minute is replaced by its own mean rate (no per-second Poisson noise left).
    fine = trace_rate(tr, TrafficConfig(trace="t"), 3 * 3600, 1.0).reshape(-1, 60)
    np.testing.assert_allclose(fine, np.repeat(counts.reshape(-1, 60).mean(axis=1)[:, None], 60, 1))
    # resolution "1s" keeps the per-second series as it is
    raw = trace_rate(tr, TrafficConfig(trace="t", resolution="1s"), 3 * 3600, 1.0)
    np.testing.assert_array_equal(raw, counts)


@settings(max_examples=60, deadline=None)
@given(
    offset=st.integers(0, 3600),
    tick=st.sampled_from([0.25, 1.0, 3.0, 60.0, 90.0]),
    interval=st.sampled_from([1.0, 10.0, 60.0, 300.0]),
    seed=st.integers(0, 1000),
)
def test_trace_step_conserves_requests_in_window(offset, tick, interval, seed):
    """Whatever the start offset and tick, step replay integrates the (aggregated) trace."""
    n = int(4 * 3600 / interval)
    counts = np.random.default_rng(seed).uniform(0, 100, n)
    tr = make_trace(counts, interval_s=interval)
    start = tr.start + np.timedelta64(offset, "s")
    duration = 3600 - (3600 % tick)  # a whole number of ticks
    cfg = TrafficConfig(trace="t", start=str(start))
    r = trace_rate(tr, cfg, duration, tick)
    assert np.all(r >= 0)
    k = max(1, round(60 / interval)) if interval < 60 else 1
    bin_s = k * interval
    i0 = int(offset // interval)
    bins = counts[i0 : i0 + int(2 * 3600 / bin_s) * k].reshape(-1, k).sum(axis=1)
    edges = np.r_[0.0, np.cumsum(bins)]
    lo = (offset - i0 * interval) / bin_s
    hi = lo + duration / bin_s
    expected = np.interp(hi, np.arange(edges.size), edges) - np.interp(
        lo, np.arange(edges.size), edges
    )
    assert r.sum() * tick == pytest.approx(expected, rel=1e-9)


def test_trace_aggregation_bin_with_missing_seconds_uses_valid_mean():
    counts = np.ones(120)
    counts[:30] = np.nan  # half of the first minute missing: rate stays 1/s, not 0.5/s
    r = trace_rate(make_trace(counts, interval_s=1), TrafficConfig(trace="t"), 120, 60)
    np.testing.assert_allclose(r, [1.0, 1.0])


def test_trace_resolution_not_applied_to_coarser_traces():
    counts = np.arange(1, 11) * 300.0
    tr = make_trace(counts, interval_s=300)
    r = trace_rate(tr, TrafficConfig(trace="t", resolution="1m"), 3000, 300)
    np.testing.assert_allclose(r, np.arange(1, 11))


def test_trace_window_start_selects_slice():
    tr = make_trace(np.arange(100) * 60.0, interval_s=60, start="2020-01-06T00:00:00")
    cfg = TrafficConfig(trace="t", start="2020-01-06T00:10:00")
    r = trace_rate(tr, cfg, 300, 60)
    np.testing.assert_allclose(r, [10, 11, 12, 13, 14])
    # A start between grid points uses the interval containing it.
    mid = TrafficConfig(trace="t", start="2020-01-06T00:10:30")
    r = trace_rate(tr, mid, 300, 30)
    np.testing.assert_allclose(r[:3], [10, 11, 11])


def test_trace_window_start_with_aggregation():
    counts = np.repeat(np.arange(30.0), 60)  # minute m has rate m per second
    tr = make_trace(counts, interval_s=1)
    cfg = TrafficConfig(trace="t", start="2020-01-06T00:05:00")
    r = trace_rate(tr, cfg, 600, 60)
    np.testing.assert_allclose(r, np.arange(5.0, 15.0))


def test_trace_too_short_message():
    tr = make_trace(np.ones(60), interval_s=60, name="tiny")
    with pytest.raises(ValueError) as err:
        trace_rate(tr, TrafficConfig(trace="tiny"), 2 * 3600, 1.0)
    msg = str(err.value)
    assert "'tiny'" in msg
    assert "2020-01-06T00:00:00" in msg and "2020-01-06T01:00:00" in msg
    assert "3600 s" in msg and "7200 s" in msg
    late = TrafficConfig(trace="tiny", start="2020-01-06T00:30:00")
    with pytest.raises(ValueError, match="does not fit"):
        trace_rate(tr, late, 3600, 1.0)
    early = TrafficConfig(trace="tiny", start="2020-01-05T23:59:00")
    with pytest.raises(ValueError, match="does not fit"):
        trace_rate(tr, early, 60, 1.0)
    # exactly the whole trace is fine
    assert trace_rate(tr, TrafficConfig(trace="tiny"), 3600, 1.0).size == 3600


def test_trace_linear_interpolation_between_centres():
    tr = make_trace([60.0, 120.0, 180.0], interval_s=60)
    r = trace_rate(tr, TrafficConfig(trace="t", interpolation="linear"), 180, 30)
    # tick midpoints at 15, 45, ... s; centres at 30, 90, 150 s with rates 1, 2, 3
    np.testing.assert_allclose(r, [1.0, 1.25, 1.75, 2.25, 2.75, 3.0])


def test_trace_linear_uses_neighbour_outside_window():
    tr = make_trace([60.0, 120.0, 180.0], interval_s=60)
    cfg = TrafficConfig(trace="t", interpolation="linear", start="2020-01-06T00:01:00")
    r = trace_rate(tr, cfg, 60, 30)
    np.testing.assert_allclose(r, [1.75, 2.25])


def test_trace_rate_does_not_modify_trace():
    counts = np.array([60.0, np.nan, 180.0])
    tr = make_trace(counts, interval_s=60)
    trace_rate(tr, TrafficConfig(trace="t", peak_rps=9), 180, 1)
    assert np.isnan(tr.counts[1]) and tr.counts[0] == 60.0


# --------------------------------------------------------------------------- arrivals


def test_arrivals_deterministic():
    rate = np.array([0.0, 0.5, 10.0, 3.3])
    np.testing.assert_array_equal(arrivals(rate, 2.0, None, mode="deterministic"), rate * 2.0)


def test_arrivals_poisson_mean_and_reproducible():
    rate = np.full(200_000, 3.7)
    a = arrivals(rate, 0.5, np.random.default_rng(9))
    assert a.dtype == np.float64
    assert a.mean() == pytest.approx(3.7 * 0.5, rel=0.01)
    assert a.var() == pytest.approx(3.7 * 0.5, rel=0.02)
    np.testing.assert_array_equal(a, arrivals(rate, 0.5, np.random.default_rng(9)))
    assert not np.array_equal(a, arrivals(rate, 0.5, np.random.default_rng(10)))


def test_arrivals_refuses_bad_input():
    with pytest.raises(ValueError, match="mode"):
        arrivals(np.ones(3), 1.0, np.random.default_rng(0), mode="bursty")
    with pytest.raises(ValueError, match="rate"):
        arrivals(np.array([1.0, -1.0]), 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rate"):
        arrivals(np.array([np.nan]), 1.0, np.random.default_rng(0))


# --------------------------------------------------------------------------- build_rate


def test_build_rate_synthetic_with_rescale_and_scale():
    cfg = TrafficConfig(peak_rps=800.0, scale=0.5)
    r = build_rate(cfg, DAY, 10.0, np.random.default_rng(0))
    assert r.max() == pytest.approx(400.0)


def test_build_rate_csv_with_columns(tmp_path):
    csv = tmp_path / "load.csv"
    csv.write_text(
        "when,other,hits\n"
        "2021-03-01 00:00:00,9,60\n"
        "2021-03-01 00:01:00,9,120\n"
        "2021-03-01 00:02:00,9,180\n"
    )
    cfg = TrafficConfig(trace="load.csv", time_column="when", value_column="hits")
    r = build_rate(cfg, 180, 60, np.random.default_rng(0), base_dir=tmp_path)
    np.testing.assert_allclose(r, [1.0, 2.0, 3.0])
    other = cfg.model_copy(update={"value_column": "other"})
    np.testing.assert_allclose(build_rate(other, 180, 60, None, base_dir=tmp_path), [0.15] * 3)


def test_build_rate_uses_loader():
    seen = []

    def loader(name, base_dir):
        seen.append((name, base_dir))
        return make_trace([60.0, 120.0], interval_s=60, name=name)

    cfg = TrafficConfig(trace="mine.csv", peak_rps=10)
    r = build_rate(cfg, 120, 60, np.random.default_rng(0), base_dir="/x", trace_loader=loader)
    assert seen == [("mine.csv", "/x")]
    np.testing.assert_allclose(r, [5.0, 10.0])
