"""Serving as a fluid (DESIGN.md, "Fidelity and speed").

Per tick the serving tasks offer ``n x capacity_rps x tick`` requests of service. Arrivals
join a fleet-wide backlog that obeys the Lindley recursion Q_t = max(0, Q_{t-1} + A_t - S_t),
bounded above by what the fleet can serve within the request timeout,
Q_max = timeout x n x capacity_rps: requests beyond it time out and are counted as failed
(ELB 5xx). With no serving task every request fails.

Between two discrete events the serving count is fixed, so a stretch is computed with
cumulative sums (the reflected random walk), switching between the lower barrier (empty
queue) and the upper barrier (timeouts) only when the walk crosses the whole band, which
takes at least Q_max / max|A - S| ticks: a handful of vector operations per stretch, no
Python loop per tick.

Latency comes from queueing theory, not from the fluid: each serving task is an M/M/k queue
(k workers) at lambda/n (the ALB's round robin approximated as independent queues, slightly
pessimistic: splitting a Poisson stream at random gives independent Poisson streams, while
round robin's more regular split queues less), evaluated at the tick's arrival *rate*
(pointwise stationary approximation; Green and Kolesar, "The pointwise stationary
approximation for queues with nonstationary arrivals", Management Science 37(1), 1991). The
fluid backlog in excess of the stationary queue that formula already accounts for (n x L_q)
adds its drain time, Q / (n x capacity_rps), to every request of the tick.

The request timeout applies to the whole response, not only to the backlog: of the requests a
tick serves, the share whose response time (the excess wait plus the M/M/k response) would
exceed the timeout, ``P(T > timeout - wait)``, fails instead (:class:`LateRequests`); the
latency of the served ones is the response time conditioned on meeting the timeout
(:meth:`sim.queueing.MMkTable.truncated_quantile`), so no served request is slower than the
timeout. Those requests still occupied a worker (the ALB answers 504 while the target keeps
working), so the backlog is unchanged, arrived = served + failed + queued still holds, and
they count towards CPU (``late``, a part of ``failed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sim import window
from sim.queueing import MMkTable
from sim.window import TickWindow

# ``ndarray.max`` without its Python wrapper: the same ufunc reduction (same values), called
# tens of thousands of times per run on short stretches (:class:`Stretch` calls the
# ``accumulate`` ufuncs directly for the same reason).
_max = np.maximum.reduce


class LateRequests:
    """The share of each tick's served requests whose response would exceed the timeout.

    ``rate`` is the per-tick arrival rate (requests/s) the latency model reads; ``table`` the
    per-task M/M/k table. A tick whose wait is below :meth:`MMkTable.late_wait` loses less than
    ``LATE_EPS`` of its requests and is skipped, so a stretch with no backlog costs one
    comparison.
    """

    def __init__(
        self, table: MMkTable, rate: np.ndarray, capacity_rps: float, timeout: float
    ) -> None:
        self.table = table
        self.rate = rate
        self.capacity_rps = capacity_rps
        self.timeout = timeout
        self.mu = capacity_rps / table.k
        self.safe_wait = table.late_wait(timeout, self.mu)

    def fraction(self, lo: int, hi: int, n: int, prev_backlog: np.ndarray) -> np.ndarray | None:
        """Per tick of [lo, hi) with ``n`` serving tasks, the late share (None: negligible).

        ``prev_backlog`` is the backlog at the start of each tick, as the latency model
        (sim/metrics.py) reads it.
        """
        if not self.applies(n, float(_max(prev_backlog))):
            return None
        return self.share(lo, hi, n, prev_backlog)

    def applies(self, n: int, prev_max: float) -> bool:
        """Whether a stretch whose largest backlog at the start of a tick is ``prev_max``
        loses a share of its requests that is not negligible."""
        return prev_max / (n * self.capacity_rps) > self.safe_wait

    def share(self, lo: int, hi: int, n: int, prev_backlog: np.ndarray) -> np.ndarray:
        """The late share of ticks [lo, hi), per tick (no check: see :meth:`applies`)."""
        fleet = n * self.capacity_rps
        rho = self.rate[lo:hi] / fleet
        return self.table.backlog_tail(rho, prev_backlog, n, fleet, self.timeout, self.mu)


class FluidServer:
    """Tick arrays for one run and the backlog state between stretches.

    ``arrivals`` is an array, a :class:`sim.window.TickWindow`, or an arrival stream
    (sim/traffic/rates.py, :class:`~sim.traffic.rates.ArrivalStream`: drawn as the fluid
    reaches them; a stretch longer than a chunk is then computed chunk by chunk,
    :class:`Stretch`). The outputs (served, failed, late, backlog at the end of each tick,
    serving count) are :class:`sim.window.TickWindow` s: their readers retire the ticks
    they are done with (sim/simulation.py). ``on_chunk(tick)`` is called after each chunk
    of a stretch longer than a chunk, with ticks before ``tick`` computed, so that readers
    consume them before the next chunk.
    """

    def __init__(
        self,
        arrivals: Any,
        tick: float,
        capacity_rps: float,
        timeout: float,
        *,
        late: LateRequests | None = None,
        start: int = 0,
    ) -> None:
        n = len(arrivals)
        self.late_model = late  # None: only the backlog bound times requests out
        self.source = arrivals if hasattr(arrivals, "ensure") else None
        self.arrivals = arrivals.values if self.source is not None else arrivals
        self.tick = tick
        self.capacity_rps = capacity_rps
        self.timeout = timeout
        self.served = TickWindow(n, start=start)
        self.failed = TickWindow(n, start=start)
        self.late = TickWindow(n, start=start)  # of ``failed``: answered after the timeout
        self.backlog = TickWindow(n, start=start)  # at the end of each tick
        self.n_serving = TickWindow(n, dtype=np.int32, start=start)
        self.pos = start  # first tick not yet computed
        self.queue = 0.0  # backlog carried into tick ``pos``
        self.n = 0
        self.shed_pending = 0.0  # failed requests to book in tick ``pos``
        self.on_chunk: Callable[[int], None] | None = None

    @property
    def n_ticks(self) -> int:
        return len(self.arrivals)

    def windows(self) -> tuple[TickWindow, ...]:
        """The per-tick outputs (retired together)."""
        return (self.served, self.failed, self.late, self.backlog, self.n_serving)

    def advance(self, to_tick: int) -> None:
        """Compute ticks [pos, to_tick) with the current serving count: one stretch."""
        to_tick = min(to_tick, self.n_ticks)
        if to_tick <= self.pos:
            return
        lo, hi = self.pos, to_tick
        source = self.source
        if source is not None:
            chunk = window.CHUNK_TICKS
            if lo // chunk != (hi - 1) // chunk:  # the stretch crosses a chunk edge
                self._advance_chunked(chunk_edges(lo, hi, chunk))
                return
            if hi > source.drawn:
                source.ensure(hi)
        a = self.arrivals[lo:hi]
        n = self.n
        self.n_serving.fill_value(lo, hi, n)
        q0, qmax = self.queue, self.qmax(n)
        service = n * self.capacity_rps * self.tick
        if all_served(a, service, q0, qmax):
            # :func:`stretch`'s shortcut. Failed and backlog are zeros, which their windows
            # hold already (a tick is computed once): None, not written.
            served, failed, backlog, q_end = a.copy(), None, None, 0.0
        else:
            walk = Stretch(service, q0, qmax)
            served, failed, backlog = walk.step(a)
            q_end = walk.q_end
            if walk.none_failed:  # zeros, which the failed window holds already
                failed = None
        late_model = self.late_model
        if late_model is not None and n > 0:
            q_start = min(max(q0, 0.0), qmax)
            peak = q_start if backlog is None else max(q_start, float(_max(backlog)))
            share = None
            if peak > late_model.safe_wait * n * self.capacity_rps:
                prev = np.zeros(hi - lo) if backlog is None else np.empty(hi - lo)
                prev[0] = q_start
                if backlog is not None:
                    prev[1:] = backlog[:-1]
                share = late_model.fraction(lo, hi, n, prev)
            if share is not None:
                late = served * share
                served -= late
                if failed is None:
                    failed = np.zeros(hi - lo)
                failed += late
                self.late.span(lo, hi)[:] = late
        self._store(lo, hi, served, failed, backlog)
        self.queue = q_end
        self.pos = hi

    def _store(
        self,
        lo: int,
        hi: int,
        served: np.ndarray,
        failed: np.ndarray | None,
        backlog: np.ndarray | None,
    ) -> None:
        """Write a stretch's ticks; ``None``: zeros, which the windows hold already."""
        self.served.span(lo, hi)[:] = served
        if failed is not None:
            self.failed.span(lo, hi)[:] = failed
        if self.shed_pending:
            self.failed.span(lo, lo + 1)[0] += self.shed_pending
        self.shed_pending = 0.0
        if backlog is not None:
            self.backlog.span(lo, hi)[:] = backlog

    def _advance_chunked(self, edges: list[int]) -> None:
        """One stretch over [edges[0], edges[-1]) computed chunk by chunk (:class:`Stretch`),
        with the same bits as in one piece. Whether its requests can be late is decided on
        the whole stretch (its largest backlog), as in one piece: a first pass computes the
        backlog without keeping it, when the late model can apply."""
        n, qmax = self.n, self.qmax(self.n)
        service = n * self.capacity_rps * self.tick
        q0 = self.queue
        late_model = self.late_model if n > 0 else None
        late_on = False
        if late_model is not None:
            late_on = self._late_applies(edges, service, q0, qmax)
        walk = Stretch(service, q0, qmax)
        prev_end = walk.prev
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            self.source.ensure(b)
            served, failed, backlog = walk.step(self.arrivals[a:b])
            self.n_serving.fill_value(a, b, n)
            if late_on:
                prev = np.empty(b - a)
                prev[0] = prev_end
                prev[1:] = backlog[:-1]
                late = served * late_model.share(a, b, n, prev)
                served -= late
                failed += late
                self.late.span(a, b)[:] = late
            prev_end = float(backlog[-1])
            self._store(a, b, served, failed, backlog)
            self.queue = walk.q_end
            self.pos = b
            if b < edges[-1] and self.on_chunk is not None:
                self.on_chunk(b)

    def _late_applies(self, edges: list[int], service: float, q0: float, qmax: float) -> bool:
        """The first pass: does the stretch's largest backlog make the late share apply
        (:meth:`advance`'s test on the whole stretch)?"""
        model, n = self.late_model, self.n
        walk = Stretch(service, q0, qmax)
        peak = prev_max = walk.prev
        threshold = model.safe_wait * n * self.capacity_rps
        last = len(edges) - 2
        for k, values in enumerate(self.source.scan(edges)):
            backlog = walk.step(values)[2]
            top = float(_max(backlog))
            peak = max(peak, top)
            prev_max = max(prev_max, top if k < last else float(_max(backlog[:-1], initial=0.0)))
            if k < last and peak > threshold and model.applies(n, prev_max):
                return True  # later ticks only raise the maxima
        return peak > threshold and model.applies(n, prev_max)

    def qmax(self, n: int) -> float:
        return self.timeout * n * self.capacity_rps

    def set_serving(self, n: int, at_tick: int) -> None:
        """From tick ``at_tick`` on, ``n`` tasks serve; backlog above the new bound fails.

        Failures caused by a change are booked in tick ``at_tick`` (the backlog at the end of
        the tick before still holds them), so arrived = served + failed + queued holds at
        the end of every tick.
        """
        self.advance(at_tick)
        self.n = n
        bound = self.qmax(n)
        if self.queue > bound:
            self.shed_pending += self.queue - bound
            self.queue = bound

    def lose_inflight(self, fraction: float, at_tick: int) -> None:
        """A task died with its share of the backlog: those requests fail."""
        self.advance(at_tick)
        lost = self.queue * fraction
        self.queue -= lost
        self.shed_pending += lost

    def close(self) -> None:
        """Compute the remaining ticks; failures still pending go into the last tick."""
        self.advance(self.n_ticks)
        if self.shed_pending and self.n_ticks:
            self.failed[-1] += self.shed_pending
            self.backlog[-1] -= self.shed_pending
            self.shed_pending = 0.0


