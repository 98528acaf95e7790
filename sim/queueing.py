"""Per-task M/M/k latency model (vectorised over utilisation).

Model
-----
Each ECS task runs ``k`` workers, each serving requests at rate ``mu`` (per second).
The load balancer is modelled as round robin: with ``n`` healthy tasks and a total
arrival rate ``lambda``, the service is approximated as ``n`` *independent* M/M/k
queues, each receiving ``lambda / n`` (round robin is the ALB's default routing algorithm:
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html;
least-outstanding-requests would be closer to one M/M/(n k) and is *not* what this module
models).  Per task the utilisation is
``rho = lambda / (n k mu)``.

All formulas are the standard M/M/c (Erlang C) results (Gross, Shortle, Thompson and Harris,
*Fundamentals of Queueing Theory*, 4th ed., Wiley 2008, section 2.3; "Gross et al. 2008"
below), with ``c = k``, offered load ``a = k rho`` and ``theta = k mu - lambda_task =
k mu (1 - rho)``.  Latency in a time-varying simulation uses the pointwise stationary
approximation (Green and Kolesar, "The pointwise stationary approximation for queues with
nonstationary arrivals", Management Science 37(1), 1991): the stationary formulas
are evaluated at each interval's ``rho``; overload (``rho >= 1``) is the fluid backlog
model's job, not this module's.

Everything here is computed in the dimensionless time ``x = mu t`` and rescaled, so
one :class:`MMkTable` serves every ``mu``.  All functions broadcast over numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sim.brent import brentq

__all__ = [
    "MMkTable",
    "erlang_c",
    "mean_queue_length",
    "mean_response",
    "mixture_quantile",
    "response_quantile",
    "response_sf",
]

#: |theta/mu - 1| below which the theta == mu limit of the response-time tail is used.
THETA_MU_TOL = 1e-9

#: Share of requests exceeding the timeout below which a tick's timeout arithmetic is skipped
#: (:meth:`MMkTable.late_wait`): far below one request in any run.
LATE_EPS = 1e-12

ArrayLike = np.ndarray | float

#: ``ndarray.min`` without its Python wrapper (the same reduction).
_min = np.minimum.reduce


def _check_k(k: int) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _as_rho(rho: ArrayLike) -> np.ndarray:
    rho = np.asarray(rho, dtype=float)
    if np.any(rho < 0):
        raise ValueError("utilisation rho must be >= 0")
    return rho


def _check_p(p: ArrayLike) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if np.any(~((p > 0) & (p < 1))):
        raise ValueError("percentile level p must lie strictly between 0 and 1")
    return p


def erlang_c(k: int, rho: ArrayLike) -> np.ndarray:
    """Erlang C: probability that an arrival to an M/M/k queue has to wait.

    ``rho = lambda / (k mu)`` is the per-worker utilisation, offered load ``a = k rho``.
    Computed as in Gross et al. 2008, section 2.3 through the
    Erlang B recursion ``B(0) = 1, B(j) = a B(j-1) / (j + a B(j-1))`` and
    ``C = B / (1 - rho (1 - B))`` -- never with factorials.  The loop runs over ``j``
    (``k`` iterations); each step is vectorised over ``rho``.

    ``rho = 0`` gives 0; ``rho >= 1`` (unstable queue) gives 1; NaN propagates.
    For ``k = 1`` the result is ``rho`` (M/M/1).
    """
    k = _check_k(k)
    rho = _as_rho(rho)
    a = k * rho
    b = np.ones_like(a)
    for j in range(1, k + 1):
        ab = a * b
        b = ab / (j + ab)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = b / (1.0 - rho * (1.0 - b))
    return np.where(rho >= 1.0, 1.0, c)


def _sf_dimless(x: np.ndarray, k: int, rho: np.ndarray, c: np.ndarray) -> np.ndarray:
    """P(mu T > x) given the Erlang C value ``c`` (no validation; rho < 1 assumed).

    With ``r = theta / mu = k (1 - rho)`` the textbook formula
    ``(1 - C) e^{-x} + C (r e^{-x} - e^{-r x}) / (r - 1)`` rearranges exactly to
    ``e^{-x} + C e^{-min(1, r) x} h`` with ``h = (1 - e^{-|r - 1| x}) / |r - 1|``,
    which has no cancellation and no overflow for either sign of ``r - 1``;
    ``h -> x`` as ``r -> 1`` gives the textbook's ``C (1 + x) e^{-x}`` case.
    """
    return _SfTerms(k, rho)(x, c)


class _SfTerms:
    """:func:`_sf_dimless` split in two: the terms that depend only on ``k`` and ``rho``
    (``d = |r - 1|``, ``m = min(r, 1)``) computed once, and the tail at any ``x`` from them,
    for the bisections that evaluate the tail at many ``x`` for the same loads (the same
    operations on the same values as one call each, so the same bits)."""

    def __init__(self, k: int, rho: np.ndarray) -> None:
        r = k * (1.0 - rho)
        self.d = d = np.abs(r - 1.0)
        self.m = np.minimum(r, 1.0)
        # No element near r = 1 (the usual case, and a finite d >= 1e-9 cannot divide by
        # 0): the same operations for every element, without the two selections.
        self.plain = bool(np.ndim(d) == 1 and len(d) and not _min(d) < THETA_MU_TOL)

    def __call__(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        d, m = self.d, self.m
        if self.plain:
            return np.exp(-x) + c * np.exp(-m * x) * (-np.expm1(-d * x) / d)
        small = d < THETA_MU_TOL
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where(small, x, -np.expm1(-d * x) / np.where(small, 1.0, d))
        return np.exp(-x) + c * np.exp(-m * x) * h


def response_sf(t: ArrayLike, k: int, mu: ArrayLike, rho: ArrayLike) -> np.ndarray:
    """Tail of the M/M/k response time: ``P(T > t)`` with ``T = W_q + S``.

    Formula from Gross et al. 2008, section 2.3:
    ``P(T > t) = (1 - C) e^{-mu t} + C (theta e^{-mu t} - mu e^{-theta t}) / (theta - mu)``
    with ``theta = k mu (1 - rho)``; when ``|theta / mu - 1| < THETA_MU_TOL`` the limit
    ``(1 - C) e^{-mu t} + C (1 + mu t) e^{-mu t}`` is used.  It is evaluated in an
    algebraically identical, cancellation-free form (see ``_sf_dimless``).  For ``k = 1``
    this reduces to ``exp(-(mu - lambda) t)``.

    Broadcasts over ``t``, ``mu`` and ``rho``.  ``t < 0`` gives 1; ``rho >= 1`` (no
    stationary distribution) gives 1.
    """
    k = _check_k(k)
    rho = _as_rho(rho)
    x = np.asarray(t, dtype=float) * np.asarray(mu, dtype=float)
    stable = rho < 1.0
    rho_s = np.where(stable, rho, 0.0)
    sf = _sf_dimless(np.maximum(x, 0.0), k, rho_s, erlang_c(k, rho_s))
    out = np.where(stable & (x > 0), np.minimum(sf, 1.0), 1.0)
    return np.where(np.isnan(x) | np.isnan(rho), np.nan, out)


def mean_response(k: int, mu: ArrayLike, rho: ArrayLike) -> np.ndarray:
    """Mean response time ``E[T] = C / theta + 1 / mu`` in seconds.

    Gross et al. 2008, section 2.3, ``theta = k mu (1 - rho)``.
    ``rho >= 1`` gives ``inf``.
    """
    k = _check_k(k)
    rho = _as_rho(rho)
    mu = np.asarray(mu, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wq = erlang_c(k, rho) / (k * mu * (1.0 - rho))
    return np.where(rho >= 1.0, np.inf, wq + 1.0 / mu)


def mean_queue_length(k: int, mu: ArrayLike, rho: ArrayLike) -> np.ndarray:
    """Mean number of requests *waiting* (not in service) at one task, ``L_q``.

    Little's law on the queue: ``L_q = lambda W_q = lambda C / theta = rho C / (1 - rho)``
    (Gross et al. 2008, section 2.3).  It does not depend on
    ``mu``; ``mu`` is accepted for a uniform signature and only broadcasts the shape.
    ``rho >= 1`` gives ``inf``.
    """
    k = _check_k(k)
    rho = _as_rho(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = rho * erlang_c(k, rho) / (1.0 - rho)
    lq = np.where(rho >= 1.0, np.inf, lq)
    return lq * np.ones_like(np.asarray(mu, dtype=float))


def _quantile_bounds(
    tail: np.ndarray, k: int, rho: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dimensionless bracket [lo, hi] for ``P(mu T > x) = tail`` (rho < 1).

    ``T >= S`` and ``T >= W_q`` give the lower bound; the union bound
    ``P(W_q + S > a + b) <= P(W_q > a) + P(S > b)`` with each term ``tail / 2``
    gives the upper bound (``P(mu W_q > x) = C e^{-r x}``, ``P(mu S > x) = e^{-x}``).
    """
    r = k * (1.0 - rho)
    with np.errstate(divide="ignore"):
        lo = np.maximum(-np.log(tail), np.maximum(np.log(c / tail), 0.0) / r)
        hi = -np.log(tail / 2.0) + np.maximum(np.log(2.0 * c / tail), 0.0) / r
    return lo, hi * (1.0 + 1e-9) + 1e-12


