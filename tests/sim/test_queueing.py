"""Tests for sim.queueing (M/M/c formulas: Gross, Shortle, Thompson and Harris, *Fundamentals
of Queueing Theory*, 4th ed., Wiley 2008, section 2.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ciw_referee import ciw_response_times
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from sim.queueing import (
    MMkTable,
    erlang_c,
    mean_queue_length,
    mean_response,
    mixture_quantile,
    response_quantile,
    response_sf,
)

# --------------------------------------------------------------------------- helpers


def erlang_c_factorial(k: int, rho: float) -> float:
    """The textbook Erlang C formula with raw factorials (small k only)."""
    a = k * rho
    top = a**k / math.factorial(k) / (1.0 - rho)
    return top / (sum(a**j / math.factorial(j) for j in range(k)) + top)


def erlang_c_logspace(k: int, rho: float) -> float:
    """Erlang C from the same formula in log space (usable for large k)."""
    a = k * rho
    log_terms = [j * math.log(a) - math.lgamma(j + 1) for j in range(k)]
    log_top = k * math.log(a) - math.lgamma(k + 1) - math.log1p(-rho)
    m = max(*log_terms, log_top)
    s = sum(math.exp(x - m) for x in log_terms)
    top = math.exp(log_top - m)
    return top / (s + top)


def sf_reference(t: float, k: int, mu: float, rho: float) -> float:
    """P(T > t) written literally as in the textbook (theta != mu)."""
    c = erlang_c_factorial(k, rho)
    theta = k * mu * (1.0 - rho)
    return (1 - c) * math.exp(-mu * t) + c * (
        theta * math.exp(-mu * t) - mu * math.exp(-theta * t)
    ) / (theta - mu)


def sample_response(rng: np.random.Generator, n: int, k: int, mu: float, rho: float) -> np.ndarray:
    """Monte-Carlo M/M/k response times: W_q = 0 w.p. 1 - C, else Exp(theta); plus Exp(mu)."""
    c = float(erlang_c(k, rho))
    theta = k * mu * (1.0 - rho)
    waits = np.where(rng.random(n) < c, rng.exponential(1.0 / theta, n), 0.0)
    return waits + rng.exponential(1.0 / mu, n)


# --------------------------------------------------------------------------- erlang_c

ERLANG_CASES = [
    (k, rho) for k in (1, 2, 3, 4, 5, 8, 10) for rho in (0.01, 0.3, 0.5, 0.8, 0.95, 0.99)
]


@pytest.mark.parametrize(("k", "rho"), ERLANG_CASES)
def test_erlang_c_matches_factorial_formula(k: int, rho: float) -> None:
    assert float(erlang_c(k, rho)) == pytest.approx(erlang_c_factorial(k, rho), rel=1e-12)


@pytest.mark.parametrize(
    ("k", "rho", "expected"),
    [
        (1, 0.3, 0.3),  # M/M/1: C = rho
        (1, 0.9, 0.9),
        (2, 0.5, 2 * 0.25 / 1.5),  # M/M/2: C = 2 rho^2 / (1 + rho)
        (2, 0.9, 2 * 0.81 / 1.9),
        (3, 2 / 3, 4 / 9),  # a = 2, c = 3: (8/6 * 3) / (1 + 2 + 2 + 4) = 4/9
    ],
)
def test_erlang_c_known_values(k: int, rho: float, expected: float) -> None:
    assert float(erlang_c(k, rho)) == pytest.approx(expected, rel=1e-12)


def test_erlang_c_vectorised_and_edges() -> None:
    rho = np.linspace(0.0, 0.99, 50)
    c = erlang_c(4, rho)
    assert c.shape == rho.shape
    assert c[0] == 0.0
    assert np.all(np.diff(c) > 0)
    np.testing.assert_allclose(erlang_c(1, rho), rho, rtol=1e-14)
    assert np.all(erlang_c(3, [1.0, 1.5]) == 1.0)
    assert np.isnan(erlang_c(3, np.nan))
    with pytest.raises(ValueError):
        erlang_c(0, 0.5)
    with pytest.raises(ValueError):
        erlang_c(2, -0.1)


@pytest.mark.parametrize("k", [50, 200, 1000])
def test_erlang_c_stable_for_large_k(k: int) -> None:
    for rho in (0.5, 0.9, 0.99, 0.999):
        assert float(erlang_c(k, rho)) == pytest.approx(erlang_c_logspace(k, rho), rel=1e-9)


# --------------------------------------------------------------------------- response_sf


def test_response_sf_mm1_is_exponential() -> None:
    mu = 3.0
    t = np.linspace(0.0, 20.0, 201)[:, None]
    rho = np.array([0.0, 0.1, 0.5, 0.8, 0.95, 0.99])[None, :]
    lam = rho * mu
    sf = response_sf(t, 1, mu, rho)
    assert sf.shape == (201, 6)
    np.testing.assert_allclose(sf, np.exp(-(mu - lam) * t), rtol=1e-12, atol=1e-300)


def test_response_sf_negative_time_and_overload() -> None:
    assert np.all(response_sf([-5.0, -1e-9, 0.0], 4, 2.0, 0.7) == 1.0)
    assert np.all(response_sf([0.1, 10.0], 4, 2.0, [1.0, 1.3]) == 1.0)


@pytest.mark.parametrize(
    ("k", "rho"), [(2, 0.3), (3, 0.5), (4, 0.9), (8, 0.7), (8, 0.99), (16, 0.8)]
)
def test_response_sf_matches_reference_formula(k: int, rho: float) -> None:
    mu = 1.7
    for t in (0.0, 0.1, 0.5, 1.0, 3.0, 10.0, 40.0):
        exact = sf_reference(t, k, mu, rho)
        assert float(response_sf(t, k, mu, rho)) == pytest.approx(exact, rel=1e-10, abs=1e-300)


@pytest.mark.parametrize(("k", "rho"), [(2, 0.5), (4, 0.75), (10, 0.9)])
def test_response_sf_theta_equals_mu(k: int, rho: float) -> None:
    """theta = k mu (1 - rho) = mu exactly: the textbook's (1 + mu t) e^{-mu t} limit."""
    mu = 2.0
    t = np.linspace(0.0, 30.0, 61)
    c = float(erlang_c(k, rho))
    limit = (1 - c) * np.exp(-mu * t) + c * (1 + mu * t) * np.exp(-mu * t)
    np.testing.assert_allclose(response_sf(t, k, mu, rho), limit, rtol=1e-12)
    # close to the special case, from both sides: the literal formula (whose cancellation
    # costs only ~1e-16 / |theta/mu - 1| relative here) ...
    for eps in (1e-3, -1e-3, 1e-6, -1e-6):
        literal = [sf_reference(ti, k, mu, rho + eps) for ti in t]
        np.testing.assert_allclose(response_sf(t, k, mu, rho + eps), literal, rtol=1e-8)
    # ... and, inside the tolerance band, the limit itself
    for eps in (1e-11, -1e-11):
        np.testing.assert_allclose(response_sf(t, k, mu, rho + eps), limit, rtol=1e-7)


