"""The trace value type, :class:`Trace` (counts on a regular time grid), and :class:`TraceError`.

Both are shared by the trace modules (:mod:`sim.traces.catalog`, :mod:`sim.traces.fetch`,
:mod:`sim.traces.parse`) and re-exported by :mod:`sim.traces.load`, which is where callers import
them from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Trace", "TraceError"]


class TraceError(ValueError):
    """A trace could not be fetched, verified or parsed; the message says which file and why."""


@dataclass(frozen=True, eq=False)
class Trace:
    """Request counts on a regular time grid.

    ``counts[i]`` is the number of requests in ``[start + i*interval_s,
    start + (i+1)*interval_s)``; NaN marks a missing interval (no data, not zero load).
    ``start`` is naive, second precision, in the trace's own timezone (see
    :attr:`CatalogEntry.timezone`). ``source`` is the CSV path or the catalog name.
    Equality is identity (the arrays make value equality ambiguous).
    """

    name: str
    start: np.datetime64
    interval_s: float
    counts: np.ndarray
    source: str

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim != 1:
            raise TraceError(f"{self.source}: counts must be 1-D, got shape {counts.shape}")
        interval = float(self.interval_s)
        if not np.isfinite(interval) or interval <= 0:
            raise TraceError(f"{self.source}: interval_s must be > 0, got {self.interval_s!r}")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "interval_s", interval)
        object.__setattr__(self, "start", np.datetime64(self.start, "s"))

    def __len__(self) -> int:
        return int(self.counts.size)

    def _offsets(self, n: np.ndarray | int) -> np.ndarray:
        if self.interval_s.is_integer():
            secs = np.asarray(n, dtype=np.int64) * int(self.interval_s)
        else:
            secs = np.rint(np.asarray(n, dtype=np.float64) * self.interval_s).astype(np.int64)
        return secs.astype("timedelta64[s]")

    @property
    def times(self) -> np.ndarray:
        """Start of each interval, as a ``datetime64[s]`` array of length ``len(self)``."""
        return self.start + self._offsets(np.arange(len(self)))

    @property
    def end(self) -> np.datetime64:
        """End of the last interval (exclusive): ``start + len(self) * interval_s``."""
        return self.start + self._offsets(len(self))

    @property
    def duration_s(self) -> float:
        """Length of the covered period in seconds, ``len(self) * interval_s``."""
        return len(self) * self.interval_s

    def rate(self) -> np.ndarray:
        """Requests per second in each interval (``counts / interval_s``; NaN stays NaN)."""
        return self.counts / self.interval_s

    def __repr__(self) -> str:
        missing = int(np.isnan(self.counts).sum())
        return (
            f"Trace(name={self.name!r}, start={self.start}, interval_s={self.interval_s:g}, "
            f"len={len(self)}, missing={missing}, source={self.source!r})"
        )
