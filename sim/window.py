"""Per-tick arrays held as a window of recent ticks, not for the whole run (issue 11).

A year of 1 s ticks is 31.5 million ticks: one float64 array that long is 252 MB, and the
fluid's served, failed, late and backlog, its serving count, the target 5xx and the arrivals
(sim/serving.py, sim/service.py) were seven of them. Their readers (the fluid itself, the
load balancer's split, the metric store's periods and its latency pass, sim/metrics.py)
consume ticks in order, so a :class:`TickWindow` keeps only the ticks from the oldest one a
reader still needs (:meth:`TickWindow.retire` moves that mark) to the newest one written:
about a day or two of ticks (:data:`CHUNK_TICKS`) in a run whose policy observes every
minute.

A window is indexed by *absolute* tick, like the whole-run array it replaces: ``w[lo:hi]``
is a view of ticks [lo, hi), ``w[i]`` one tick (a negative ``i`` counts from the end of the
run). Ticks before ``start`` (a target group started mid-run) read as zero, as the whole-run
array's untouched zeros did. Reading a retired tick raises an error that names it. A window
whose run fits in it (every tick held since tick 0) also converts to the whole-run array
(``np.asarray``), with numpy's operators, so short runs read as before.

The numbers are unchanged: a window stores the values the whole-run array would hold; only
where they live changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

#: Ticks per chunk (one day of 1 s ticks): the unit in which arrivals are drawn, a long
#: fluid stretch is computed (sim/serving.py) and a window makes room. A knob for tests
#: (tests/sim/test_chunks.py sets it to a period, an hour, a period and 7 ticks): every
#: chunk size gives the same bits; memory grows with it, speed drops for tiny ones.
CHUNK_TICKS = 86_400


class RetiredTicks(IndexError):
    """A reader asked for ticks the window no longer holds."""


class TickWindow(NDArrayOperatorsMixin):
    """A per-tick array over ticks [0, ``n_ticks``) of which only recent ticks are held.

    ``start``: ticks before it were never written and read as zero. ``chunk``: the initial
    size of the buffer (default :data:`CHUNK_TICKS`, read when the window is made); the
    buffer grows when readers hold more.
    """

    def __init__(
        self,
        n_ticks: int,
        *,
        dtype: Any = np.float64,
        start: int = 0,
        chunk: int | None = None,
        before: Any = None,
    ) -> None:
        size = CHUNK_TICKS if chunk is None else chunk
        if size < 1:
            raise ValueError(f"a window's chunk must be >= 1 tick, got {size}")
        self.n_ticks = int(n_ticks)
        self.start = min(max(0, int(start)), self.n_ticks)
        self.base = self.start  # absolute tick of buf[0]
        self.keep = self.start  # ticks before this one may be dropped
        self.buf = np.zeros(max(1, min(2 * size, self.n_ticks - self.start)), dtype=dtype)
        #: What ticks before ``start`` read as (an array or window over the whole run), or
        #: None: zeros.
        self.before = before
        #: Every tick from this one on is untouched (zero): no view reaching it was handed out
        #: by :meth:`span`, the only way into the buffer for writing (:meth:`untouched_from`).
        self.touched = self.start
        #: (lo, value, hi): ticks [lo, hi) all hold ``value``, written by :meth:`fill_value`
        #: and not reached by any other :meth:`span` since (:meth:`level_over`).
        self._level: tuple[int, int, int] | None = None

    @classmethod
    def holding(cls, other: TickWindow) -> TickWindow:
        """A copy of ``other``: the same ticks held, the same values."""
        out = cls(other.n_ticks, dtype=other.dtype, start=other.start, before=other.before)
        out.base, out.keep, out.buf = other.base, other.keep, other.buf.copy()
        out.touched = other.touched
        return out

    @property
    def dtype(self) -> np.dtype:
        return self.buf.dtype

    def __len__(self) -> int:
        return self.n_ticks

    @property
    def end(self) -> int:
        """One past the last tick the buffer covers."""
        return self.base + len(self.buf)

    def retire(self, tick: int) -> None:
        """No reader needs the ticks before ``tick`` any more."""
        self.keep = max(self.keep, min(int(tick), self.n_ticks))

    def _room(self, hi: int) -> None:
        """Make the buffer reach tick ``hi`` (exclusive): drop retired ticks, else grow."""
        if hi <= self.end:
            return
        if hi > self.n_ticks:
            raise IndexError(f"tick {hi - 1} is past the run's {self.n_ticks} ticks")
        new_base = max(self.base, self.keep)
        # Readers may have retired ticks past the buffer's end when the window went
        # unwritten for a while (a window left untouched holds zeros: sim/serving.py writes
        # no zeros): nothing is kept, and the ticks between read as the zeros they are.
        keep = max(0, self.end - new_base)
        size = len(self.buf)
        if hi - new_base > size:
            size = min(max(2 * size, hi - new_base), self.n_ticks - new_base)
            buf = np.zeros(size, dtype=self.buf.dtype)
            buf[:keep] = self.buf[len(self.buf) - keep :]
            self.buf = buf
        else:
            self.buf[:keep] = self.buf[len(self.buf) - keep :]
            self.buf[keep:] = 0
        self.base = new_base

    def untouched_from(self, lo: int) -> bool:
        """Whether every tick from ``lo`` on still holds its initial zero: a reader may take
        a sum over them as 0.0 without reading them (the failed and late requests and the
        target 5xx of most metric periods, sim/metrics.py)."""
        return lo >= self.touched

    def fill_value(self, lo: int, hi: int, value: int) -> None:
        """Write ``value`` into ticks [lo, hi). In an integer window, a run of equal values
        written this way, one stretch after the next, is remembered (:meth:`level_over`)."""
        level = self._level
        self.span(lo, hi)[:] = value
        if self.buf.dtype.kind not in "iu":
            return
        if level is not None and level[1] == value and level[2] == lo:
            self._level = (level[0], value, hi)
        else:
            self._level = (lo, value, hi)

    def level_over(self, lo: int, hi: int) -> int | None:
        """The value every tick of [lo, hi) holds, if they lie in the run of equal integers
        :meth:`fill_value` wrote last (a reader may take their sum as ``value x (hi - lo)``,
        exactly, without reading them: the serving count of most metric periods,
        sim/metrics.py); else None."""
        level = self._level
        if level is not None and level[0] <= lo and hi <= level[2]:
            return level[1]
        return None

    def span(self, lo: int, hi: int) -> np.ndarray:
        """A writable view of ticks [lo, hi), making room for them. The ticks count as
        touched (:meth:`untouched_from`) whether the caller writes or only reads them, and a
        span reaching the run :meth:`fill_value` remembers ends it."""
        if hi > self.touched:
            self.touched = hi
        level = self._level
        if level is not None and lo < level[2] and hi > level[0]:
            self._level = None
        base = self.base
        if lo < base:
            raise RetiredTicks(f"ticks from {lo} are not held (the window starts at tick {base})")
        if hi > base + len(self.buf):
            self._room(hi)
            base = self.base
            if lo < base:  # a reader retired ticks the caller still writes
                raise RetiredTicks(
                    f"ticks from {lo} were retired (the window now starts at {base})"
                )
        return self.buf[lo - base : hi - base]

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Ticks [lo, hi): a view, or a new array when some fall before ``start`` (zeros)."""
        hi = min(hi, self.n_ticks)
        if lo >= self.start or hi <= lo:
            return self.span(lo, max(lo, hi))
        out = np.zeros(hi - lo, dtype=self.buf.dtype)
        if self.before is not None:
            out[: min(hi, self.start) - lo] = self.before[lo : min(hi, self.start)]
        if hi > self.start:
            out[self.start - lo :] = self.span(self.start, hi)
        return out

    def __getitem__(self, key: Any) -> Any:
        if type(key) is slice:  # the common case first: held ticks, plain bounds
            lo, hi, base = key.start, key.stop, self.base
            if (
                type(lo) is int
                and type(hi) is int
                and key.step is None
                and base <= lo <= hi <= base + len(self.buf)
            ):
                return self.buf[lo - base : hi - base]
            if key.step in (None, 1):
                lo, hi, _ = key.indices(self.n_ticks)
                return self.read(lo, hi)
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.n_ticks if key < 0 else 0)
            if not 0 <= i < self.n_ticks:
                raise IndexError(f"tick {key} is outside the run's {self.n_ticks} ticks")
            if self.base <= i < self.base + len(self.buf):
                return self.buf[i - self.base]
            return self.read(i, i + 1)[0]
        return np.asarray(self)[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.n_ticks if key < 0 else 0)
            self.span(i, i + 1)[0] = value
            return
        if isinstance(key, slice) and key.step in (None, 1):
            lo, hi, _ = key.indices(self.n_ticks)
            self.span(lo, hi)[...] = value
            return
        raise TypeError(f"a window is written by tick or slice of ticks, not {key!r}")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The whole-run array, for a run whose every tick is still held."""
        if self.base > self.start or self.end < self.n_ticks:
            raise RetiredTicks(
                f"the window holds ticks [{self.base}, {self.end}) of {self.n_ticks}: "
                "read a run this long by slices, as it goes"
            )
        out = self.read(0, self.n_ticks)
        return out if dtype is None else out.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        args = [np.asarray(x) if isinstance(x, TickWindow) else x for x in inputs]
        return getattr(ufunc, method)(*args, **kwargs)

    def sum(self, *args: Any, **kwargs: Any) -> Any:
        return np.asarray(self).sum(*args, **kwargs)

    def max(self, *args: Any, **kwargs: Any) -> Any:
        return np.asarray(self).max(*args, **kwargs)

    def copy(self) -> np.ndarray:
        return np.array(self)
