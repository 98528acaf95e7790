"""The speed and memory changes of issue 11 compute the same bits as the arithmetic they
replace: the latency pass in blocks, the late share with Erlang C interpolated once, and the
key test of the lazy metric columns."""

from __future__ import annotations

import numpy as np
import pytest
from pandas.testing import assert_frame_equal
from test_chunks import _run

import sim.metrics as metrics
import sim.queueing as queueing
import sim.serving as serving
from backends.sim import run_simulation
from sim.queueing import MMkTable
from sim.scenario import scenario_from_dict
from sim.serving import stretch
from sim.simulation import Simulation
from sim.window import TickWindow


def _scenario(duration: str = "2h"):
    return scenario_from_dict(
        {
            "name": "blocks",
            "run": {"seed": 11, "duration": duration, "tick": "1s"},
            "service": {
                "min_tasks": 1,
                "max_tasks": 40,
                "initial_tasks": 3,
                "capacity_rps": 50,
                "request_timeout": "20s",
            },
            # A load the initial tasks cannot carry: backlog, timeouts and late requests.
            "traffic": {"synthetic": {"base_rps": 400, "noise_cv": 0.3}},
            "autoscaler": {"policy": "reactive", "interval": 60},
        }
    )


def test_latency_in_blocks_gives_the_same_bits_as_one_pass(monkeypatch) -> None:
    """Blocks of 7 periods (and a last partial one) against one pass over the whole run."""
    whole = run_simulation(Simulation(_scenario()))
    monkeypatch.setattr(metrics, "LATENCY_BLOCK_TICKS", 7 * 60)
    blocks = run_simulation(Simulation(_scenario()))
    assert whole.metrics["TargetResponseTime_p99"].notna().sum() > 100
    assert whole.metrics["queue_wait_s"].max() > 1.0, "the case must have a backlog"
    assert blocks.summary == whole.summary
    assert blocks.metrics.equals(whole.metrics)


def test_a_block_smaller_than_a_period_advances_one_period_at_a_time(monkeypatch) -> None:
    """A block smaller than a period still advances by whole periods (one at a time)."""
    monkeypatch.setattr(metrics, "LATENCY_BLOCK_TICKS", 1)
    sim = Simulation(_scenario("30m"))
    result = run_simulation(sim)
    assert sim.store.latency_done == sim.store.n_periods
    assert result.metrics["TargetResponseTime"].notna().all()


@pytest.mark.parametrize("k", [1, 4])
def test_backlog_tail_is_lq_then_tail_bit_for_bit(k: int) -> None:
    rng = np.random.default_rng(5)
    table = MMkTable(k)
    n, capacity, limit = 7, 80.0, 30.0
    fleet, mu = n * capacity, capacity / k
    rho = rng.uniform(0.0, 1.2, 500)  # beyond rho_max too: clipped the same way
    backlog = rng.uniform(0.0, 40.0 * fleet, 500)
    wait = np.maximum(backlog - n * table.lq(rho), 0.0) / fleet
    expected = table.tail(limit - wait, rho, mu)
    got = table.backlog_tail(rho, backlog, n, fleet, limit, mu)
    assert np.array_equal(got, expected)
    # The range the case must cover: negligible, partial and certain timeouts.
    assert got.min() < 1e-12 and got.max() == 1.0 and ((got > 1e-3) & (got < 0.999)).any()


def test_stretch_at_the_upper_barrier_books_the_overflow_per_tick() -> None:
    """Requests are conserved tick by tick through both barriers (the overflow increments
    are the regulator's differences)."""
    rng = np.random.default_rng(2)
    a = rng.uniform(0.0, 300.0, 400)
    a[100:200] += 400.0  # above the service: the backlog reaches qmax and overflows
    served, failed, backlog, q_end = stretch(a, 150.0, 20.0, 3000.0)
    prev = np.concatenate(([20.0], backlog[:-1]))
    np.testing.assert_allclose(prev + a, served + failed + backlog, rtol=0, atol=1e-9)
    assert failed[100:220].sum() > 0 and (failed >= -1e-12).all()
    assert backlog.max() == pytest.approx(3000.0) and q_end == backlog[-1]


def test_metric_key_test_reads_no_column() -> None:
    sim = Simulation(_scenario("30m"))
    run_simulation(sim)
    store = sim.store
    store.latency_done = 0  # the latency columns not computed yet
    history = store.history(store.done)
    assert "TargetResponseTime_p99" in history.columns
    assert "CPUUtilization" in history.columns
    assert "no-such-metric" not in history.columns
    assert store.latency_done == 0, "a key test must not compute the latency columns"


