"""Trace replay: :func:`trace_rate`, a per-tick rate from a recorded :class:`Trace`.

A window of the trace is selected (from ``TrafficConfig.start``, no wrap-around), its counts
are summed to ``TrafficConfig.resolution`` (:func:`_aggregate`, NaN-aware), missing bins are
filled per ``gap_policy`` (:func:`_fill_gaps`), counts become a rate that is expanded to ticks
(``"step"``: exact tick averages; ``"linear"``: between bin centres), and the result is
rescaled to ``peak_rps`` / ``mean_rps`` and multiplied by ``scale``. Loading the trace is
the caller's business (:func:`sim.traffic.rates.build_rate`); this module never imports
:mod:`sim.traces.load` at run time. Callers import :func:`trace_rate` from :mod:`sim.traffic.rates`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.traffic.config import TrafficConfig
from sim.traffic.ticks import n_ticks, rescale_rate

if TYPE_CHECKING:
    from sim.traces.base import Trace

__all__ = ["trace_rate"]


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

    rescale_rate(rate, cfg.peak_rps, cfg.mean_rps, f"trace {trace.name!r}")
    if cfg.scale != 1.0:
        rate *= cfg.scale
    return rate
