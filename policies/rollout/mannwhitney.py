"""The two-sample Mann-Whitney (Wilcoxon rank-sum) shift estimate and confidence interval, as
R's ``wilcox.test(x, y, conf.int = TRUE)`` computes them (``stats:::wilcox.test.default``,
read from R 4.2.2; two-sided, ``mu = 0``, ``correct = TRUE``, ``digits.rank = Inf``,
``tol.root = 1e-4``). ``x`` is the experiment (canary), ``y`` the control (baseline); the
shift is "x minus y".

R chooses the method: ``exact = NULL`` means exact when both samples have fewer than 50
values; the exact interval is used only when there are no ties in the pooled ranks.

* Exact: the ``n_x * n_y`` differences ``x_i - y_j`` sorted; ``qu = qwilcox(alpha/2, n_x,
  n_y)`` (1 when it is 0), ``ql = n_x n_y - qu``; the interval is ``(d[qu], d[ql + 1])``
  (1-based) and the estimate the median of the differences (Hodges-Lehmann). ``qwilcox`` and
  ``pwilcox`` follow R's ``nmath/wilcox.c`` (counts of the rank-sum statistic W; the
  quantile search steps by 10 DBL_EPSILON as R does). When the achieved level falls short
  by more than ``alpha / 2`` R warns and reports the achieved level: ``conf_level`` below.
* Normal approximation (otherwise): ``W(d)`` is the standardised rank-sum statistic of
  ``(x - d, y)`` with the tie-corrected variance and continuity correction ``sign(dz) / 2``;
  the bounds are the roots of ``W(d) = +-qnorm(alpha / 2)`` found by R's ``uniroot``
  (``R_zeroin2``, Brent's method, ``tol = 1e-4``) between ``min(x) - max(y)`` and
  ``max(x) - min(y)``, an end being returned when ``W`` does not change sign there. The
  estimate is the root of ``W(d) = 0`` *without* continuity correction (R sets ``correct <-
  FALSE`` before that call, and ``W`` reads it lazily).

Kayenta's own port (spinnaker/kayenta, ``kayenta-mannwhitney/.../MannWhitney.scala``, read at
spinnaker/spinnaker commit acff987c57cd) always uses the normal approximation and keeps the
continuity correction in the estimate; ``exact=False`` gives R's normal-approximation
interval, the one that port computes (its estimate, with the correction, can differ from R's).
Earlier Kayenta versions called R itself: ``wilcox.test(experimentData, controlData,
conf.int=TRUE, mu=..., conf.level=...)`` (``kayenta-mannwhitney/.../MannWhitneyR.scala``,
spinnaker/kayenta commit aacb885c3be4), which is what the default ``exact=None`` reproduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtri

DBL_EPSILON = float(np.finfo(float).eps)


@dataclass(frozen=True)
class ShiftInterval:
    """Hodges-Lehmann-type shift estimate (x minus y) and its confidence interval."""

    estimate: float
    lower: float
    upper: float
    exact: bool
    conf_level: float  # the requested level, or the achieved one when R would warn


# --------------------------------------------------------------------------- exact (wilcox.c)
@lru_cache(maxsize=64)
def _w_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of arrangements giving each value 0..m*n of W (the Mann-Whitney U of x).

    The generating function is the Gaussian binomial ``[m+n choose m]_q =
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)``, computed with exact integers.
    """
    size = m * n + 1
    g = [0] * size
    g[0] = 1
    for i in range(1, m + 1):
        a = n + i  # multiply by (1 - q^a)
        for k in range(size - 1, a - 1, -1):
            g[k] -= g[k - a]
        for k in range(i, size):  # divide by (1 - q^i)
            g[k] += g[k - i]
    return tuple(g)


def pwilcox(q: float, m: int, n: int) -> float:
    """P(W <= q), as R's ``pwilcox(q, m, n)``."""
    q = math.floor(q + 1e-7)
    if q < 0:
        return 0.0
    if q >= m * n:
        return 1.0
    counts = _w_counts(m, n)
    c = math.comb(m + n, n)
    # R sums from the nearer tail; with exact integers the side does not matter.
    return sum(counts[: q + 1]) / c


