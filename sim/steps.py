"""Series that change only at events, read per metric period without a per-tick array.

The ECS columns of a metric period (sim/metrics.py) read four task counts (running,
pending, desired, and the tasks whose CPU the service metric averages) and the billed
task-seconds. Held per tick for the whole run they cost 24 bytes per simulated second (a
year: 0.7 GiB) although they change only at task events. Here:

* :class:`StepSeries`: an integer count as its change points (a tick and a value each,
  12 bytes per change); a period's sum and its last value are computed from them exactly
  (integer arithmetic), so the columns have the same bits as from the per-tick array.
* :class:`PeriodIntegral`: the exact per-tick integral of a count that changes at any
  instant, accumulated in a window of :data:`CHUNK_TICKS` ticks and reduced to per-period
  sums as soon as a period is complete, then dropped. Each period's sum is kept as numpy
  computes it from the per-tick values in both ways the metric store uses: ``np.add.reduce``
  of the period (a pairwise sum) and ``np.add.reduceat`` (the first value plus the pairwise
  sum of the rest), which can differ in the last bit.
* :class:`ZeroSeries`: the same readers for a target group's metric store, which has no
  ECS counts.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right

import numpy as np

#: Ticks per window of :class:`PeriodIntegral` (one day of 1 s ticks): whole periods are
#: reduced a window at a time, so numpy's per-call overhead stays small and memory does not
#: grow with the run.
CHUNK_TICKS = 86_400

#: ``ndarray.sum`` of a 1-D array without its Python wrapper: the same pairwise reduction.
_add_reduce = np.add.reduce


class StepSeries:
    """A per-tick integer count that changes only at events, kept as change points.

    ``set(tick, value)`` changes the value from ``tick`` on (from the first tick not yet
    final, ``pos``, if that is later); ``fill(tick)`` declares ticks before ``tick`` final.
    """

    def __init__(self, n_ticks: int, value: int = 0) -> None:
        self.n_ticks = n_ticks
        self.value = value
        self.initial = value
        self.pos = 0
        self._ticks = array("q")
        self._values = array("q")

    def set(self, tick: int, value: int) -> None:
        if value != self.value:
            self.fill(tick)
            self._ticks.append(self.pos)
            self._values.append(value)
            self.value = value

    def fill(self, tick: int) -> None:
        tick = min(tick, self.n_ticks)
        if tick > self.pos:
            self.pos = tick

    # -- readers ----------------------------------------------------------------------
    def at(self, tick: int) -> int:
        """The value in ``tick``."""
        i = bisect_right(self._ticks, tick) - 1
        return self._values[i] if i >= 0 else self.initial

    def sum(self, lo: int, hi: int) -> float:
        """The sum of the per-tick values over ticks [lo, hi)."""
        ticks, values = self._ticks, self._values
        i = bisect_right(ticks, lo) - 1
        value = values[i] if i >= 0 else self.initial
        total, t = 0, lo
        i += 1
        while i < len(ticks) and ticks[i] < hi:
            total += value * (ticks[i] - t)
            t, value = ticks[i], values[i]
            i += 1
        return float(total + value * (hi - t))

    def _window(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The change points that decide ticks [lo, hi], and the value before them."""
        i = bisect_right(self._ticks, lo) - 1
        j = bisect_right(self._ticks, hi)
        before = self._values[i] if i >= 0 else self.initial
        start = max(i, 0) if i >= 0 else 0
        ticks = np.frombuffer(self._ticks, dtype=np.int64)[start:j]
        values = np.frombuffer(self._values, dtype=np.int64)[start:j]
        return ticks, values, before

    def values_at(self, ticks: np.ndarray) -> np.ndarray:
        """The values in ``ticks`` (non-decreasing)."""
        ticks = np.asarray(ticks, dtype=np.int64)
        if len(ticks) == 0:
            return np.zeros(0, dtype=np.int64)
        ct, cv, before = self._window(int(ticks[0]), int(ticks[-1]))
        idx = np.searchsorted(ct, ticks, side="right") - 1
        return np.where(idx >= 0, cv[np.maximum(idx, 0)] if len(cv) else before, before)

    def sums(self, edges: np.ndarray) -> np.ndarray:
        """Per interval [edges[j], edges[j + 1]), the sum of the per-tick values (exact)."""
        edges = np.asarray(edges, dtype=np.int64)
        lo = int(edges[0])
        ct, cv, before = self._window(lo, int(edges[-1]))
        # The integral from lo at each change point and edge, in integers (exact).
        ct = np.maximum(ct, lo)
        vals = np.concatenate(([before], cv))
        starts = np.concatenate(([lo], ct))
        prefix = np.concatenate(([0], np.cumsum(vals[:-1] * np.diff(starts))))
        idx = np.searchsorted(starts, edges, side="right") - 1
        integral = prefix[idx] + vals[idx] * (edges - starts[idx])
        return np.diff(integral).astype(float)

    @property
    def values(self) -> np.ndarray:
        """The per-tick array over the ticks made final so far (for tests and plots)."""
        return self.values_at(np.arange(self.pos)).astype(np.int32)


