"""The service: one target group per revision, and where the load balancer splits traffic.

A service runs one or more revisions (task definition revisions) at once: during a rollout,
blue and green, a canary and its baseline. As on AWS, each revision's tasks register with a
target group of their own, behind one ALB listener (DESIGN.md, "Revisions and traffic
splitting"). A :class:`TargetGroup` holds its revision's serving count, its fluid server
(sim/serving.py), its tick arrays and its ALB metrics (RequestCount,
HTTPCode_Target_5XX_Count, TargetResponseTime by target group, as the ALB publishes them with
the ``TargetGroup`` dimension:
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
ECS service metrics (CPU, memory, task counts) stay per service (sim/simulation.py).

**Where traffic splits between revisions:** :meth:`Service.split_arrivals`, the one place.
The listener forwards each tick's arrivals either

* by **listener weights** (``set_weights``: blue/green, canary, linear; the ALB's weighted
  target groups, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#rule-action-types),
  each target group getting ``weight / sum(weights)`` of the requests; or
* by **share of healthy tasks** (no weights set: a rolling update, where old and new tasks
  sit behind the listener together and round robin gives each healthy task the same share).

Traffic is a fluid, so the split is exact (a 90/10 split gives 90% and 10% of every tick's
requests), and requests are conserved: the target groups' arrivals sum to the service's.
A target group given traffic while it has no healthy task fails those requests (ELB 5xx),
as the fluid does for a service with no serving task.

With one target group (every run until a second revision starts) the service's tick arrays
*are* that target group's: no copy, no extra work. Starting a second revision gives every
target group its own arrival and rate windows from then on (before it, they read as the
service's), keeps the service-level arrays as the sum over target groups (:class:`Fleet`),
and opens a metric store per target group. Every per-tick array is a window of recent ticks
(sim/window.py), retired once the metric stores have read them (sim/simulation.py).
Service-level latency with several target groups is computed from the pooled fleet (every
serving task at the fleet's mean load), an approximation when the target groups' loads per
task differ; the per-target-group latency is exact under the model.

``HTTPCode_Target_5XX_Count``: a target group whose revision answers a share of its requests
with errors (a bad release, sim/revisions.py: :meth:`Service.set_error_share`) counts that
share of the requests it serves as target 5xx, per tick; zero otherwise. A revision whose
service time is slower (a ``latency`` release) gets a serving model of its own
(``deploy(..., model=...)``).

Rollout strategies act through :meth:`Service.deploy`, :meth:`Service.scale_revision`,
:meth:`Service.set_weights` and :meth:`Service.promote` (the driver: backends/sim_rollout.py);
canary analysis reads :meth:`Service.target_group_history`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from policies.contract import MetricHistory
from sim.metrics import MetricStore, ServingModel
from sim.queueing import MMkTable
from sim.serving import FluidServer, LateRequests
from sim.steps import ZeroSeries
from sim.window import TickWindow

#: Columns of the per-target-group table: the ALB metrics with the ``TargetGroup`` dimension
#: (CloudWatch names) and the model's served, failed and backlog per target group.
TARGET_GROUP_COLUMNS: tuple[str, ...] = (
    "RequestCount",
    "RequestCountPerTarget",
    "HealthyHostCount",
    "HTTPCode_Target_5XX_Count",
    "TargetResponseTime",
    "TargetResponseTime_p50",
    "TargetResponseTime_p90",
    "TargetResponseTime_p99",
    "rate_rps",
    "served",
    "failed",
    "backlog",
)

#: The per-tick arrays that the fluid fills, summed over target groups for the service.
_FLUID_ARRAYS = ("served", "failed", "late", "backlog", "n_serving")


def target_group_name(revision: int) -> str:
    """The target group's name in tables and events (one target group per revision)."""
    return f"tg-rev{revision}"


