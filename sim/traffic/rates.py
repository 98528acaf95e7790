"""Offered load for the simulator: a request *rate* per tick, then request *counts* per tick.

Traffic is a fluid. For a run of ``duration_s`` seconds cut into ticks of ``tick_s`` seconds,
the offered request rate (requests per second) during each tick is a float64 array;
:func:`arrivals` turns such a rate into request counts per tick.

The rate comes either from a synthetic generator (:func:`synthetic_rate`: daily sine, weekly
pattern, trend, correlated log-normal noise, flash crowds) or from a recorded trace
(:func:`trace_rate`: windowing, aggregation, gap filling, interpolation, rescaling).
:func:`build_rate` picks one according to the ``[traffic]`` section of a scenario file,
described by the pydantic models :class:`TrafficConfig`, :class:`SyntheticTraffic` and
:class:`FlashCrowd`.

Tick convention: tick ``i`` covers ``[i * tick_s, (i + 1) * tick_s)`` seconds from the run
start, and the number of ticks is ``ceil(duration_s / tick_s)`` (a relative tolerance of 1e-9
keeps e.g. ``86400 / 0.1`` from gaining a tick through rounding).

The simulator keeps the rate whole (a policy's future-load view reads it to the end of the
run, and ``peak_rps`` / ``mean_rps`` rescale it by its whole-run maximum or mean) and draws
the arrivals as the run reaches them (:class:`ArrivalStream`, the same numbers as
:func:`arrivals`).

This module defines :func:`arrivals`, :class:`ArrivalStream` and :func:`build_rate`; the parts
live in :mod:`sim.traffic.config` (:func:`parse_duration`, :data:`Duration` and the models),
:mod:`sim.traffic.ticks` (:func:`n_ticks`, rescaling), :mod:`sim.traffic.synthetic`
(:func:`synthetic_rate`) and :mod:`sim.traffic.replay` (:func:`trace_rate`). Import each name
from the module that defines it.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim import window
from sim.traffic.config import (
    TrafficConfig,
)
from sim.traffic.replay import trace_rate
from sim.traffic.synthetic import synthetic_rate
from sim.traffic.ticks import rescale_rate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sim.traces.base import Trace


#: Ticks per block in which :func:`arrivals` draws (one day of 1 s ticks).
ARRIVAL_BLOCK_TICKS = 86_400


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
    rate = np.asarray(rate, dtype=np.float64)
    shape = rate.shape
    rate = rate.reshape(-1)
    if rate.size and not (np.isfinite(rate).all() and rate.min() >= 0):
        raise ValueError("rate must be finite and >= 0 in every tick")
    if mode not in ("poisson", "deterministic"):
        raise ValueError(f"unknown arrivals mode {mode!r}: expected 'poisson' or 'deterministic'")
    out = np.empty(rate.size)
    # In blocks of a day of 1 s ticks: numpy draws a Poisson array element by element, in
    # order, so the blocks draw the same numbers as one call, without its run-long temporaries.
    for lo in range(0, rate.size, ARRIVAL_BLOCK_TICKS):
        hi = min(rate.size, lo + ARRIVAL_BLOCK_TICKS)
        lam = rate[lo:hi] * tick_s
        if not (np.isfinite(lam).all() and lam.min() >= 0):
            raise ValueError("rate must be finite and >= 0 in every tick")
        out[lo:hi] = lam if mode == "deterministic" else rng.poisson(lam)
    return out.reshape(shape)


class ArrivalStream:
    """The arrivals of :func:`arrivals` for a whole-run ``rate``, drawn chunk by chunk as
    the run reaches them (:meth:`ensure`) into a window of recent ticks
    (:class:`sim.window.TickWindow`, ``values``), not as one whole-run array: the same
    numbers, because numpy draws an array element by element, in order.

    ``listeners`` get ``(lo, values)`` for each block drawn, in order (the metric store's
    prefix sums, sim/metrics.py). :meth:`scan` reads ticks ahead without drawing them, from
    a copy of the generator (the fluid's look-ahead over a long stretch, sim/serving.py).

    Raises:
        ValueError: as :func:`arrivals`, at construction.
    """

    def __init__(
        self, rate: np.ndarray, tick_s: float, rng: np.random.Generator, mode: str = "poisson"
    ) -> None:
        if not (math.isfinite(tick_s) and tick_s > 0):
            raise ValueError(f"tick_s must be a finite number > 0, got {tick_s!r}")
        rate = np.asarray(rate, dtype=np.float64)
        if rate.ndim != 1:
            raise ValueError(f"rate must be one value per tick, got shape {rate.shape}")
        if rate.size and not (np.isfinite(rate).all() and rate.min() >= 0):
            raise ValueError("rate must be finite and >= 0 in every tick")
        if mode not in ("poisson", "deterministic"):
            raise ValueError(
                f"unknown arrivals mode {mode!r}: expected 'poisson' or 'deterministic'"
            )
        self.rate, self.tick_s, self.rng, self.mode = rate, tick_s, rng, mode
        self.values = window.TickWindow(rate.size)
        self.drawn = 0  # ticks before this one are drawn
        self.listeners: list[Callable[[int, np.ndarray], None]] = []

    def __len__(self) -> int:
        return self.rate.size

    def _draw(self, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
        lam = self.rate[lo:hi] * self.tick_s
        if not (np.isfinite(lam).all() and lam.min(initial=0.0) >= 0):
            raise ValueError("rate must be finite and >= 0 in every tick")
        return lam if self.mode == "deterministic" else rng.poisson(lam)

    def ensure(self, hi: int) -> None:
        """Draw every tick before ``hi``, a chunk at a time (sim/window.py)."""
        hi = min(hi, self.rate.size)
        while self.drawn < hi:
            lo = self.drawn
            end = min(self.rate.size, (lo // window.CHUNK_TICKS + 1) * window.CHUNK_TICKS)
            out = self.values.span(lo, end)
            out[:] = self._draw(lo, end, self.rng)
            self.drawn = end
            for listener in self.listeners:
                listener(lo, out)

    def scan(self, edges: list[int]) -> Iterator[np.ndarray]:
        """The arrivals of ticks [edges[k], edges[k + 1]), one array per k, without
        drawing them: ticks not drawn yet come from a copy of the generator."""
        rng = None
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if hi <= self.drawn:
                yield self.values[lo:hi]
                continue
            if rng is None:
                rng = copy.deepcopy(self.rng)
            head = self.values[lo : self.drawn] if lo < self.drawn else np.zeros(0)
            tail = self._draw(max(lo, self.drawn), hi, rng)
            yield np.concatenate((head, tail)) if head.size else tail


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
        rescale_rate(rate, cfg.peak_rps, cfg.mean_rps, "synthetic traffic")
        if cfg.scale != 1.0:
            rate *= cfg.scale
        return rate
    if trace_loader is not None:
        trace = trace_loader(cfg.trace, base_dir)
    elif cfg.time_column is None and cfg.value_column is None:
        from sim.traces.load import load_trace

        trace = load_trace(cfg.trace, base_dir=None if base_dir is None else Path(base_dir))
    else:
        from sim.traces.catalog import CATALOG
        from sim.traces.parse import read_csv_trace

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
