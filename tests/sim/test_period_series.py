"""The ECS counts and the billed integral kept per period (sim/steps.py), the prefix sums
at period edges (sim/metrics.py) and the traffic built in blocks (sim/traffic) give the same
bits as the whole-run per-tick arrays they replace, whatever the window or block size; a
run's tables do not depend on it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim.metrics as metrics
import sim.steps as steps
import sim.traffic.rates as rates
import sim.traffic.synthetic as synthetic
from backends.sim import run_scenario, run_simulation
from sim.metrics import edge_prefix_sums
from sim.scenario import scenario_from_dict
from sim.simulation import Simulation, random_streams
from sim.steps import PeriodIntegral, StepSeries
from sim.traffic.rates import arrivals as draw_arrivals
from sim.traffic.rates import build_rate


class _TickIntegral:
    """The whole-run per-tick integral that PeriodIntegral replaces (the reference)."""

    def __init__(self, n: int, tick: float) -> None:
        self.seconds = np.zeros(n)
        self.tick, self.value, self.t = tick, 0, 0.0

    def fill(self, until: float) -> None:
        t0, t1 = self.t, min(until, len(self.seconds) * self.tick)
        if t1 <= t0:
            return
        self.t = t1
        if self.value == 0:
            return
        n = len(self.seconds)
        k0 = min(n - 1, int(math.floor(t0 / self.tick + 1e-9)))
        k1 = min(n, int(math.floor(t1 / self.tick + 1e-9)))
        v = float(self.value)
        if k0 == k1:
            self.seconds[k0] += v * (t1 - t0)
            return
        self.seconds[k0] += v * ((k0 + 1) * self.tick - t0)
        self.seconds[k0 + 1 : k1] += v * self.tick
        if k1 < n and t1 > k1 * self.tick:
            self.seconds[k1] += v * (t1 - k1 * self.tick)

    def set(self, t: float, value: int) -> None:
        self.fill(t)
        self.t = max(self.t, t)
        self.value = value


@pytest.mark.parametrize(("n", "tpp", "chunk"), [(6_000, 60, 60), (6_013, 60, 7), (5_000, 20, 400)])
def test_period_integral_matches_the_per_tick_reductions(monkeypatch, n, tpp, chunk) -> None:
    monkeypatch.setattr(steps, "CHUNK_TICKS", chunk)
    rng = np.random.default_rng(n)
    tick = 1.0
    got, ref = PeriodIntegral(n, tick, tpp), _TickIntegral(n, tick)
    t = 0.0
    read = 0
    while t < n * tick:
        t += float(rng.choice([0.0, rng.uniform(0, 3), rng.uniform(0, 900)]))
        value = int(rng.integers(0, 4)) * int(rng.integers(0, 40))
        for s in (got, ref):
            s.set(t, value)
        if rng.uniform() < 0.3:  # the store reads the whole periods finished so far
            done = min(int(t // (tpp * tick)), -(-n // tpp))
            for s in (got, ref):
                s.fill(done * tpp * tick)
            for i in range(read, done):
                expected = np.add.reduce(ref.seconds[i * tpp : min((i + 1) * tpp, n)])
                assert got.period_sum(i) == expected
            read = max(read, done)
    for s in (got, ref):
        s.fill(n * tick)
    n_periods = -(-n // tpp)
    assert read > 10
    if n % tpp:  # a partial last period: the reduceat sums are kept (the store reads them)
        starts = np.arange(read, n_periods) * tpp
        expected = np.add.reduceat(ref.seconds[read * tpp :], starts - read * tpp)
        assert np.array_equal(got.period_sums(read, n_periods, reduceat=True), expected)
        # The periods read one at a time (period_sum's shortcut) keep both reductions too.
        every = np.add.reduceat(ref.seconds, np.arange(n_periods) * tpp)
        assert np.array_equal(got.period_sums(0, n_periods, reduceat=True), every)
    else:  # whole periods only: the store never asks for them, and they are not kept
        with pytest.raises(ValueError, match="reduceat sums are kept only"):
            got.period_sums(0, n_periods, reduceat=True)
    assert ref.seconds.sum() > 0 and len(got._buf) <= max(chunk // tpp, 1) * tpp
    whole = n // tpp
    pairwise = ref.seconds[: whole * tpp].reshape(whole, tpp).sum(axis=1)
    assert np.array_equal(got.period_sums(0, whole), pairwise)


def test_step_series_matches_the_per_tick_array() -> None:
    rng = np.random.default_rng(3)
    n, tpp = 5_000, 60
    series, ref = StepSeries(n), np.zeros(n, dtype=np.int32)
    pos, value = 0, 0
    for tick in np.sort(rng.integers(0, n + 50, 300)):
        new = int(rng.integers(0, 30))
        series.set(int(tick), new)  # the old per-tick fill: value until tick, then new
        if new != value:
            hi = min(int(tick), n)
            ref[pos:hi] = value
            pos, value = max(pos, hi), new
    series.fill(n)
    ref[pos:n] = value
    edges = np.minimum(np.arange(0, -(-n // tpp) + 1) * tpp, n)
    assert np.array_equal(series.values, ref)
    assert np.array_equal(series.sums(edges), np.add.reduceat(ref, edges[:-1]).astype(float))
    assert np.array_equal(series.values_at(edges[1:] - 1), ref[edges[1:] - 1])
    for lo in range(0, n, 397):
        assert series.sum(lo, lo + 61) == float(ref[lo : lo + 61].sum())
        assert series.at(lo) == ref[lo]
    assert np.array_equal(series.sums(edges[3:9]), np.add.reduceat(ref, edges[3:9])[:5])


@pytest.mark.parametrize(("n", "tpp", "block"), [(10_000, 60, 60), (10_007, 60, 600), (999, 20, 7)])
def test_edge_prefix_sums_are_the_whole_cumsum_at_the_edges(monkeypatch, n, tpp, block) -> None:
    monkeypatch.setattr(metrics, "PREFIX_BLOCK_TICKS", block)
    x = np.random.default_rng(n).gamma(2.0, 300.0, n)
    edges = np.minimum(np.arange(0, -(-n // tpp) + 1) * tpp, n)
    expected = np.concatenate(([0.0], np.cumsum(x)))[edges]
    assert np.array_equal(edge_prefix_sums(x, tpp), expected)


def _tables(result) -> list:
    return [result.metrics, result.events, result.decisions, result.target_groups]


@pytest.mark.parametrize(
    "extra",
    [
        # target tracking with crashes and an AZ outage; a duration of no whole period
        {
            "run": {"seed": 8, "duration": "2h0m41s", "tick": "1s"},
            "autoscaler": {"policy": "target-tracking"},
            "faults": {
                "task_mtbf": "1h",
                "az_outages": [{"az": "us-east-1b", "at": 1800, "duration": 900}],
            },
        },
        # a static fleet: the whole run is one fluid stretch, the store reads at the end
        {
            "run": {"seed": 4, "duration": "1h31m7s", "tick": "1s"},
            "autoscaler": {"policy": "static"},
        },
        # a canary release with errors: a second target group and its metric store
        {
            "run": {"seed": 7, "duration": "40m", "tick": "1s"},
            "releases": {"explicit": [{"at": 600, "kind": "errors"}]},
            "rollout": {"strategy": "canary"},
        },
    ],
    ids=["faults", "static", "canary-errors"],
)
def test_window_size_does_not_change_a_run(monkeypatch, extra) -> None:
    data = {
        "name": "windows",
        "service": {"min_tasks": 1, "max_tasks": 40, "initial_tasks": 4, "capacity_rps": 50},
        "traffic": {"synthetic": {"base_rps": 300, "noise_cv": 0.3}},
        "autoscaler": {"policy": "reactive", "interval": 60},
        **extra,
    }
    whole = run_scenario(scenario_from_dict(data))
    monkeypatch.setattr(steps, "CHUNK_TICKS", 60)
    monkeypatch.setattr(metrics, "PREFIX_BLOCK_TICKS", 120)
    small = run_scenario(scenario_from_dict(data))
    assert whole.metrics["billed_tasks"].sum() > 0
    assert small.summary == whole.summary or str(small.summary) == str(whole.summary)
    for a, b in zip(_tables(small), _tables(whole), strict=True):
        assert a.equals(b)


def _rate_and_arrivals(cfg: dict, days: float, tick: float = 1.0):
    sc = scenario_from_dict({"run": {"seed": 3, "duration": f"{days}d", "tick": tick}, **cfg})
    rng = random_streams(sc.run.seed)
    rate = build_rate(sc.traffic, sc.run.duration, sc.run.tick, rng["traffic"])
    return rate, draw_arrivals(rate, sc.run.tick, rng["arrivals"], sc.traffic.arrivals)


@pytest.mark.parametrize(
    "cfg",
    [
        {
            "traffic": {
                "synthetic": {
                    "base_rps": 300,
                    "noise_cv": 0.4,
                    "trend_per_day": 0.01,
                    "start_hour": 7.5,
                    "start_weekday": 3,
                    "flash_crowds": [{"at": "1d", "multiplier": 3, "rise": "10m", "decay": "1h"}],
                }
            }
        },
        {"traffic": {"synthetic": {"base_rps": 300}, "arrivals": "deterministic"}},
    ],
    ids=["poisson", "deterministic"],
)
def test_traffic_in_blocks_gives_the_same_bits_as_one_pass(monkeypatch, cfg) -> None:
    """The synthetic shape and the Poisson draws in blocks (of 1,000 ticks here, not
    dividing the run) against one block the length of the run."""
    monkeypatch.setattr(synthetic, "BLOCK_TICKS", 10**9)
    monkeypatch.setattr(rates, "ARRIVAL_BLOCK_TICKS", 10**9)
    rate, arrivals = _rate_and_arrivals(cfg, 1.5)
    monkeypatch.setattr(synthetic, "BLOCK_TICKS", 1_000)
    monkeypatch.setattr(rates, "ARRIVAL_BLOCK_TICKS", 1_000)
    rate_b, arrivals_b = _rate_and_arrivals(cfg, 1.5)
    assert rate.std() > 0 and arrivals.sum() > 0
    assert np.array_equal(rate.view(np.int64), rate_b.view(np.int64))
    assert np.array_equal(arrivals.view(np.int64), arrivals_b.view(np.int64))


def test_metrics_table_shares_the_store_columns() -> None:
    """The metrics table is built on the store's columns, not a second copy of them."""
    sim = Simulation(
        scenario_from_dict(
            {
                "run": {"seed": 2, "duration": "30m", "tick": "1s"},
                "traffic": {"synthetic": {"base_rps": 100}},
            }
        )
    )
    result = run_simulation(sim)
    for name in ("CPUUtilization", "billed_tasks", "TargetResponseTime_p99"):
        assert np.shares_memory(result.metrics[name].to_numpy(), sim.store.columns[name])
    assert result.metrics["billed_tasks"].gt(0).all()