class TargetGroup:
    """One revision's target group: serving tasks, fluid server, tick arrays, ALB metrics."""

    def __init__(
        self,
        revision: int,
        arrivals: Any,
        rate: np.ndarray | TickWindow,
        model: ServingModel,
        table: MMkTable,
        *,
        start: int = 0,
    ) -> None:
        self.revision = revision
        self.name = target_group_name(revision)
        self.model = model
        self.rate = rate
        self.late = LateRequests(table, rate, model.capacity_rps, model.timeout)
        self.fluid = FluidServer(
            arrivals, model.tick, model.capacity_rps, model.timeout, late=self.late, start=start
        )
        #: Per-tick arrivals: the service's (a window of the arrival stream), or this target
        #: group's share once the service splits.
        self.arrivals = self.fluid.arrivals
        #: Application (target) 5xx per tick: ``error_share`` of the requests served.
        self.target_5xx = TickWindow(len(self.arrivals), start=start)
        #: Share of served requests the revision answers with a 5xx (a bad release).
        self.error_share = 0.0
        #: Healthy (serving) tasks now.
        self.n_serving = 0
        #: Listener weight (used when the service splits by weights).
        self.weight = 0.0
        self.store: MetricStore | None = None

    def own_inputs(self, tick: int) -> None:
        """Give this target group arrival and rate windows of its own from ``tick`` on (the
        split writes them); before it they read as the service's."""
        n = len(self.arrivals)
        self.arrivals = TickWindow(n, start=tick, before=self.arrivals)
        self.rate = TickWindow(n, start=tick, before=self.rate)
        self.fluid.arrivals = self.arrivals
        self.fluid.source = None
        self.late.rate = self.rate

    def windows(self) -> list[TickWindow]:
        """This target group's per-tick windows."""
        out = [*self.fluid.windows(), self.target_5xx]
        return out + [w for w in (self.arrivals, self.rate) if isinstance(w, TickWindow)]

    def ticks(self, zeros: ZeroSeries) -> dict[str, np.ndarray | ZeroSeries]:
        """The tick arrays a metric store reads; ECS-only inputs are ``zeros``."""
        f = self.fluid
        return {
            "arrivals": self.arrivals,
            "served": f.served,
            "failed": f.failed,
            "late": f.late,
            "backlog": f.backlog,
            "n_serving": f.n_serving,
            "rate": self.rate,
            "target_5xx": self.target_5xx,
            "running": zeros,
            "reporting": zeros,
            "pending": zeros,
            "desired": zeros,
            "billed": zeros,
        }


class Fleet:
    """The service-level tick arrays once there are several target groups: the total
    arrivals and, per tick, the sum over target groups of what their fluids computed."""

    def __init__(self, arrivals: TickWindow, first: TargetGroup) -> None:
        self.arrivals = arrivals
        for name in _FLUID_ARRAYS:
            setattr(self, name, TickWindow.holding(getattr(first.fluid, name)))
        self.target_5xx = TickWindow.holding(first.target_5xx)
        self.pos = first.fluid.pos

    def windows(self) -> list[TickWindow]:
        return [getattr(self, name) for name in (*_FLUID_ARRAYS, "target_5xx")]


