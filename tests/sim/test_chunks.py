"""Issue 11: the per-tick arrays live in windows of a chunk or two (sim/window.py), the
arrivals are drawn and a long fluid stretch computed chunk by chunk, and the metric periods
and their latency are read as the run goes. Every chunk size gives the same bits: every
table and the summary are compared with tiny chunks against the default."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import sim.metrics as metrics
import sim.window as window
from backends.sim import run_simulation
from sim.scenario import scenario_from_dict
from sim.serving import Stretch, stretch
from sim.simulation import Simulation
from sim.traffic.rates import ArrivalStream
from sim.traffic.rates import arrivals as draw_arrivals
from sim.window import RetiredTicks, TickWindow

SERVICE = {"min_tasks": 1, "max_tasks": 40, "initial_tasks": 3, "capacity_rps": 50}

CASES = {
    # reactive, under-provisioned at first: a backlog, timeouts and late requests
    "reactive-backlog": {
        "run": {"seed": 11, "duration": "2h", "tick": "1s"},
        "service": {**SERVICE, "request_timeout": "20s"},
        "traffic": {"synthetic": {"base_rps": 400, "noise_cv": 0.3}},
        "autoscaler": {"policy": "reactive", "interval": 60},
    },
    # static, deciding never: the whole run is one fluid stretch (in one piece with the
    # default chunk), with a backlog and late requests; the last period is partial
    "static-one-stretch": {
        "run": {"seed": 4, "duration": "10h31m7s", "tick": "1s"},
        "service": {**SERVICE, "initial_tasks": 8, "request_timeout": "20s"},
        "traffic": {"synthetic": {"base_rps": 400, "noise_cv": 0.3}},
        "autoscaler": {"policy": "static", "interval": 1e9},
    },
    # target tracking with crashes, an AZ outage and Spot interruptions
    "faults": {
        "run": {"seed": 8, "duration": "2h", "tick": "1s"},
        "service": {
            **SERVICE,
            "initial_tasks": 4,
            "capacity_providers": [
                {"name": "FARGATE", "weight": 1},
                {"name": "FARGATE_SPOT", "weight": 1},
            ],
        },
        "traffic": {"synthetic": {"base_rps": 400, "noise_cv": 0.3}},
        "autoscaler": {"policy": "target-tracking"},
        "faults": {
            "task_mtbf": "1h",
            "az_outages": [{"az": "us-east-1b", "at": 1800, "duration": 900}],
            "spot_interruptions_per_task_hour": 1.0,
        },
    },
    # a canary of two revisions, the second release failing requests
    "rollout": {
        "run": {"seed": 7, "duration": "2h", "tick": "1s"},
        "service": {**SERVICE, "initial_tasks": 4},
        "traffic": {"synthetic": {"base_rps": 150, "noise_cv": 0.3}},
        "releases": {"explicit": [{"at": 600, "kind": "good"}, {"at": 3600, "kind": "errors"}]},
        "rollout": {"strategy": "canary"},
    },
    # the oracle reads the rate to the end of the run
    "oracle": {
        "run": {"seed": 5, "duration": "3h", "tick": "1s"},
        "service": SERVICE,
        "traffic": {"synthetic": {"base_rps": 400, "noise_cv": 0.3}},
        "autoscaler": {"policy": "oracle"},
    },
}


def _run(name: str, duration: str | None = None):
    data = {"name": name, **CASES[name]}
    if duration is not None:
        data["run"] = {**data["run"], "duration": duration}
    return run_simulation(Simulation(scenario_from_dict(data)))


@pytest.mark.parametrize(
    ("name", "duration"),
    [
        *((name, None) for name in CASES),
        # many days as one stretch, longer than the default chunk too
        pytest.param("static-one-stretch", "3d40s", marks=pytest.mark.slow),
    ],
)
def test_chunk_size_does_not_change_a_run(monkeypatch, name, duration) -> None:
    default = _run(name, duration)
    tables = ("metrics", "events", "decisions", "target_groups", "releases")
    assert default.summary["requests_total"] > 0
    if name != "rollout":
        assert default.metrics["failed"].sum() > 0, "the case must fail some requests"
    # one period, an hour, one period and 7 ticks
    for chunk in (60, 3600, 67):
        monkeypatch.setattr(window, "CHUNK_TICKS", chunk)
        small = _run(name, duration)
        assert small.summary == default.summary, chunk
        for table in tables:
            got, want = getattr(small, table), getattr(default, table)
            if want is None:
                assert got is None
                continue
            assert_frame_equal(got, want, check_exact=True, obj=f"{table}, chunk {chunk}")


def test_a_long_run_holds_a_window_not_the_run(monkeypatch) -> None:
    """With chunks and latency blocks of an hour, a ten-hour static stretch keeps a few
    hours of ticks."""
    monkeypatch.setattr(window, "CHUNK_TICKS", 3600)
    monkeypatch.setattr(metrics, "LATENCY_BLOCK_TICKS", 3600)
    sim = Simulation(scenario_from_dict({"name": "w", **CASES["static-one-stretch"]}))
    run_simulation(sim)
    for w in sim.service.windows():
        assert len(w.buf) <= 4 * 3600 < sim.n_ticks / 2, (len(w.buf), w.base)
    with pytest.raises(RetiredTicks, match="read a run this long by slices"):
        np.asarray(sim.fluid.served)
    with pytest.raises(RetiredTicks, match="are not held"):
        sim.fluid.served[0:10]


def test_stretch_in_chunks_continues_the_walk_bit_for_bit() -> None:
    """Both barriers, crossings at chunk edges, a start above the bound, no service."""
    rng = np.random.default_rng(2)
    arrivals = rng.poisson(np.repeat(rng.uniform(0, 300, 40), 50)).astype(float)
    for service, q0, qmax in ((100.0, 0.0, 500.0), (150.0, 900.0, 400.0), (0.0, 5.0, 0.0)):
        whole = stretch(arrivals, service, q0, qmax)
        for size in (1, 7, 50, 333):
            walk = Stretch(service, q0, qmax)
            parts = [walk.step(arrivals[a : a + size]) for a in range(0, len(arrivals), size)]
            for k in range(3):
                assert np.array_equal(np.concatenate([p[k] for p in parts]), whole[k])
            assert walk.q_end == whole[3]
    assert whole[1].sum() > 0


def test_arrival_stream_draws_the_same_numbers_in_any_chunks(monkeypatch) -> None:
    rate = np.random.default_rng(1).uniform(0, 50, 1000)
    want = draw_arrivals(rate, 1.0, np.random.default_rng(9))
    monkeypatch.setattr(window, "CHUNK_TICKS", 70)
    stream = ArrivalStream(rate, 1.0, np.random.default_rng(9))
    seen = list(stream.scan([0, 300, 1000]))  # ahead, from a copy of the generator
    stream.ensure(500)
    assert np.array_equal(stream.values[0:500], want[:500])
    assert np.array_equal(np.concatenate(seen), want)
    with pytest.raises(ValueError, match="unknown arrivals mode 'bursty'"):
        ArrivalStream(rate, 1.0, np.random.default_rng(9), "bursty")


def test_window_reads_by_absolute_tick_and_retires() -> None:
    w = TickWindow(100, chunk=10)
    w[0:20] = np.arange(20.0)
    w.retire(15)
    w.span(20, 40)[:] = 1.0  # room made by dropping the retired ticks
    assert w.base == 15 and w[15] == 15.0 and w[-61] == 1.0
    with pytest.raises(RetiredTicks, match="ticks from 3 are not held"):
        w[3:5]
    late = TickWindow(100, start=50, before=np.full(100, 7.0))
    assert list(late[48:52]) == [7.0, 7.0, 0.0, 0.0]


def test_window_left_unwritten_past_a_retire_mark_makes_room() -> None:
    """A window the fluid leaves unwritten (the late requests of a run without backlog:
    sim/serving.py writes no zeros) can have its ticks retired past the end of its buffer;
    a later write then keeps nothing and reads zeros between, instead of failing (a 7-day
    target-tracking run crashed this way)."""
    for grow in (False, True):
        w = TickWindow(1000, chunk=10)
        w[0:5] = 1.0
        w.retire(300)
        hi = 320 if grow else 305  # beyond the buffer's 20 ticks: it grows; or it fits
        w.span(301, hi)[:] = 2.0
        assert w.base == 300 and w[300] == 0.0 and w[301] == 2.0 and w[hi - 1] == 2.0
        with pytest.raises(RetiredTicks, match="ticks from 299 are not held"):
            w[299:301]
    w = TickWindow(1000, chunk=10)
    w.retire(50)
    with pytest.raises(RetiredTicks, match="ticks from 40 were retired"):
        w.span(40, 60)


def test_a_window_unwritten_for_longer_than_its_buffer_runs(monkeypatch) -> None:
    """The run that crashed (a synthetic week of target tracking: no late request for more
    than the late window's two days of buffer while the readers retired ticks), scaled
    down to chunks and latency blocks of an hour: the same tables as with the default
    chunk."""
    sc = scenario_from_dict(
        {"run": {"seed": 23, "duration": "24h"}, "autoscaler": {"policy": "target-tracking"}}
    )
    default = run_simulation(Simulation(sc))
    monkeypatch.setattr(window, "CHUNK_TICKS", 3600)
    monkeypatch.setattr(metrics, "LATENCY_BLOCK_TICKS", 3600)
    sim = Simulation(sc)
    small = run_simulation(sim)
    late = sim.fluid.late
    assert late.base > 2 * 3600  # it moved on (the old code failed before getting there)
    assert small.summary == default.summary
    assert_frame_equal(small.metrics, default.metrics, check_exact=True)


@settings(max_examples=300, deadline=None)
@given(
    chunk=st.integers(1, 12),
    dtype=st.sampled_from(["float64", "int32"]),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["write", "fill", "skip", "retire", "read"]),
            st.integers(
                0, 40
            ),  # a gap before a write or skipped; how far back a retire or read goes
            st.integers(1, 30),  # a write's or read's length
            st.integers(-5, 5),  # the value written
        ),
        max_size=60,
    ),
)
def test_window_reads_as_the_whole_run_array(chunk, dtype, ops) -> None:
    """A window used as the fluid and its readers use it (writes in tick order, ticks the
    fluid computes left unwritten, readers retiring ticks up to the last computed one and
    reading only held ones) reads exactly what the whole-run array holds; its shortcuts
    (untouched ticks, runs of one value) never contradict it."""
    n = 400
    w = TickWindow(n, chunk=chunk, dtype=dtype)
    ref = np.zeros(n, dtype=dtype)
    pos = keep = 0  # the fluid's next tick; the readers' oldest needed tick
    for op, k, length, value in ops:
        if op == "skip":  # computed, nothing to write (the window holds zeros there)
            pos = min(pos + k, n)
        elif op in ("write", "fill"):
            lo = min(pos + k, n)
            hi = min(lo + length, n)
            if hi <= lo:
                continue
            values = np.full(hi - lo, value) if op == "fill" else np.arange(lo, hi) % 7 + value
            if op == "fill":
                w.fill_value(lo, hi, value)
            else:
                w.span(lo, hi)[:] = values
            ref[lo:hi] = values
            pos = hi
        elif op == "retire":
            keep = max(keep, pos - k)
            w.retire(keep)
        else:
            lo = max(keep, pos - k)
            hi = min(pos, lo + length)
            np.testing.assert_array_equal(w[lo:hi], ref[lo:hi])
        if w.untouched_from(pos):
            assert not ref[pos:].any()
        level = w.level_over(max(keep, pos - 3), pos) if pos > keep else None
        if level is not None:
            assert (ref[max(keep, pos - 3) : pos] == level).all()
    tail = max(keep, w.base)
    np.testing.assert_array_equal(w[tail:n], ref[tail:n])
