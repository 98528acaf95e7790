"""ScheduledPolicy: AWS cron/rate/at parsing, time zones, and the push into the new range.

Sources: "How scheduled scaling for Application Auto Scaling works"
(https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-policy-overview.html)
and PutScheduledAction's Schedule syntax (Application Auto Scaling API reference).
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from helpers import history, observation, policy_scenario

from backends.sim import run_simulation
from policies.autoscaling.combine import CombinedPolicy
from policies.autoscaling.scheduled import ScheduledPolicy, parse_action, parse_cron
from policies.autoscaling.target_tracking import TargetTrackingPolicy
from policies.contract import Observation


def obs(t: float, desired: int = 4, lo: int = 1, hi: int = 50) -> Observation:
    return observation(time=t, desired=desired, min_tasks=lo, max_tasks=hi)


def epoch(*args: int, tz: str = "UTC") -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %a %H:%M")


def fires(expr: str, tz: str, since: tuple[int, ...], until: tuple[int, ...]) -> list[str]:
    cron = parse_cron(expr)
    return [utc(t) for t in cron.fire_times(ZoneInfo(tz), epoch(*since), epoch(*until))]


# -- cron parsing -------------------------------------------------------------------------
ALL_MIN = frozenset(range(60))


@pytest.mark.parametrize(
    "expr, field, expected",
    [
        ("0 8 ? * MON-FRI *", "days_of_week", {2, 3, 4, 5, 6}),  # 1 = SUN in AWS cron
        ("0 8 ? * mon,wed,fri *", "days_of_week", {2, 4, 6}),
        ("0 8 ? * SUN *", "days_of_week", {1}),
        ("0 8 ? * FRI-MON *", "days_of_week", {6, 7, 1, 2}),  # a range may wrap
        ("0 8 ? * 1-7 *", "days_of_week", set(range(1, 8))),
        ("0 8 ? * MON-FRI *", "days_of_month", None),
        ("0 8 15 * ? *", "days_of_month", {15}),
        ("0 8 1/10 * ? *", "days_of_month", {1, 11, 21, 31}),
        ("*/15 8 * * ? *", "minutes", {0, 15, 30, 45}),
        ("1/10 8 * * ? *", "minutes", {1, 11, 21, 31, 41, 51}),  # EventBridge's own example
        ("5-20/5 8 * * ? *", "minutes", {5, 10, 15, 20}),
        ("* 8 * * ? *", "minutes", ALL_MIN),
        ("0 22-2 * * ? *", "hours", {22, 23, 0, 1, 2}),
        ("0 6,18 * * ? *", "hours", {6, 18}),
        ("0 8 * JAN-MAR,DEC ? *", "months", {1, 2, 3, 12}),
        ("0 8 * jul ? *", "months", {7}),
        ("0 8 * */3 ? *", "months", {1, 4, 7, 10}),
        ("0 8 * * ? 2026-2027", "years", {2026, 2027}),
        ("0 8 * * ? 2026/100", "years", {2026, 2126}),
    ],
)
def test_cron_field_parsing(expr: str, field: str, expected: set[int] | None) -> None:
    value = getattr(parse_cron(expr), field)
    assert value == (None if expected is None else frozenset(expected))


@pytest.mark.parametrize(
    "expr, message",
    [
        ("0 8 * * ?", "6 fields"),
        ("0 8 * * * *", "exactly one of day-of-month and day-of-week"),
        ("0 8 ? * ? *", "exactly one of day-of-month and day-of-week"),
        ("0 8 1 * MON *", "exactly one of day-of-month and day-of-week"),
        ("60 8 * * ? *", "minutes: 60 is outside 0-59"),
        ("0 24 * * ? *", "hours: 24 is outside 0-23"),
        ("0 8 0 * ? *", "day-of-month: 0 is outside 1-31"),
        ("0 8 ? * 8 *", "day-of-week: 8 is outside 1-7"),
        ("0 8 * 13 ? *", "month: 13 is outside 1-12"),
        ("0 8 * * ? 1969", "year: 1969 is outside 1970-2199"),
        ("0 8 * FOO ? *", "'FOO' is not a value"),
        ("0 8 L * ? *", "L, W or #"),
        ("0 8 ? * 6L *", "L, W or #"),
        ("0 8 15W * ? *", "L, W or #"),
        ("0 8 LW * ? *", "L, W or #"),
        ("0 8 ? * 3#2 *", "L, W or #"),
        ("0 8 ? * MON/2 *", "'/' wildcard is not allowed"),
        ("? 8 * * ? *", "'?' is only allowed"),
        ("0/0 8 * * ? *", "step"),
        ("0 8 * * ? 2027-2026", "runs backwards"),
        ("0 8 1,,2 * ? *", "empty list element"),
    ],
)
def test_cron_errors(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_cron(expr)


# -- cron firing: day of week, time zones, DST --------------------------------------------
def test_weekdays_only_in_utc() -> None:
    # 2026-01-05 is a Monday: five firings, none on the weekend.
    got = fires("0 8 ? * MON-FRI *", "UTC", (2026, 1, 4), (2026, 1, 11))
    assert got == [
        "2026-01-05 Mon 08:00",
        "2026-01-06 Tue 08:00",
        "2026-01-07 Wed 08:00",
        "2026-01-08 Thu 08:00",
        "2026-01-09 Fri 08:00",
    ]


def test_sunday_is_day_one() -> None:
    assert fires("0 0 ? * 1 *", "UTC", (2026, 1, 1), (2026, 1, 12)) == [
        "2026-01-04 Sun 00:00",
        "2026-01-11 Sun 00:00",
    ]


def test_day_of_month_and_month_names() -> None:
    assert fires("30 6 1 JAN,JUL ? *", "UTC", (2026, 1, 1), (2027, 1, 1)) == [
        "2026-01-01 Thu 06:30",
        "2026-07-01 Wed 06:30",
    ]


def test_year_field_limits_firings() -> None:
    assert fires("0 0 1 1 ? 2027", "UTC", (2025, 12, 1), (2028, 2, 1)) == ["2027-01-01 Fri 00:00"]


def test_time_zone_follows_daylight_saving() -> None:
    # New York moves from EST (UTC-5) to EDT (UTC-4) on Sunday 2026-03-08: 08:00 local is
    # 13:00 UTC on Friday 6 March and 12:00 UTC on Monday 9 March.
    got = fires("0 8 ? * MON-FRI *", "America/New_York", (2026, 3, 5, 12), (2026, 3, 10, 0))
    assert got == [
        "2026-03-05 Thu 13:00",
        "2026-03-06 Fri 13:00",
        "2026-03-09 Mon 12:00",
    ]
    # And back on Sunday 2026-11-01.
    got = fires("0 8 ? * MON-FRI *", "America/New_York", (2026, 10, 30), (2026, 11, 3))
    assert got == ["2026-10-30 Fri 12:00", "2026-11-02 Mon 13:00"]


def test_dst_gap_and_repeated_hour() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: fires at 03:30 EDT (07:30 UTC), once.
    got = fires("30 2 * * ? *", "America/New_York", (2026, 3, 7), (2026, 3, 10))
    assert got == ["2026-03-07 Sat 07:30", "2026-03-08 Sun 07:30", "2026-03-09 Mon 06:30"]
    # 01:30 happens twice on 2026-11-01: fires once, at the first (EDT) occurrence.
    got = fires("30 1 * * ? *", "America/New_York", (2026, 10, 31), (2026, 11, 3))
    assert got == ["2026-10-31 Sat 05:30", "2026-11-01 Sun 05:30", "2026-11-02 Mon 06:30"]
    # An hourly schedule loses no instant and fires at no instant twice across the change.
    hourly = fires("0 * * * ? *", "America/New_York", (2026, 11, 1, 3), (2026, 11, 1, 9))
    assert len(hourly) == len(set(hourly))


def test_window_is_half_open() -> None:
    cron = parse_cron("0 8 * * ? *")
    t = epoch(2026, 1, 5, 8)
    assert cron.fire_times(ZoneInfo("UTC"), t - 60, t) == [t]
    assert cron.fire_times(ZoneInfo("UTC"), t, t + 60) == []


# -- the policy ---------------------------------------------------------------------------
MONDAY = "2026-01-05T00:00:00+00:00"  # simulation time 0


def test_no_actions_never_acts() -> None:
    policy = ScheduledPolicy()
    for t in (0.0, 60.0, 86400.0):
        d = policy.decide(obs(t))
        assert d.desired is None and d.min_tasks is None and d.max_tasks is None
        assert "no action due" in d.reason


def test_no_op_when_no_action_due() -> None:
    policy = ScheduledPolicy(
        actions=[{"schedule": "cron(0 8 ? * MON-FRI *)", "min_tasks": 10}], start=MONDAY
    )
    d = policy.decide(obs(7 * 3600 + 59 * 60))  # 07:59
    assert (d.desired, d.min_tasks, d.max_tasks) == (None, None, None)
    assert "no action due in (2026-01-05T07:58:00Z, 2026-01-05T07:59:00Z]" in d.reason


def test_cron_action_fires_at_its_minute_and_pushes_capacity() -> None:
    policy = ScheduledPolicy(
        actions=[{"schedule": "cron(0 8 ? * MON-FRI *)", "min_tasks": 10}], start=MONDAY
    )
    hits = []
    for t in np.arange(7 * 3600, 9 * 3600, 60.0):
        d = policy.decide(obs(float(t), desired=4))
        if d.min_tasks is not None:
            hits.append((t, d))
    assert [t for t, _ in hits] == [8 * 3600]
    d = hits[0][1]
    assert (d.desired, d.min_tasks, d.max_tasks) == (10, 10, None)
    assert "desired 4 pushed into [10, 50] -> 10" in d.reason
    assert "action 0 cron(0 8 ? * MON-FRI *)" in d.reason


def test_late_decision_catches_up_on_the_window() -> None:
    # Decisions every 600 s: the 08:00 trigger lands in (07:55, 08:05].
    policy = ScheduledPolicy(
        actions=[{"schedule": "cron(0 8 * * ? *)", "max_tasks": 3}], start=MONDAY, interval=600
    )
    assert policy.decide(obs(7 * 3600 + 55 * 60)).max_tasks is None
    d = policy.decide(obs(8 * 3600 + 5 * 60, desired=8))
    assert (d.desired, d.min_tasks, d.max_tasks) == (3, None, 3)


def test_at_fires_once() -> None:
    policy = ScheduledPolicy(
        actions=[{"schedule": "at(2026-01-05T10:30:00)", "min_tasks": 6, "max_tasks": 20}],
        start=MONDAY,
    )
    fired = [t for t in range(0, 2 * 86400, 60) if policy.decide(obs(t)).min_tasks is not None]
    assert fired == [10 * 3600 + 30 * 60]


def test_at_is_in_the_action_time_zone() -> None:
    action = parse_action(0, {"schedule": "at(2026-07-01T09:00:00)", "min_tasks": 2,
                              "timezone": "Europe/Paris"})  # fmt: skip
    assert action.at == epoch(2026, 7, 1, 7)  # CEST = UTC+2


def test_rate_repeats_from_the_start() -> None:
    policy = ScheduledPolicy(actions=[{"schedule": "rate(1 hour)", "max_tasks": 9}], start=MONDAY)
    fired = [t for t in range(0, 3 * 3600 + 1, 60) if policy.decide(obs(t)).max_tasks == 9]
    assert fired == [0, 3600, 7200, 10800]


@pytest.mark.parametrize(
    "text, period", [("rate(5 minutes)", 300), ("rate(1 minute)", 60), ("rate(2 days)", 172800)]
)
def test_rate_units(text: str, period: float) -> None:
    assert parse_action(0, {"schedule": text, "min_tasks": 1}).period == period


def test_rate_anchored_on_action_start_and_bounded_by_end() -> None:
    policy = ScheduledPolicy(
        actions=[
            {
                "schedule": "rate(30 minutes)",
                "min_tasks": 2,
                "start": "2026-01-05T01:10:00",  # no offset: UTC, as in the AWS API
                "end": "2026-01-05T02:10:00Z",
            }
        ],
        start=MONDAY,
    )
    fired = [t for t in range(0, 4 * 3600, 60) if policy.decide(obs(t)).min_tasks == 2]
    assert fired == [4200, 6000, 7800]  # 01:10, 01:40, 02:10


@pytest.mark.parametrize(
    "desired, lo, hi, new_min, new_max, expect",
    [
        # (desired, min, max in force) + action -> (decision desired, min, max)
        (4, 1, 50, 10, None, (10, 10, None)),  # below the new min: scale out to it
        (12, 1, 50, None, 8, (8, None, 8)),  # above the new max: scale in to it
        (5, 1, 50, 2, 8, (None, 2, 8)),  # inside: range only
        (3, 1, 5, 10, 20, (10, 10, 20)),  # both sizes move the range up past the old max
        (30, 20, 50, 1, 5, (5, 1, 5)),  # ... and down past the old min
        (0, 0, 10, 1, None, (1, 1, None)),  # from zero
        (6, 1, 10, 0, 0, (0, 0, 0)),  # to zero
    ],
)
def test_push_into_range(desired, lo, hi, new_min, new_max, expect) -> None:
    policy = ScheduledPolicy(
        actions=[{"schedule": "at(1970-01-01T00:01:00)", "min_tasks": new_min,
                  "max_tasks": new_max}]
    )  # fmt: skip
    d = policy.decide(obs(60.0, desired=desired, lo=lo, hi=hi))
    assert (d.desired, d.min_tasks, d.max_tasks) == expect


def test_actions_apply_in_time_order_then_list_order() -> None:
    policy = ScheduledPolicy(
        actions=[
            {"schedule": "at(2026-01-05T08:00:40)", "min_tasks": 3},
            {"schedule": "at(2026-01-05T08:00:20)", "min_tasks": 12},
            {"schedule": "at(2026-01-05T08:00:40)", "max_tasks": 7},
        ],
        start=MONDAY,
    )
    d = policy.decide(obs(8 * 3600 + 60, desired=5))
    # 08:00:20 min 12, then 08:00:40 min 3 and max 7: range [3, 7]; 5 stays.
    assert (d.desired, d.min_tasks, d.max_tasks) == (None, 3, 7)
    assert d.reason.index("action 1") < d.reason.index("action 0") < d.reason.index("action 2")


def test_action_conflicting_with_range_in_force_is_not_applied() -> None:
    policy = ScheduledPolicy(actions=[{"schedule": "at(1970-01-01T00:01:00)", "min_tasks": 10}])
    d = policy.decide(obs(60.0, desired=4, lo=1, hi=5))
    assert (d.desired, d.min_tasks, d.max_tasks) == (None, None, None)
    assert "not applied: min 10 > max 5" in d.reason


def test_epoch_default_start_reads_observation_time_as_epoch_seconds() -> None:
    policy = ScheduledPolicy(actions=[{"schedule": "cron(0 8 ? * MON-FRI *)", "min_tasks": 5}])
    t = epoch(2026, 1, 6, 8)  # a Tuesday, as the real ECS backend would report it
    assert policy.decide(obs(t, desired=2)).desired == 5


def test_start_may_be_a_datetime_as_toml_gives_it() -> None:
    policy = ScheduledPolicy(
        actions=[{"schedule": "cron(0 8 * * ? *)", "min_tasks": 7}],
        start=datetime(2026, 1, 5, 7, 0, tzinfo=UTC),
    )
    assert policy.decide(obs(3600.0)).min_tasks == 7


@pytest.mark.parametrize(
    "actions, message",
    [
        (
            [{"schedule": "rate(1 hour)", "min_tasks": 5, "max_tasks": 2}],
            r"actions\[0\]: min_tasks 5 is greater than max_tasks 2",
        ),
        (
            [
                {"schedule": "rate(1 hour)", "min_tasks": 1},
                {"schedule": "cron(0 8 * * * *)", "min_tasks": 1},
            ],
            r"actions\[1\]: bad cron expression",
        ),
        (
            [{"schedule": "cron(0 8 * * ? *)", "min_tasks": 1, "timezone": "Mars/Olympus"}],
            r"actions\[0\]: unknown time zone 'Mars/Olympus'",
        ),
        ([{"schedule": "every hour", "min_tasks": 1}], r"actions\[0\]: cannot parse schedule"),
        ([{"schedule": "rate(0 hours)", "min_tasks": 1}], r"actions\[0\]: the rate value"),
        ([{"schedule": "rate(1 week)", "min_tasks": 1}], r"actions\[0\]: cannot parse schedule"),
        ([{"schedule": "at(2026-02-30T08:00:00)", "min_tasks": 1}], r"actions\[0\]: bad date"),
        ([{"schedule": "rate(1 hour)"}], r"actions\[0\]: set min_tasks, max_tasks or both"),
        ([{"schedule": "rate(1 hour)", "min_tasks": -1}], r"actions\[0\]: min_tasks must be"),
        ([{"schedule": "rate(1 hour)", "max_tasks": 2.5}], r"actions\[0\]: max_tasks must be"),
        (
            [{"schedule": "rate(1 hour)", "min_task": 1}],
            r"actions\[0\]: unknown key\(s\) 'min_task'",
        ),
        ([{"min_tasks": 1}], r"actions\[0\]: 'schedule' is required"),
        (
            [{"schedule": "rate(1 hour)", "min_tasks": 1, "start": "tomorrow"}],
            r"actions\[0\]: start must be",
        ),
        (
            [
                {
                    "schedule": "rate(1 hour)",
                    "min_tasks": 1,
                    "start": "2026-02-01",
                    "end": "2026-01-01",
                }
            ],
            r"actions\[0\]: start is after end",
        ),
        (["rate(1 hour)"], r"actions\[0\]: must be a dict"),
    ],
)
def test_invalid_actions_are_refused_by_index(actions, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduledPolicy(actions=actions).decide(obs(0.0))


def test_invalid_policy_parameters() -> None:
    with pytest.raises(ValueError, match="interval must be > 0"):
        ScheduledPolicy(interval=0).decide(obs(0.0))
    with pytest.raises(ValueError, match="start must be an ISO-8601"):
        ScheduledPolicy(start="monday").decide(obs(0.0))


def test_constructor_stores_only_and_state_resets() -> None:
    actions = [{"schedule": "rate(1 hour)", "min_tasks": 3}]
    policy = ScheduledPolicy(actions=actions, start=MONDAY, interval=30)
    assert policy.get_params() == {"actions": actions, "start": MONDAY, "interval": 30}
    assert [k for k in vars(policy) if k.endswith("_")] == []
    first = policy.decide(obs(0.0))
    assert first.min_tasks == 3
    assert policy.decide(obs(30.0)).min_tasks is None
    restored = pickle.loads(pickle.dumps(policy))
    assert restored.decide(obs(60.0)).min_tasks is None
    policy.reset()
    assert policy.decide(obs(0.0)) == first
    assert policy.clone().decide(obs(0.0)) == first


@pytest.mark.parametrize(
    "policy",
    [
        ScheduledPolicy(),
        ScheduledPolicy(
            actions=[
                {"schedule": "rate(5 minutes)", "min_tasks": 2, "max_tasks": 30},
                {"schedule": "cron(*/7 * * * ? *)", "min_tasks": 20, "timezone": "Asia/Kolkata"},
                {"schedule": "at(1970-01-01T00:10:00)", "max_tasks": 4},
            ]
        ),
    ],
    ids=["no-actions", "actions"],
)
def test_conformance(policy: ScheduledPolicy) -> None:
    from policies.checks import run_checks

    assert run_checks(policy, name="scheduled") == []


def test_in_the_simulator_a_morning_action_scales_out() -> None:
    from sim.simulation import Simulation

    sc = policy_scenario("2h", initial_tasks=2)
    policy = ScheduledPolicy(
        actions=[
            {"schedule": "cron(0 8 ? * MON-FRI *)", "min_tasks": 6, "max_tasks": 20},
            {"schedule": "cron(30 8 ? * MON-FRI *)", "min_tasks": 1},
        ],
        start="2026-01-05T07:30:00Z",
    )
    result = run_simulation(Simulation(sc, rate=np.full(sc.n_ticks, 50.0)), policy)
    ev = result.events
    ranges = ev[ev.event == "RANGE"]
    assert list(ranges.time_s) == [1800.0, 3600.0]
    scales = ev[ev.event == "SCALE"]
    assert list(scales.time_s) == [1800.0]
    assert "desired 2 -> 6" in scales.reason.iloc[0]
    # Lowering the min at 08:30 leaves the 6 tasks running (nothing pushes them down).
    assert result.metrics.DesiredTaskCount.iloc[-1] == 6


# -- beside a dynamic policy: scheduled actions set the range, they do not veto ------------
def _hourly_floor(floor: int, start: str = "2026-01-05T00:00:00Z") -> ScheduledPolicy:
    return ScheduledPolicy(
        actions=[{"schedule": "cron(0 * * * ? *)", "min_tasks": floor}], start=start
    )


def test_scheduled_does_not_veto_a_scale_in_above_its_minimum() -> None:
    # AWS: after a scheduled action runs, "the scaling policy can continue to make decisions
    # about whether to further scale capacity"; capacity must stay within the action's range.
    sched = _hourly_floor(3)
    assert sched.vetoes_scale_in() is False
    p = CombinedPolicy([sched, TargetTrackingPolicy()])
    low = observation(
        metrics=history(60.0, CPUUtilization=[10.0] * 15),
        time=1800.0,  # 00:30: no action due
        desired=20,
        min_tasks=3,
        max_tasks=50,
    )
    d = p.decide(low)
    # ceil(20 x 10 / 50) = 4, above the scheduled minimum 3: it goes ahead.
    assert d.desired == 4, d.reason
    # Demand below the minimum: the scale-in stops at it.
    lower = observation(
        metrics=history(60.0, CPUUtilization=[1.0] * 15),
        time=1800.0,
        desired=20,
        min_tasks=3,
        max_tasks=50,
    )
    d = CombinedPolicy([_hourly_floor(3), TargetTrackingPolicy()]).decide(lower)
    assert d.desired == 3 and "clamped to [3, 50]" in d.reason


def test_a_new_scheduled_range_applies_even_when_nobody_scales() -> None:
    # An action lowering the max to 5 while the dynamic policy holds: the range wins.
    sched = ScheduledPolicy(
        actions=[{"schedule": "cron(0 * * * ? *)", "max_tasks": 5}],
        start="2026-01-05T00:00:00Z",
    )
    calm = observation(
        metrics=history(60.0, CPUUtilization=[47.0] * 15),
        time=3600.0,
        desired=8,
        min_tasks=1,
        max_tasks=50,
    )
    d = CombinedPolicy([sched, TargetTrackingPolicy()]).decide(calm)
    assert (d.desired, d.max_tasks) == (5, 5), d.reason


def test_in_the_simulator_scheduled_plus_target_tracking_follows_a_spiky_load_down() -> None:
    """Hourly scheduled floors (as the autoscaling experiment sets them) beside target
    tracking, on a load with a 10-minute spike every hour: after each spike the fleet comes
    back down to the scheduled minimum well before the next hour, instead of ratcheting up
    (the old rule let the scheduled member veto every scale-in outside its actions)."""
    from sim.simulation import Simulation

    sc = policy_scenario("3h", initial_tasks=3)
    tick = sc.run.tick
    rate = np.full(sc.n_ticks, 50.0)  # one task at 50 % CPU: below the floor of 3
    for h in range(3):
        a, b = int((h * 3600 + 600) / tick), int((h * 3600 + 1200) / tick)
        rate[a:b] = 1500.0  # :10 to :20, 30 tasks at the 50 % target
    policy = CombinedPolicy([_hourly_floor(3), TargetTrackingPolicy()])
    result = run_simulation(Simulation(sc, rate=rate), policy)
    m = result.metrics
    desired = m.DesiredTaskCount.to_numpy()
    t = m.time_s.to_numpy()
    for h in range(3):
        spike = (t >= h * 3600 + 600) & (t < h * 3600 + 1800)
        assert desired[spike].max() > 3  # it scaled out for the spike
        late = (t >= h * 3600 + 3000) & (t < h * 3600 + 3600)  # :50 to :59
        assert set(desired[late]) == {3}, (h, desired[late])
    assert desired.min() >= 3  # never below the scheduled minimum
