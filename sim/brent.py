"""Brent's root finder in pure Python, so that a simulation does not import scipy.optimize.

:func:`brentq` is the bracketing method of R. P. Brent, *Algorithms for Minimization without
Derivatives*, Prentice-Hall 1973, chapter 4 (inverse quadratic interpolation, secant and
bisection steps), transcribed operation for operation from SciPy's C implementation,
``scipy/optimize/Zeros/brentq.c`` (Charles Harris; SciPy 1.17, BSD licence), which
``scipy.optimize.brentq`` calls. The same floating-point operations in the same order give
the same root, bit for bit (tests/sim/test_brent.py compares the two on many functions);
the argument checks and errors follow ``scipy.optimize.brentq``'s Python wrapper
(``scipy/optimize/_zeros_py.py``). Importing scipy.optimize costs about a second of CPU, a
tenth of a 30-day run as a whole process (README, "Benchmark"); the roots found here are
the SLO utilisation and the exact response-time quantile (sim/metrics.py, sim/queueing.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: ``scipy.optimize.brentq``'s defaults: ``xtol``, ``rtol`` (4 machine epsilons, also the
#: smallest ``rtol`` it accepts) and ``maxiter``.
XTOL = 2e-12
RTOL = 4 * 2.220446049250313e-16
MAXITER = 100


def brentq(
    f: Callable[[float], float],
    a: float,
    b: float,
    *,
    xtol: float = XTOL,
    rtol: float = RTOL,
    maxiter: int = MAXITER,
) -> float:
    """A root of ``f`` in the bracket [a, b] (``f(a)`` and ``f(b)`` of opposite signs), to
    within ``xtol + rtol * |root|``, as ``scipy.optimize.brentq(f, a, b, xtol=..., rtol=...,
    maxiter=...)`` returns it.

    Raises ValueError for ``xtol <= 0``, ``rtol < 4 eps``, ``maxiter < 0``, ``f(a)`` and
    ``f(b)`` of the same sign, or ``f`` returning NaN; RuntimeError when ``maxiter``
    iterations do not converge.
    """
    if not xtol > 0:
        raise ValueError(f"brentq: xtol must be > 0, got {xtol!r}")
    if not rtol >= RTOL:
        raise ValueError(f"brentq: rtol must be >= {RTOL!r} (4 machine epsilons), got {rtol!r}")
    if maxiter < 0:
        raise ValueError(f"brentq: maxiter must be >= 0, got {maxiter!r}")

    def call(x: float) -> float:
        y = float(f(x))
        if math.isnan(y):
            raise ValueError(f"brentq: the function returned NaN at x = {x!r}")
        return y

    fabs = math.fabs
    xpre, xcur = float(a), float(b)
    xblk = fblk = spre = scur = 0.0
    fpre = call(xpre)
    fcur = call(xcur)
    if fpre * fcur > 0:
        raise ValueError(
            f"brentq: f(a) and f(b) must have different signs, got f({xpre!r}) = {fpre!r} "
            f"and f({xcur!r}) = {fcur!r}"
        )
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    for _ in range(maxiter):
        if fpre * fcur < 0:
            xblk = xpre
            fblk = fpre
            spre = scur = xcur - xpre
        if fabs(fblk) < fabs(fcur):
            xpre = xcur
            xcur = xblk
            xblk = xpre
            fpre = fcur
            fcur = fblk
            fblk = fpre
        delta = (xtol + rtol * fabs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or fabs(sbis) < delta:
            return xcur
        if fabs(spre) > delta and fabs(fcur) < fabs(fpre):
            if xpre == xblk:  # interpolate (secant)
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # extrapolate (inverse quadratic)
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            bound = 3 * fabs(sbis) - delta
            if fabs(spre) < bound:  # C's MIN(a, b): a < b ? a : b
                bound = fabs(spre)
            if 2 * fabs(stry) < bound:
                spre = scur  # a good short step
                scur = stry
            else:
                spre = sbis  # bisect
                scur = sbis
        else:
            spre = sbis  # bisect
            scur = sbis
        xpre = xcur
        fpre = fcur
        if fabs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0 else -delta
        fcur = call(xcur)
    raise RuntimeError(f"brentq: failed to converge after {maxiter} iterations, value is {xcur!r}")
