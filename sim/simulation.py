"""Wiring: the model of one scenario: traffic, the service and its target groups
(sim/service.py, where traffic splits between revisions), the scheduler, faults, billing, the
event log, metrics and the decisions table. A policy drives it through the backend
(backends/sim.py, ``run_simulation``): this module imports neither backends/ nor the policy
registry.

The scenario seed spawns one independent generator per random source (DESIGN.md convention
5): traffic shape, arrivals, start latency, crashes, AZ outages, Spot interruptions, policy,
CloudWatch's alarm evaluation phase (backends/sim.py), releases (sim/releases.py), human
approvals and staging draws (backends/sim_pipeline.py, sim/staging.py). A stream
added at the end leaves the others unchanged (``SeedSequence.spawn`` children are numbered),
so a scenario without releases gives the same result as before the releases stream existed.

Releases: with a ``[releases]`` section that schedules any, the run's releases are drawn at
construction (``self.releases``) and their hidden truth acts on the revisions they deploy
(sim/revisions.py); the rollout driver (backends/sim_rollout.py) deploys them. Without one,
nothing is drawn and no hook runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim import metrics as metric_store
from sim import tasks as lc
from sim.decisions import DECISION_COLUMNS, DecisionLog
from sim.decisions import OBSERVED_COLUMNS as OBSERVED_COLUMNS
from sim.fargate import billed_seconds
from sim.faults import Faults
from sim.metrics import (
    MetricStore,
    ServingModel,
    good_periods,
    max_utilisation_for_p99,
    request_weighted_quantile,
)
from sim.queueing import MMkTable
from sim.releases import Release, generate_releases
from sim.revisions import ReleaseEffects
from sim.scenario import Scenario
from sim.scheduler import Scheduler
from sim.service import Service
from sim.steps import PeriodIntegral, StepSeries
from sim.traffic.rates import ArrivalStream, build_rate
from sim.window import TickWindow

#: Random sources, in the order their generators are spawned from the scenario seed.
STREAMS = (
    "traffic",
    "arrivals",
    "start",
    "crash",
    "az",
    "spot",
    "policy",
    "cloudwatch",
    "releases",
    "approvals",  # human approval delays and reviewer catches, staging coverage draws
)

#: Cap on utilisation for the stationary latency formulas (sim/queueing.py, MMkTable).
RHO_CAP = 0.99


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per random source, spawned from the scenario seed."""
    seeds = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, seeds, strict=True)}


def serving_model(scenario: Scenario) -> ServingModel:
    """The per-task queue of a scenario's service (sim/serving.py, sim/metrics.py)."""
    svc = scenario.service
    return ServingModel(
        capacity_rps=svc.capacity_rps,
        workers=svc.workers_per_task,
        tick=scenario.run.tick,
        idle_cpu=svc.idle_cpu,
        memory_base=svc.memory_base,
        memory_per_cpu=svc.memory_per_cpu,
        timeout=svc.request_timeout,
    )


def slo_utilisation(scenario: Scenario) -> float:
    """The highest per-task utilisation whose p99 meets the scenario's SLO."""
    return max_utilisation_for_p99(serving_model(scenario), scenario.slo.p99_ms / 1000.0, RHO_CAP)


def _no_decisions() -> pd.DataFrame:
    return pd.DataFrame({name: [] for name in DECISION_COLUMNS})