def _segment(out: np.ndarray | None, n: int, i: int, j: int, values: np.ndarray) -> np.ndarray:
    """Ticks [i, j) of a step's ``n`` outputs are ``values[: j - i]``; ``out`` None: not made
    yet, and a segment covering all ``n`` ticks is ``values`` itself (no copy)."""
    if out is None:
        if i == 0 and j == n:
            return values
        out = np.empty(n)
    out[i:j] = values[: j - i]
    return out


def chunk_edges(lo: int, hi: int, chunk: int) -> list[int]:
    """``lo``, the multiples of ``chunk`` strictly between ``lo`` and ``hi``, and ``hi``."""
    first = (lo // chunk + 1) * chunk
    return [lo, *range(first, hi, chunk), hi]


class Stretch:
    """:func:`stretch` computed chunk by chunk: each :meth:`step` takes the next ticks'
    arrivals and returns their (served, failed, backlog), the same bits as one call over
    the whole stretch. Between chunks it carries where the walk is: which barrier it is
    reflected at, the backlog it restarted from, the running sum of its increments and
    the running minimum (``np.add.accumulate`` and ``np.minimum.accumulate`` continue bit
    for bit from a carried value placed before the block), and the regulator at the upper
    barrier. :func:`stretch` is one step over the whole stretch; its shortcut (no queue and no
    tick above the service: everything is served) is what the general arithmetic computes
    too, so the chunked walk needs no counterpart."""

    def __init__(self, service: float, q0: float, qmax: float) -> None:
        self.service, self.qmax, self.q0 = service, qmax, q0
        self.dead = service <= 0.0 or qmax <= 0.0
        self.first = True
        self.q = 0.0 if self.dead else min(max(q0, 0.0), qmax)  # where the walk restarted
        self.prev = self.q  # backlog at the end of the last tick computed
        self.upper = False
        self.fresh = True  # the next tick restarts the walk (nothing carried)
        self.acc = 0.0  # running sum of the increments since the restart
        self.low = 0.0  # running minimum since the restart
        self.reg = 0.0  # the regulator at the last tick (upper barrier)
        self.none_failed = False  # the last step failed no request (its ``failed`` is zeros)

    @property
    def q_end(self) -> float:
        return self.prev

    def _run(self, x: np.ndarray, ufunc: Any, carried: float) -> np.ndarray:
        if self.fresh:
            return ufunc.accumulate(x)
        return ufunc.accumulate(np.concatenate(([carried], x)))[1:]

    def step(self, arrivals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(arrivals)
        if self.dead:
            failed = arrivals.copy()
            if self.first and n:
                failed[0] += self.q0
            self.first = self.first and n == 0
            return np.zeros(n), failed, np.zeros(n)
        if n == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        qmax = self.qmax
        d = arrivals - self.service
        backlog = None  # made at a second segment; a step of one segment is its path
        overflow = None  # requests timed out at the upper barrier, made at the first
        i = 0
        while i < n:
            if not self.upper:
                c = self._run(d[i:] if i else d, np.add, self.acc)
                x = c + self.q
                low = self._run(x, np.minimum, self.low)
                path = x - np.minimum(low, 0.0)
                over = (path > qmax).nonzero()[0]
                j = n if over.size == 0 else i + int(over[0])
                backlog = _segment(backlog, n, i, j, path)
                if j == n:
                    self.acc, self.low, self.fresh = float(c[-1]), float(low[-1]), False
                    break
                if overflow is None:
                    overflow = np.zeros(n)
                overflow[j] = path[j - i] - qmax
                backlog[j] = qmax
                self.q, i, self.upper, self.fresh = qmax, j + 1, True, True
            else:
                if overflow is None:
                    overflow = np.zeros(n)
                c = self._run(-d[i:], np.add, self.acc)
                y = c + (qmax - self.q)
                low = self._run(y, np.minimum, self.low)
                reg = -np.minimum(low, 0.0)
                path_y = y + reg
                under = (path_y > qmax).nonzero()[0]
                j = n if under.size == 0 else i + int(under[0])
                backlog = _segment(backlog, n, i, j, qmax - path_y[: j - i])
                before = 0.0 if self.fresh else self.reg
                m = j - i
                if m > 0:
                    overflow[i] = reg[0] if self.fresh else reg[0] - before
                    np.subtract(reg[1:m], reg[: m - 1], out=overflow[i + 1 : j])
                if j == n:
                    self.acc, self.low, self.reg = float(c[-1]), float(low[-1]), float(reg[-1])
                    self.fresh = False
                    break
                overflow[j] = reg[j - i] - (reg[j - i - 1] if j > i else before)
                backlog[j] = 0.0
                self.q, i, self.upper, self.fresh = 0.0, j + 1, False, True
        prev = np.empty(n)
        prev[0] = self.prev
        prev[1:] = backlog[:-1]
        served = prev + arrivals - backlog
        if overflow is None:  # nothing reached the upper barrier: nothing to subtract
            failed = np.zeros(n)
        else:
            served -= overflow
            failed = overflow
        if self.first and self.q0 > qmax:
            failed[0] += self.q0 - qmax
        self.none_failed = overflow is None and not (self.first and self.q0 > qmax)
        self.first = False
        self.prev = float(backlog[-1])
        return served, failed, backlog


def all_served(arrivals: np.ndarray, service: float, q0: float, qmax: float) -> bool:
    """:func:`stretch`'s shortcut applies: no queue and no tick above the service, so every
    request is served in its tick (nothing fails, the backlog stays 0)."""
    return q0 <= 0.0 < service and qmax > 0.0 and _max(arrivals, initial=0.0) <= service


def stretch(
    arrivals: np.ndarray, service: float, q0: float, qmax: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The doubly reflected Lindley recursion over a stretch of constant capacity.

    Returns per-tick (served, failed, backlog at tick end) and the final backlog.
    ``service`` is the service offered per tick; ``qmax`` the largest backlog that can still
    be served within the timeout. The walk itself is :class:`Stretch`'s (one step over the
    whole stretch); this adds the shortcut for a stretch with nothing to queue, the common
    case, which the general arithmetic would also compute exactly.
    """
    if all_served(arrivals, service, q0, qmax):
        n = len(arrivals)
        return arrivals.copy(), np.zeros(n), np.zeros(n), 0.0
    walk = Stretch(service, q0, qmax)
    served, failed, backlog = walk.step(arrivals)
    return served, failed, backlog, walk.q_end
