"""The autoscaling experiment: every autoscaler on the four catalog traces, several seeds.

For each trace (rescaled to a realistic peak) and seed, every policy runs on the same
simulated service. Per run we keep the summary, the slack (provisioned / needed capacity - 1,
time averages of the per-minute supply and demand) and the SPEC Research Group elasticity
metrics (experiments/elasticity.py), with the elastic speedup against static provisioning.
The speedup's baseline is a fixed fleet at the run's mean demand, whose metrics follow from the
demand series alone: a fleet sized for the peak never under-provisions, which makes every
speedup against it 0 (BUNGEE's ratios divide by the baseline's under-provisioning). The table gives means with 95% confidence intervals over seeds
(Student t), and the report answers two questions with paired comparisons over seeds: does the
learned policy save anything against well-tuned target tracking, and how far is each policy
from the oracle.

A seed picks the workload as well as the random streams: seed ``k`` replays the trace window
shifted by ``k x window_step`` days (default one day), so the confidence intervals cover
different days of the same trace, not only Poisson noise around one week. ``window_step = 0``
keeps one window for every seed.

Target tracking is tuned per trace on a seed that is not used for evaluation (``TUNING_SEED``):
the CPU targets in ``TUNING_TARGETS`` are tried and the cheapest whose good-minutes fraction
reaches ``TUNING_GOOD_MINUTES`` is kept (if none does, the one with the most good minutes).
The policies that have a CPU target of their own (step, HPA, predictive's scaling metric) use
the tuned target as well, so that they are compared at the same operating point.

Usage: ``fargate-lab experiment autoscaling [--days 7] [--seeds 5] [--window-step 1] [--out DIR]``.
The report and figure are written by experiments/autoscaling_report.py, the statistics come
from experiments/stats.py.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.elasticity import elastic_speedup, elasticity_from_metrics, elasticity_metrics
from experiments.stats import summarise
from policies.base import BasePolicy

#: Trace windows and the peak each is rescaled to (requests/s). Windows avoid the traces'
#: long gaps; the World Cup window is the first week of the tournament.
TRACES: dict[str, dict[str, Any]] = {
    "nasa": {"start": "1995-07-03T00:00:00", "peak_rps": 2000.0},
    "worldcup98": {"start": "1998-06-10T00:00:00", "peak_rps": 5000.0},
    "aws-elb": {"start": None, "peak_rps": 1000.0},
    "twitter-aapl": {"start": None, "peak_rps": 3000.0},
}

POLICIES: tuple[str, ...] = (
    "static",
    "reactive",
    "target-tracking",
    "step",
    "scheduled",
    "hpa",
    "predictive",
    "learned",
    "oracle",
)

TUNING_SEED = 0
TUNING_TARGETS: tuple[float, ...] = (40.0, 50.0, 60.0, 70.0, 80.0)
TUNING_GOOD_MINUTES = 0.99

#: The service every policy scales: 1 vCPU / 2 GB tasks serving 100 requests/s each.
SERVICE: dict[str, Any] = {
    "cpu": 1024,
    "memory": 2048,
    "min_tasks": 2,
    "max_tasks": 300,
    "capacity_rps": 100.0,
}
SLO: dict[str, Any] = {"p99_ms": 500.0, "error_rate": 0.001}

#: Columns of the results table, each reported as mean and 95% CI half-width.
TABLE_COLUMNS: tuple[str, ...] = (
    "cost_usd",
    "availability",
    "good_minutes_fraction",
    "latency_p99_ms",
    "slack",
    "scaling_actions",
    "accuracy_under",
    "accuracy_over",
    "timeshare_under",
    "timeshare_over",
    "jitter",
    "instability",
    "elastic_speedup",
)


#: Days between the windows of consecutive seeds (see the module docstring).
WINDOW_STEP_DAYS = 1.0


@dataclass(frozen=True)
class RunSpec:
    """One simulation: a trace, a policy (by experiment name), a seed, a duration."""

    trace: str
    policy: str
    seed: int
    days: float
    target: float = 50.0
    window_step: float = WINDOW_STEP_DAYS
    extra: dict[str, Any] = field(default_factory=dict)


def window_start(trace: str, seed: int, window_step: float) -> str | None:
    """ISO start of the window seed ``seed`` replays (None: the trace's first timestamp)."""
    base = TRACES[trace]["start"]
    if window_step == 0:
        return base
    if base is None:
        from sim.traces import load_trace

        base = str(load_trace(trace).start)
    shift = np.timedelta64(int(round(seed * window_step * 86400)), "s")
    return str(np.datetime64(base, "s") + shift)


def scenario_dict(
    trace: str, seed: int, days: float, initial: int = 2, start: str | None = None
) -> dict[str, Any]:
    window = TRACES[trace]
    traffic: dict[str, Any] = {"trace": trace, "peak_rps": window["peak_rps"]}
    if start:
        traffic["start"] = start
    return {
        "name": f"{trace}-seed{seed}",
        "run": {"seed": seed, "duration": days * 86400.0, "tick": 1.0},
        "service": {**SERVICE, "initial_tasks": initial},
        "traffic": traffic,
        "slo": SLO,
    }


def hourly_floor(demand_by_tick: np.ndarray, tick: float, fraction: float = 0.7) -> list[int]:
    """Per hour of day, ``fraction`` of the median demand in that hour over the window: the
    schedule an operator would draw from a week of dashboards (it knows the profile, not
    the day-to-day surprises)."""
    per_hour = int(round(3600 / tick))
    hours = len(demand_by_tick) // per_hour
    if hours == 0:
        return [SERVICE["min_tasks"]] * 24
    by_hour = demand_by_tick[: hours * per_hour].reshape(hours, per_hour).mean(axis=1)
    floors = []
    for h in range(24):
        values = by_hour[h::24]
        level = float(np.median(values)) if len(values) else 0.0
        floors.append(max(SERVICE["min_tasks"], int(fraction * level)))
    return floors


def build_policy(
    name: str, target: float, start: str | None, floors: list[int] | None = None
) -> BasePolicy:
    """The experiment's configuration of each policy (documented in the module docstring)."""
    from policies import registry
    from policies.autoscaling.combine import CombinedPolicy

    tt = registry.make("target-tracking", metric="CPUUtilization", target=target)
    if name == "target-tracking":
        return tt
    if name == "step":
        out = registry.make("step", threshold=target + 20.0, comparison="greater")
        inn = registry.make(
            "step", threshold=max(5.0, target - 20.0), comparison="less", datapoints=15
        )
        return CombinedPolicy([out, inn])
    if name == "scheduled":
        # An hourly floor from the window's demand profile, on top of target tracking, as
        # AWS users combine scheduled actions with a dynamic policy.
        floors = floors or [SERVICE["min_tasks"]] * 24
        actions = [{"schedule": f"cron(0 {h} * * ? *)", "min_tasks": floors[h]} for h in range(24)]
        sched = registry.make(
            "scheduled", actions=actions, start=(start or "1970-01-01T00:00:00") + "+00:00"
        )
        return CombinedPolicy([sched, tt])
    if name == "hpa":
        return registry.make("hpa", target=target)
    if name == "predictive":
        pred = registry.make("predictive", mode="ForecastAndScale", target=target)
        return CombinedPolicy([pred, tt])
    if name == "reactive":
        return registry.make("reactive", target=target, high=min(95.0, target + 15.0))
    return registry.make(name)


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one spec; return a flat record (summary, slack, elasticity metrics)."""
    from sim.scenario import scenario_from_dict
    from sim.simulation import Simulation, random_streams, slo_utilisation
    from sim.traffic import build_rate

    start = window_start(spec.trace, spec.seed, spec.window_step)
    data = scenario_dict(spec.trace, spec.seed, spec.days, start=start)
    sc = scenario_from_dict(data)
    rate = build_rate(
        sc.traffic, sc.run.duration, sc.run.tick, random_streams(spec.seed)["traffic"]
    )
    per_task = sc.service.capacity_rps * slo_utilisation(sc)
    # Start every policy at the load of the first minute (warm start, as a service that was
    # running before the window); static provisioning is sized for the window's peak.
    demand_peak = _demand(per_task, rate.max())
    demand_now = _demand(per_task, rate[: int(60 / sc.run.tick)].mean())
    initial = demand_peak if spec.policy == "static" else max(demand_now, SERVICE["min_tasks"])
    initial = int(min(max(initial, SERVICE["min_tasks"]), SERVICE["max_tasks"]))
    data["service"]["initial_tasks"] = initial
    sim = Simulation(scenario_from_dict(data), rate=rate)
    floors = None
    if spec.policy == "scheduled":
        floors = hourly_floor(rate / per_task, sc.run.tick)
    policy = build_policy(spec.policy, spec.target, start, floors)
    result = sim.run(policy)
    m = result.metrics
    record: dict[str, Any] = {
        "trace": spec.trace,
        "policy": spec.policy,
        "seed": spec.seed,
        "window_start": start or "",
        "days": spec.days,
        "target": spec.target,
        "initial_tasks": initial,
        **result.summary,
    }
    supply = float(m["supply_tasks"].mean())
    demand = float(m["demand_tasks"].mean())
    record["slack"] = supply / demand - 1.0 if demand > 0 else math.nan
    elastic = elasticity_from_metrics(m)
    record.update(elastic)
    record["elastic_speedup"] = elastic_speedup(elastic, static_baseline(m))
    return record


def static_baseline(metrics: pd.DataFrame) -> dict[str, float]:
    """Elasticity metrics of static provisioning at the run's mean demand (whole tasks)."""
    demand = np.asarray(metrics["demand_tasks"], dtype=float)
    fixed = np.full_like(demand, max(1.0, math.ceil(demand.mean() - 1e-9)))
    return elasticity_metrics(fixed, demand, times=np.asarray(metrics["time_s"]) / 60.0)


def _demand(per_task: float, rate: float) -> int:
    """Tasks that carry ``rate`` at ``per_task`` requests/s each within the SLO."""
    return max(1, math.ceil(rate / per_task - 1e-9)) if per_task > 0 else SERVICE["max_tasks"]


def run_all(
    specs: list[RunSpec], workers: int = 1, progress: bool = True, desc: str = "runs"
) -> list[dict[str, Any]]:
    """Run specs, in parallel processes when ``workers > 1``, with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(total=len(specs), desc=desc, disable=not progress, unit="run")
    records: list[dict[str, Any]] = []
    try:
        if workers <= 1:
            for spec in specs:
                records.append(run_one(spec))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for record in pool.map(run_one, specs):
                    records.append(record)
                    bar.update()
    finally:
        bar.close()
    return records


def tune_target_tracking(
    traces: Iterable[str],
    days: float,
    workers: int,
    progress: bool,
    window_step: float = WINDOW_STEP_DAYS,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Per trace, the cheapest CPU target meeting the good-minutes bar on the tuning seed."""
    specs = [
        RunSpec(trace, "target-tracking", TUNING_SEED, days, target, window_step)
        for trace in traces
        for target in TUNING_TARGETS
    ]
    df = pd.DataFrame(run_all(specs, workers, progress, desc="tuning target tracking"))
    chosen: dict[str, float] = {}
    for trace, group in df.groupby("trace"):
        ok = group[group.good_minutes_fraction >= TUNING_GOOD_MINUTES]
        if len(ok):
            chosen[str(trace)] = float(ok.sort_values("cost_usd").iloc[0].target)
        else:
            best = group.sort_values(["good_minutes_fraction", "cost_usd"], ascending=[False, True])
            chosen[str(trace)] = float(best.iloc[0].target)
    return chosen, df


def run_experiment(
    out: Path,
    *,
    traces: Iterable[str] = tuple(TRACES),
    policies: Iterable[str] = POLICIES,
    seeds: Iterable[int] = (1, 2, 3, 4, 5),
    days: float = 7.0,
    window_step: float = WINDOW_STEP_DAYS,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Tune, run every (trace, policy, seed), write runs.parquet, table.csv, report.md and
    the cost vs good-minutes figure into ``out``; return the table."""
    traces, policies, seeds = list(traces), list(policies), list(seeds)
    unknown = sorted(set(traces) - set(TRACES))
    if unknown:
        raise ValueError(f"unknown trace(s) {unknown}; valid: {list(TRACES)}")
    bad = sorted(set(policies) - set(POLICIES))
    if bad:
        raise ValueError(f"unknown policy name(s) {bad}; valid: {list(POLICIES)}")
    workers = workers or os.cpu_count() or 1
    out.mkdir(parents=True, exist_ok=True)
    if window_step < 0:
        raise ValueError(f"window_step must be >= 0 days, got {window_step}")
    tuning, tuning_runs = tune_target_tracking(traces, days, workers, progress, window_step)
    log("target tracking tuned: " + ", ".join(f"{k} {v:g}%" for k, v in tuning.items()))
    specs = [
        RunSpec(trace, policy, seed, days, tuning[trace], window_step)
        for trace in traces
        for seed in seeds
        for policy in policies
    ]
    runs = pd.DataFrame(run_all(specs, workers, progress, desc="experiment"))
    runs.to_parquet(out / "runs.parquet", index=False)
    tuning_runs.to_parquet(out / "tuning.parquet", index=False)
    table = summarise(runs, TABLE_COLUMNS)
    table.to_csv(out / "table.csv", index=False)
    from experiments.autoscaling_report import plot_cost_vs_good, write_report

    plot_cost_vs_good(table, out / "cost_vs_good_minutes.png")
    config = {
        "days": days,
        "seeds": seeds,
        "window_step": window_step,
        "policies": policies,
        "traces": traces,
    }
    (out / "config.json").write_text(json.dumps({**config, "tuning": tuning}, indent=2))
    report = write_report(out, runs, table, tuning, tuning_runs, config)
    log(f"wrote {report}, table.csv, runs.parquet and the figure in {out}")
    return table