@pytest.mark.parametrize("k", [1, 2, 4, 16])
def test_response_tail_of_an_array_is_the_tail_of_each_element(k: int) -> None:
    """_sf_dimless's shortcut for arrays with no element near theta = mu gives the bits of
    the general path, which scalars take (the model calls it on per-tick arrays)."""
    rng = np.random.default_rng(k)
    rho = rng.uniform(0.0, 0.99, 400)
    x = np.concatenate([rng.uniform(0.0, 5.0, 200), rng.uniform(5.0, 3000.0, 200)])
    c = queueing.erlang_c(k, rho)

    def one_by_one(x, rho, c):
        return np.array(
            [
                queueing._sf_dimless(np.float64(a), k, np.float64(b), np.float64(d))
                for a, b, d in zip(x, rho, c, strict=True)
            ]
        )

    got = queueing._sf_dimless(x, k, rho, c)
    assert np.array_equal(got, one_by_one(x, rho, c))
    assert got.min() == 0.0 and got.max() > 0.5
    # With an element at theta = mu (k (1 - rho) = 1), the array takes the general path.
    rho[7] = 1.0 - 1.0 / k if k > 1 else 0.0
    c = queueing.erlang_c(k, rho)
    assert np.array_equal(queueing._sf_dimless(x, k, rho, c), one_by_one(x, rho, c))


def _sf_reference(x, k, rho, c):
    """The tail as _sf_dimless computed it in one function before its load-only terms were
    split off (_SfTerms): the reference for the bisections that now reuse them."""
    r = k * (1.0 - rho)
    d = np.abs(r - 1.0)
    m = np.minimum(r, 1.0)
    small = d < queueing.THETA_MU_TOL
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(small, x, -np.expm1(-d * x) / np.where(small, 1.0, d))
    return np.exp(-x) + c * np.exp(-m * x) * h


@pytest.mark.parametrize("k", [1, 4])
def test_tail_terms_computed_once_give_the_bits_of_each_call(k: int) -> None:
    """One _SfTerms evaluated at many x (the bisections) against the tail computed from
    scratch at each x; with an element at theta = mu too, and a 2-D grid."""
    rng = np.random.default_rng(30 + k)
    rho = rng.uniform(0.0, 0.99, 300)
    near = rho.copy()
    near[5] = 1.0 - 1.0 / k if k > 1 else 0.0  # k (1 - rho) = 1: the general branch
    grid = np.broadcast_to(rho[None, :50], (3, 50))
    for loads in (rho, near, grid):
        c = queueing.erlang_c(k, loads)
        terms = queueing._SfTerms(k, loads)
        for scale in (0.01, 1.0, 30.0, 3000.0):
            x = rng.uniform(0.0, scale, loads.shape)
            assert np.array_equal(terms(x, c), _sf_reference(x, k, loads, c))
    assert queueing._SfTerms(k, rho).plain and not queueing._SfTerms(k, near).plain
    # A bisection that reuses them: the component quantiles of the mixture quantile.
    p = np.full(rho.shape, 0.99)
    lo, hi = queueing._quantile_bounds(1.0 - p, k, rho, queueing.erlang_c(k, rho))
    c = queueing.erlang_c(k, rho)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        above = _sf_reference(mid, k, rho, c) > 1.0 - p
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    assert np.array_equal(queueing._quantile_dimless(p, k, rho), 0.5 * (lo + hi))


def test_untouched_window_ticks_read_as_zero() -> None:
    """TickWindow.untouched_from: ticks from the first one never handed out for writing
    hold their zeros; any span reaching a tick counts it as touched (reads too)."""
    w = TickWindow(500, chunk=50)
    assert w.untouched_from(0)
    w.span(10, 20)[:] = 1.0
    assert not w.untouched_from(19) and w.untouched_from(20)
    w[30] = 0.0  # a write through __setitem__ is a span too
    assert not w.untouched_from(30) and w.untouched_from(31)
    w.read(100, 160)  # a read through span: counted, conservatively
    assert not w.untouched_from(159) and w.untouched_from(160)
    w.retire(150)
    w.span(160, 240)  # room made: the ticks past the ones held are zeros again
    assert np.array_equal(w[160:240], np.zeros(80))
    copy = TickWindow.holding(w)
    assert copy.untouched_from(240) and not copy.untouched_from(239)
    assert TickWindow(500, start=70).untouched_from(70)


