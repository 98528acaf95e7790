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

import numpy as np

from sim.queueing import MMkTable

# ``ndarray.max`` and ``np.cumsum`` without their Python wrappers: the same ufunc reductions
# (same values), called tens of thousands of times per run on short stretches.
_max = np.maximum.reduce
_cumsum = np.add.accumulate


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
        fleet = n * self.capacity_rps
        if float(_max(prev_backlog)) / fleet <= self.safe_wait:
            return None
        rho = self.rate[lo:hi] / fleet
        return self.table.backlog_tail(rho, prev_backlog, n, fleet, self.timeout, self.mu)


class FluidServer:
    """Tick arrays for one run and the backlog state between stretches."""

    def __init__(
        self,
        arrivals: np.ndarray,
        tick: float,
        capacity_rps: float,
        timeout: float,
        *,
        late: LateRequests | None = None,
    ) -> None:
        n = len(arrivals)
        self.late_model = late  # None: only the backlog bound times requests out
        self.arrivals = arrivals
        self.tick = tick
        self.capacity_rps = capacity_rps
        self.timeout = timeout
        self.served = np.zeros(n)
        self.failed = np.zeros(n)
        self.late = np.zeros(n)  # of ``failed``: processed, but answered after the timeout
        self.backlog = np.zeros(n)  # at the end of each tick
        self.n_serving = np.zeros(n, dtype=np.int32)
        self.pos = 0  # first tick not yet computed
        self.queue = 0.0  # backlog carried into tick ``pos``
        self.n = 0
        self.shed_pending = 0.0  # failed requests to book in tick ``pos``

    @property
    def n_ticks(self) -> int:
        return len(self.arrivals)

    def advance(self, to_tick: int) -> None:
        """Compute ticks [pos, to_tick) with the current serving count."""
        to_tick = min(to_tick, self.n_ticks)
        if to_tick <= self.pos:
            return
        lo, hi = self.pos, to_tick
        a = self.arrivals[lo:hi]
        self.n_serving[lo:hi] = self.n
        q0 = self.queue
        served, failed, backlog, q_end = stretch(
            a, self.n * self.capacity_rps * self.tick, q0, self.qmax(self.n)
        )
        late_model = self.late_model
        if late_model is not None and self.n > 0:
            q_start = min(max(q0, 0.0), self.qmax(self.n))
            peak = max(q_start, float(_max(backlog))) if hi > lo else q_start
            share = None
            if peak > late_model.safe_wait * self.n * self.capacity_rps:
                prev = np.empty(hi - lo)
                prev[0] = q_start
                prev[1:] = backlog[:-1]
                share = late_model.fraction(lo, hi, self.n, prev)
            if share is not None:
                late = served * share
                served -= late
                failed += late
                self.late[lo:hi] = late
        self.served[lo:hi] = served
        self.failed[lo:hi] = failed
        self.failed[lo] += self.shed_pending
        self.shed_pending = 0.0
        self.backlog[lo:hi] = backlog
        self.queue = q_end
        self.pos = hi

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


def stretch(
    arrivals: np.ndarray, service: float, q0: float, qmax: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The doubly reflected Lindley recursion over a stretch of constant capacity.

    Returns per-tick (served, failed, backlog at tick end) and the final backlog.
    ``service`` is the service offered per tick; ``qmax`` the largest backlog that can still
    be served within the timeout.
    """
    n = len(arrivals)
    if service <= 0.0 or qmax <= 0.0:
        failed = arrivals.copy()
        if n:
            failed[0] += q0
        return np.zeros(n), failed, np.zeros(n), 0.0
    if q0 <= 0.0 and _max(arrivals, initial=0.0) <= service:
        return arrivals.copy(), np.zeros(n), np.zeros(n), 0.0
    d = arrivals - service
    backlog = np.empty(n)
    overflow = np.zeros(n)
    i = 0
    q = min(max(q0, 0.0), qmax)
    at_upper = False
    while i < n:
        if not at_upper:
            # Reflected at 0: Q = q + X - min(0, min(q + X)), X the running sum.
            x = _cumsum(d[i:]) + q
            path = x - np.minimum(np.minimum.accumulate(x), 0.0)
            over = (path > qmax).nonzero()[0]
            j = n if over.size == 0 else i + int(over[0])
            backlog[i:j] = path[: j - i]
            if j == n:
                break
            overflow[j] = path[j - i] - qmax
            backlog[j] = qmax
            q, i, at_upper = qmax, j + 1, True
        else:
            # Reflected at qmax: Y = qmax - Q is reflected at 0 with increments -d; the
            # regulator (cumulative push at the barrier) is the overflow.
            y = _cumsum(-d[i:]) + (qmax - q)
            reg = -np.minimum(np.minimum.accumulate(y), 0.0)
            path_y = y + reg
            under = (path_y > qmax).nonzero()[0]
            j = n if under.size == 0 else i + int(under[0])
            backlog[i:j] = qmax - path_y[: j - i]
            # np.diff(reg[: j - i], prepend=0.0), without its Python overhead (same values).
            m = j - i
            if m > 0:
                overflow[i] = reg[0]
                np.subtract(reg[1:m], reg[: m - 1], out=overflow[i + 1 : j])
            if j == n:
                break
            # The walk emptied the queue within tick j: restart reflected at 0 there.
            overflow[j] = reg[j - i] - (reg[j - i - 1] if j > i else 0.0)
            backlog[j] = 0.0
            q, i, at_upper = 0.0, j + 1, False
    prev = np.concatenate(([min(max(q0, 0.0), qmax)], backlog[:-1]))
    served = prev + arrivals - backlog - overflow
    failed = overflow
    if q0 > qmax:
        failed[0] += q0 - qmax
    return served, failed, backlog, float(backlog[-1])
