"""sim/brent.py's pure-Python Brent method returns scipy.optimize.brentq's root bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq as scipy_brentq

from sim.brent import RTOL, brentq
from sim.metrics import ServingModel, max_utilisation_for_p99
from sim.queueing import response_quantile


def _functions() -> list[tuple[str, object, float, float]]:
    """Smooth, flat, steep, kinked and discontinuous functions; brackets either way round."""
    cases = [
        ("cubic", lambda x: x**3 - 2 * x - 5, 2.0, 3.0),
        ("cos - x", lambda x: math.cos(x) - x, 0.0, 1.0),
        ("exp - 2", lambda x: math.exp(x) - 2.0, -5.0, 5.0),
        ("flat x^9", lambda x: (x - 0.3) ** 9, -1.0, 2.0),
        ("steep tanh", lambda x: math.tanh(50 * (x - 0.123)), -1.0, 1.0),
        ("kink", lambda x: abs(x - 0.7) ** 0.5 * (1 if x > 0.7 else -1), 0.0, 3.0),
        ("step", lambda x: 1.0 if x > 1 / 3 else -1.0, 0.0, 1.0),
        ("reversed bracket", lambda x: x * x - 2.0, 2.0, 0.0),
        ("root at an end", lambda x: x - 1.0, 1.0, 4.0),
        ("log", lambda x: math.log(x) + 1.0, 1e-6, 10.0),
    ]
    rng = np.random.default_rng(3)
    for i in range(200):  # random polynomials with a sign change in [lo, hi]
        coef = rng.normal(size=int(rng.integers(2, 7)))
        lo, hi = sorted(rng.uniform(-3.0, 3.0, 2))
        f = np.polynomial.Polynomial(coef)
        if f(lo) * f(hi) < 0:
            cases.append((f"poly {i}", lambda x, f=f: float(f(x)), float(lo), float(hi)))
    return cases


@pytest.mark.parametrize(("xtol", "rtol"), [(2e-12, RTOL), (1e-9, RTOL), (1e-14, 1e-10)])
def test_same_root_as_scipy_bit_for_bit(xtol: float, rtol: float) -> None:
    cases = _functions()
    assert len(cases) > 60
    for name, f, a, b in cases:
        want = scipy_brentq(f, a, b, xtol=xtol, rtol=rtol, maxiter=500)
        got = brentq(f, a, b, xtol=xtol, rtol=rtol, maxiter=500)
        assert got == want, (name, got, want)
        assert type(got) is float


def test_the_model_roots_match_scipy(monkeypatch) -> None:
    """The two roots a run needs, the exact response quantile and the SLO utilisation, are
    those scipy.optimize.brentq finds."""
    import sim.metrics as metrics
    import sim.queueing as queueing

    ps, rhos = np.array([0.5, 0.9, 0.99, 0.999]), np.array([0.01, 0.3, 0.8, 0.97])
    models = [ServingModel(100.0, k, 1.0, 0.02, 0.1, 0.05) for k in (1, 4, 16)]
    ours = [response_quantile(ps[:, None], m.workers, m.mu, rhos) for m in models]
    # p99 targets of 5 mean service times: reached below rho = 0.95 for each k.
    ours_slo = [max_utilisation_for_p99(m, 5.0 / m.mu, 0.95) for m in models]
    monkeypatch.setattr(queueing, "brentq", scipy_brentq)
    monkeypatch.setattr(metrics, "brentq", scipy_brentq)
    for m, q, slo in zip(models, ours, ours_slo, strict=True):
        assert np.array_equal(q, response_quantile(ps[:, None], m.workers, m.mu, rhos))
        assert slo == max_utilisation_for_p99(m, 5.0 / m.mu, 0.95)
        assert 0.0 < slo < 0.95, "the SLO must bind for the root finder to run"


def test_maxiter_too_small_raises_and_names_the_count() -> None:
    with pytest.raises(RuntimeError, match="after 2 iterations"):
        brentq(lambda x: math.cos(x) - x, 0.0, 1.0, maxiter=2)
    with pytest.raises(RuntimeError):  # as scipy does
        scipy_brentq(lambda x: math.cos(x) - x, 0.0, 1.0, maxiter=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"a": 0.0, "b": 1.0, "xtol": 0.0}, "xtol must be > 0"),
        ({"a": 0.0, "b": 1.0, "rtol": 1e-17}, "rtol must be >="),
        ({"a": 0.0, "b": 1.0, "maxiter": -1}, "maxiter must be >= 0"),
        ({"a": 2.0, "b": 3.0}, "different signs"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        brentq(lambda x: x - 0.5, **kwargs)


def test_nan_is_an_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        brentq(lambda x: math.nan if x > 0.4 else x - 0.5, 0.0, 1.0)