def test_response_sf_integrates_to_mean() -> None:
    mu = 0.5
    for k, rho in [(1, 0.5), (2, 0.5), (4, 0.9), (8, 0.95)]:
        area, _ = quad(lambda t, k=k, rho=rho: float(response_sf(t, k, mu, rho)), 0, np.inf)
        assert area == pytest.approx(float(mean_response(k, mu, rho)), rel=1e-7)


@settings(max_examples=200, deadline=None)
@given(
    k=st.integers(1, 32),
    rho=st.floats(0.0, 0.995),
    t1=st.floats(0.0, 200.0),
    t2=st.floats(0.0, 200.0),
)
def test_response_sf_is_a_tail(k: int, rho: float, t1: float, t2: float) -> None:
    lo, hi = sorted((t1, t2))
    s_lo, s_hi = float(response_sf(lo, k, 1.0, rho)), float(response_sf(hi, k, 1.0, rho))
    assert 0.0 <= s_hi <= s_lo <= 1.0
    # more load, longer responses
    assert float(response_sf(hi, k, 1.0, min(rho + 0.004, 0.999))) >= s_hi


# --------------------------------------------------------------------------- means, quantiles


def test_mean_response_and_quantile_mm1() -> None:
    mu = 4.0
    for rho in (0.0, 0.2, 0.5, 0.8, 0.95, 0.99):
        lam = rho * mu
        assert float(mean_response(1, mu, rho)) == pytest.approx(1 / (mu - lam), rel=1e-12)
        p99 = float(response_quantile(0.99, 1, mu, rho))
        assert p99 == pytest.approx(math.log(100) / (mu - lam), rel=1e-10)
        assert float(mean_queue_length(1, mu, rho)) == pytest.approx(rho**2 / (1 - rho), rel=1e-12)
    assert float(mean_response(2, mu, 1.0)) == math.inf
    assert float(mean_queue_length(2, mu, 1.2)) == math.inf


