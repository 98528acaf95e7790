"""The vectorised stretch equals the plain Lindley recursion with a timeout bound."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.serving import FluidServer, stretch


def naive(a: np.ndarray, service: float, q0: float, qmax: float):
    q = min(q0, qmax)
    served, failed, backlog = [], [], []
    for x in a:
        total = q + x
        s = min(service, total)
        rest = total - s
        f = max(0.0, rest - qmax)
        q = rest - f
        served.append(s)
        failed.append(f)
        backlog.append(q)
    return np.array(served), np.array(failed), np.array(backlog), q


@settings(max_examples=300, deadline=None)
@given(
    a=st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=200),
    service=st.floats(1, 300),
    q0=st.floats(0, 2000),
    qmax=st.floats(1, 1500),
)
def test_stretch_equals_recursion(a, service, q0, qmax) -> None:
    arr = np.array(a)
    got = stretch(arr, service, min(q0, qmax), qmax)
    want = naive(arr, service, min(q0, qmax), qmax)
    for g, w in zip(got[:3], want[:3], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-6)
    assert abs(got[3] - want[3]) <= 1e-6 * max(1.0, want[3])


def test_no_capacity_fails_everything() -> None:
    served, failed, backlog, q = stretch(np.array([5.0, 7.0]), 0.0, 3.0, 0.0)
    assert served.tolist() == [0.0, 0.0]
    assert failed.tolist() == [8.0, 7.0]
    assert q == 0.0


@settings(max_examples=100, deadline=None)
@given(
    changes=st.lists(st.tuples(st.integers(1, 50), st.integers(0, 5)), min_size=1, max_size=10),
    seed=st.integers(0, 2**32 - 1),
)
def test_server_conserves_requests_every_tick(changes, seed) -> None:
    """arrived = served + failed + queued at the end of every tick, across capacity
    changes, losses of in-flight requests and shedding."""
    rng = np.random.default_rng(seed)
    n = sum(c for c, _ in changes) + 5
    arrivals = rng.poisson(250, n).astype(float)
    fs = FluidServer(arrivals, tick=1.0, capacity_rps=100.0, timeout=2.0)
    t = 0
    for length, serving in changes:
        fs.set_serving(serving, t)
        if serving and rng.random() < 0.3:
            fs.lose_inflight(1.0 / serving, t)
        t += length
    fs.close()
    net = np.cumsum(arrivals) - np.cumsum(fs.served) - np.cumsum(fs.failed)
    np.testing.assert_allclose(net, fs.backlog, atol=1e-6)
    assert (fs.served >= -1e-9).all() and (fs.failed >= -1e-9).all()
    assert (fs.backlog >= -1e-9).all()
