"""Offered load for the simulator: a request *rate* per tick, then request *counts* per tick.

Traffic is a fluid. This module produces, for a run of ``duration_s`` seconds cut into ticks
of ``tick_s`` seconds, a float64 array holding the offered request rate (requests per second)
during each tick, and turns such a rate into request counts per tick (:func:`arrivals`).

The rate comes either from a synthetic generator (:func:`synthetic_rate`: daily sine, weekly
pattern, trend, correlated log-normal noise, flash crowds) or from a recorded trace
(:func:`trace_rate`: windowing, aggregation, gap filling, interpolation, rescaling).
:func:`build_rate` picks one according to the ``[traffic]`` section of a scenario file,
described by the pydantic models :class:`TrafficConfig`, :class:`SyntheticTraffic` and
:class:`FlashCrowd`.

Tick convention: tick ``i`` covers ``[i * tick_s, (i + 1) * tick_s)`` seconds from the run
start, and the number of ticks is ``ceil(duration_s / tick_s)`` (a relative tolerance of 1e-9
keeps e.g. ``86400 / 0.1`` from gaining a tick through rounding).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from scipy.signal import lfilter

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.traces import Trace

__all__ = [
    "Duration",
    "FlashCrowd",
    "SyntheticTraffic",
    "TrafficConfig",
    "arrivals",
    "build_rate",
    "n_ticks",
    "parse_duration",
    "synthetic_rate",
    "trace_rate",
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

    model_config = ConfigDict(extra="forbid")

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
      peak/trough of about 4x (``/work/shared/traces/README.md``).
    * ``daily_peak_hour = 14``: NASA-HTTP peaks at 14-15 h local time (same README).
    * ``weekend_factor = 0.6``: NASA-HTTP weekdays are about 1.7x weekends (1 / 1.7 ~ 0.6).
    * ``trend_per_day = 0``: no growth unless asked for (invented neutral default).
    * ``noise_cv = 0.05`` and ``noise_corr_s = 300`` (5 min): invented, a mild wobble on top
      of the smooth shape; named parameters.
    * ``start_weekday = 0`` (Monday) and ``start_hour = 0`` (midnight): the run starts at the
      beginning of a week unless told otherwise (invented convention).
    * ``flash_crowds = []``: none.
    """

    model_config = ConfigDict(extra="forbid")

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

    model_config = ConfigDict(extra="forbid")

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


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def n_ticks(duration_s: float, tick_s: float) -> int:
    """Number of ticks for a run: ``ceil(duration_s / tick_s)`` with a 1e-9 relative tolerance."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number > 0, got {duration_s!r}")
    if not (math.isfinite(tick_s) and tick_s > 0):
        raise ValueError(f"tick_s must be a finite number > 0, got {tick_s!r}")
    ratio = duration_s / tick_s
    return max(1, math.ceil(ratio - 1e-9 * ratio))


def _rescale(rate: np.ndarray, peak_rps: float | None, mean_rps: float | None, what: str) -> None:
    """Rescale ``rate`` in place so its max (or mean) equals peak_rps (or mean_rps)."""
    if peak_rps is None and mean_rps is None:
        return
    ref = float(rate.max()) if peak_rps is not None else float(rate.mean())
    if not ref > 0:
        raise ValueError(f"cannot rescale {what}: its rate is zero over the whole window")
    # Divide first, then multiply: x / x == 1.0 exactly, so the maximum lands on peak_rps
    # exactly (x * (peak / x) need not).
    rate /= ref
    rate *= peak_rps if peak_rps is not None else mean_rps


def _fill_gaps(values: np.ndarray, policy: str) -> np.ndarray:
    """Fill NaNs: linear between valid neighbours, or hold the last valid value.

    Leading NaNs take the first valid value, trailing ones the last. ``values`` must hold at
    least one valid value.
    """
    valid = ~np.isnan(values)
    if valid.all():
        return values
    idx = np.flatnonzero(valid)
    if policy == "interpolate":
        return np.interp(np.arange(values.size, dtype=np.float64), idx, values[idx])
    if policy == "hold":
        last = np.where(valid, np.arange(values.size), -1)
        np.maximum.accumulate(last, out=last)
        last[last < 0] = idx[0]
        return values[last]
    raise ValueError(f"unknown gap_policy {policy!r}: expected 'interpolate' or 'hold'")


def _aggregate(counts: np.ndarray, k: int) -> np.ndarray:
    """Sum consecutive groups of ``k`` intervals, NaN-aware.

    A bin with some missing intervals gets the mean of its valid intervals times ``k`` (the
    missing part is missing data, not zero load); a bin with none valid is NaN. Without
    missing values the bin is the plain sum, so totals are conserved. ``counts.size`` must be
    a multiple of ``k``.
    """
    if k == 1:
        return counts
    grid = counts.reshape(-1, k)
    valid = ~np.isnan(grid)
    n_valid = valid.sum(axis=1)
    sums = np.where(valid, grid, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_valid > 0, sums * (k / n_valid), np.nan)


# ---------------------------------------------------------------------------------------------
# Synthetic load
# ---------------------------------------------------------------------------------------------


def synthetic_rate(
    cfg: SyntheticTraffic, duration_s: float, tick_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Synthetic offered rate (req/s) per tick, length ``ceil(duration_s / tick_s)``.

    See :class:`SyntheticTraffic` for the formula. Each tick takes the value at its start time
    ``i * tick_s``. Never negative. Draws from ``rng`` only when ``cfg.noise_cv > 0``: one
    standard normal per minute of the run (plus one).
    """
    n = n_ticks(duration_s, tick_s)
    t = np.arange(n, dtype=np.float64) * tick_s
    clock = t + cfg.start_hour * 3600.0  # seconds since midnight of the first day

    phase = (clock / 3600.0 - cfg.daily_peak_hour) * (2.0 * np.pi / 24.0)
    rate = np.cos(phase)
    rate *= cfg.daily_amplitude
    rate += 1.0

    weekday_level = 7.0 / (5.0 + 2.0 * cfg.weekend_factor)
    day = (clock // SECONDS_PER_DAY).astype(np.int64)
    is_weekend = (day + cfg.start_weekday) % 7 >= 5
    rate *= np.where(is_weekend, cfg.weekend_factor * weekday_level, weekday_level)
    rate *= cfg.base_rps

    if cfg.trend_per_day != 0.0:
        rate *= np.exp(t * (math.log1p(cfg.trend_per_day) / SECONDS_PER_DAY))

    if cfg.noise_cv > 0.0:
        rate *= _lognormal_noise(cfg.noise_cv, cfg.noise_corr_s, t, rng)

    for fc in cfg.flash_crowds:
        rate *= 1.0 + fc.multiplier * _flash_shape(t, fc)

    np.maximum(rate, 0.0, out=rate)
    return rate


def _lognormal_noise(
    cv: float, corr_s: float, t: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Mean-1 log-normal noise with CV ``cv``, from a per-minute AR(1), held within minutes."""
    n_min = int(t[-1] // 60.0) + 1
    phi = math.exp(-60.0 / corr_s) if corr_s > 0 else 0.0
    innov = math.sqrt(1.0 - phi * phi)
    e = rng.standard_normal(n_min)
    if phi > 0.0 and n_min > 1:
        # z[0] = e[0] ~ N(0, 1) (stationary start), z[j] = phi z[j-1] + sqrt(1 - phi^2) e[j].
        e[1:] *= innov
        z = lfilter([1.0], [1.0, -phi], e)
    else:
        z = e
    sigma2 = math.log1p(cv * cv)
    minute_noise = np.exp(math.sqrt(sigma2) * z - 0.5 * sigma2)
    return minute_noise[(t // 60.0).astype(np.int64)]


def _flash_shape(t: np.ndarray, fc: FlashCrowd) -> np.ndarray:
    """0 before ``at``, linear 0 -> 1 over ``rise``, then exp(-(t - peak) / decay)."""
    since = t - fc.at
    shape = np.zeros_like(t)
    ramp = (since >= 0) & (since < fc.rise)
    shape[ramp] = since[ramp] / fc.rise
    after = since >= fc.rise
    shape[after] = np.exp(-(since[after] - fc.rise) / fc.decay)
    return shape


# ---------------------------------------------------------------------------------------------
# Trace replay
# ---------------------------------------------------------------------------------------------


def trace_rate(trace: Trace, cfg: TrafficConfig, duration_s: float, tick_s: float) -> np.ndarray:
    """Offered rate (req/s) per tick replayed from ``trace``; length ``ceil(duration_s/tick_s)``.

    Steps:

    1. Window: starts at ``cfg.start`` (default ``trace.start``) and lasts ``duration_s``.
       Tick ``i`` maps to trace time ``start + i * tick_s``; a start between grid points falls
       in (and begins with) the interval containing it. A window reaching outside the trace
       raises ValueError (no wrap-around).
    2. Aggregation: if ``trace.interval_s < cfg.resolution`` the intervals are summed in
       groups of ``k = round(resolution / interval_s)``, starting at the interval containing
       the window start (see :class:`TrafficConfig` for why). Missing intervals inside a bin
       count as the bin's valid mean, not zero.
    3. Gaps: still-missing bins are filled per ``cfg.gap_policy``; if every interval in the
       window is missing, ValueError. One bin on each side of the window (when the trace has
       it) takes part in gap filling and linear interpolation.
    4. Rate per bin = count / bin length, then per tick: ``"step"`` gives each tick the exact
       average of the piecewise-constant rate over the tick (so a tick longer than a bin, or
       straddling a bin edge, averages them and totals are conserved); ``"linear"``
       interpolates linearly between bin centres, evaluated at tick midpoints.
    5. Rescale to ``cfg.peak_rps`` (max over the ticks equals it exactly when ``scale`` is 1)
       or ``cfg.mean_rps`` (mean over the ticks), then multiply by ``cfg.scale``.

    Raises:
        ValueError: window outside the trace (message names the trace, its span and the
            request), whole window missing, negative counts, or a zero-rate window that
            cannot be rescaled.
    """
    n = n_ticks(duration_s, tick_s)
    counts = np.asarray(trace.counts, dtype=np.float64)
    dt = float(trace.interval_s)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"trace {trace.name!r}: interval_s must be > 0, got {trace.interval_s}")
    size = counts.size
    span_s = size * dt
    trace_start = np.datetime64(trace.start, "us")
    start = trace_start if cfg.start is None else np.datetime64(cfg.start, "us")
    off = float((start - trace_start) / np.timedelta64(1, "s"))  # window start, trace seconds

    if size == 0 or off < 0 or off + duration_s > span_s * (1 + 1e-12):
        trace_end = trace_start + np.timedelta64(round(span_s * 1e6), "us")
        raise ValueError(
            f"trace {trace.name!r} spans {np.datetime_as_string(trace_start, 's')} to "
            f"{np.datetime_as_string(trace_end, 's')} ({span_s:g} s = {span_s / 86400:.4g} d); "
            f"the requested window {np.datetime_as_string(start, 's')} + {duration_s:g} s "
            f"({duration_s / 86400:.4g} d) does not fit inside it"
        )

    i0 = min(int(off // dt), size - 1)  # interval containing the window start
    i_end = min(size, max(i0 + 1, math.ceil((off + duration_s) / dt - 1e-9)))
    window = counts[i0:i_end]
    if np.isnan(window).all():
        raise ValueError(
            f"trace {trace.name!r}: every interval from {np.datetime_as_string(start, 's')} "
            f"for {duration_s:g} s is missing data"
        )
    if (window < 0).any():
        raise ValueError(f"trace {trace.name!r}: negative counts inside the requested window")

    res = float(cfg.resolution)
    k = max(1, round(res / dt)) if dt < res else 1
    bin_s = k * dt

    # Bins aligned on interval i0; one margin bin on each side when the trace has it.
    tick_end = off + n * tick_s  # the last tick may end a little after the window
    m_win = max(1, math.ceil((tick_end - i0 * dt) / bin_s - 1e-9))
    pre = 1 if i0 >= k else 0
    lo = i0 - pre * k
    n_bins = pre + m_win + 1
    hi = lo + n_bins * k
    raw = counts[lo : min(hi, size)]
    if raw.size < n_bins * k:  # pad past the end of the trace with "missing"
        raw = np.concatenate([raw, np.full(n_bins * k - raw.size, np.nan)])
    rate_bins = _fill_gaps(_aggregate(raw, k), cfg.gap_policy) / bin_s
    np.maximum(rate_bins, 0.0, out=rate_bins)  # negatives only from the margin bins

    rel0 = off - lo * dt  # window start, seconds from the first (margin) bin's start
    if cfg.interpolation == "step":
        # Exact tick averages of the piecewise-constant rate via its integral at tick edges.
        cum = np.concatenate([[0.0], np.cumsum(rate_bins * bin_s)])
        u = np.arange(n + 1, dtype=np.float64)
        u *= tick_s
        u += rel0
        u /= bin_s  # tick edges in bins
        j = u.astype(np.int64)
        np.clip(j, 0, n_bins - 1, out=j)
        u -= j
        u *= rate_bins[j]
        u *= bin_s
        u += cum[j]  # u now holds cumulative requests at the tick edges
        rate = np.diff(u)
        rate /= tick_s
        np.maximum(rate, 0.0, out=rate)  # rounding in the difference of large sums
    elif cfg.interpolation == "linear":
        u = np.arange(n, dtype=np.float64)
        u += 0.5
        u *= tick_s
        u += rel0
        u /= bin_s
        u -= 0.5  # tick midpoints in bin-centre coordinates
        if n_bins == 1:
            rate = np.full(n, rate_bins[0])
        else:
            j = u.astype(np.int64)  # truncation; negative u is handled by the clips
            np.clip(j, 0, n_bins - 2, out=j)
            u -= j
            np.clip(u, 0.0, 1.0, out=u)
            left = rate_bins[j]
            rate = rate_bins[j + 1] - left
            rate *= u
            rate += left
    else:
        raise ValueError(f"unknown interpolation {cfg.interpolation!r}")

    _rescale(rate, cfg.peak_rps, cfg.mean_rps, f"trace {trace.name!r}")
    if cfg.scale != 1.0:
        rate *= cfg.scale
    return rate


# ---------------------------------------------------------------------------------------------
# Arrivals and entry point
# ---------------------------------------------------------------------------------------------


def arrivals(
    rate: np.ndarray, tick_s: float, rng: np.random.Generator, mode: str = "poisson"
) -> np.ndarray:
    """Request counts per tick (float64) for a per-tick rate in req/s.

    ``mode="poisson"`` (default, matching ``TrafficConfig.arrivals``): Poisson(rate * tick_s)
    per tick, drawn from ``rng``. ``mode="deterministic"``: exactly ``rate * tick_s``,
    fractional counts allowed (the simulator treats traffic as a fluid); ``rng`` is unused.

    Raises:
        ValueError: unknown mode, non-positive tick, or a negative / non-finite rate.
    """
    if not (math.isfinite(tick_s) and tick_s > 0):
        raise ValueError(f"tick_s must be a finite number > 0, got {tick_s!r}")
    lam = np.asarray(rate, dtype=np.float64) * tick_s
    if lam.size and not (np.isfinite(lam).all() and lam.min() >= 0):
        raise ValueError("rate must be finite and >= 0 in every tick")
    if mode == "deterministic":
        return lam
    if mode == "poisson":
        return rng.poisson(lam).astype(np.float64)
    raise ValueError(f"unknown arrivals mode {mode!r}: expected 'poisson' or 'deterministic'")


def build_rate(
    cfg: TrafficConfig,
    duration_s: float,
    tick_s: float,
    rng: np.random.Generator,
    *,
    base_dir: str | Path | None = None,
    trace_loader: Callable[[str, str | Path | None], Trace] | None = None,
) -> np.ndarray:
    """Offered rate (req/s) per tick for a ``[traffic]`` section.

    Synthetic (``cfg.trace is None``): :func:`synthetic_rate` on ``cfg.synthetic``, then
    ``peak_rps`` / ``mean_rps`` rescaling and ``scale`` as for a trace. Trace: loaded with
    ``trace_loader(cfg.trace, base_dir)`` if given, else ``sim.traces.load_trace(cfg.trace,
    base_dir=base_dir)`` (imported here, lazily), then :func:`trace_rate`. When
    ``time_column`` or ``value_column`` is set (and no ``trace_loader``), ``cfg.trace`` must
    be a CSV path and is read with ``sim.traces.read_csv_trace`` with those columns, because
    ``load_trace`` takes no column arguments. ``base_dir`` (default None: the working
    directory) is where relative CSV paths are resolved, typically the scenario's folder.
    """
    if cfg.trace is None:
        rate = synthetic_rate(cfg.synthetic, duration_s, tick_s, rng)
        _rescale(rate, cfg.peak_rps, cfg.mean_rps, "synthetic traffic")
        if cfg.scale != 1.0:
            rate *= cfg.scale
        return rate
    if trace_loader is not None:
        trace = trace_loader(cfg.trace, base_dir)
    elif cfg.time_column is None and cfg.value_column is None:
        from sim.traces import load_trace

        trace = load_trace(cfg.trace, base_dir=None if base_dir is None else Path(base_dir))
    else:
        from sim.traces import CATALOG, read_csv_trace

        if cfg.trace in CATALOG:
            raise ValueError(
                f"time_column / value_column apply to CSV paths, not to the catalog trace "
                f"{cfg.trace!r}"
            )
        path = Path(cfg.trace).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        trace = read_csv_trace(
            path, time_column=cfg.time_column, value_column=cfg.value_column, name=cfg.trace
        )
    return trace_rate(trace, cfg, duration_s, tick_s)