def test_mean_queue_length_littles_law() -> None:
    mu = 2.5
    rho = np.linspace(0.0, 0.98, 40)
    for k in (1, 2, 4, 8):
        lam = rho * k * mu
        wq = mean_response(k, mu, rho) - 1 / mu
        np.testing.assert_allclose(mean_queue_length(k, mu, rho), lam * wq, rtol=1e-9, atol=1e-15)


def test_response_quantile_inverts_sf() -> None:
    p = np.array([0.1, 0.5, 0.9, 0.99, 0.999])[:, None]
    rho = np.array([0.0, 0.3, 0.7, 0.9, 0.99])[None, :]
    for k in (1, 3, 8):
        q = response_quantile(p, k, 0.8, rho)
        assert q.shape == (5, 5)
        np.testing.assert_allclose(
            response_sf(q, k, 0.8, rho), np.broadcast_to(1 - p, q.shape), rtol=1e-9
        )
    assert float(response_quantile(0.5, 2, 1.0, 1.0)) == math.inf
    with pytest.raises(ValueError):
        response_quantile(1.0, 2, 1.0, 0.5)


# --------------------------------------------------------------------------- MMkTable


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_table_interpolation_within_half_percent(k: int) -> None:
    table = MMkTable(k)
    g = table.rho_grid
    rng = np.random.default_rng(k)
    rho = np.concatenate(
        [
            [0.0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.985, 0.99],
            0.5 * (g[1:] + g[:-1]),  # grid midpoints: worst case for linear interpolation
            rng.uniform(0.0, 0.99, 100),
        ]
    )
    mu = 7.0
    rel = np.abs(table.mean(rho, mu) / mean_response(k, mu, rho) - 1)
    assert rel.max() < 0.005
    assert rel.max() < 1e-3  # actual margin: measured ~1.4e-4
    for p in (0.5, 0.9, 0.99):
        rel = np.abs(table.quantile(p, rho, mu) / response_quantile(p, k, mu, rho) - 1)
        assert rel.max() < 0.005
        assert rel.max() < 1e-3
    exact_lq = mean_queue_length(k, mu, rho)
    np.testing.assert_allclose(table.lq(rho), exact_lq, rtol=0.01, atol=1e-3)
    np.testing.assert_allclose(table.prob_wait(rho), erlang_c(k, rho), rtol=0.01, atol=1e-3)


