"""AWS scheduled scaling: scheduled actions that set the service's min and/or max capacity.

Follows "How scheduled scaling for Application Auto Scaling works"
(https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-policy-overview.html):
a scheduled action sets MinCapacity and/or MaxCapacity at its time; "If current capacity is
less than the specified minimum capacity, Application Auto Scaling scales out ... to the
specified minimum capacity", and likewise in to a lower maximum. Beside a dynamic scaling
policy, "the scaling policy can continue to make decisions about whether to further scale
capacity" within the range the action set: a scheduled action never vetoes a scale-in
(:meth:`ScheduledPolicy.vetoes_scale_in`), it only bounds it at its minimum. The schedule
syntax is Application Auto Scaling's (PutScheduledAction, "Schedule",
https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScheduledAction.html):

- ``at(yyyy-mm-ddThh:mm:ss)``: once, at that wall-clock time in the action's time zone;
- ``rate(value unit)``: every ``value`` minute(s) | hour(s) | day(s);
- ``cron(minutes hours day-of-month month day-of-week year)``: the six-field AWS cron
  (EventBridge's "Cron expressions reference"): minutes 0-59, hours 0-23, day-of-month
  1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT (1 = SUN), year 1970-2199;
  wildcards ``,`` ``-`` ``*`` ``/`` (not in day-of-week) and ``?`` (day-of-month or
  day-of-week only: exactly one of the two must be ``?``). ``L``, ``W`` and ``#`` are
  refused with an error (not implemented). Ranges may wrap (``FRI-MON``, ``22-2``) except
  in the year field. Names are case-insensitive.

At and cron expressions are in the action's ``timezone`` (UTC by default, an IANA name such
as ``America/New_York`` otherwise, via :mod:`zoneinfo`), so they follow daylight saving time.
An action's optional ``start``/``end`` bound its trigger times and, as in the AWS API, are
read in UTC when they carry no offset.

Choices where AWS publishes nothing (documented here, tested):

- A wall-clock time that does not exist (skipped by a spring-forward change) fires at the
  same distance past the change (02:30 on the day New York skips 02:00-03:00 fires at
  03:30 EDT); one that happens twice (fall-back) fires once, at its first occurrence.
- ``rate()`` fires at its anchor and every period after it; the anchor is the action's
  ``start`` when given, else the policy's ``start`` (simulation time 0).
- Actions due at the same instant apply in the order they are listed.
- An action whose new min would exceed the max in force (or whose new max would be below
  the min in force) is not applied, and the reason says so: AWS asks for both sizes in
  that case ("you must include both sizes to ensure that the new minimum capacity is not
  greater than the maximum capacity").
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policies.base import BasePolicy, clamp
from policies.contract import Decision, Observation

_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_DAY_NAMES = {
    name: i + 1 for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
}


@dataclass(frozen=True)
class _Field:
    name: str
    lo: int
    hi: int
    names: Mapping[str, int]
    wildcards: str  # besides digits and names: which of ", - * / ?" are allowed
    cyclic: bool


_FIELDS: tuple[_Field, ...] = (
    _Field("minutes", 0, 59, {}, ",-*/", True),
    _Field("hours", 0, 23, {}, ",-*/", True),
    _Field("day-of-month", 1, 31, {}, ",-*/?", True),
    _Field("month", 1, 12, _MONTH_NAMES, ",-*/", True),
    _Field("day-of-week", 1, 7, _DAY_NAMES, ",-*?", True),
    _Field("year", 1970, 2199, {}, ",-*/", False),
)

_PART = re.compile(r"^(?P<first>\*|[A-Z0-9]+)(?:-(?P<last>[A-Z0-9]+))?(?:/(?P<step>[0-9]+))?$")
_UNSUPPORTED = re.compile(r"^(?:[0-9]*L|LW|L-[0-9]+|[0-9]+W)$|#")


def _parse_value(token: str, spec: _Field) -> int:
    if token.isdigit():
        value = int(token)
    elif token in spec.names:
        value = spec.names[token]
    else:
        names = f" or {min(spec.names, key=spec.names.get)}-{max(spec.names, key=spec.names.get)}"
        raise ValueError(
            f"{spec.name}: {token!r} is not a value in {spec.lo}-{spec.hi}"
            f"{names if spec.names else ''}"
        )
    if not spec.lo <= value <= spec.hi:
        raise ValueError(f"{spec.name}: {value} is outside {spec.lo}-{spec.hi}")
    return value


def _parse_field(text: str, spec: _Field) -> frozenset[int] | None:
    """The set of values ``text`` selects (None for ``?``)."""
    token = text.upper()
    if token == "?":
        if "?" not in spec.wildcards:
            raise ValueError(f"{spec.name}: '?' is only allowed in day-of-month or day-of-week")
        return None
    values: set[int] = set()
    for part in token.split(","):
        if not part:
            raise ValueError(f"{spec.name}: empty list element in {text!r}")
        if _UNSUPPORTED.search(part):
            raise ValueError(
                f"{spec.name}: {part!r} uses the L, W or # wildcard, which this simulator does "
                "not implement; list the days explicitly"
            )
        m = _PART.match(part)
        if m is None:
            raise ValueError(f"{spec.name}: cannot parse {part!r}")
        first, last, step = m["first"], m["last"], m["step"]
        if step is not None and "/" not in spec.wildcards:
            raise ValueError(f"{spec.name}: the '/' wildcard is not allowed in this field")
        if first == "*":
            if last is not None:
                raise ValueError(f"{spec.name}: '*' cannot start a range ({part!r})")
            start, end = spec.lo, spec.hi
        else:
            start = _parse_value(first, spec)
            if last is not None:
                end = _parse_value(last, spec)
            else:
                end = spec.hi if step is not None else start
        inc = 1 if step is None else int(step)
        if inc < 1:
            raise ValueError(f"{spec.name}: the step in {part!r} must be >= 1")
        if end >= start:
            seq = list(range(start, end + 1))
        elif spec.cyclic:  # a range that wraps, e.g. FRI-MON or 22-2
            seq = list(range(start, spec.hi + 1)) + list(range(spec.lo, end + 1))
        else:
            raise ValueError(f"{spec.name}: range {part!r} runs backwards")
        values.update(seq[::inc])
    return frozenset(values)


@dataclass(frozen=True)
class CronExpression:
    """A parsed six-field AWS cron expression (``None`` for a ``?`` day field)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None
    years: frozenset[int]

    def matches_day(self, day: date) -> bool:
        """Whether the expression selects calendar date ``day`` (wall clock)."""
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        aws_dow = (day.weekday() + 1) % 7 + 1  # Python Monday=0 -> AWS MON=2, SUN=1
        return self.days_of_week is not None and aws_dow in self.days_of_week

    def matches(self, wall: datetime) -> bool:
        """Whether the expression selects the wall-clock minute ``wall`` (naive)."""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and self.matches_day(wall.date())
        )

    def fire_times(self, tz: ZoneInfo, after: float, until: float) -> list[float]:
        """Epoch seconds ``t`` with ``after < t <= until`` at which the expression fires."""
        if until <= after:
            return []
        # A wall time maps to an instant with fold=0: skipped times move forward by the gap,
        # repeated times fire at their first occurrence. When the offset differs between the
        # ends of the window (a DST change nearby), widen the wall-clock range to be safe.
        margin = timedelta(0)
        if until - after >= 86400 or (
            datetime.fromtimestamp(after - 10800, tz).utcoffset()
            != datetime.fromtimestamp(until + 10800, tz).utcoffset()
        ):
            margin = timedelta(hours=3)
        w_lo = datetime.fromtimestamp(after, tz).replace(tzinfo=None, second=0, microsecond=0)
        w_lo -= margin
        w_hi = datetime.fromtimestamp(until, tz).replace(tzinfo=None) + margin
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        out: set[float] = set()
        day = w_lo.date()
        while day <= w_hi.date():
            if self.matches_day(day):
                for h in hours:
                    if datetime.combine(day, time(h, 59)) < w_lo:
                        continue
                    if datetime.combine(day, time(h)) > w_hi:
                        break
                    for m in minutes:
                        wall = datetime.combine(day, time(h, m))
                        if wall > w_hi:
                            break
                        t = wall.replace(tzinfo=tz).timestamp()
                        if after < t <= until:
                            out.add(t)
            day += timedelta(days=1)
        return sorted(out)