class ZeroSeries:
    """The readers of :class:`StepSeries` and :class:`PeriodIntegral` for a series that is
    zero throughout (a target group's metric store has no ECS counts)."""

    def at(self, tick: int) -> int:
        return 0

    def sum(self, lo: int, hi: int) -> float:
        return 0.0

    def values_at(self, ticks: np.ndarray) -> np.ndarray:
        return np.zeros(len(ticks), dtype=np.int64)

    def sums(self, edges: np.ndarray) -> np.ndarray:
        return np.zeros(len(edges) - 1)

    def period_sum(self, i: int) -> float:
        return 0.0

    def period_sums(self, lo: int, hi: int, *, reduceat: bool = False) -> np.ndarray:
        return np.zeros(hi - lo)


class PeriodIntegral:
    """The exact per-tick integral (task-seconds) of a count that changes at any instant,
    kept per metric period of ``tpp`` ticks.

    The per-tick values are those of the whole-run array it replaces (the same products and
    additions, tick by tick); they live in a window of about :data:`CHUNK_TICKS` ticks until
    their period is complete (no later change can reach it), then each period is reduced
    (both ways, see the module docstring) and the window moves on.
    """

    def __init__(self, n_ticks: int, tick: float, tpp: int) -> None:
        self.n_ticks = n_ticks
        self.tick = tick
        self.tpp = tpp
        self.n_periods = -(-n_ticks // tpp)
        self.value = 0
        self.t = 0.0
        self._pairwise = np.zeros(self.n_periods)  # np.add.reduce of each period
        #: The metric store reads the ``reduceat`` sums only in a run whose last period is
        #: shorter than the others (sim/metrics.py, MetricStore.fill): kept only then.
        self.keeps_reduceat = n_ticks % tpp != 0
        self._reduceat = np.zeros(self.n_periods)  # first tick + np.add.reduce of the rest
        self._reduced = 0  # periods before this one are reduced
        self._base = 0  # first tick of the window (the first period not reduced)
        self._buf = np.zeros(max(1, CHUNK_TICKS // tpp) * tpp)

    def fill(self, until: float) -> None:
        """Integrate the current value from the last change up to ``until``."""
        t0, t1 = self.t, min(until, self.n_ticks * self.tick)
        if t1 <= t0:
            return
        self.t = t1
        if self.value == 0:
            return
        n = self.n_ticks
        k0 = min(n - 1, int(math.floor(t0 / self.tick + 1e-9)))
        k1 = min(n, int(math.floor(t1 / self.tick + 1e-9)))
        v = float(self.value)
        if k0 == k1:
            self._add(k0, v * (t1 - t0))
            return
        self._add(k0, v * ((k0 + 1) * self.tick - t0))
        self._const(k0 + 1, k1, v * self.tick)
        if k1 < n and t1 > k1 * self.tick:
            self._add(k1, v * (t1 - k1 * self.tick))

    def set(self, t: float, value: int) -> None:
        self.fill(t)
        self.t = max(self.t, t)
        self.value = value

    def _add(self, k: int, x: float) -> None:
        if k >= self._base + len(self._buf):
            self._make_room(k)
        self._buf[k - self._base] += x

    def _const(self, ka: int, kb: int, x: float) -> None:
        while ka < kb:
            if ka >= self._base + len(self._buf):
                self._make_room(ka)
            end = min(kb, self._base + len(self._buf))
            self._buf[ka - self._base : end - self._base] += x
            ka = end

    def _make_room(self, k: int) -> None:
        """Tick ``k`` is to be written past the window, so every tick before it is final:
        reduce their periods and move the window to the period ``k`` falls in."""
        self._reduce(k // self.tpp)
        buf, base = self._buf, self._base
        new_base = self._reduced * self.tpp
        keep = max(0, base + len(buf) - new_base)
        if keep:
            buf[:keep] = buf[len(buf) - keep :]
        buf[keep:] = 0.0
        self._base = new_base

    def _reduce(self, done: int) -> None:
        """Reduce periods [reduced, done), whose ticks are final."""
        tpp, n = self.tpp, self.n_ticks
        lo = self._reduced
        done = min(done, self.n_periods)
        if done <= lo:
            return
        buf, base = self._buf, self._base
        # Periods inside the window; later ones were never written (zero, as initialised).
        inside = min(done, (base + len(buf)) // tpp)
        whole = min(inside, n // tpp)
        off = lo * tpp - base
        if whole > lo:
            block = buf[off : off + (whole - lo) * tpp].reshape(whole - lo, tpp)
            self._pairwise[lo:whole] = block.sum(axis=1)
            if self.keeps_reduceat:
                self._reduceat[lo:whole] = block[:, 0] + block[:, 1:].sum(axis=1)
        if inside > whole:  # the run's last period, shorter than the others
            part = buf[whole * tpp - base : n - base]
            self._pairwise[whole] = np.add.reduce(part)
            self._reduceat[whole] = part[0] + np.add.reduce(part[1:])
        self._reduced = done

    # -- readers ----------------------------------------------------------------------
    def period_sum(self, i: int) -> float:
        """The sum of period ``i``'s per-tick values (``np.add.reduce``)."""
        lo = self._reduced
        if i == lo:  # the next period, as the metric store asks each period in turn
            tpp = self.tpp
            off = i * tpp - self._base
            if (i + 1) * tpp <= self.n_ticks and off + tpp <= len(self._buf):
                # _reduce's arithmetic for one whole period, without its 2-D reshapes: the
                # row sums of the reshaped block are these 1-D reductions, bit for bit.
                seg = self._buf[off : off + tpp]
                total = _add_reduce(seg)
                self._pairwise[i] = total
                if self.keeps_reduceat:
                    self._reduceat[i] = seg[0] + _add_reduce(seg[1:])
                self._reduced = i + 1
                return float(total)
        self._reduce(i + 1)
        return float(self._pairwise[i])

    def period_sums(self, lo: int, hi: int, *, reduceat: bool = False) -> np.ndarray:
        """Periods [lo, hi)'s sums: as ``np.add.reduce`` per period, or (``reduceat``) as
        ``np.add.reduceat`` over them (kept only in a run whose last period is partial)."""
        if reduceat and not self.keeps_reduceat:
            raise ValueError(
                f"reduceat sums are kept only when the last period is partial; this run's "
                f"{self.n_ticks} ticks are {self.n_periods} whole periods of {self.tpp}"
            )
        self._reduce(hi)
        return (self._reduceat if reduceat else self._pairwise)[lo:hi].copy()