def test_table_exact_on_grid_and_mu_scaling() -> None:
    table = MMkTable(4)
    g = table.rho_grid
    assert g[0] == 0.0 and g[-1] == table.rho_max == 0.99
    assert np.all(np.diff(g) > 0)
    np.testing.assert_allclose(table.mean(g, 1.0), mean_response(4, 1.0, g), rtol=1e-12)
    np.testing.assert_allclose(
        table.quantile(0.99, g, 1.0), response_quantile(0.99, 4, 1.0, g), rtol=1e-9
    )
    rho = np.linspace(0, 0.99, 77)
    mu = np.linspace(0.5, 20.0, 77)
    np.testing.assert_allclose(table.mean(rho, mu), table.mean(rho, 1.0) / mu, rtol=1e-14)
    np.testing.assert_allclose(
        table.quantile(0.9, rho, mu), table.quantile(0.9, rho, 1.0) / mu, rtol=1e-14
    )


def test_table_clips_and_validates() -> None:
    table = MMkTable(2, rho_max=0.95, ps=(0.5, 0.999))
    assert table.ps == (0.5, 0.999)
    at_max = table.mean(0.95, 1.0)
    assert table.mean(1.5, 1.0) == at_max
    assert table.quantile(0.999, 3.0, 1.0) == table.quantile(0.999, 0.95, 1.0)
    assert np.isfinite(table.lq(1.0))
    assert table.mean(-0.2, 1.0) == table.mean(0.0, 1.0) == 1.0
    assert np.isnan(table.mean(np.nan, 1.0))
    np.testing.assert_allclose(
        table.sf([0.5, 5.0], [0.5, 2.0], 3.0), response_sf([0.5, 5.0], 2, 3.0, [0.5, 0.95])
    )
    with pytest.raises(ValueError):
        table.quantile(0.99, 0.5, 1.0)
    with pytest.raises(ValueError):
        MMkTable(2, rho_max=1.0)
    with pytest.raises(ValueError):
        MMkTable(2, ps=(0.5, 1.0))


# --------------------------------------------------------------------------- mixture_quantile


@pytest.mark.parametrize(("k", "rho", "p"), [(1, 0.5, 0.99), (4, 0.9, 0.5), (8, 0.97, 0.9)])
def test_mixture_single_and_identical_components(k: int, rho: float, p: float) -> None:
    mu = 3.0
    exact = float(response_quantile(p, k, mu, rho))
    assert mixture_quantile(p, [2.5], [0.0], [rho], k, mu) == pytest.approx(exact, rel=2e-6)
    two = mixture_quantile(p, [1.0, 1.0], [0.0, 0.0], [rho, rho], k, mu)
    assert two == pytest.approx(exact, rel=2e-6)
    shifted = mixture_quantile(p, [1.0, 3.0], [0.25, 0.25], rho, k, mu, tol=1e-10)
    assert shifted == pytest.approx(exact + 0.25, rel=1e-9)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.99])
def test_mixture_matches_monte_carlo(p: float) -> None:
    rng = np.random.default_rng(20240611)
    k, mu = 4, 5.0
    weights = np.array([3.0, 1.0, 0.5, 2.0])
    shifts = np.array([0.0, 0.4, 1.5, 0.05])
    rho = np.array([0.5, 0.9, 0.7, 0.97])
    n = 2_000_000
    comp = rng.choice(len(weights), size=n, p=weights / weights.sum())
    samples = np.empty(n)
    for i in range(len(weights)):
        sel = comp == i
        samples[sel] = shifts[i] + sample_response(rng, int(sel.sum()), k, mu, rho[i])
    mc = float(np.quantile(samples, p))
    assert mixture_quantile(p, weights, shifts, rho, k, mu) == pytest.approx(mc, rel=0.02)