def parse_cron(fields: str) -> CronExpression:
    """Parse the inside of ``cron(...)``: six fields separated by white space."""
    parts = fields.split()
    if len(parts) != 6:
        raise ValueError(
            f"cron needs 6 fields (minutes hours day-of-month month day-of-week year), "
            f"got {len(parts)} in {fields!r}"
        )
    values = [_parse_field(p, spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    dom, dow = values[2], values[4]
    if (dom is None) == (dow is None):
        raise ValueError(
            "exactly one of day-of-month and day-of-week must be '?' "
            f"(got {parts[2]!r} and {parts[4]!r})"
        )
    minutes, hours, _, months, _, years = values
    assert minutes is not None and hours is not None and months is not None and years is not None
    return CronExpression(minutes, hours, dom, months, dow, years)


_RATE = re.compile(r"^rate\(\s*([0-9]+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_AT = re.compile(r"^at\(\s*(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def _to_epoch(value: Any, what: str) -> float:
    """An ISO-8601 string or datetime to epoch seconds (no offset = UTC)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{what} must be an ISO-8601 date-time such as '2026-01-05T08:00:00+00:00', "
                f"got {value!r}"
            ) from None
    else:
        raise ValueError(f"{what} must be an ISO-8601 date-time string, got {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(frozen=True)
class ScheduledAction:
    """One validated scheduled action."""

    index: int
    schedule: str
    kind: str  # "at" | "rate" | "cron"
    tz: ZoneInfo
    min_tasks: int | None
    max_tasks: int | None
    start: float | None
    end: float | None
    at: float | None = None
    period: float | None = None
    cron: CronExpression | None = None

    def fire_times(self, after: float, until: float, anchor: float) -> list[float]:
        """Trigger instants (epoch s) in ``(after, until]`` within [start, end]."""
        if self.start is not None:
            after = max(after, math.nextafter(self.start, -math.inf))
        if self.end is not None:
            until = min(until, self.end)
        if until <= after:
            return []
        if self.kind == "at":
            assert self.at is not None
            return [self.at] if after < self.at <= until else []
        if self.kind == "rate":
            assert self.period is not None
            base = self.start if self.start is not None else anchor
            k0 = max(0, math.floor((after - base) / self.period) + 1)
            k1 = math.floor((until - base) / self.period)
            return [base + k * self.period for k in range(k0, k1 + 1)]
        assert self.cron is not None
        return self.cron.fire_times(self.tz, after, until)

    def describe(self) -> str:
        bounds = []
        if self.min_tasks is not None:
            bounds.append(f"min {self.min_tasks}")
        if self.max_tasks is not None:
            bounds.append(f"max {self.max_tasks}")
        return f"action {self.index} {self.schedule} ({', '.join(bounds)})"


_ACTION_KEYS = ("schedule", "min_tasks", "max_tasks", "timezone", "start", "end")


def parse_action(index: int, spec: Any) -> ScheduledAction:
    """Validate one action dict; errors name the action index and the problem."""

    def fail(problem: str) -> ValueError:
        return ValueError(f"scheduled: actions[{index}]: {problem}")

    if not isinstance(spec, Mapping):
        raise fail(f"must be a dict with keys {', '.join(_ACTION_KEYS)}, got {spec!r}")
    unknown = sorted(set(spec) - set(_ACTION_KEYS))
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(map(repr, unknown))}; valid: {', '.join(_ACTION_KEYS)}"
        )
    schedule = spec.get("schedule")
    if not isinstance(schedule, str):
        raise fail("'schedule' is required: 'cron(...)', 'rate(value unit)' or 'at(...)'")
    bounds: dict[str, int | None] = {}
    for key in ("min_tasks", "max_tasks"):
        v = spec.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise fail(f"{key} must be an integer >= 0 or None, got {v!r}")
        bounds[key] = v
    lo, hi = bounds["min_tasks"], bounds["max_tasks"]
    if lo is None and hi is None:
        raise fail("set min_tasks, max_tasks or both")
    if lo is not None and hi is not None and lo > hi:
        raise fail(f"min_tasks {lo} is greater than max_tasks {hi}")
    tz_name = spec.get("timezone", "UTC")
    if tz_name is None:
        tz_name = "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise fail(
            f"unknown time zone {tz_name!r}; use an IANA name such as 'America/New_York'"
        ) from None
    try:
        start = None if spec.get("start") is None else _to_epoch(spec["start"], "start")
        end = None if spec.get("end") is None else _to_epoch(spec["end"], "end")
    except ValueError as exc:
        raise fail(str(exc)) from None
    if start is not None and end is not None and start > end:
        raise fail("start is after end")
    text = schedule.strip()
    common = dict(
        index=index, schedule=text, tz=tz, min_tasks=lo, max_tasks=hi, start=start, end=end
    )
    if m := _AT.match(text):
        try:
            wall = datetime.fromisoformat(m[1])
        except ValueError as exc:
            raise fail(f"bad date in {text!r}: {exc}") from None
        return ScheduledAction(kind="at", at=wall.replace(tzinfo=tz).timestamp(), **common)
    if m := _RATE.match(text):
        value = int(m[1])
        if value < 1:
            raise fail(f"the rate value must be a positive integer, got {value}")
        unit = m[2].rstrip("s")
        return ScheduledAction(kind="rate", period=float(value * _UNIT_S[unit]), **common)
    if m := _CRON.match(text):
        try:
            cron = parse_cron(m[1])
        except ValueError as exc:
            raise fail(f"bad cron expression {text!r}: {exc}") from None
        return ScheduledAction(kind="cron", cron=cron, **common)
    raise fail(
        f"cannot parse schedule {schedule!r}; use 'cron(0 8 ? * MON-FRI *)', "
        "'rate(1 hour)' or 'at(2026-01-01T08:00:00)'"
    )


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScheduledPolicy(BasePolicy):
    """Scheduled actions that change the service's min/max capacity (AWS scheduled scaling).

    At each decision, every action whose trigger time falls in (previous decision, now] (on
    the first call: (now - interval, now]) is applied in time order: it sets the min and/or
    max, and the desired count is pushed into the new range,
    ``desired = clamp(current desired, min, max)`` (AWS: current capacity below the new
    minimum scales out to it, above the new maximum scales in to it). The decision carries
    the new range (``min_tasks`` / ``max_tasks``) and the pushed desired count; with nothing
    due it changes nothing.

    Parameters
    ----------
    actions : sequence of dict, default () (no actions)
        Each ``{"schedule": "cron(0 8 ? * MON-FRI *)" | "rate(1 hour)" |
        "at(2026-01-01T08:00:00)", "min_tasks": int | None, "max_tasks": int | None,
        "timezone": "UTC", "start": ISO date-time | None, "end": ISO date-time | None}``.
        At least one of min_tasks/max_tasks; ``start``/``end`` (ISO 8601 strings or datetimes,
        no offset = UTC) bound the trigger times. With no actions the policy never acts.
    start : str, default "1970-01-01T00:00:00+00:00"
        The date-time (ISO 8601, or a datetime as TOML gives it; no offset = UTC) that
        ``observation.time == 0`` corresponds to. The default makes ``observation.time``
        epoch seconds, as the real ECS backend reports it; a trace replay passes the trace's
        start.
    interval : float, default 60
        Seconds between decisions; a trigger is applied at the first decision at or after
        it (at most ``interval`` late).
    """

    def __init__(
        self,
        actions: Sequence[Mapping[str, Any]] = (),
        start: str = "1970-01-01T00:00:00+00:00",
        interval: float = 60.0,
    ) -> None:
        self.actions = actions
        self.start = start
        self.interval = interval

    #: Scheduled actions bound capacity; they impose no other scale-in limit.
    scale_in_limits = (
        "none of its own: scheduled actions set the minimum (and maximum) capacity; a scale-in "
        "stops at the minimum in force (AWS scheduled scaling)"
    )

    def vetoes_scale_in(self) -> bool:
        """Never: beside a dynamic policy, scheduled actions only set the range
        (:mod:`policies.autoscaling.combine`); AWS: "After a scheduled action runs, the scaling
        policy can continue to make decisions about whether to further scale capacity"."""
        return False

    def _compiled(self) -> tuple[float, list[ScheduledAction]]:
        key = (repr(self.actions), repr(self.start), repr(self.interval))
        cached = getattr(self, "compiled_", None)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        if isinstance(self.interval, bool) or not isinstance(self.interval, numbers.Real):
            raise ValueError(
                f"scheduled: interval must be a number of seconds > 0, got {self.interval!r}"
            )
        if not self.interval > 0:
            raise ValueError(f"scheduled: interval must be > 0 s, got {self.interval}")
        try:
            epoch0 = _to_epoch(self.start, "start")
        except ValueError as exc:
            raise ValueError(f"scheduled: {exc}") from None
        if self.actions is None or isinstance(self.actions, str | bytes | Mapping):
            raise ValueError(f"scheduled: actions must be a list of dicts, got {self.actions!r}")
        parsed = [parse_action(i, a) for i, a in enumerate(self.actions)]
        self.compiled_ = (key, epoch0, parsed)
        return epoch0, parsed

    def _validate(self) -> None:
        self._compiled()

    def decide(self, observation: Observation) -> Decision:
        epoch0, actions = self._compiled()
        now = float(observation.time)
        last = getattr(self, "last_time_", None)
        since = now - float(self.interval) if last is None else last
        self.last_time_ = now if last is None else max(last, now)
        after, until = epoch0 + since, epoch0 + now
        due = sorted(
            (t, a.index) for a in actions for t in a.fire_times(after, until, anchor=epoch0)
        )
        if not due:
            return Decision(None, f"scheduled: no action due in ({_iso(after)}, {_iso(until)}]")
        lo, hi = observation.min_tasks, observation.max_tasks
        set_min = set_max = False
        notes: list[str] = []
        for t, i in due:
            action = actions[i]
            new_lo = lo if action.min_tasks is None else action.min_tasks
            new_hi = hi if action.max_tasks is None else action.max_tasks
            if new_lo > new_hi:
                notes.append(
                    f"{action.describe()} at {_iso(t)} not applied: min {new_lo} > max {new_hi} "
                    "(set both sizes)"
                )
                continue
            lo, hi = new_lo, new_hi
            set_min |= action.min_tasks is not None
            set_max |= action.max_tasks is not None
            notes.append(f"{action.describe()} at {_iso(t)} -> range [{lo}, {hi}]")
        if not (set_min or set_max):
            return Decision(None, "scheduled: " + "; ".join(notes))
        current = observation.desired
        desired = clamp(current, lo, hi)
        if desired != current:
            push = f"desired {current} pushed into [{lo}, {hi}] -> {desired}"
        else:
            push = f"desired {current} already within [{lo}, {hi}]"
        return Decision(
            desired if desired != current else None,
            "scheduled: " + "; ".join(notes) + "; " + push,
            min_tasks=lo if set_min else None,
            max_tasks=hi if set_max else None,
        )
