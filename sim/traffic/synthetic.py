"""Synthetic offered load: :func:`synthetic_rate`, a per-tick rate from a :class:`SyntheticTraffic`.

The rate is ``base_rps`` shaped by a daily sine, a weekday/weekend pattern, a compound trend,
correlated multiplicative log-normal noise (a per-minute AR(1), :func:`_minute_noise`) and
flash crowds (linear ramp, exponential decay, :func:`_flash_shape`); the formula and the
defaults are documented on :class:`SyntheticTraffic`. Randomness comes only from the
generator passed in. Callers import :func:`synthetic_rate` from :mod:`sim.traffic.rates`.
"""

from __future__ import annotations

import math

import numpy as np

from sim.traffic.config import SECONDS_PER_DAY, FlashCrowd, SyntheticTraffic
from sim.traffic.ticks import n_ticks

__all__ = ["synthetic_rate"]


#: Ticks per block in which :func:`synthetic_rate` computes the shape (one day of 1 s ticks):
#: every step is elementwise, so the blocks give the same bits as one pass over the run,
#: while the temporaries (a dozen per-tick arrays) stay the size of a block.
BLOCK_TICKS = 86_400


def synthetic_rate(
    cfg: SyntheticTraffic, duration_s: float, tick_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Synthetic offered rate (req/s) per tick, length ``ceil(duration_s / tick_s)``.

    See :class:`SyntheticTraffic` for the formula. Each tick takes the value at its start time
    ``i * tick_s``. Never negative. Draws from ``rng`` only when ``cfg.noise_cv > 0``: one
    standard normal per minute of the run (plus one). Computed in blocks of
    :data:`BLOCK_TICKS` ticks (the same values as in one pass).
    """
    n = n_ticks(duration_s, tick_s)
    rate = np.empty(n)
    noise = None
    if cfg.noise_cv > 0.0 and n:
        last_t = float(n - 1) * tick_s  # the last tick's start, as np.arange(n) * tick_s
        noise = _minute_noise(cfg.noise_cv, cfg.noise_corr_s, last_t, rng)
    for lo in range(0, n, BLOCK_TICKS):
        hi = min(n, lo + BLOCK_TICKS)
        t = np.arange(lo, hi, dtype=np.float64) * tick_s
        rate[lo:hi] = _shape(cfg, t, noise)
    return rate


def _shape(cfg: SyntheticTraffic, t: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    """The rate at tick start times ``t`` (``noise``: the per-minute noise, or None)."""
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

    if noise is not None:
        rate *= noise[(t // 60.0).astype(np.int64)]

    for fc in cfg.flash_crowds:
        rate *= 1.0 + fc.multiplier * _flash_shape(t, fc)

    np.maximum(rate, 0.0, out=rate)
    return rate


def _minute_noise(cv: float, corr_s: float, last_t: float, rng: np.random.Generator) -> np.ndarray:
    """Mean-1 log-normal noise with CV ``cv`` per minute up to ``last_t`` (s), from a
    per-minute AR(1); each tick takes its minute's value."""
    n_min = int(last_t // 60.0) + 1
    phi = math.exp(-60.0 / corr_s) if corr_s > 0 else 0.0
    innov = math.sqrt(1.0 - phi * phi)
    e = rng.standard_normal(n_min)
    if phi > 0.0 and n_min > 1:
        # z[0] = e[0] ~ N(0, 1) (stationary start), z[j] = phi z[j-1] + sqrt(1 - phi^2) e[j].
        e[1:] *= innov
        # Imported here: scipy.signal costs ~0.7 s to import, and a trace replay needs none of it.
        from scipy.signal import lfilter

        z = lfilter([1.0], [1.0, -phi], e)
    else:
        z = e
    sigma2 = math.log1p(cv * cv)
    return np.exp(math.sqrt(sigma2) * z - 0.5 * sigma2)


def _flash_shape(t: np.ndarray, fc: FlashCrowd) -> np.ndarray:
    """0 before ``at``, linear 0 -> 1 over ``rise``, then exp(-(t - peak) / decay)."""
    since = t - fc.at
    shape = np.zeros_like(t)
    ramp = (since >= 0) & (since < fc.rise)
    shape[ramp] = since[ramp] / fc.rise
    after = since >= fc.rise
    shape[after] = np.exp(-(since[after] - fc.rise) / fc.decay)
    return shape
