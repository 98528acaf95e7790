"""Per-period metrics as CloudWatch publishes them, and the run summary.

Flat records (DESIGN.md convention 7): the simulation fills tick arrays; this module turns
them into one row per metric period (60 s, or 20 s high resolution) with the ECS and ALB
metrics under their CloudWatch names, plus model columns in lower case (``supply_tasks``,
``demand_tasks``, ``billed_tasks``, ...). Everything is computed with vector operations over whole periods.
Sources: "Amazon ECS service utilization metrics"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service_utilization.html:
Average = CPU used / (CPU in the task definition x tasks), Minimum and Maximum the least and
most loaded task), "Faster auto scaling with high-resolution metrics"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/target-tracking-faster-auto-scaling.html:
60 s by default, 20 s when configured), and "CloudWatch metrics for your Application Load
Balancer" (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html:
60 s intervals, reported only while requests flow). When a period becomes visible to a reader
is the backend's business (``run.publication_delay``, backends/sim.py).

``HTTPCode_Target_5XX_Count`` is the requests a bad release answers with a 5xx
(sim/revisions.py); zero without releases.

``billed_tasks`` is the time-average number of billed tasks in the period (from the start of
the image pull to STOPPED, draining included, as Fargate bills), so that slack can be
measured over what is paid for, not only over what serves. Its integral times the per-task
price is the run's cost up to the whole-second rounding and the one-minute minimum.

Latency per period (TargetResponseTime, in seconds as CloudWatch reports it): the M/M/k
response-time distribution of one task (sim/serving.py) at the period's served-weighted mean
utilisation, shifted by the served-weighted mean excess-backlog wait. The period's mean is
the served-weighted mean of the per-tick means (exact under the per-tick model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from policies.contract import METRIC_NAMES, MetricHistory
from sim.brent import brentq
from sim.queueing import MMkTable, mixture_quantile, response_quantile
from sim.window import TickWindow

#: Model columns kept beside the CloudWatch ones.
EXTRA_COLUMNS: tuple[str, ...] = (
    "rate_rps",
    "served",
    "failed",
    "backlog",
    "supply_tasks",
    "demand_tasks",
    "billed_tasks",
    "utilisation",
    "queue_wait_s",
)


@dataclass(frozen=True)
class ServingModel:
    """The per-task queue the latency comes from."""

    capacity_rps: float
    workers: int
    tick: float
    idle_cpu: float
    memory_base: float
    memory_per_cpu: float
    timeout: float = math.inf  # request timeout (s): slower responses fail (sim/serving.py)

    @property
    def mu(self) -> float:
        """Service rate of one worker (1/s): capacity is k workers at mu each."""
        return self.capacity_rps / self.workers


def max_utilisation_for_p99(model: ServingModel, p99_s: float, rho_cap: float) -> float:
    """Largest per-task utilisation whose M/M/k p99 meets ``p99_s`` (0 if none does)."""

    def f(rho: float) -> float:
        return float(response_quantile(0.99, model.workers, model.mu, rho)) - p99_s

    if f(0.0) > 0:
        return 0.0
    if f(rho_cap) <= 0:
        return rho_cap
    return brentq(f, 0.0, rho_cap, xtol=1e-9)


#: ``ndarray.sum`` without its Python wrapper (numpy/_core/_methods.py): the same reduction,
#: so the same bits, at a fraction of the cost on the 60-tick slices summed every period.
_sum = np.add.reduce


def _tick_sum(x: np.ndarray, t0: int, t1: int) -> float:
    """``float(np.add.reduce(x[t0:t1]))``, or without reading the ticks when ``x`` is a
    window that knows them: 0.0 when untouched from ``t0`` on
    (:meth:`sim.window.TickWindow.untouched_from`: its zeros sum to 0.0), ``value x (t1 -
    t0)`` when they are one run of an integer value (:meth:`~sim.window.TickWindow.level_over`:
    numpy sums integers exactly). The same bits either way."""
    if type(x) is TickWindow:
        if x.untouched_from(t0):
            return 0.0
        value = x.level_over(t0, t1)
        if value is not None:
            return float(value * (t1 - t0))
    return float(_sum(x[t0:t1]))


#: Ticks per block of :meth:`MetricStore.ensure_latency` (one day of 1 s ticks): large enough
#: that numpy's per-call overhead is negligible, small enough that a year-long run's latency
#: pass does not double the run's memory.
LATENCY_BLOCK_TICKS = 86_400

#: Columns computed lazily, in vectorised passes, only when read (or at the end).
LATENCY_COLUMNS: frozenset[str] = frozenset(
    {
        "TargetResponseTime",
        "TargetResponseTime_p50",
        "TargetResponseTime_p90",
        "TargetResponseTime_p99",
        "utilisation",
        "queue_wait_s",
    }
)


#: Ticks per block of :func:`edge_prefix_sums` (one day of 1 s ticks).
PREFIX_BLOCK_TICKS = 86_400


class EdgePrefix:
    """The running sum of a per-tick series at every period edge (0, tpp, 2 tpp, ...,
    n_ticks), fed in order, block by block (:meth:`add`): entry i of ``out`` is the sum of
    the ticks before period i, as ``np.cumsum`` over the whole array gives it (numpy
    accumulates in order, so a block that starts from the running sum so far continues it
    bit for bit, whatever the blocks)."""

    def __init__(self, n_ticks: int, ticks_per_period: int) -> None:
        self.n_ticks, self.tpp = n_ticks, ticks_per_period
        self.n_periods = -(-n_ticks // ticks_per_period)
        self.out = np.zeros(self.n_periods + 1)
        self.pos = 0  # ticks before this one are added
        self._carry = np.zeros(1)

    def add(self, lo: int, x: np.ndarray) -> None:
        """Add ticks [lo, lo + len(x)); ``lo`` must be the first tick not added yet."""
        if lo != self.pos:
            raise ValueError(f"edge prefix sums: expected tick {self.pos} next, got {lo}")
        n, tpp, b = self.n_ticks, self.tpp, lo + len(x)
        acc = np.add.accumulate(np.concatenate((self._carry, x)))  # acc[j]: sum to lo + j
        last = b // tpp if b < n else self.n_periods
        edges = np.arange(lo // tpp + 1, last + 1)
        self.out[edges] = acc[np.minimum(edges * tpp, n) - lo]
        self._carry = acc[-1:]
        self.pos = b


def edge_prefix_sums(x: np.ndarray, ticks_per_period: int) -> np.ndarray:
    """:class:`EdgePrefix` of a whole array, in blocks of about ``PREFIX_BLOCK_TICKS`` ticks
    so that no per-tick array the length of the run is made."""
    prefix = EdgePrefix(len(x), ticks_per_period)
    block = max(1, PREFIX_BLOCK_TICKS // ticks_per_period) * ticks_per_period
    for a in range(0, len(x), block):
        prefix.add(a, x[a : a + block])
    return prefix.out


class MetricStore:
    """Preallocated per-period columns, filled as periods complete.

    Two groups, so that a policy observing every minute pays only for what it reads:
    counts, CPU and memory are aggregated as soon as a period's ticks are computed
    (:meth:`fill`, a few operations per call); latency columns, which need the queueing
    tables tick by tick, are computed in one pass over all pending periods the first time
    one of them is read (:meth:`ensure_latency`).
    """

    def __init__(
        self,
        n_periods: int,
        period_s: float,
        ticks_per_period: int,
        model: ServingModel,
        table: MMkTable,
        rho_slo: float,
        ticks: dict[str, np.ndarray],
        *,
        static_inputs: bool = True,
    ) -> None:
        self.n_periods = n_periods
        self.period_s = period_s
        self.tpp = ticks_per_period
        self.model = model
        self.table = table
        self.rho_slo = rho_slo
        self.ticks = ticks
        self.n_ticks = len(ticks["arrivals"])
        self.start = np.arange(n_periods, dtype=float) * period_s
        self.columns = {
            name: np.full(n_periods, np.nan) for name in (*METRIC_NAMES, *EXTRA_COLUMNS)
        }
        # Prefix sums of the service's inputs at the period edges only: a period's sum is one
        # subtraction. The rate is known up front; the arrivals are fed to ``arrival_edges``
        # as they are drawn (sim/traffic/rates.py, ArrivalStream.listeners). A target
        # group's arrivals and rate are written as the run goes (``static_inputs=False``,
        # sim/service.py): its sums are taken from the ticks.
        self.static_inputs = static_inputs
        if static_inputs:
            self.arrival_edges = EdgePrefix(self.n_ticks, ticks_per_period)
            self._cum_arrivals = self.arrival_edges.out
            self._cum_rate = edge_prefix_sums(ticks["rate"], ticks_per_period)
        self.done = 0
        self.latency_done = 0
        # Periods filled early (``fill(..., forced=True)``) since the last ordinary fill, in
        # a run whose last period is partial: their columns as the ordinary fill at the end
        # of the run would compute them (np.add.reduceat), see :meth:`fill`.
        self._alt: dict[str, np.ndarray] | None = None
        self._alt_lo: int | None = None

    def _bounds(self, lo: int, hi: int) -> np.ndarray:
        return np.minimum(np.arange(lo, hi + 1) * self.tpp, self.n_ticks)

    def fill(self, hi: int, *, forced: bool = False) -> None:
        """Aggregate the count, CPU and memory columns of periods [done, hi).

        A call's periods are summed as numpy's pairwise ``np.add.reduce`` per period, or,
        when the call includes the run's last period and that one is partial, as
        ``np.add.reduceat`` (which can differ in the last bit): the bits depend on which
        periods one call fills. The simulation fills when a policy observes (ordinary
        fills) and, so that the per-tick windows can move on, when a long fluid stretch
        passes a chunk edge (``forced``). A forced fill gives the columns the ordinary fills
        would have given: pairwise, as the next observation would, and, in a run whose last
        period is partial, also kept as ``reduceat`` until an ordinary fill comes, because
        if none comes the end of the run fills them in the same call as the last period.
        The work is done in blocks of about ``LATENCY_BLOCK_TICKS`` ticks (the same bits).
        """
        lo = self.done
        hi = min(hi, self.n_periods)
        if hi <= lo:
            if not forced:
                self._alt_lo = None
            return
        partial_run = self.n_ticks % self.tpp != 0
        if forced:
            if partial_run:
                if self._alt is None:
                    self._alt = {
                        name: np.full(self.n_periods, np.nan)
                        for name in self.columns
                        if name not in LATENCY_COLUMNS
                    }
                if self._alt_lo is None:
                    self._alt_lo = lo
                self._fill_blocks(lo, hi, True, self._alt)
        elif self._alt_lo is not None:
            if hi * self.tpp > self.n_ticks:  # the end: the periods filled early, as reduceat
                for name, values in self._alt.items():
                    self.columns[name][self._alt_lo : lo] = values[self._alt_lo : lo]
            self._alt_lo = None
        if hi - lo == 1 and hi * self.tpp <= self.n_ticks:
            self._fill_one(lo)
        else:
            self._fill_blocks(lo, hi, hi * self.tpp > self.n_ticks, self.columns)
        self.done = hi

    def _fill_blocks(
        self, lo: int, hi: int, reduceat: bool, columns: dict[str, np.ndarray]
    ) -> None:
        block = max(1, LATENCY_BLOCK_TICKS // self.tpp)
        for a in range(lo, hi, block):
            self._fill_block(a, min(hi, a + block), reduceat, columns)

    def _fill_block(self, lo: int, hi: int, reduceat: bool, columns: dict[str, np.ndarray]) -> None:
        """Periods [lo, hi) into ``columns``: per-period sums pairwise, or (``reduceat``)
        as ``np.add.reduceat``."""
        t = self.ticks
        edges = self._bounds(lo, hi)
        t0, t1 = int(edges[0]), int(edges[-1])
        width = np.diff(edges).astype(float)
        if not reduceat:

            def per(x: np.ndarray) -> np.ndarray:
                return x[t0:t1].reshape(hi - lo, self.tpp).sum(axis=1)
        else:
            starts = edges[:-1] - t0

            def per(x: np.ndarray) -> np.ndarray:
                return np.add.reduceat(x[t0:t1], starts)

        if self.static_inputs:
            arrivals = np.diff(self._cum_arrivals[lo : hi + 1])
            rate = np.diff(self._cum_rate[lo : hi + 1]) / width
        else:
            arrivals = per(t["arrivals"])
            rate = per(t["rate"]) / width
        served = per(t["served"])
        failed = per(t["failed"])
        work = served + per(t["late"]) if "late" in t else served  # late ones used CPU too
        serving_ticks = per(t["n_serving"]).astype(float)
        running_ticks = t["reporting"].sums(edges)
        last = edges[1:] - 1
        out = count_columns(
            arrivals,
            served,
            failed,
            serving_ticks,
            running_ticks,
            width,
            rate,
            self.model,
            self.rho_slo,
            work=work,
        )
        out["HTTPCode_Target_5XX_Count"] = per(t["target_5xx"])
        # The per-period sum as ``per`` computes it.
        billed = t["billed"].period_sums(lo, hi, reduceat=reduceat)
        out["billed_tasks"] = billed / (width * self.model.tick)
        out["RunningTaskCount"] = t["running"].values_at(last)
        out["PendingTaskCount"] = t["pending"].values_at(last)
        out["DesiredTaskCount"] = t["desired"].values_at(last)
        backlog = t["backlog"]
        out["backlog"] = backlog[int(last[0]) : int(last[-1]) + 1][last - int(last[0])]
        for name, values in out.items():
            columns[name][lo:hi] = values

    def _fill_one(self, i: int) -> None:
        """:meth:`fill` for one whole period with scalar arithmetic: the common case of a
        policy observing every period, where array overheads would dominate."""
        t, model = self.ticks, self.model
        t0 = i * self.tpp
        t1 = t0 + self.tpp
        width = float(self.tpp)
        if self.static_inputs:
            arrivals = float(self._cum_arrivals[i + 1] - self._cum_arrivals[i])
            rate = float(self._cum_rate[i + 1] - self._cum_rate[i]) / width
        else:
            arrivals = float(_sum(t["arrivals"][t0:t1]))
            rate = float(_sum(t["rate"][t0:t1])) / width
        served = float(_sum(t["served"][t0:t1]))
        failed = _tick_sum(t["failed"], t0, t1)  # none in most periods
        serving = _tick_sum(t["n_serving"], t0, t1)  # mostly one count throughout
        running = t["reporting"].sum(t0, t1)
        idle = model.idle_cpu
        late = _tick_sum(t["late"], t0, t1) if "late" in t else 0.0  # mostly none
        busy = (served + late) / (model.capacity_rps * model.tick)  # late ones used CPU too
        if running > 0:
            cpu_avg = min(100.0, 100.0 * busy / running + idle)
            cpu_max = min(100.0, (100.0 * busy / serving if serving > 0 else 0.0) + idle)
            cpu_min = min(100.0, idle) if running > serving else cpu_max
        else:
            cpu_avg = cpu_min = cpu_max = math.nan
        healthy = serving / width
        nan = math.nan
        if self.rho_slo > 0:
            demand = max(0.0, math.ceil(rate / (model.capacity_rps * self.rho_slo) - 1e-9))
        else:
            demand = math.inf if rate > 0 else 0.0
        base, slope = model.memory_base, model.memory_per_cpu
        last = t1 - 1
        c = self.columns
        c["CPUUtilization"][i] = cpu_avg
        c["CPUUtilization_Minimum"][i] = cpu_min
        c["CPUUtilization_Maximum"][i] = cpu_max
        c["MemoryUtilization"][i] = base + slope * cpu_avg
        c["MemoryUtilization_Minimum"][i] = base + slope * cpu_min
        c["MemoryUtilization_Maximum"][i] = base + slope * cpu_max
        c["RequestCount"][i] = arrivals if arrivals > 0 else nan
        c["RequestCountPerTarget"][i] = arrivals / healthy if arrivals > 0 and healthy > 0 else nan
        c["HTTPCode_Target_5XX_Count"][i] = _tick_sum(t["target_5xx"], t0, t1)
        c["HTTPCode_ELB_5XX_Count"][i] = failed
        c["HealthyHostCount"][i] = healthy
        c["RunningTaskCount"][i] = t["running"].at(last)
        c["PendingTaskCount"][i] = t["pending"].at(last)
        c["DesiredTaskCount"][i] = t["desired"].at(last)
        c["rate_rps"][i] = rate
        c["served"][i] = served
        c["failed"][i] = failed
        c["backlog"][i] = t["backlog"][last]
        c["supply_tasks"][i] = healthy
        c["demand_tasks"][i] = demand
        c["billed_tasks"][i] = t["billed"].period_sum(i) / (width * model.tick)
        self.done = i + 1

    def ensure_latency(self, hi: int) -> None:
        """Compute the latency columns of periods [latency_done, min(hi, done)).

        In blocks of about ``LATENCY_BLOCK_TICKS`` ticks (whole periods): a period's values
        depend only on its own ticks, so the blocks give the same bits as one pass, while the
        per-tick temporaries (a dozen arrays) stay the size of a block, not of the run.
        """
        hi = min(hi, self.done)
        block = max(1, LATENCY_BLOCK_TICKS // self.tpp)
        while self.latency_done < hi:
            self._latency_block(self.latency_done, min(hi, self.latency_done + block))

    def _latency_block(self, lo: int, hi: int) -> None:
        t = self.ticks
        edges = self._bounds(lo, hi)
        t0, t1 = int(edges[0]), int(edges[-1])
        prev = np.empty(t1 - t0)
        prev[0] = t["backlog"][t0 - 1] if t0 > 0 else 0.0
        prev[1:] = t["backlog"][t0 : t1 - 1]
        out = latency_columns(
            t["served"][t0:t1],
            t["rate"][t0:t1],
            t["n_serving"][t0:t1],
            prev,
            edges - t0,
            self.model,
            self.table,
        )
        for name, values in out.items():
            self.columns[name][lo:hi] = values
        self.latency_done = hi

    def column(self, name: str, visible: int) -> np.ndarray:
        """A read-only view of the first ``visible`` periods of one column."""
        if name in LATENCY_COLUMNS:
            self.ensure_latency(visible)
        view = self.columns[name][:visible]
        view.flags.writeable = False
        return view

    def history(self, visible: int) -> MetricHistory:
        """What a CloudWatch reader sees: the first ``visible`` periods, read lazily."""
        visible = max(0, min(visible, self.done))
        start = self.start[:visible]
        start.flags.writeable = False
        return MetricHistory(self.period_s, start, LazyColumns(self, visible))


class LazyColumns(Mapping):
    """The CloudWatch columns of a :class:`MetricStore`, each computed when first read.

    Copying or pickling materialises a plain dict of arrays, so an observation can be
    stored or sent elsewhere without the store.
    """

    def __init__(self, store: MetricStore, visible: int) -> None:
        self._store = store
        self._visible = visible

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in _METRIC_SET:
            raise KeyError(name)
        return self._store.column(name, self._visible)

    def __contains__(self, name: object) -> bool:
        # Mapping's default reads the column (and may compute latency) just to test the key.
        return name in _METRIC_SET

    def __iter__(self):
        return iter(METRIC_NAMES)

    def __len__(self) -> int:
        return len(METRIC_NAMES)

    def __reduce__(self):
        return (dict, ({name: np.array(self[name]) for name in METRIC_NAMES},))


_METRIC_SET = frozenset(METRIC_NAMES)


def count_columns(
    arrivals: np.ndarray,
    served: np.ndarray,
    failed: np.ndarray,
    serving_ticks: np.ndarray,
    running_ticks: np.ndarray,
    width: np.ndarray,
    rate: np.ndarray,
    model: ServingModel,
    rho_slo: float,
    work: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-period counts, CPU and memory (CloudWatch semantics, see the module docstring).

    ``work`` is the requests the tasks processed (default ``served``): it also counts those
    answered after the timeout, which failed at the ALB but kept a worker busy.

    Service ``CPUUtilization`` is "the total CPU units in use by the tasks that belong to the
    service, divided by the total number of CPU units that are reserved for the tasks that
    belong to the service", and ECS collects it from tasks whose containers run
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service_utilization.html,
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html). A
    draining (DEACTIVATING) task still belongs to the service and its containers still run,
    so it counts: ``running_ticks`` is the task-time of RUNNING and DEACTIVATING tasks. So
    Average is busy task-time over that task-time (tasks RUNNING but not yet in the target
    group, and draining tasks, which get no new request, count idle); Maximum is the serving
    tasks' utilisation (the ALB spreads load evenly); Minimum is the idle level when some
    counted task served nothing.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        busy = (served if work is None else work) / (model.capacity_rps * model.tick)
        cpu_avg = 100.0 * busy / running_ticks
        cpu_max = np.where(serving_ticks > 0, 100.0 * busy / serving_ticks, 0.0)
        cpu_max[running_ticks == 0] = np.nan
        cpu_min = np.where(running_ticks > serving_ticks, 0.0, cpu_max)
        healthy = serving_ticks / width
        rpt = arrivals / healthy
    idle = model.idle_cpu
    cpu_avg = np.minimum(100.0, cpu_avg + idle)
    cpu_min = np.minimum(100.0, cpu_min + idle)
    cpu_max = np.minimum(100.0, cpu_max + idle)
    no_alb = arrivals <= 0
    request_count = arrivals.copy()
    request_count[no_alb] = np.nan
    rpt[no_alb | (healthy <= 0)] = np.nan
    if rho_slo > 0:
        demand = np.ceil(rate / (model.capacity_rps * rho_slo) - 1e-9)
    else:
        demand = np.where(rate > 0, np.inf, 0.0)
    base, slope = model.memory_base, model.memory_per_cpu
    return {
        "CPUUtilization": cpu_avg,
        "CPUUtilization_Minimum": cpu_min,
        "CPUUtilization_Maximum": cpu_max,
        "MemoryUtilization": base + slope * cpu_avg,
        "MemoryUtilization_Minimum": base + slope * cpu_min,
        "MemoryUtilization_Maximum": base + slope * cpu_max,
        "RequestCount": request_count,
        "RequestCountPerTarget": rpt,
        "HTTPCode_ELB_5XX_Count": failed,
        "HealthyHostCount": healthy,
        "rate_rps": rate,
        "served": served,
        "failed": failed,
        "supply_tasks": healthy,
        "demand_tasks": np.maximum(demand, 0.0),
    }


def latency_columns(
    served: np.ndarray,
    rate: np.ndarray,
    n_serving: np.ndarray,
    backlog_prev: np.ndarray,
    edges: np.ndarray,
    model: ServingModel,
    table: MMkTable,
) -> dict[str, np.ndarray]:
    """Per-period latency from per-tick utilisation and excess-backlog wait (seconds)."""
    starts = edges[:-1]
    n = n_serving.astype(float)
    n_pos = np.maximum(n, 1.0)
    fleet_rate = n_pos * model.capacity_rps
    rho_t = np.where(n > 0, rate / fleet_rate, 0.0)
    wait_t = np.maximum(backlog_prev - n * table.lq(rho_t), 0.0) / fleet_rate
    mean_t = table.truncated_mean(rho_t, model.mu, wait_t, model.timeout)
    weight = np.add.reduceat(served, starts)
    has = weight > 0
    safe = np.where(has, weight, 1.0)
    rho_m = np.add.reduceat(served * rho_t, starts) / safe
    wait_m = np.add.reduceat(served * wait_t, starts) / safe
    mean_m = np.where(has, np.add.reduceat(served * mean_t, starts) / safe, np.nan)

    def q(p: float) -> np.ndarray:
        quantile = table.truncated_quantile(p, rho_m, model.mu, wait_m, model.timeout)
        return np.where(has, quantile, np.nan)

    return {
        "TargetResponseTime": mean_m,
        "TargetResponseTime_p50": q(0.5),
        "TargetResponseTime_p90": q(0.9),
        "TargetResponseTime_p99": q(0.99),
        "utilisation": np.where(has, rho_m, np.nan),
        "queue_wait_s": np.where(has, wait_m, np.nan),
    }


def good_periods(columns: dict[str, np.ndarray], p99_ms: float, error_rate: float) -> np.ndarray:
    """Periods whose p99 and error rate meet the SLO (a period with no request is good)."""
    requests = np.nan_to_num(columns["RequestCount"])
    failed = columns["failed"]
    if "HTTPCode_Target_5XX_Count" in columns:  # a release failing requests
        failed = failed + np.nan_to_num(columns["HTTPCode_Target_5XX_Count"])
    p99 = columns["TargetResponseTime_p99"]
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(requests > 0, failed / np.maximum(requests, 1e-12), 0.0)
    latency_ok = np.where(np.isnan(p99), requests == 0, p99 * 1000.0 <= p99_ms)
    return (err <= error_rate) & latency_ok


def request_weighted_quantile(
    p: float, columns: dict[str, np.ndarray], model: ServingModel, rho_cap: float
) -> float:
    """Run-level latency percentile over all served requests, in milliseconds."""
    served = np.nan_to_num(columns["served"])
    if served.sum() <= 0:
        return math.nan
    rho = np.clip(np.nan_to_num(columns["utilisation"]), 0.0, rho_cap)
    shift = np.nan_to_num(columns["queue_wait_s"])
    return 1000.0 * mixture_quantile(
        p, served, shift, rho, model.workers, model.mu, tol=1e-5, limit=model.timeout
    )