def qwilcox(p: float, m: int, n: int) -> int:
    """R's ``qwilcox(p, m, n)`` (lower tail), including its 10 DBL_EPSILON fuzz."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if p == 0.0:
        return 0
    if p == 1.0:
        return m * n
    counts = _w_counts(m, n)
    c = float(math.comb(m + n, n))
    acc = 0.0
    q = 0
    if p <= 0.5:
        p = p - 10 * DBL_EPSILON
        while True:
            acc += counts[q] / c
            if acc >= p:
                return q
            q += 1
    p = 1 - p + 10 * DBL_EPSILON
    while True:
        acc += counts[q] / c
        if acc > p:
            return m * n - q
        q += 1


# ----------------------------------------------------------------- uniroot (R's zeroin.c)
def zeroin(f, ax: float, bx: float, fa: float, fb: float, tol: float, maxit: int = 1000) -> float:
    """R's ``R_zeroin2`` (Brent's root finder as ``uniroot`` calls it), step for step."""
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    it = maxit + 1
    while it > 0:
        it -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * DBL_EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b  # R: convergence failure is reported by uniroot, the last iterate returned


# ------------------------------------------------------------------- normal approximation
def _average_ranks(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's ``rank()`` (ties get their average rank) and the size of each tie group."""
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    first = np.r_[True, s[1:] != s[:-1]]
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, len(a)])
    avg = starts + (counts + 1) / 2.0
    ranks = np.empty(len(a))
    ranks[order] = avg[np.cumsum(first) - 1]
    return ranks, counts


def _w_normal(x: np.ndarray, y: np.ndarray, d: float, correct: bool) -> float:
    """R's ``W(d)``: standardised rank sum of ``x - d`` among ``(x - d, y)``."""
    nx, ny = float(len(x)), float(len(y))
    dr, nties = _average_ranks(np.concatenate([x - d, y]))
    dz = dr[: len(x)].sum() - nx * (nx + 1) / 2 - nx * ny / 2
    corr = float(np.sign(dz)) * 0.5 if correct else 0.0
    ties = float((nties.astype(float) ** 3 - nties).sum())
    sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - ties / ((nx + ny) * (nx + ny - 1))))
    if sigma == 0:
        raise ValueError("cannot compute confidence interval when all observations are tied")
    return (dz - corr) / sigma


def wilcox_shift_ci(
    x: np.ndarray,
    y: np.ndarray,
    conf_level: float = 0.95,
    exact: bool | None = None,
    tol_root: float = 1e-4,
) -> ShiftInterval:
    """The shift ``x - y`` and its two-sided interval, as ``wilcox.test(x, y, conf.int=TRUE,
    conf.level=conf_level, exact=exact)`` in R reports them (``$estimate``, ``$conf.int``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) < 1 or len(y) < 1:
        raise ValueError("both samples need at least one value")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("samples must be finite (remove NaN first)")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    nx, ny = len(x), len(y)
    alpha = 1.0 - conf_level
    if exact is None:
        exact = nx < 50 and ny < 50
    pooled = np.concatenate([x, y])
    ties = len(np.unique(pooled)) != len(pooled)
    if exact and not ties:
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        qu = qwilcox(alpha / 2, nx, ny)
        if qu == 0:
            qu = 1
        ql = nx * ny - qu
        achieved = 2 * pwilcox(math.trunc(qu) - 1, nx, ny)
        level = conf_level
        if achieved - alpha > alpha / 2:
            level = 1 - achieved
        return ShiftInterval(
            estimate=float(np.median(diffs)),
            lower=float(diffs[qu - 1]),
            upper=float(diffs[ql]),
            exact=True,
            conf_level=level,
        )

    mumin = float(x.min() - y.max())
    mumax = float(x.max() - y.min())
    w_min = _w_normal(x, y, mumin, True)
    w_max = _w_normal(x, y, mumax, True)

    def root(zq: float) -> float:
        f_lower = w_min - zq
        if f_lower <= 0:
            return mumin
        f_upper = w_max - zq
        if f_upper >= 0:
            return mumax
        return zeroin(
            lambda d: _w_normal(x, y, d, True) - zq, mumin, mumax, f_lower, f_upper, tol_root
        )

    z = float(ndtri(alpha / 2))  # qnorm(alpha/2) < 0
    lower = root(-z)
    upper = root(z)
    w0 = lambda d: _w_normal(x, y, d, False)  # noqa: E731  (R: correct <- FALSE)
    estimate = zeroin(w0, mumin, mumax, w0(mumin), w0(mumax), tol_root)
    return ShiftInterval(
        estimate=float(estimate),
        lower=float(lower),
        upper=float(upper),
        exact=False,
        conf_level=conf_level,
    )