def test_mixture_edge_cases() -> None:
    assert math.isnan(mixture_quantile(0.9, [0.0, 0.0], [0.0, 1.0], [0.5, 0.5], 2, 1.0))
    assert math.isnan(mixture_quantile(0.9, [], [], [], 2, 1.0))
    # zero-weight components are ignored, even unstable ones
    a = mixture_quantile(0.9, [1.0, 0.0], [0.0, 9.0], [0.5, 1.5], 2, 1.0)
    assert a == pytest.approx(float(response_quantile(0.9, 2, 1.0, 0.5)), rel=2e-6)
    # overloaded components: infinite response time
    assert mixture_quantile(0.99, [1.0, 1.0], [0.0, 0.0], [0.5, 1.0], 2, 1.0) == math.inf
    w, rho = np.array([1.0, 0.004]), np.array([0.8, 1.2])
    q = mixture_quantile(0.99, w, [0.0, 0.0], rho, 2, 1.0, tol=1e-10)
    f_inf = w[1] / w.sum()
    tail = f_inf + (1 - f_inf) * float(response_sf(q, 2, 1.0, 0.8))
    assert tail == pytest.approx(0.01, rel=1e-7)
    with pytest.raises(ValueError):
        mixture_quantile(0.9, [-1.0, 2.0], [0.0, 0.0], [0.5, 0.5], 2, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0.01, 10.0), st.floats(0.0, 5.0), st.floats(0.0, 0.99)),
        min_size=1,
        max_size=20,
    ),
    k=st.integers(1, 8),
    p=st.sampled_from([0.5, 0.9, 0.99, 0.999]),
)
def test_mixture_quantile_solves_mixture_tail(
    data: list[tuple[float, float, float]], k: int, p: float
) -> None:
    w, s, rho = (np.array(col) for col in zip(*data, strict=True))
    mu = 2.0
    q = mixture_quantile(p, w, s, rho, k, mu, tol=1e-9)
    assert s.min() <= q <= s.max() + float(response_quantile(p, k, mu, rho.max())) * (1 + 1e-9)

    def tail(t: float) -> float:
        return float(np.dot(w, response_sf(t - s, k, mu, rho)) / w.sum())

    # the mixture tail crosses 1 - p at q (it may jump there only through flat pieces)
    assert tail(q * (1 - 1e-7) - 1e-12) >= 1 - p - 1e-9
    assert tail(q * (1 + 1e-7) + 1e-12) <= 1 - p + 1e-9


# --------------------------------------------------------------------------- ciw referee

# (k, rho, requests kept per replication, replications, warm-up in requests).  Sizes give
# >= ~3 standard deviations of slack for both checks; measured spreads over 8 seeds at
# 500k requests, rho = 0.95: k=1 mean 8 %, p99 24 %; k=4 mean 5.4 %, p99 9.3 %.
CIW_FAST = [
    (1, 0.5, 50_000, 1, 2_000),
    (4, 0.5, 50_000, 1, 2_000),
    (1, 0.8, 400_000, 1, 5_000),
    (4, 0.8, 150_000, 1, 5_000),
]
CIW_SLOW = [
    (4, 0.95, 500_000, 6, 20_000),
    (1, 0.95, 500_000, 24, 20_000),
]


def _check_against_ciw(k: int, rho: float, n: int, reps: int, warm: int) -> None:
    mu = 2.0
    lam = rho * k * mu
    warmup = warm / lam
    samples = np.concatenate(
        [ciw_response_times(lam, mu, k, warmup + n / lam, warmup, seed) for seed in range(reps)]
    )
    assert samples.size > 0.95 * n * reps
    mean = float(mean_response(k, mu, rho))
    p99 = float(response_quantile(0.99, k, mu, rho))
    assert samples.mean() == pytest.approx(mean, rel=0.10)
    assert float(np.quantile(samples, 0.99)) == pytest.approx(p99, rel=0.15)


@pytest.mark.parametrize(("k", "rho", "n", "reps", "warm"), CIW_FAST)
def test_ciw_referee(k: int, rho: float, n: int, reps: int, warm: int) -> None:
    _check_against_ciw(k, rho, n, reps, warm)


@pytest.mark.slow
@pytest.mark.parametrize(("k", "rho", "n", "reps", "warm"), CIW_SLOW)
def test_ciw_referee_heavy_load(k: int, rho: float, n: int, reps: int, warm: int) -> None:
    _check_against_ciw(k, rho, n, reps, warm)
