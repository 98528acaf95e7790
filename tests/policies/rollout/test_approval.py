"""Human approval latency: working hours on the run's calendar, a lognormal delay drawn from
the generator passed in, the reviewer's catch probability and the approval timeout."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.rollout.approval import ApprovalLatency, approval_from_pipeline
from sim.pipeline_config import PipelineConfig
from sim.releases import DAY_S, HOUR_S, releases_config

H = HOUR_S
MON, TUE, FRI, SAT = 0 * DAY_S, 1 * DAY_S, 4 * DAY_S, 5 * DAY_S
NEXT_MON = 7 * DAY_S


@pytest.mark.parametrize(
    ("t", "work", "expected"),
    [
        (MON + 11 * H, 2 * H, MON + 13 * H),  # within the day
        (MON + 17 * H, 2 * H, TUE + 11 * H),  # one hour today, one tomorrow
        (MON + 20 * H, 1 * H, TUE + 11 * H),  # a night waits for the morning
        (MON + 3 * H, 0.0, MON + 10 * H),  # nothing to do still waits for office hours
        (MON + 12 * H, 0.0, MON + 12 * H),
        (FRI + 17 * H, 2 * H, NEXT_MON + 11 * H),  # a weekend waits for Monday
        (SAT + 12 * H, 0.5 * H, NEXT_MON + 10.5 * H),
        (MON + 10 * H, 16 * H, TUE + 18 * H),  # two full working days
        (MON + 18 * H, 8 * H, TUE + 18 * H),  # closing time is not working time
    ],
)
def test_working_time_skips_nights_and_weekends(t: float, work: float, expected: float) -> None:
    assert ApprovalLatency().after_working_time(t, work) == pytest.approx(expected, abs=1e-6)


def test_the_run_calendar_offset_places_run_time_zero() -> None:
    # the run starts on a Friday at 16:00: three working hours take it to Monday 11:00
    offset = FRI + 16 * H
    latency = ApprovalLatency(calendar_offset=offset)
    assert latency.after_working_time(0.0, 3 * H) == pytest.approx(NEXT_MON + 11 * H - offset)
    # and working hours are a parameter: a 9-17 team answers at 10:00 on Monday
    nine_to_five = ApprovalLatency(working_hours=(9 * H, 17 * H), calendar_offset=offset)
    assert nine_to_five.after_working_time(0.0, 2 * H) == pytest.approx(NEXT_MON + 10 * H - offset)


def test_approval_time_is_the_lognormal_draw_counted_in_working_hours() -> None:
    latency = ApprovalLatency(median=2 * H, sigma=0.7)
    z = np.random.default_rng(7).standard_normal()
    expected = latency.after_working_time(MON + 17 * H, 2 * H * math.exp(0.7 * z))
    assert latency.approval_time(MON + 17 * H, np.random.default_rng(7)) == expected
    # with no spread the delay is the median: 4 working hours from Friday 16:00 is Monday 12:00
    fixed = ApprovalLatency(median=4 * H, sigma=0.0)
    rng = np.random.default_rng(0)
    assert fixed.approval_time(FRI + 16 * H, rng) == pytest.approx(NEXT_MON + 12 * H)
    assert fixed.approval_time(MON + 17 * H, rng) == pytest.approx(TUE + 13 * H)


def test_delays_have_the_configured_median_in_working_time() -> None:
    latency = ApprovalLatency(median=1 * H, sigma=0.5)
    rng = np.random.default_rng(11)
    start = MON + 10 * H  # delays under 8 h stay within Monday, so working = wall clock
    waits = np.array([latency.approval_time(start, rng) - start for _ in range(2000)])
    assert np.all(waits > 0)
    # the sample median of 2,000 lognormal draws is within 5% of the median (sd about 2.8%)
    assert np.median(waits) == pytest.approx(1 * H, rel=0.05)


def test_same_seed_same_times_and_randomness_is_passed_in() -> None:
    latency = ApprovalLatency()
    times = [latency.approval_time(t * H, np.random.default_rng(3)) for t in range(0, 200, 7)]
    again = [latency.approval_time(t * H, np.random.default_rng(3)) for t in range(0, 200, 7)]
    assert times == again
    other = [latency.approval_time(t * H, np.random.default_rng(4)) for t in range(0, 200, 7)]
    assert times != other


def test_review_catches_bad_releases_by_probability_and_keeps_streams_aligned() -> None:
    strict = ApprovalLatency(catch_probability=1.0)
    rng_bad, rng_good = np.random.default_rng(5), np.random.default_rng(5)
    bad = strict.review(MON + 11 * H, True, rng_bad)
    good = strict.review(MON + 11 * H, False, rng_good)
    assert (bad.approved, good.approved) == (False, True)
    assert bad.decided_at == good.decided_at and bad.waited_s > 0
    assert "rejected" in bad.reason
    assert rng_bad.random() == rng_good.random()  # the truth does not shift the stream
    lax = ApprovalLatency()  # catch_probability 0: a human gate only costs time
    assert lax.review(MON + 11 * H, True, np.random.default_rng(5)).approved


def test_an_approval_not_given_within_the_timeout_fails() -> None:
    slow = ApprovalLatency(median=200 * H, sigma=0.0, timeout=7 * DAY_S)
    result = slow.review(MON + 11 * H, False, np.random.default_rng(0))
    assert not result.approved
    assert result.waited_s == 7 * DAY_S
    assert "timeout" in result.reason


def test_from_the_scenario_sections() -> None:
    releases = releases_config({"working_hours": ["8h", "16h"], "calendar_offset": "2d"})
    pipeline = PipelineConfig(approval_median="30m", approval_catch_probability=0.2)
    latency = approval_from_pipeline(pipeline, releases)
    assert latency.get_params() == {
        "median": 1800.0,
        "sigma": 1.0,
        "working_hours": (8 * H, 16 * H),
        "calendar_offset": 2 * DAY_S,
        "catch_probability": 0.2,
        "timeout": 7 * DAY_S,
    }
    assert approval_from_pipeline(PipelineConfig()).get_params() == ApprovalLatency().get_params()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"median": 0}, "median must be > 0"),
        ({"sigma": -1}, "sigma must be >= 0"),
        ({"working_hours": (18 * H, 10 * H)}, "working_hours must be"),
        ({"calendar_offset": 8 * DAY_S}, "calendar_offset must be in"),
        ({"catch_probability": 1.5}, "catch_probability must be in"),
        ({"timeout": 0}, "timeout must be > 0"),
    ],
)
def test_bad_parameters_are_refused_by_name(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ApprovalLatency(**params).approval_time(0.0, np.random.default_rng(0))