class Service:
    """The service's target groups (one per revision) and the listener that splits arrivals.

    ``arrivals`` (an :class:`~sim.traffic.rates.ArrivalStream`, drawn as the run goes) and
    ``rate`` are the service's per-tick requests and rate; the first target group
    (``revision``) starts with them, uncopied. ``now_tick`` gives the current tick and
    ``log(event, reason)`` writes a service event. The simulation attaches the scheduler
    (``service.scheduler``) once it exists: revisions' task counts go through it.
    """

    def __init__(
        self,
        arrivals: Any,
        rate: np.ndarray,
        model: ServingModel,
        table: MMkTable,
        *,
        periods: tuple[int, float, int],
        rho_slo: float,
        now_tick: Callable[[], int],
        log: Callable[[str, str], None],
        revision: int = 1,
    ) -> None:
        self.stream = arrivals
        self.arrivals = arrivals.values
        self.rate = rate
        self.model = model
        self.table = table
        self.periods = periods  # (n_periods, period_s, ticks per period)
        self.rho_slo = rho_slo
        self.now_tick = now_tick
        self.log = log
        self.n_ticks = len(arrivals)
        first = TargetGroup(revision, arrivals, rate, model, table)
        first.weight = 100.0
        self.groups: dict[int, TargetGroup] = {revision: first}
        #: Listener weights by revision; None: split by share of healthy tasks (rolling).
        self.weights: dict[int, float] | None = None
        #: The service-level tick arrays: the single target group's fluid, or a Fleet sum.
        self.fleet: FluidServer | Fleet = first.fluid
        self.split = False
        self.n_serving = 0
        self.scheduler = None  # attached by the simulation
        self.on_split: Callable[[], None] | None = None  # the simulation rewires its store
        #: The service-level metric store (attached by the simulation): with one target
        #: group, its ALB columns are that target group's.
        self.service_store: MetricStore | None = None

    # -- state --------------------------------------------------------------------------
    @property
    def pos(self) -> int:
        """First tick not yet computed."""
        return self.fleet.pos

    @property
    def revisions(self) -> list[int]:
        return list(self.groups)

    @property
    def target_5xx(self) -> np.ndarray:
        """The service's target 5xx per tick (summed over target groups)."""
        if self.split:
            return self.fleet.target_5xx
        return next(iter(self.groups.values())).target_5xx

    def shares(self) -> dict[int, float]:
        """The share of arrivals each target group gets now (sums to 1)."""
        groups = self.groups
        if len(groups) == 1:
            return {rev: 1.0 for rev in groups}
        if self.weights is not None:
            basis = {rev: self.weights.get(rev, 0.0) for rev in groups}
        else:
            basis = {rev: float(g.n_serving) for rev, g in groups.items()}
        total = sum(basis.values())
        if total <= 0:  # nothing to weigh by: the newest-first order is irrelevant, all fail
            basis = {rev: 1.0 for rev in groups}
            total = float(len(groups))
        return {rev: value / total for rev, value in basis.items()}

    # -- the split ------------------------------------------------------------------------
    def split_arrivals(self, lo: int, hi: int) -> None:
        """Where traffic splits between revisions: give each target group its share of the
        service's arrivals (and rate) in ticks [lo, hi), during which the shares are fixed
        (every change of weights or, in a rolling split, of healthy tasks first advances the
        fluid to its tick). The last target group gets the remainder, so the shares sum to
        the service's arrivals exactly."""
        shares = list(self.shares().items())
        self.stream.ensure(hi)
        total_a = self.arrivals[lo:hi]
        total_r = self.rate[lo:hi]
        left_a = total_a.copy()
        left_r = total_r.copy()
        for rev, share in shares[:-1]:
            group = self.groups[rev]
            arrivals = group.arrivals.span(lo, hi)
            rate = group.rate.span(lo, hi)
            arrivals[:] = total_a * share
            rate[:] = total_r * share
            left_a -= arrivals
            left_r -= rate
        last = self.groups[shares[-1][0]]
        last.arrivals.span(lo, hi)[:] = np.maximum(left_a, 0.0)
        last.rate.span(lo, hi)[:] = np.maximum(left_r, 0.0)

    def advance(self, tick: int) -> None:
        """Compute every target group's ticks up to ``tick`` (and the service's sums)."""
        tick = min(tick, self.n_ticks)
        if not self.split:
            self.fleet.advance(tick)
            return
        lo = self.fleet.pos
        if tick <= lo:
            return
        self.split_arrivals(lo, tick)
        for group in self.groups.values():
            group.fluid.advance(tick)
            if group.error_share > 0:
                served = group.fluid.served[lo:tick]
                group.target_5xx.span(lo, tick)[:] = served * group.error_share
        self._sum(lo, tick)

    def _sum(self, lo: int, hi: int) -> None:
        fleet = self.fleet
        groups = list(self.groups.values())
        for name in _FLUID_ARRAYS:
            out = getattr(fleet, name).span(lo, hi)
            out[:] = getattr(groups[0].fluid, name)[lo:hi]
            for g in groups[1:]:
                out += getattr(g.fluid, name)[lo:hi]
        fleet.target_5xx.span(lo, hi)[:] = sum(g.target_5xx[lo:hi] for g in groups)
        fleet.pos = hi

    def close(self) -> None:
        """Compute the remaining ticks; pending failures go into the last tick."""
        self.advance(self.n_ticks)
        for group in self.groups.values():
            group.fluid.close()
        if self.split and self.n_ticks:
            self._sum(self.n_ticks - 1, self.n_ticks)

    # -- tasks ----------------------------------------------------------------------------
    def set_serving(self, revision: int, serving: bool, crashed: bool) -> None:
        """A task of ``revision`` joins (or leaves) its target group's healthy targets; a
        crashed one loses its share of the target group's backlog."""
        tick = self.now_tick()
        self.advance(tick)
        group = self.groups[revision]
        if not serving and group.n_serving > 0 and crashed:
            group.fluid.lose_inflight(1.0 / group.n_serving, tick)
        group.n_serving += 1 if serving else -1
        self.n_serving += 1 if serving else -1
        group.fluid.set_serving(group.n_serving, tick)

    # -- what a rollout drives --------------------------------------------------------------
    def deploy(
        self, revision: int, tasks: int, reason: str = "", model: ServingModel | None = None
    ) -> TargetGroup:
        """Start ``revision``: a target group of its own (listener weight 0 until
        :meth:`set_weights` says otherwise) and ``tasks`` tasks of it, beside the primary
        revision's desired count (an ECS task set). ``model``: the revision's serving model
        when it differs from the service's (a slower release)."""
        if revision in self.groups:
            raise ValueError(f"revision {revision} already has a target group")
        tick = self.now_tick()
        self.advance(tick)
        if not self.split:
            self._start_split()
        # Nothing arrived before it existed: its windows start at ``tick``, zero before.
        group = TargetGroup(
            revision,
            TickWindow(self.n_ticks, start=tick),
            TickWindow(self.n_ticks, start=tick),
            self.model if model is None else model,
            self.table,
            start=tick,
        )
        self.groups[revision] = group
        group.store = self._store(group)
        self.log(
            "DEPLOY", f"revision {revision}: {group.name}, {tasks} tasks: {reason}".rstrip(": ")
        )
        self.scale_revision(revision, tasks, reason)
        return group

    def scale_revision(self, revision: int, tasks: int | None, reason: str = "") -> None:
        """Keep ``tasks`` tasks of ``revision``: a non-primary revision's task set count, or,
        for the primary revision, a hold on its count during a rollout (None: back to the
        service's desired count)."""
        if revision not in self.groups:
            raise ValueError(f"revision {revision} has no target group")
        if revision == self.scheduler.revision:
            self.scheduler.hold_primary(tasks)
            return
        if tasks is None:
            raise ValueError(f"revision {revision} is not primary: give a task count")
        self.scheduler.set_task_set(revision, int(tasks))

    def set_error_share(self, revision: int, share: float, reason: str = "") -> None:
        """From now on ``revision`` answers ``share`` of the requests it serves with a 5xx
        (HTTPCode_Target_5XX_Count of its target group)."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"error share must be in [0, 1], got {share}")
        self.advance(self.now_tick())
        self.groups[revision].error_share = float(share)
        text = f"{target_group_name(revision)} fails {share:.4g} of requests"
        self.log("ERRORS", f"{text}: {reason}".rstrip(": "))

    def set_weights(self, weights: Mapping[int, float] | None, reason: str = "") -> None:
        """Set the listener weights by revision (None: split by share of healthy tasks)."""
        self.advance(self.now_tick())
        if weights is None:
            self.weights = None
            self.log("TRAFFIC", f"by healthy tasks: {reason}".rstrip(": "))
            return
        unknown = set(weights) - set(self.groups)
        if unknown:
            raise ValueError(f"no target group for revision(s) {sorted(unknown)}")
        if any(not (math.isfinite(w) and w >= 0) for w in weights.values()):
            raise ValueError(f"listener weights must be finite and >= 0, got {dict(weights)}")
        self.weights = {rev: float(weights.get(rev, 0.0)) for rev in self.groups}
        for rev, group in self.groups.items():
            group.weight = self.weights[rev]
        text = ", ".join(f"{target_group_name(r)}={w:g}" for r, w in self.weights.items())
        self.log("TRAFFIC", f"weights {text}: {reason}".rstrip(": "))

    def promote(self, revision: int, reason: str = "") -> None:
        """Make ``revision`` the primary one: the service's desired count applies to it; the
        old primary keeps its current tasks as a task set until scaled."""
        self.scheduler.promote(revision)
        self.log("PROMOTE", f"revision {revision} primary: {reason}".rstrip(": "))

    # -- metrics --------------------------------------------------------------------------
    def _start_split(self) -> None:
        first = next(iter(self.groups.values()))
        if first.fluid.served.base > 0:
            raise RuntimeError(
                f"a second revision starts at tick {first.fluid.pos}, but the service's "
                f"ticks before {first.fluid.served.base} are retired: the first target "
                "group's metrics need them (sim/simulation.py keeps them in a run with "
                "releases)"
            )
        self.fleet = Fleet(self.arrivals, first)
        first.own_inputs(first.fluid.pos)
        first.store = self._store(first)
        self.split = True
        if self.on_split is not None:
            self.on_split()

    def _store(self, group: TargetGroup) -> MetricStore:
        n_periods, period_s, tpp = self.periods
        return MetricStore(
            n_periods,
            period_s,
            tpp,
            group.model,
            self.table,
            self.rho_slo,
            group.ticks(ZeroSeries()),
            static_inputs=False,
        )

    def fill(self, done: int, *, forced: bool = False) -> None:
        """Aggregate the target groups' metric periods up to ``done``
        (:meth:`sim.metrics.MetricStore.fill`)."""
        for group in self.groups.values():
            if group.store is not None:
                group.store.fill(done, forced=forced)

    def stores(self) -> list[MetricStore]:
        """The target groups' metric stores (none before a second revision starts)."""
        return [g.store for g in self.groups.values() if g.store is not None]

    def windows(self) -> list[TickWindow]:
        """Every per-tick window of the service: its arrivals, each target group's, and
        the sums over target groups."""
        found = {id(self.arrivals): self.arrivals}
        for group in self.groups.values():
            found.update((id(w), w) for w in group.windows())
        if self.split:
            found.update((id(w), w) for w in self.fleet.windows())
        return list(found.values())

    def target_group_history(self, revision: int, visible: int) -> MetricHistory:
        """What CloudWatch shows of one target group: its first ``visible`` periods, ALB
        columns by target group (with one target group, the service's ALB columns are that
        target group's). The caller applies the publication delay, as for the service's
        metrics (backends/sim.py)."""
        group = self.groups[revision]
        store = group.store if group.store is not None else self.service_store
        return store.history(visible)

    def target_groups_frame(self) -> pd.DataFrame:
        """One row per (period, target group): the ALB columns by target group. With one
        target group the table is built on its store's columns, not a copy of them (pandas
        copies on write, so the tables sharing them stay independent)."""
        frames = []
        for rev, group in self.groups.items():
            store = group.store if group.store is not None else self.service_store
            store.ensure_latency(store.n_periods)
            columns = {name: store.columns[name] for name in TARGET_GROUP_COLUMNS}
            df = pd.DataFrame({"time_s": store.start, **columns}, copy=False)
            df.insert(1, "revision", rev)
            df.insert(2, "TargetGroup", group.name)
            frames.append(df)
        if len(frames) == 1:  # one target group: its periods are in order already
            return frames[0]
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["time_s", "revision"], kind="stable").reset_index(drop=True)
