"""The tick grid of a per-tick rate array, and rescaling such an array to a peak or mean.

Tick convention: tick ``i`` covers ``[i * tick_s, (i + 1) * tick_s)`` seconds from the run
start, and the number of ticks is ``ceil(duration_s / tick_s)`` (a relative tolerance of 1e-9
keeps e.g. ``86400 / 0.1`` from gaining a tick through rounding): :func:`n_ticks`.
:func:`rescale_rate` rescales a rate in place so its maximum (or mean) is a given value; both
the synthetic and the replayed load go through it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["n_ticks", "rescale_rate"]


def n_ticks(duration_s: float, tick_s: float) -> int:
    """Number of ticks for a run: ``ceil(duration_s / tick_s)`` with a 1e-9 relative tolerance."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number > 0, got {duration_s!r}")
    if not (math.isfinite(tick_s) and tick_s > 0):
        raise ValueError(f"tick_s must be a finite number > 0, got {tick_s!r}")
    ratio = duration_s / tick_s
    return max(1, math.ceil(ratio - 1e-9 * ratio))


def rescale_rate(
    rate: np.ndarray, peak_rps: float | None, mean_rps: float | None, what: str
) -> None:
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
