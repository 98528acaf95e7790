"""Synthetic offered load: :func:`synthetic_rate`, a per-tick rate from a :class:`SyntheticTraffic`.

The rate is ``base_rps`` shaped by a daily sine, a weekday/weekend pattern, a compound trend,
correlated multiplicative log-normal noise (a per-minute AR(1), :func:`_lognormal_noise`) and
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
        # Imported here: scipy.signal costs ~0.7 s to import, and a trace replay needs none of it.
        from scipy.signal import lfilter

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
