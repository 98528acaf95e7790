"""The ``[traffic]`` section of a scenario file: duration parsing and the pydantic models.

:func:`parse_duration` turns ``"90"``, ``"5m"``, ``"1h30m"`` and the like into seconds; the
:data:`Duration` annotation applies it to a model field. :class:`TrafficConfig` describes the
whole section, :class:`SyntheticTraffic` its synthetic generator and :class:`FlashCrowd` one
flash crowd; the defaults, and where they come from, are documented on each model.

The models are shared by the rate generators (:mod:`sim.traffic.synthetic`,
:mod:`sim.traffic.replay`) and re-exported by :mod:`sim.traffic.rates`, which is where callers
import them from.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "SECONDS_PER_DAY",
    "Duration",
    "FlashCrowd",
    "SyntheticTraffic",
    "TrafficConfig",
    "parse_duration",
]

SECONDS_PER_DAY = 86400.0

# ---------------------------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------------------------

_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": SECONDS_PER_DAY}
_TOKEN = r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])"
_DURATION_RE = re.compile(rf"^(?:\s*{_TOKEN})+\s*$", re.IGNORECASE)
_TOKEN_RE = re.compile(_TOKEN, re.IGNORECASE)
_PLAIN_NUMBER_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*$")


def parse_duration(value: Any) -> float:
    """Return a duration in seconds.

    Accepted: a non-negative finite int or float (seconds); a string holding a non-negative
    plain number (seconds, e.g. ``"90"``); a string made of one or more ``<number><unit>``
    parts with units ``s``, ``m``, ``h``, ``d`` (seconds, minutes, hours, days; case-insensitive,
    spaces allowed between parts), e.g. ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"``, ``"1h30m"``,
    ``"1.5h"``. Each unit may appear at most once. ``0`` is accepted here; fields that need a
    positive duration say so with their own bound.

    Raises:
        ValueError: naming the offending value, for negative, non-finite, boolean, empty or
            malformed input.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: expected seconds or a string like '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"invalid duration {value!r}: must be a finite number >= 0 seconds")
        return seconds
    if not isinstance(value, str):
        raise ValueError(
            f"invalid duration {value!r}: expected a number of seconds or a string like '5m', "
            f"got {type(value).__name__}"
        )
    if _PLAIN_NUMBER_RE.match(value):
        return float(value)
    if not _DURATION_RE.match(value):
        raise ValueError(
            f"invalid duration {value!r}: expected e.g. '30s', '5m', '2h', '7d', '1h30m' "
            "(units s, m, h, d; no sign)"
        )
    total = 0.0
    seen: set[str] = set()
    for number, unit in _TOKEN_RE.findall(value):
        unit = unit.lower()
        if unit in seen:
            raise ValueError(f"invalid duration {value!r}: unit {unit!r} appears twice")
        seen.add(unit)
        total += float(number) * _UNIT_SECONDS[unit]
    if not math.isfinite(total):
        raise ValueError(f"invalid duration {value!r}: not finite")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A duration field: seconds as a number, or a string such as ``"5m"`` (see parse_duration)."""


def _parse_start(value: Any) -> datetime | None:
    """Validate ``TrafficConfig.start``: an ISO 8601 string or a TOML local date(-time)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"invalid start {value!r}: expected an ISO 8601 timestamp such as "
                "'1995-07-03T08:00:00'"
            ) from None
    else:
        raise ValueError(f"invalid start {value!r}: expected an ISO 8601 timestamp string")
    if parsed.tzinfo is not None:
        raise ValueError(
            f"invalid start {value!r}: traces are naive local time; give the timestamp "
            "without a UTC offset or 'Z'"
        )
    return parsed


# ---------------------------------------------------------------------------------------------
# Configuration models
# ---------------------------------------------------------------------------------------------