@dataclass
class RunResult:
    """Metrics per period, the event log, the decisions and the summary of one run."""

    metrics: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    scenario: Scenario | None = field(default=None, repr=False)
    decisions: pd.DataFrame = field(default_factory=_no_decisions)
    #: One row per (period, target group): the ALB metrics by target group (sim/service.py).
    target_groups: pd.DataFrame | None = None
    #: One row per release (backends/sim_rollout.py, RELEASE_COLUMNS); None without releases.
    releases: pd.DataFrame | None = None

    def write(self, out: str | Path) -> Path:
        """Write metrics.parquet, events.parquet, decisions.parquet, target_groups.parquet,
        releases.parquet (runs with releases) and summary.json into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.metrics.to_parquet(out / "metrics.parquet", index=False)
        self.events.to_parquet(out / "events.parquet", index=False)
        self.decisions.to_parquet(out / "decisions.parquet", index=False)
        if self.target_groups is not None:
            self.target_groups.to_parquet(out / "target_groups.parquet", index=False)
        if self.releases is not None:
            self.releases.to_parquet(out / "releases.parquet", index=False)
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n")
        return out


class Simulation:
    """A Fargate service on SimPy, its traffic and its faults.

    ``rate`` (requests/s per tick) overrides the scenario's traffic (used by tests and by
    sweeps that share one trace).
    """

    def __init__(self, scenario: Scenario, *, rate: np.ndarray | None = None) -> None:
        self.scenario = sc = scenario
        self.env = simpy.Environment()
        self.rng = random_streams(sc.run.seed)
        run, svc = sc.run, sc.service
        self.tick = run.tick
        self.n_ticks = sc.n_ticks
        if rate is None:
            base_dir = Path(sc.base_dir) if sc.base_dir else None
            rate = build_rate(
                sc.traffic,
                run.duration,
                run.tick,
                self.rng["traffic"],
                base_dir=base_dir,
            )
        rate = np.asarray(rate, dtype=float)
        if len(rate) != self.n_ticks:
            raise ValueError(f"rate has {len(rate)} ticks, the scenario needs {self.n_ticks}")
        # The rate is kept whole: a policy's future-load view reads it to the end of the run
        # (backends/sim.py) and the metric store's prefix sums are taken from it up front.
        # The arrivals are drawn chunk by chunk as the fluid reaches them (sim/window.py).
        self.rate = rate
        self.stream = ArrivalStream(rate, run.tick, self.rng["arrivals"], sc.traffic.arrivals)
        self.size = svc.task_size
        self.model = serving_model(sc)
        self.table = MMkTable(self.model.workers, rho_max=RHO_CAP)
        self.rho_slo = slo_utilisation(sc)
        self.tpp = int(round(run.metrics_period / run.tick))
        n_periods = math.ceil(self.n_ticks / self.tpp)
        # The target groups (one per revision) and the load balancer's split: sim/service.py.
        self.service = Service(
            self.stream,
            rate,
            self.model,
            self.table,
            periods=(n_periods, float(run.metrics_period), self.tpp),
            rho_slo=self.rho_slo,
            now_tick=lambda: self.tick_of(self.env.now),
            log=self.log,
        )
        self.service.on_split = self._rewire_store
        # Task counts as change points, read per period (sim/steps.py): no per-tick array.
        self.running = StepSeries(self.n_ticks)
        self.pending = StepSeries(self.n_ticks)
        self.desired_steps = StepSeries(self.n_ticks)
        # Tasks whose containers run and whose CPU the service metric averages: RUNNING and
        # DEACTIVATING (sim/metrics.py, count_columns).
        self.reporting = StepSeries(self.n_ticks)
        # Billed tasks (image pull started, not yet STOPPED), integrated exactly per tick and
        # kept per period (sim/steps.py).
        self.billed = PeriodIntegral(self.n_ticks, run.tick, self.tpp)
        # Service-level metrics (ECS per service; ALB columns over all target groups).
        self._ticks = self._tick_arrays()
        self.store = MetricStore(
            n_periods,
            float(run.metrics_period),
            self.tpp,
            self.model,
            self.table,
            self.rho_slo,
            self._ticks,
        )
        self.service.service_store = self.store
        self.stream.listeners.append(self.store.arrival_edges.add)
        self.fluid.on_chunk = self._chunk_done
        self.min_tasks, self.max_tasks = svc.min_tasks, svc.max_tasks
        self.times = lc.LifecycleTimes(
            provisioning=svc.provisioning,
            pull_mean=svc.image_size_mb / svc.pull_mbps,
            pull_jitter=svc.pull_jitter,
            container_start=svc.container_start,
            health_check_min=svc.health_check_interval * (svc.healthy_threshold - 1),
            health_check_phase=svc.health_check_interval,
            deregistration_delay=svc.deregistration_delay,
            stop_duration=svc.stop_duration,
            deprovisioning=svc.deprovisioning,
        )
        self._events: list[tuple] = []
        self._decisions = DecisionLog()
        self._next_id = 0
        self._warm = False
        self.n_running = 0
        self.n_pending = 0
        self.n_reporting = 0
        self.n_billed = 0
        self.cost_on_demand = 0.0
        self.cost_spot = 0.0
        self.billed_task_seconds = 0.0
        self.scaling_actions = 0
        self.all_tasks: list[lc.Task] = []
        self.scheduler = Scheduler(
            self.env,
            azs=svc.azs,
            providers=[(p.name, p.base, p.weight) for p in svc.capacity_providers],
            vcpu_per_task=self.size.vcpu,
            launch_rate_per_minute=svc.launch_rate_per_minute,
            account_burst=svc.account_burst,
            account_rate=svc.account_rate,
            vcpu_quota=svc.vcpu_quota,
            retry=svc.scheduler_retry,
            rebalancing=svc.az_rebalancing,
            launch=self._launch,
            stop=self._stop,
            log=self.log,
        )
        self.service.scheduler = self.scheduler
        self.faults = Faults(
            self.env,
            sc.faults,
            self.scheduler,
            crash_rng=self.rng["crash"],
            az_rng=self.rng["az"],
            spot_rng=self.rng["spot"],
            stop_duration=svc.stop_duration,
            log=self.log,
            duration=run.duration,
        )
        # Releases and their effects: drawn only when the scenario schedules some.
        rel = sc.releases
        self.releases: list[Release] = []
        self.effects: ReleaseEffects | None = None
        if rel.explicit or rel.per_day > 0:
            drawn = generate_releases(rel, run.duration, self.rng["releases"])
            self.releases = [r for r in drawn if r.at_s < run.duration]
            self.effects = ReleaseEffects(self.env, self.service, self.faults.crash)
        #: Called after every change of the desired count (a rollout recomputes its counts).
        self.desired_listeners: list[Callable[[], None]] = []
        # Warm start: the initial tasks are RUNNING and serving at time 0.
        self._warm = True
        self.scheduler.desired = svc.initial_tasks
        self.desired_steps.set(0, svc.initial_tasks)
        self.scheduler.place_warm(svc.initial_tasks)
        self._warm = False
        self.faults.start()

    # -- time ---------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    @property
    def fluid(self):
        """The service-level tick arrays (arrivals, served, failed, late, backlog,
        n_serving): the one target group's fluid server, or their sum (sim/service.py)."""
        return self.service.fleet

    @property
    def arrivals(self) -> TickWindow:
        """The service's arrivals per tick (a window: sim/window.py)."""
        return self.stream.values

    @property
    def n_serving(self) -> int:
        """Healthy (serving) tasks of the service, every revision."""
        return self.service.n_serving

    @property
    def target_5xx(self) -> TickWindow:
        return self.service.target_5xx

    def tick_of(self, t: float) -> int:
        return min(self.n_ticks, int(math.floor(t / self.tick + 1e-9)))

    # -- event log ----------------------------------------------------------------------
    def log(self, event: str, reason: str, task: lc.Task | None = None) -> None:
        if task is None:
            self._events.append((self.env.now, -1, "", 0, "", event, reason))
        else:
            self._events.append(
                (self.env.now, task.id, task.az, task.revision, task.provider, event, reason)
            )

    # -- scheduler callbacks ------------------------------------------------------------
    def _launch(self, az: str, provider: str, rebalance: bool, revision: int) -> lc.Task:
        task = lc.Task(
            id=self._next_id,
            az=az,
            provider=provider,
            revision=revision,
            launched_at=self.env.now,
            rebalance=rebalance,
        )
        self._next_id += 1
        self.all_tasks.append(task)
        if self.effects is not None:
            self.effects.launched(task)
        if self._warm:  # the lifecycle logs RUNNING and HEALTHY at time 0
            task.state = lc.RUNNING
            self._count(None, lc.RUNNING)
        else:
            self._count(None, lc.PROVISIONING)
            self.log(lc.PROVISIONING, "rebalance" if rebalance else "service scheduler", task)
        task.process = self.env.process(
            lc.lifecycle(self.env, task, self.times, self, self.rng["start"], warm=self._warm)
        )
        self.faults.task_launched(task)
        return task

    def _stop(self, task: lc.Task, reason: str) -> None:
        lc.request_stop(task, lc.StopRequest(reason))

    # -- lifecycle hooks (sim.tasks.Hooks) ---------------------------------------------
    def _count(self, old: str | None, new: str) -> None:
        tick = self.tick_of(self.env.now)
        starting = lc.STARTING_STATES
        if old == lc.RUNNING:
            self.n_running -= 1
        if new == lc.RUNNING:
            self.n_running += 1
        reporting = (lc.RUNNING, lc.DEACTIVATING)
        if old in reporting and new not in reporting:
            self.n_reporting -= 1
        if new in reporting and old not in reporting:
            self.n_reporting += 1
        self.reporting.set(tick, self.n_reporting)
        if old in starting and new not in starting:
            self.n_pending -= 1
        if new in starting and old not in starting:
            self.n_pending += 1
        self.running.set(tick, self.n_running)
        self.pending.set(tick, self.n_pending)

    def transition(self, task: lc.Task, old: str, new: str, reason: str) -> None:
        if old != new:
            self._count(old, new)
        if new == lc.ACTIVATING or (new == lc.RUNNING and old == new):  # pull, or warm
            self.n_billed += 1
            self.billed.set(self.env.now, self.n_billed)
        self.log(new, reason, task)
        if new == lc.RUNNING and not task.stop_requested:
            self.faults.task_running(task)

    def set_serving(self, task: lc.Task, serving: bool, reason: str) -> None:
        if task.serving == serving:
            return
        self.service.set_serving(task.revision, serving, task.crashed)
        task.serving = serving
        self.log(lc.HEALTHY if serving else lc.DEREGISTERED, reason, task)
        if serving:
            self.scheduler.task_healthy(task)
            if self.effects is not None:
                self.effects.serving(task)

    def start_failed(self, task: lc.Task) -> None:
        """A task's essential container exited before RUNNING (a crash-looping release):
        counted for the circuit breaker; the scheduler launches a replacement."""
        if self.effects is not None:
            self.effects.start_failed(task)
        self.scheduler.task_lost(task)

    def stopped(self, task: lc.Task) -> None:
        if task.billing_start is not None:
            self.n_billed -= 1
            self.billed.set(self.env.now, self.n_billed)
        self._bill(task, self.env.now, minimum=True)
        self.scheduler.task_stopped(task)

    def _bill(self, task: lc.Task, until: float, minimum: bool) -> None:
        """Bill a task from its image pull to ``until``: rounded up to the whole second and,
        for a task that stopped, at least the one-minute minimum (sim/fargate.py,
        billed_seconds). A task still running at the end of the run is billed to the end
        without the minimum (the run is cut, not the task)."""
        if task.billing_start is None:
            return
        if minimum:
            seconds = billed_seconds(task.billing_start, until)
        else:
            seconds = billed_seconds(task.billing_start, until, minimum=0.0)
        price = self.size.price_per_second(task.spot, self.scenario.service.spot_discount)
        if task.spot:
            self.cost_spot += seconds * price
        else:
            self.cost_on_demand += seconds * price
        self.billed_task_seconds += seconds
        task.billing_start = None

    # -- the backend's view ---------------------------------------------------------------
    def set_desired(self, n: int, reason: str) -> None:
        n = max(self.min_tasks, min(self.max_tasks, int(n)))
        if n == self.scheduler.desired:
            return
        self.log("SCALE", f"desired {self.scheduler.desired} -> {n}: {reason}")
        self.scaling_actions += 1
        self.desired_steps.set(self.tick_of(self.env.now), n)
        self.scheduler.set_desired(n)
        for listener in self.desired_listeners:
            listener()

    def deploy_release(self, revision: int, release: Release, reason: str = "") -> None:
        """Start ``revision`` carrying ``release``: its target group (with a serving model of
        its own when the release is slower), no task yet, and the release's hidden effects
        (sim/revisions.py). Its task count and traffic are the rollout's to set."""
        if self.effects is None:
            self.effects = ReleaseEffects(self.env, self.service, self.faults.crash)
        model = self.effects.model_for(release, self.model)
        self.service.deploy(revision, 0, reason, model=model)
        self.effects.deployed(revision, release)

    def set_range(self, lo: int | None, hi: int | None, reason: str) -> None:
        if lo is not None:
            self.min_tasks = lo
        if hi is not None:
            self.max_tasks = hi
        if self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks {self.min_tasks} above max_tasks {self.max_tasks}")
        self.log("RANGE", f"[{self.min_tasks}, {self.max_tasks}]: {reason}")
        desired = self.scheduler.desired
        if not self.min_tasks <= desired <= self.max_tasks:
            self.set_desired(desired, f"pushed into [{self.min_tasks}, {self.max_tasks}]")

    def sync(self) -> None:
        """Bring the fluid, counters and metric periods up to the current tick."""
        tick = self.tick_of(self.env.now)
        self.service.advance(tick)
        for steps in (self.running, self.pending, self.desired_steps, self.reporting):
            steps.fill(tick)
        self._consume(forced=False)

    def _chunk_done(self, tick: int) -> None:
        """A long fluid stretch computed ticks up to ``tick`` (sim/serving.py): the metric
        periods read them now, so that the windows can move on."""
        self._consume(forced=True)

    def _consume(self, *, forced: bool) -> None:
        """Fill the metric periods the fluid has completed, run the latency pass once a
        block of them is complete, and retire the ticks every reader is done with."""
        done = self.fluid.pos // self.tpp
        store = self.store
        if done > store.done:  # the billed integral is read only for whole periods
            self.billed.fill(done * self.tpp * self.tick)
        store.fill(done, forced=forced)
        split = self.service.split
        # The latency pass runs a block at a time (a day of ticks: sim/metrics.py).
        block = max(1, metric_store.LATENCY_BLOCK_TICKS // self.tpp)
        if not (split or forced or store.done - store.latency_done >= block):
            return  # the common case: nothing to compute, nothing more to retire
        if split:
            self.service.fill(done, forced=forced)
        stores = [store, *self.service.stores()] if split else [store]
        moved = forced
        for store in stores:
            if store.done - store.latency_done >= block:
                store.ensure_latency(store.done)
                moved = True
        if not moved or (self.releases and not split):
            # The mark follows the latency pass: nothing more to retire since it last ran.
            # Or the first target group's metrics will read the ticks from 0 on.
            return
        mark = min(store.latency_done for store in stores) * self.tpp
        positions = [self.fluid.pos, *(g.fluid.pos for g in self.service.groups.values())]
        mark = min(mark, *positions) - 1  # the backlog before a period, the last tick
        for w in self.service.windows():
            w.retire(mark)

    def _rewire_store(self) -> None:
        """A second revision started: the service's ALB columns now read the sums over
        target groups (sim/service.py, Fleet) from the tick they start."""
        fleet = self.service.fleet
        for name in ("served", "failed", "late", "backlog", "n_serving", "target_5xx"):
            self._ticks[name] = getattr(fleet, name)

    def _tick_arrays(self) -> dict[str, Any]:
        """The per-tick arrays the metric store reads (shared, not copied), and the series
        that change only at events (sim/steps.py)."""
        f = self.fluid
        return {
            "arrivals": self.arrivals,
            "served": f.served,
            "failed": f.failed,
            "late": f.late,
            "backlog": f.backlog,
            "n_serving": f.n_serving,
            "rate": self.rate,
            "running": self.running,
            "reporting": self.reporting,
            "billed": self.billed,
            "pending": self.pending,
            "desired": self.desired_steps,
            "target_5xx": self.target_5xx,
        }

    # -- run ----------------------------------------------------------------------------
    # The controller loop that drives a policy through this model lives with the backends
    # (backends/sim.py, run_simulation): the model never imports upward.
    def finish(self) -> RunResult:
        end = self.scenario.run.duration
        self.service.close()
        for steps in (self.running, self.pending, self.desired_steps, self.reporting):
            steps.fill(self.n_ticks)
        self.billed.fill(end)
        self.store.fill(self.store.n_periods)
        self.store.ensure_latency(self.store.n_periods)
        self.service.fill(self.store.n_periods)
        for task in self.all_tasks:
            if task.billing_start is not None:
                self._bill(task, end, minimum=False)
        return RunResult(
            self._metrics_frame(),
            self._events_frame(),
            self._summary(),
            self.scenario,
            decisions=self._decisions_frame(),
            target_groups=self.service.target_groups_frame(),
        )

    def _metrics_frame(self) -> pd.DataFrame:
        """The metric store's columns as a table, without a second copy of them (a year of
        periods is about 0.1 GiB). The store is done with them: nothing reads it after the
        run, so a write into the table reaching its arrays changes nothing else."""
        cols = self.store.columns
        df = pd.DataFrame({"time_s": self.store.start, **cols}, copy=False)
        df["good"] = good_periods(cols, self.scenario.slo.p99_ms, self.scenario.slo.error_rate)
        return df

    def _events_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(
            self._events,
            columns=["time_s", "task", "az", "revision", "provider", "event", "reason"],
        )
        return df.astype({"time_s": float, "task": "int64", "revision": "int64"})

    # -- decisions ------------------------------------------------------------------------
    def record_decision(self, record: Any) -> None:
        """Keep one controller round (backends.base.DecisionRecord) as a row."""
        self._decisions.append(record)

    def _decisions_frame(self) -> pd.DataFrame:
        return self._decisions.frame()

    def _summary(self) -> dict[str, Any]:
        cols = self.store.columns
        # Whole-run totals from the per-period sums, summed exactly (math.fsum): the same
        # bits whatever the chunks the ticks were computed in.
        total = math.fsum(np.nan_to_num(cols["RequestCount"]))
        # ELB 5xx (timeouts, no healthy target) plus target 5xx (a release failing requests).
        failed = math.fsum(cols["failed"]) + math.fsum(cols["HTTPCode_Target_5XX_Count"])
        good = good_periods(cols, self.scenario.slo.p99_ms, self.scenario.slo.error_rate)
        hours = self.billed_task_seconds / 3600.0
        return {
            "cost_usd": round(self.cost_on_demand + self.cost_spot, 6),
            "cost_on_demand_usd": round(self.cost_on_demand, 6),
            "cost_spot_usd": round(self.cost_spot, 6),
            "task_hours": hours,
            "vcpu_hours": hours * self.size.vcpu,
            "requests_total": total,
            "requests_failed": failed,
            "availability": 1.0 - failed / total if total > 0 else 1.0,
            "latency_p50_ms": request_weighted_quantile(0.5, cols, self.model, RHO_CAP),
            "latency_p99_ms": request_weighted_quantile(0.99, cols, self.model, RHO_CAP),
            "good_minutes_fraction": float(good.mean()) if len(good) else 1.0,
            "scaling_actions": self.scaling_actions,
        }