@pytest.mark.parametrize("name", ["reactive-backlog", "faults", "rollout"])
def test_round_shortcuts_give_the_tables_of_the_general_arithmetic(monkeypatch, name) -> None:
    """The per-round shortcuts against the general arithmetic, on runs with a backlog and
    late requests, task events inside rounds (crashes, an AZ outage, Spot) and a release
    failing requests (target 5xx): a stretch where everything is served leaves the failed
    and backlog windows unwritten (a walk that failed nothing, the failed window), and a
    metric period takes untouched failed, late or target-5xx ticks as 0.0, and a serving
    count that held one value throughout as that value times the ticks, without reading
    them."""
    counts = {"all served": 0, "untouched": 0, "level": 0}
    all_served, untouched = serving.all_served, TickWindow.untouched_from
    level_over = TickWindow.level_over

    def counted_all_served(*args):
        out = all_served(*args)
        counts["all served"] += out
        return out

    def counted_untouched(self, lo):
        out = untouched(self, lo)
        counts["untouched"] += out
        return out

    def counted_level(self, lo, hi):
        out = level_over(self, lo, hi)
        counts["level"] += out is not None
        return out

    monkeypatch.setattr(serving, "all_served", counted_all_served)
    monkeypatch.setattr(TickWindow, "untouched_from", counted_untouched)
    monkeypatch.setattr(TickWindow, "level_over", counted_level)
    fast = _run(name)
    assert min(counts.values()) > 10, counts
    monkeypatch.setattr(serving, "all_served", lambda *args: False)
    monkeypatch.setattr(TickWindow, "untouched_from", lambda self, lo: False)
    monkeypatch.setattr(TickWindow, "level_over", lambda self, lo, hi: None)
    general = _run(name)
    assert fast.summary == general.summary
    for table in ("metrics", "events", "decisions", "target_groups"):
        got, want = getattr(fast, table), getattr(general, table)
        if want is None:
            assert got is None
            continue
        assert_frame_equal(got, want, check_exact=True, obj=table)
    if name == "rollout":
        assert fast.metrics["HTTPCode_Target_5XX_Count"].sum() > 0
    else:
        assert fast.metrics["failed"].sum() > 0


def test_a_walk_says_when_it_failed_nothing() -> None:
    """Stretch.none_failed, which lets the fluid leave the failed window unwritten: true
    exactly when the step's ``failed`` is all zeros."""
    rng = np.random.default_rng(12)
    a = rng.uniform(0.0, 200.0, 120)
    for service, q0, qmax in [(150.0, 0.0, 1e6), (150.0, 50.0, 1e6), (150.0, 0.0, 300.0)]:
        walk = serving.Stretch(service, q0, qmax)
        failed = walk.step(a + 40.0)[1]
        assert walk.none_failed == (not failed.any()), (service, q0, qmax)
    full = serving.Stretch(150.0, 0.0, 300.0)
    full.step(a + 100.0)  # more than the service: the backlog grows to its bound
    assert not full.none_failed  # the backlog reached its bound: requests timed out
    start_above = serving.Stretch(150.0, 500.0, 300.0)
    start_above.step(np.zeros(5))
    assert not start_above.none_failed  # the excess over the bound fails in the first tick
    dead = serving.Stretch(0.0, 0.0, 300.0)
    dead.step(a)
    assert not dead.none_failed  # no service: every request fails
    calm = serving.Stretch(150.0, 0.0, 1e6)
    calm.step(a)
    assert calm.none_failed


def test_a_run_of_one_integer_is_remembered_until_another_write_reaches_it() -> None:
    """TickWindow.fill_value / level_over: the run of equal integers written stretch after
    stretch, ended by a different value or by any other span reaching it; float windows
    remember none (their sums are not value x ticks bit for bit)."""
    w = TickWindow(1000, dtype=np.int32, chunk=100)
    w.fill_value(0, 30, 4)
    w.fill_value(30, 95, 4)  # the same value, contiguous: one run
    assert w.level_over(0, 95) == 4 and w.level_over(20, 80) == 4
    assert w.level_over(60, 96) is None  # past the ticks written
    assert float(np.add.reduce(w[20:80])) == 4 * 60
    w.fill_value(95, 130, 5)  # another value: a new run
    assert w.level_over(60, 120) is None and w.level_over(95, 130) == 5
    w[100] = 5  # any other write reaching the run ends it, even of the same value
    assert w.level_over(95, 130) is None
    w.fill_value(130, 200, 5)
    w.read(150, 160)  # reads through span too (conservative)
    assert w.level_over(130, 200) is None
    w.fill_value(200, 260, 2)
    w.span(260, 300)  # a span that does not reach the run keeps it
    assert w.level_over(200, 260) == 2
    assert TickWindow.holding(w).level_over(200, 260) is None
    f = TickWindow(1000, chunk=100)
    f.fill_value(0, 60, 3)
    assert f.level_over(0, 60) is None