class FlashCrowd(BaseModel):
    """A flash crowd: extra load that ramps up linearly, then decays exponentially.

    The extra load is relative to the baseline rate at the same instant: at time ``t`` from
    the run start the rate is multiplied by ``1 + multiplier * s(t)`` with ``s = 0`` before
    ``at``, ``s = (t - at) / rise`` during the ramp, and ``s = exp(-(t - at - rise) / decay)``
    afterwards. So the peak, at ``at + rise``, is ``baseline * (1 + multiplier)``.
    No field has a default: a flash crowd is always described explicitly.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    at: Annotated[Duration, Field(ge=0)] = Field(
        description="Start of the ramp, seconds from the run start (duration string allowed)."
    )
    multiplier: float = Field(
        gt=0, description="Peak extra load as a multiple of the baseline (3 -> x4 at the peak)."
    )
    rise: Annotated[Duration, Field(gt=0)] = Field(description="Length of the linear ramp.")
    decay: Annotated[Duration, Field(gt=0)] = Field(
        description="Time constant of the exponential decay after the peak."
    )


class SyntheticTraffic(BaseModel):
    """A synthetic load: ``base_rps`` shaped by a day, a week, a trend, noise and flash crowds.

    rate(t) = base_rps * daily(t) * weekly(t) * trend(t) * noise(t) * prod_k(1 + flash_k(t)),
    with (clock time = ``start_hour`` + t, weekday counted from ``start_weekday``):

    * daily = 1 + daily_amplitude * cos(2 pi (hour_of_day - daily_peak_hour) / 24);
    * weekly = w / ((5 + 2 * weekend_factor) / 7) with w = 1 on Monday-Friday and
      ``weekend_factor`` on Saturday-Sunday: the weekend/weekday ratio is ``weekend_factor``
      and a whole week averages to 1, so ``base_rps`` is the long-run mean rate (before trend,
      flash crowds and rescaling);
    * trend = (1 + trend_per_day) ** (t / 1 day): compound growth, always positive;
    * noise = exp(sigma z - sigma^2 / 2), sigma^2 = ln(1 + noise_cv^2): log-normal with mean 1
      and coefficient of variation ``noise_cv``; z is a stationary unit-variance AR(1) sampled
      once per minute and held for the minute, with lag-1 correlation exp(-60 / noise_corr_s).

    Defaults and where they come from:

    * ``base_rps = 500``: invented round number (a mid-size web service); a named parameter.
    * ``daily_amplitude = 0.6``: peak/trough = 1.6 / 0.4 = 4, the NASA-HTTP 1995 trace's daily
      peak/trough of about 4x, measured on the trace itself (the catalog's ``nasa``: the
      Internet Traffic Archive's NASA-HTTP logs, https://ita.ee.lbl.gov/html/contrib/NASA-HTTP.html).
    * ``daily_peak_hour = 14``: NASA-HTTP peaks at 14-15 h local time (same trace).
    * ``weekend_factor = 0.6``: NASA-HTTP weekdays are about 1.7x weekends (1 / 1.7 ~ 0.6).
    * ``trend_per_day = 0``: no growth unless asked for (invented neutral default).
    * ``noise_cv = 0.05`` and ``noise_corr_s = 300`` (5 min): invented, a mild wobble on top
      of the smooth shape; named parameters.
    * ``start_weekday = 0`` (Monday) and ``start_hour = 0`` (midnight): the run starts at the
      beginning of a week unless told otherwise (invented convention).
    * ``flash_crowds = []``: none.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base_rps: float = Field(500.0, ge=0, description="Long-run mean rate, req/s.")
    daily_amplitude: float = Field(
        0.6, ge=0, le=1, description="Relative amplitude of the daily sine."
    )
    daily_peak_hour: float = Field(14.0, ge=0, lt=24, description="Hour of the daily peak.")
    weekend_factor: float = Field(0.6, ge=0, description="Weekend rate / weekday rate.")
    trend_per_day: float = Field(0.0, gt=-1, description="Relative (compound) growth per day.")
    noise_cv: float = Field(0.05, ge=0, description="CV of the multiplicative log-normal noise.")
    noise_corr_s: Annotated[Duration, Field(ge=0)] = Field(
        300.0, description="Correlation time of the noise (AR(1) at minute resolution)."
    )
    start_weekday: int = Field(0, ge=0, le=6, description="Weekday at t=0, 0 = Monday.")
    start_hour: float = Field(0.0, ge=0, lt=24, description="Hour of day at t=0.")
    flash_crowds: list[FlashCrowd] = Field(default_factory=list)


class TrafficConfig(BaseModel):
    """The ``[traffic]`` section of a scenario file.

    If ``trace`` is None the load is synthetic (``synthetic``); otherwise the trace is replayed
    and ``synthetic`` is ignored. Processing order for a trace: window -> aggregate to
    ``resolution`` -> fill gaps -> counts to rate -> per-tick rate (``interpolation``) ->
    rescale to ``peak_rps`` / ``mean_rps`` -> multiply by ``scale``. For synthetic load the
    last two steps apply too (``peak_rps`` / ``mean_rps`` rescale the generated window).

    Defaults and where they come from:

    * ``trace = None``: synthetic load (no file needed).
    * ``time_column`` / ``value_column = None``: let the trace loader pick the columns.
    * ``start = None``: the trace's first timestamp.
    * ``peak_rps`` / ``mean_rps = None``: keep the trace's own rate (or the synthetic one).
    * ``gap_policy = "interpolate"``: a missing interval is missing data, never zero load;
      linear interpolation between valid neighbours is the least surprising guess.
    * ``resolution = 60 s``: traces finer than this are first summed into bins of (about)
      this length. Reason: a per-second count series of a small server (NASA: about 0.7 req/s)
      is dominated by Poisson noise (std ~ sqrt(count)); rescaling it 1000x multiplies that
      noise 1000x as well, i.e. ~sqrt(1000) ~ 32x more relative noise than a genuine
      700 req/s server would show. Summing over a minute keeps the load's shape (daily cycle,
      spikes lasting minutes) and averages the sampling noise away; the simulator then draws
      its own, correctly scaled, Poisson noise in :func:`arrivals`. One minute is invented as
      a round number that is finer than any autoscaling reaction (CloudWatch alarms use 1-min
      periods); a named parameter.
    * ``interpolation = "step"``: each interval's rate is held over the interval (tick rates
      are exact averages over the tick, so request totals are conserved).
    * ``arrivals = "poisson"``: requests per tick are Poisson(rate x tick).
    * ``synthetic``: :class:`SyntheticTraffic` defaults.
    * ``scale = 1.0``: no extra scaling.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    trace: str | None = Field(None, description="Trace catalog name or CSV path; None = synthetic.")
    time_column: str | None = Field(None, description="CSV time column (CSV traces only).")
    value_column: str | None = Field(None, description="CSV value column (CSV traces only).")
    start: Annotated[datetime | None, BeforeValidator(_parse_start)] = Field(
        None, description="Replay start, ISO 8601 local time; default the trace's first time."
    )
    peak_rps: float | None = Field(None, gt=0, description="Rescale so the window's peak is this.")
    mean_rps: float | None = Field(None, gt=0, description="Rescale so the window's mean is this.")
    gap_policy: Literal["interpolate", "hold"] = "interpolate"
    resolution: Annotated[Duration, Field(gt=0)] = 60.0
    interpolation: Literal["step", "linear"] = "step"
    arrivals: Literal["poisson", "deterministic"] = "poisson"
    synthetic: SyntheticTraffic = Field(default_factory=SyntheticTraffic)
    scale: float = Field(1.0, gt=0, description="Extra multiplier applied last.")

    @model_validator(mode="after")
    def _check_consistency(self) -> TrafficConfig:
        if self.peak_rps is not None and self.mean_rps is not None:
            raise ValueError(
                f"peak_rps ({self.peak_rps}) and mean_rps ({self.mean_rps}) are mutually "
                "exclusive: give at most one of them"
            )
        if self.trace is None:
            trace_only = [k for k in ("time_column", "value_column", "start") if getattr(self, k)]
            if trace_only:
                raise ValueError(
                    f"{', '.join(trace_only)} only apply to a trace, but trace is not set"
                )
        return self