def _quantile_dimless(p: np.ndarray, k: int, rho: np.ndarray, iters: int = 64) -> np.ndarray:
    """Vectorised bisection for ``mu * q_p`` (rho < 1, 0 < p < 1), ~1e-13 relative."""
    p, rho = np.broadcast_arrays(np.asarray(p, float), np.asarray(rho, float))
    tail = 1.0 - p
    c = erlang_c(k, rho)
    lo, hi = _quantile_bounds(tail, k, rho, c)
    sf = _SfTerms(k, rho)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        above = sf(mid, c) > tail
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def response_quantile(p: ArrayLike, k: int, mu: ArrayLike, rho: ArrayLike) -> np.ndarray:
    """Exact p-quantile of the M/M/k response time (seconds), for reference and tests only.

    Solves ``response_sf(t) = 1 - p`` with Brent's method (``sim.brent.brentq``, the same
    roots as ``scipy.optimize.brentq``) separately for each
    element (a bracketing root finder on a monotone tail; the tail is Gross et al. 2008,
    section 2.3).  Slow: use
    :class:`MMkTable` in the simulator.  Broadcasts over ``p``, ``mu`` and ``rho``;
    ``rho >= 1`` gives ``inf``.  ``0 < p < 1`` is required.
    """
    k = _check_k(k)
    p = _check_p(p)
    rho = _as_rho(rho)
    mu = np.asarray(mu, dtype=float)
    p_b, rho_b = np.broadcast_arrays(p, rho)
    x = np.empty(p_b.shape, dtype=float)
    for idx in np.ndindex(p_b.shape):
        pi, ri = float(p_b[idx]), float(rho_b[idx])
        if not ri < 1.0:
            x[idx] = np.inf if ri >= 1.0 else np.nan
            continue
        tail = 1.0 - pi
        ci = float(erlang_c(k, ri))

        def f(xx: float, ri: float = ri, ci: float = ci, tail: float = tail) -> float:
            return float(_sf_dimless(np.float64(xx), k, np.float64(ri), np.float64(ci))) - tail

        _, hi = _quantile_bounds(np.float64(tail), k, np.float64(ri), np.float64(ci))
        hi = float(hi)
        while f(hi) > 0:  # never expected (hi is a proven bound); guards rounding
            hi *= 2.0
        x[idx] = brentq(f, 0.0, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
    return x / mu


def _default_grid(rho_max: float, step: float) -> np.ndarray:
    """Grid uniform in ``u = -ln(1 - rho)``: rho spacing ~ step (1 - rho), dense near 1."""
    u_max = -math.log1p(-rho_max)
    n = max(2, math.ceil(u_max / step) + 1)
    grid = -np.expm1(-np.linspace(0.0, u_max, n))
    grid[0], grid[-1] = 0.0, rho_max
    return grid


class MMkTable:
    """Precomputed M/M/k latency tables for one worker count ``k``, for any ``mu``.

    Built once from the exact formulas (Gross et al. 2008, section 2.3); lookups are ``np.interp`` on a fixed ``rho`` grid, so they
    cost one pass over the input regardless of ``k``.

    Tables are dimensionless (``mu * time``), so every time-valued method takes ``mu``
    (service rate per worker, 1/s) and returns SECONDS; ``mu`` broadcasts with ``rho``.

    Grid: ``rho_i = 1 - exp(-u_i)`` with ``u`` uniform in ``[0, -ln(1 - rho_max)]`` and
    step ``step`` (default 0.02), i.e. rho spacing ``~ step (1 - rho)``: 0.02 at low load,
    2e-4 near 0.99 (232 points for ``rho_max = 0.99``).  Because the mean and the
    quantiles grow like ``1 / (1 - rho)``, linear interpolation on this grid has relative
    error of order ``step**2 / 4 = 1e-4``: measured max 1.4e-4 (mean, p50/p90/p99,
    k = 1..64); the tests require < 0.5 %.  Build time ~2 ms for any k up to 64.

    ``rho_max`` (default 0.99) is the pointwise-stationary cap: the stationary M/M/k
    formulas only apply to a stable queue, and near saturation the pointwise stationary
    approximation is poor anyway (Green and Kolesar
    1991).  Inputs with ``rho > rho_max`` are CLIPPED to ``rho_max`` (and
    ``rho < 0`` to 0), so lookups never return inf; overload (``rho >= 1``) must be
    handled by the caller's fluid backlog model.  NaN propagates.
    """

    def __init__(
        self,
        k: int,
        rho_max: float = 0.99,
        ps: Sequence[float] = (0.5, 0.9, 0.99),
        *,
        step: float = 0.02,
    ) -> None:
        self.k = _check_k(k)
        if not 0.0 < rho_max < 1.0:
            raise ValueError("rho_max must lie strictly between 0 and 1")
        if not step > 0:
            raise ValueError("step must be positive")
        self.rho_max = float(rho_max)
        self.ps: tuple[float, ...] = tuple(float(p) for p in _check_p(np.asarray(ps)).ravel())
        self.rho_grid = _default_grid(self.rho_max, step)
        g = self.rho_grid
        c = erlang_c(self.k, g)
        #: E[mu T] = C / (k (1 - rho)) + 1
        self.mean_grid = c / (self.k * (1.0 - g)) + 1.0
        #: Erlang C; L_q = rho C / (1 - rho) is formed after interpolating C, which keeps
        #: L_q's absolute error ~1e-4 requests even where it is tiny (low rho).
        self.c_grid = c
        #: mu * q_p, one row per p in ``ps``
        self.quantile_grid = _quantile_dimless(np.asarray(self.ps)[:, None], self.k, g[None, :])

    def _clip(self, rho: ArrayLike) -> np.ndarray:
        return np.clip(np.asarray(rho, dtype=float), 0.0, self.rho_max)

    def _row(self, p: float) -> int:
        for i, q in enumerate(self.ps):
            if abs(q - p) <= 1e-12:
                return i
        raise ValueError(f"p={p!r} not tabulated; this table has ps={self.ps}")

    def mean(self, rho: ArrayLike, mu: ArrayLike) -> np.ndarray:
        """Mean response time (s) at utilisation ``rho`` (clipped to [0, rho_max])."""
        return np.interp(self._clip(rho), self.rho_grid, self.mean_grid) / np.asarray(mu, float)

    def quantile(self, p: float, rho: ArrayLike, mu: ArrayLike) -> np.ndarray:
        """Response-time p-quantile (s); ``p`` must be one of ``self.ps``."""
        row = self.quantile_grid[self._row(float(p))]
        return np.interp(self._clip(rho), self.rho_grid, row) / np.asarray(mu, float)

    def prob_wait(self, rho: ArrayLike) -> np.ndarray:
        """Erlang C, the probability that a request queues (rho clipped)."""
        return np.interp(self._clip(rho), self.rho_grid, self.c_grid)

    def lq(self, rho: ArrayLike) -> np.ndarray:
        """Mean number of requests waiting at one task, ``L_q = rho C / (1 - rho)``.

        ``rho`` is clipped to [0, rho_max]; C is interpolated, then the exact factor applied.
        """
        r = self._clip(rho)
        return r * np.interp(r, self.rho_grid, self.c_grid) / (1.0 - r)

    def sf(self, t: ArrayLike, rho: ArrayLike, mu: ArrayLike) -> np.ndarray:
        """``P(T > t)`` from :func:`response_sf` (exact, not tabulated), rho clipped."""
        return response_sf(t, self.k, mu, self._clip(rho))

    # -- a request timeout: responses beyond ``limit`` fail, the served ones are truncated --

    def tail(self, t: ArrayLike, rho: ArrayLike, mu: ArrayLike) -> np.ndarray:
        """``P(T > t)`` from the tabulated Erlang C (cheap, vectorised; rho clipped).

        ``t <= 0`` gives 1. Used per tick for the share of requests that exceed the timeout.
        """
        r = self._clip(rho)
        x = np.maximum(np.asarray(t, dtype=float) * np.asarray(mu, dtype=float), 0.0)
        c = np.interp(r, self.rho_grid, self.c_grid)
        return np.minimum(_sf_dimless(x, self.k, r, c), 1.0)

    def backlog_tail(
        self, rho: np.ndarray, backlog: np.ndarray, n: int, fleet: float, limit: float, mu: float
    ) -> np.ndarray:
        """``P(T > limit - w)`` per tick, ``w = max(backlog - n L_q(rho), 0) / fleet`` the wait
        of the fluid backlog in excess of the stationary queue (``fleet`` requests/s).

        The same arithmetic as :meth:`lq` then :meth:`tail`, bit for bit, with one clip and one
        interpolation of Erlang C shared by both (the per-stretch timeout check, sim/serving.py).
        """
        r = self._clip(rho)
        c = np.interp(r, self.rho_grid, self.c_grid)
        wait = np.maximum(backlog - n * (r * c / (1.0 - r)), 0.0) / fleet
        x = np.maximum((limit - wait) * mu, 0.0)
        return np.minimum(_sf_dimless(x, self.k, r, c), 1.0)

    def late_wait(self, limit: float, mu: float, eps: float = LATE_EPS) -> float:
        """The queue wait (s) below which no more than ``eps`` of the requests exceed ``limit``.

        The response time grows stochastically with the load, so the worst case is
        ``rho_max``: a request that waited ``w`` exceeds ``limit`` with probability
        ``P(T > limit - w) <= eps`` at any tabulated load when ``w <= late_wait``. Callers skip
        the timeout arithmetic for such ticks. ``inf`` for an infinite limit; negative when
        even an immediate start exceeds ``limit`` too often (a service time near the limit).
        """
        if not math.isfinite(limit):
            return math.inf
        key = (float(limit), float(mu), float(eps))
        cache = self.__dict__.setdefault("_late_wait", {})
        if key not in cache:
            cache[key] = self._late_wait_uncached(*key)
        return cache[key]

    def _late_wait_uncached(self, limit: float, mu: float, eps: float) -> float:
        r = np.float64(self.rho_max)
        c = np.float64(self.c_grid[-1])
        lo, hi = (float(v) for v in _quantile_bounds(np.float64(eps), self.k, r, c))
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if float(_sf_dimless(np.float64(mid), self.k, r, c)) > eps:
                lo = mid
            else:
                hi = mid
        return float(limit - hi / mu)

    def truncated_quantile(
        self, p: float, rho: ArrayLike, mu: float, shift: ArrayLike, limit: float
    ) -> np.ndarray:
        """p-quantile (s) of ``shift + T`` given ``shift + T <= limit``: the served requests.

        Requests whose response would exceed ``limit`` (the request timeout) fail, so the
        latency of the served ones is the response time conditioned on meeting the limit:
        the quantile solves ``P(T > t - shift) = 1 - p (1 - P(T > limit - shift))`` on
        ``[shift, limit]``. Equal to ``quantile(p) + shift`` where the limit is out of reach
        (wait below :meth:`late_wait`); never above ``limit``.
        """
        rho, shift = np.broadcast_arrays(
            np.asarray(rho, dtype=float), np.asarray(shift, dtype=float)
        )
        out = np.array(self.quantile(p, rho, mu) + shift, dtype=float)
        near = self._near_limit(rho, shift, mu, limit)
        if near is None:
            return out
        late, r, s, c = near
        x_lim = np.maximum(limit - s, 0.0) * mu
        sf = _SfTerms(self.k, r)
        tail = 1.0 - p * (1.0 - sf(x_lim, c))
        lo, hi = np.zeros_like(x_lim), x_lim.copy()
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            above = sf(mid, c) > tail
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        out[late] = np.minimum(s + 0.5 * (lo + hi) / mu, limit)
        return out

    def _near_limit(
        self, rho: np.ndarray, shift: np.ndarray, mu: float, limit: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The ticks whose wait ``shift`` can reach ``limit`` (those the conditioning on
        ``shift + T <= limit`` changes), as (mask, clipped rho, shift, C) for them; None when
        there are none or the limit is infinite (the unconditioned values stand)."""
        if not math.isfinite(limit):
            return None
        late = shift > self.late_wait(limit, mu)
        if not late.any():
            return None
        r = self._clip(rho[late])
        return late, r, shift[late], np.interp(r, self.rho_grid, self.c_grid)

    def truncated_mean(
        self, rho: ArrayLike, mu: float, shift: ArrayLike, limit: float
    ) -> np.ndarray:
        """Mean (s) of ``shift + T`` given ``shift + T <= limit`` (see :meth:`truncated_quantile`).

        ``E[T | T <= X] = (int_0^X P(T > t) dt - X P(T > X)) / (1 - P(T > X))`` with
        ``X = limit - shift``; the integral of the M/M/k tail is closed-form (its two
        exponentials integrated term by term).
        """
        rho, shift = np.broadcast_arrays(
            np.asarray(rho, dtype=float), np.asarray(shift, dtype=float)
        )
        out = np.array(self.mean(rho, mu) + shift, dtype=float)
        near = self._near_limit(rho, shift, mu, limit)
        if near is None:
            return out
        late, r, s, c = near
        x = np.maximum(limit - s, 0.0) * mu
        sf_x = _sf_dimless(x, self.k, r, c)
        cond = (_tail_integral(x, self.k, r, c) - x * sf_x) / np.maximum(1.0 - sf_x, 1e-300)
        out[late] = np.minimum(s + np.clip(cond, 0.0, x) / mu, limit)
        return out


def _tail_integral(x: np.ndarray, k: int, rho: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``int_0^x P(mu T > u) du`` for the tail of :func:`_sf_dimless` (dimensionless).

    ``P = e^{-u} + C (e^{-m u} - e^{-M u}) / d`` with ``m, M = min, max(r, 1)``, ``d = |r - 1|``,
    ``r = k (1 - rho)``; each exponential integrates to ``g(a) = (1 - e^{-a x}) / a``; as
    ``d -> 0`` the pair tends to ``C u e^{-u}``, integrated exactly.
    """
    r = k * (1.0 - rho)
    d = np.abs(r - 1.0)
    m, big = np.minimum(r, 1.0), np.maximum(r, 1.0)
    small = d < 1e-6

    def g(a: np.ndarray) -> np.ndarray:
        return -np.expm1(-a * x) / a

    with np.errstate(divide="ignore", invalid="ignore"):
        pair = np.where(
            small, 1.0 - np.exp(-x) * (1.0 + x), (g(m) - g(big)) / np.where(small, 1.0, d)
        )
    return -np.expm1(-x) + c * pair


def mixture_quantile(
    p: float,
    weights: ArrayLike,
    shifts: ArrayLike,
    rho: ArrayLike,
    k: int,
    mu: ArrayLike,
    *,
    tol: float = 1e-6,
    limit: float = math.inf,
) -> float:
    """p-quantile (s) of a mixture of shifted M/M/k response-time distributions.

    Component ``i`` has weight ``w_i`` (e.g. requests served in minute ``i``) and
    response time ``shift_i + T_i`` with ``T_i`` the M/M/k response time at ``rho_i``
    (tail from Gross et al. 2008, section 2.3).  The mixture
    tail ``sum_i w_i P(T_i > t - shift_i) / sum_i w_i`` is monotone, so the root of
    ``tail(t) = 1 - p`` is found by bisection with all components evaluated at once per
    iteration.  The bracket is ``[min_i(shift_i + q_i), max_i(shift_i + q_i)]`` with
    ``q_i`` the component p-quantiles (each term's tail is >= / <= ``1 - p`` at the
    ends); this lies inside ``[min(shift), max(shift) + max_i q_i]``.

    ``weights``, ``shifts``, ``rho`` and ``mu`` broadcast together; ``rho`` is not
    clipped: components with ``rho >= 1`` have infinite response time and the result is
    ``inf`` if their weight share is at least ``1 - p``.  ``tol`` is the *relative*
    tolerance on the returned time.  Zero total weight gives ``nan``.

    A finite ``limit`` (the request timeout) truncates every stable component: the weights
    count the *served* requests, those whose ``shift_i + T_i <= limit``, so each component's
    tail is conditioned on it, ``(P(T_i > t - s_i) - P(T_i > limit - s_i)) / (1 - P(T_i >
    limit - s_i))``, and the result never exceeds ``limit``.
    """
    k = _check_k(k)
    p = float(_check_p(p))
    w, s, r, m = np.broadcast_arrays(
        np.asarray(weights, float), np.asarray(shifts, float), _as_rho(rho), np.asarray(mu, float)
    )
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    keep = w > 0
    w, s, r, m = w[keep], s[keep], r[keep], m[keep]
    total = w.sum()
    if not total > 0:
        return math.nan
    unstable = r >= 1.0
    f_inf = w[unstable].sum() / total
    tail = 1.0 - p
    if f_inf >= tail:
        return math.inf
    if f_inf > 0:
        # P(mix > t) = f_inf + (1 - f_inf) P(stable mix > t): quantile of the stable part.
        tail = (tail - f_inf) / (1.0 - f_inf)
        w, s, r, m = w[~unstable], s[~unstable], r[~unstable], m[~unstable]
    w = w / w.sum()
    c = erlang_c(k, r)
    q = _quantile_dimless(np.full(r.shape, 1.0 - tail), k, r) / m
    lo, hi = float(np.min(s + q)), float(np.max(s + q))
    sf_lim = np.zeros_like(r)
    sf = _SfTerms(k, r)
    if math.isfinite(limit):
        sf_lim = sf(np.maximum((limit - s) * m, 0.0), c)
        if float(np.max(sf_lim)) > LATE_EPS or hi > limit:
            lo, hi = min(lo, float(np.min(s)), limit), min(hi, limit)
    keep_share = np.maximum(1.0 - sf_lim, 1e-300)

    def mix_sf(t: float) -> float:
        if t >= limit:
            return 0.0
        x = np.maximum((t - s) * m, 0.0)
        cond = np.clip((sf(x, c) - sf_lim) / keep_share, 0.0, 1.0)
        return float(np.dot(w, cond))

    for _ in range(200):
        if hi - lo <= tol * max(abs(lo), abs(hi), 1e-300):
            break
        mid = 0.5 * (lo + hi)
        if mix_sf(mid) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
