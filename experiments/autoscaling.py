"""The autoscaling experiment: every autoscaler on the four catalog traces, on independent
windows, each policy tuned the same way on a window of its own.

Design (the README section "The autoscaling experiment" states it for users):

* **Windows.** Each trace's usable spans (:data:`TRACES` ``segments``: no missing data, NASA's
  gap and outage left out) are cut into back-to-back windows of ``days``. The *tuning window*
  is the last one of the last span; the *evaluation windows* are the ones before it, latest
  first (they have the most history behind them), at most ``seeds`` of them. They never
  overlap each other, the tuning window, or (since the tuning window comes last) the tuning
  window never lies in any evaluation window's history. A trace too short for ``seeds``
  windows gets fewer, and the report says so. Evaluation window ``k`` (1 = earliest) runs with
  seed ``k``; the tuning window with :data:`TUNING_SEED`.
* **History.** Up to :data:`HISTORY_DAYS` days before a window, within its span, are its
  history: the load is rescaled with the window (one factor, so that the window's peak is the
  trace's ``peak_rps``), the policies that learn from past load (``predictive``, ``learned``,
  ``mpc``) get it as warm-start metrics (:func:`history_metrics`, ``policy.warm_start``), and
  ``scheduled`` draws its hourly floors from it (no look-ahead into the evaluated window). The
  history is not simulated and not scored.
* **Tuning.** Every policy with a parameter gets the same budget: the seven settings of its
  main parameter in :data:`TUNING` on the tuning window, and the same rule (:func:`choose`):
  the cheapest setting that meets the SLO there, good minutes >= :data:`TUNING_GOOD_MINUTES`
  and request availability >= the error budget (else the one with the highest availability,
  then the most good minutes). Only the requested policies are tuned.
* **Equal quality.** The *front* baselines (``fronts``, ``--fronts``; default target tracking
  on CPU) also run at every one of their settings on every evaluation window (the ``sweep``
  runs): a baseline's cost as a function of good minutes, and as a function of request
  availability, on the same window are its Pareto fronts, against which the report compares
  every policy at that policy's own quality on both measures
  (:func:`experiments.stats.cost_at_quality`), per baseline and against the cheapest of them
  (``best``). ``fargate-lab experiment equal-quality DIR`` adds fronts (and mpc's reserve
  ablation, :data:`NO_RESERVE`) to an existing output folder (experiments/equal_quality.py).

Per run we keep the summary, the slack over serving and over billed supply, and the SPEC
Research Group elasticity metrics (experiments/elasticity.py), with the elastic speedup against
static provisioning at the run's mean demand (BUNGEE's ratios divide by the baseline's
under-provisioning; a fleet sized for the peak would make every speedup 0). Predictive runs
also keep the accuracy of the policy's own hourly forecast (``forecast_accuracy``, 1 - MAPE,
experiments/forecast_accuracy.py).

Usage: ``fargate-lab experiment autoscaling [--days 3.5] [--seeds 5] [--fronts POLICY ...]
[--out DIR]``. The windows
and their history are in experiments/autoscaling_windows.py, the report and figure are written
by experiments/autoscaling_report.py, the statistics come from experiments/stats.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backends.sim import run_simulation
from experiments.autoscaling_windows import (
    DAY_S,
    HISTORY_DAYS,
    SERVICE,
    TRACES,
    WINDOW_STEP_DAYS,
    Window,
    history_metrics,
    hourly_floor,
    layout,
    window_rate,
)
from experiments.elasticity import elastic_speedup, elasticity_from_metrics, elasticity_metrics
from experiments.forecast_accuracy import forecast_accuracy
from experiments.outputs import Interrupted, check_out_dir, staged_output
from experiments.pool import run_each
from experiments.stats import summarise
from policies.autoscaling.floor import covered_fraction, floor_for_metrics
from policies.base import BasePolicy
from policies.contract import MetricHistory

if TYPE_CHECKING:
    from experiments.store import RunStore

POLICIES: tuple[str, ...] = (
    "static",
    "reactive",
    "target-tracking",
    "target-tracking-requests",
    "step",
    "scheduled",
    "hpa",
    "predictive",
    "learned",
    "mpc",
    "oracle",
)

TUNING_SEED = 0
#: Days per window. 3.5 rather than a week: the 14-day AWS ELB trace then holds three
#: evaluation windows beside the tuning window (one with 7-day windows, and no interval), and
#: the whole experiment runs in well under an hour on 2 cores (7 days: over an hour).
DEFAULT_DAYS = 3.5
TUNING_GOOD_MINUTES = 0.99
#: The CPU targets (%) tried for every policy whose main parameter is a CPU target.
TUNING_TARGETS: tuple[float, ...] = (20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0)
#: The ALBRequestCountPerTarget targets (requests per target per minute) tried for target
#: tracking on request count: 30-90% of one task's capacity (100 requests/s x 60 s), the
#: same seven steps as the CPU targets. AWS: ALBRequestCountPerTarget "applies only to Spot
#: Fleets and ECS services" (Application Auto Scaling API reference,
#: PredefinedMetricSpecification, https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PredefinedMetricSpecification.html);
#: the metric is the target group's RequestCountPerTarget, a Sum per period per target, so the
#: target value is requests per target per period (ALB CloudWatch metrics,
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
REQUEST_TARGETS: tuple[float, ...] = (1800.0, 2400.0, 3000.0, 3600.0, 4200.0, 4800.0, 5400.0)
#: Per tunable policy: its main parameter and the settings tried (the same budget, seven).
#: The grid reaches down to 20%: with AWS's documented (uncapped) scale-in, 40% was the
#: cheapest target tried on every trace and none reached the bar, so the grid went lower.
#: ``target``: the CPU target of target tracking, of HPA and reactive, the centre of the step
#: thresholds (target +- 20), of predictive (its scaling metric and its target-tracking
#: partner) and of scheduled's target-tracking part. ``target_utilisation``: the learned
#: policy's planned utilisation of a task's capacity. ``quantile``: mpc's forecast quantile.
TUNING: dict[str, tuple[str, tuple[float, ...]]] = {
    "reactive": ("target", TUNING_TARGETS),
    "target-tracking": ("target", TUNING_TARGETS),
    "step": ("target", TUNING_TARGETS),
    "scheduled": ("target", TUNING_TARGETS),
    "hpa": ("target", TUNING_TARGETS),
    "predictive": ("target", TUNING_TARGETS),
    "learned": ("target_utilisation", (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
    "target-tracking-requests": ("target", REQUEST_TARGETS),
    "mpc": ("quantile", (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999)),
}
BASELINE = "target-tracking"
#: The ablation of mpc's burst reserve: mpc with ``reserve_days = 0`` (no reserve), tuned and
#: evaluated as mpc is. Experiment-only (not registered); ``--policies`` accepts it, the
#: default policy list does not hold it.
NO_RESERVE = "mpc-no-reserve"
TUNING[NO_RESERVE] = TUNING["mpc"]
#: Experiment-only policy names ``--policies`` accepts beside :data:`POLICIES`.
EXTRA_POLICIES: tuple[str, ...] = (NO_RESERVE,)
#: Policies that learn from the history before a window (warm-start metrics).
WARM_STARTED: tuple[str, ...] = ("predictive", "learned", "mpc", NO_RESERVE)

#: Fewest trace samples a window must hold (``--days`` below this is refused).
MIN_SAMPLES_PER_WINDOW = 12

SLO: dict[str, Any] = {"p99_ms": 500.0, "error_rate": 0.001}

#: Columns of the results table, each reported as mean and 95% CI half-width.
TABLE_COLUMNS: tuple[str, ...] = (
    "cost_usd",
    "availability",
    "good_minutes_fraction",
    "latency_p99_ms",
    "slack_serving",
    "slack_billed",
    "scaling_actions",
    "accuracy_under",
    "accuracy_over",
    "timeshare_under",
    "timeshare_over",
    "jitter",
    "instability",
    "elastic_speedup",
)


@dataclass(frozen=True)
class RunSpec:
    """One simulation: a policy (by experiment name) with one parameter setting on a window.

    ``kind``: "tuning", "evaluation" (the tuned setting) or "sweep" (the baseline at another
    setting, for its Pareto front), or another label of the caller's. ``param`` None: the
    policy has no tuned parameter. ``overrides``: scenario overrides (``section.key=value``,
    TOML values, as ``simulate --set``) applied to the window's scenario, e.g. faults for
    the claims table (experiments/claims.py)."""

    window: Window
    policy: str
    param: float | None
    kind: str
    overrides: tuple[str, ...] = ()


def scenario_dict(window: Window, seed: int, initial: int = 2) -> dict[str, Any]:
    return {
        "name": f"{window.trace}-{window.role}{window.index}",
        "run": {"seed": seed, "duration": window.days * DAY_S, "tick": 1.0},
        "service": {**SERVICE, "initial_tasks": initial},
        "traffic": {
            "trace": window.trace,
            "start": window.start,
            "peak_rps": TRACES[window.trace]["peak_rps"],
        },
        "slo": SLO,
    }


def build_policy(
    name: str,
    param: float | None,
    floors: list[int] | None = None,
    history: MetricHistory | None = None,
) -> BasePolicy:
    """The experiment's configuration of each policy at setting ``param`` (see TUNING)."""
    from policies import registry
    from policies.autoscaling.combine import CombinedPolicy

    if name == "target-tracking-requests":
        return registry.make(
            "target-tracking",
            metric="RequestCountPerTarget",
            target=REQUEST_TARGETS[3] if param is None else float(param),
        )
    target = 50.0 if param is None else float(param)
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
        # Hourly floors from the history before the window, on top of target tracking, as
        # AWS users combine scheduled actions with a dynamic policy.
        floors = floors or [SERVICE["min_tasks"]] * 24
        actions = [{"schedule": f"cron(0 {h} * * ? *)", "min_tasks": floors[h]} for h in range(24)]
        sched = registry.make("scheduled", actions=actions, start="1970-01-01T00:00:00+00:00")
        return CombinedPolicy([sched, tt])
    if name == "hpa":
        return registry.make("hpa", target=target)
    if name == "predictive":
        pred = registry.make("predictive", mode="ForecastAndScale", target=target)
        if history is not None:
            pred.warm_start(history)
        return CombinedPolicy([pred, tt])
    if name == "reactive":
        # The band keeps its default shape around the target (60: 40-75).
        return registry.make(
            "reactive", target=target, high=min(95.0, target + 15.0), low=max(5.0, target - 20.0)
        )
    if name == "mpc-perfect-forecast":
        from experiments.mpc_decomposition import PerfectForecastMpc

        return PerfectForecastMpc(**({} if param is None else {"quantile": float(param)}))
    if name in ("learned", "mpc", NO_RESERVE):
        key = "target_utilisation" if name == "learned" else "quantile"
        kw: dict[str, float] = {} if param is None else {key: float(param)}
        if name == NO_RESERVE:
            kw["reserve_days"] = 0.0
        pol = registry.make("mpc" if name == NO_RESERVE else name, **kw)
        if history is not None:
            pol.warm_start(history)
        return pol
    return registry.make(name)


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one spec; return a flat record (summary, slack, elasticity metrics)."""
    return simulate(spec)[0]


def simulate(spec: RunSpec) -> tuple[dict[str, Any], pd.DataFrame, Any]:
    """Run one spec; return its flat record (:func:`run_one`), its per-period metrics and its
    scenario (for analyses that need more than the record, e.g. the floor's components)."""
    from sim.scenario import apply_overrides, scenario_from_dict
    from sim.simulation import Simulation, slo_utilisation

    w = spec.window
    seed = TUNING_SEED if w.role == "tuning" else w.index
    data = apply_overrides(scenario_dict(w, seed), list(spec.overrides))
    sc = scenario_from_dict(data)
    tick = sc.run.tick
    hist_rate, rate = window_rate(w, tick)
    per_task = sc.service.capacity_rps * slo_utilisation(sc)
    # Start every policy at the load of the first minute (a service running before the
    # window); static provisioning is sized for the window's peak.
    demand_peak = _demand(per_task, rate.max())
    demand_now = _demand(per_task, rate[: int(60 / tick)].mean())
    initial = demand_peak if spec.policy == "static" else max(demand_now, SERVICE["min_tasks"])
    initial = int(min(max(initial, SERVICE["min_tasks"]), SERVICE["max_tasks"]))
    data["service"]["initial_tasks"] = initial
    scenario = scenario_from_dict(data)
    sim = Simulation(scenario, rate=rate)
    floors = hourly_floor(hist_rate / per_task, tick) if spec.policy == "scheduled" else None
    history = None
    if spec.policy in WARM_STARTED:
        target = spec.param if spec.policy == "predictive" and spec.param else 50.0
        if spec.policy == "learned" and spec.param:
            target = 100.0 * spec.param
        history = history_metrics(hist_rate, tick, target, scenario.service.idle_cpu)
    policy = build_policy(spec.policy, spec.param, floors, history)
    result = run_simulation(sim, policy)
    m = result.metrics
    record: dict[str, Any] = {
        "trace": w.trace,
        "policy": spec.policy,
        "kind": spec.kind,
        "window": w.index,
        "seed": seed,
        "window_start": w.start,
        "window_end": w.end,
        "history_days": w.history_days,
        "days": w.days,
        "param": math.nan if spec.param is None else float(spec.param),
        "initial_tasks": initial,
        **result.summary,
    }
    demand = float(m["demand_tasks"].mean())
    serving = float(m["supply_tasks"].mean())
    billed = float(result.summary["task_hours"]) / (w.days * 24.0)
    record["billed_tasks_mean"] = billed
    record["slack_serving"] = serving / demand - 1.0 if demand > 0 else math.nan
    record["slack_billed"] = billed / demand - 1.0 if demand > 0 else math.nan
    elastic = elasticity_from_metrics(m)
    record.update(elastic)
    record["elastic_speedup"] = elastic_speedup(elastic, static_baseline(m))
    record["covered_fraction"] = covered_fraction(m)
    if spec.policy == "predictive":  # its forecaster against the load that came
        record.update(forecast_accuracy(getattr(policy.policies[0], "forecasts_", ()), m))
    if spec.policy == "oracle":
        # The window's cost floor (policies/autoscaling/floor.py), once per window with the
        # oracle's run: every run of a window shares its load, so any run's demand serves.
        # The schedule may start warm with up to static's count (the largest warm start).
        peak_start = int(min(max(demand_peak, SERVICE["min_tasks"]), SERVICE["max_tasks"]))
        record.update(
            floor_for_metrics(m, scenario, good_bar=TUNING_GOOD_MINUTES, initial_tasks=peak_start)
        )
    return record, m, scenario


def floor_violations(runs: pd.DataFrame, bar: float = TUNING_GOOD_MINUTES) -> pd.DataFrame:
    """The runs that bill less than their window's cost floor while covering the demand in
    at least ``bar`` of the periods: none can exist if the floor is a true lower bound.

    The floor comes from the oracle's run of the same (trace, window); windows without one
    are not checked. Returns the offending rows with ``floor_cost_usd`` beside them."""
    if "floor_cost_usd" not in runs:
        return runs.iloc[0:0]
    floors = runs.loc[runs.floor_cost_usd.notna(), ["trace", "window", "floor_cost_usd"]]
    floors = floors.drop_duplicates(["trace", "window"])
    checked = runs.drop(columns=["floor_cost_usd"]).merge(floors, on=["trace", "window"])
    bad = (checked.covered_fraction >= bar) & (checked.cost_usd < checked.floor_cost_usd - 1e-9)
    return checked[bad]


def static_baseline(metrics: pd.DataFrame) -> dict[str, float]:
    """Elasticity metrics of static provisioning at the run's mean demand (whole tasks)."""
    demand = np.asarray(metrics["demand_tasks"], dtype=float)
    fixed = np.full_like(demand, max(1.0, math.ceil(demand.mean() - 1e-9)))
    return elasticity_metrics(fixed, demand, times=np.asarray(metrics["time_s"]) / 60.0)


def _demand(per_task: float, rate: float) -> int:
    """Tasks that carry ``rate`` at ``per_task`` requests/s each within the SLO."""
    return max(1, math.ceil(rate / per_task - 1e-9)) if per_task > 0 else SERVICE["max_tasks"]


class RunsStopped(Exception):
    """Ctrl-C during :func:`run_all`; ``records`` holds the runs that completed."""

    def __init__(self, records: list[dict[str, Any]], total: int) -> None:
        super().__init__(f"stopped after {len(records)} of {total} runs")
        self.records = records
        self.total = total


def run_identity(spec: RunSpec) -> dict[str, Any]:
    """What fixes a run's record (its key in a :class:`experiments.store.RunStore`)."""
    from dataclasses import asdict

    return {
        "run": "autoscaling",
        "window": asdict(spec.window),
        "policy": spec.policy,
        "param": spec.param,
        "kind": spec.kind,
        "overrides": list(spec.overrides),
    }


def run_all(
    specs: list[RunSpec],
    workers: int = 1,
    progress: bool = True,
    desc: str = "runs",
    store: RunStore | None = None,
) -> list[dict[str, Any]]:
    """Run specs (in spec order), in parallel processes when ``workers > 1``, with a progress
    bar. On Ctrl-C the workers are stopped and :class:`RunsStopped` carries the completed
    records.

    With ``store`` only the specs not stored there run; each is stored as it finishes (an
    error or Ctrl-C loses none that finished), and every record returned is read back from
    the store, so a resumed call returns what an uninterrupted one does."""
    from tqdm import tqdm

    keys = [store.key(run_identity(s)) for s in specs] if store is not None else []
    todo = store.missing(keys) if store is not None else list(range(len(specs)))
    bar = tqdm(
        total=len(specs),
        initial=len(specs) - len(todo),
        desc=desc,
        disable=not progress,
        unit="run",
    )
    done: dict[int, dict[str, Any]] = {}

    def finish(i: int, record: dict[str, Any]) -> None:
        if store is not None:
            store.put(keys[i], record)
        done[i] = record
        bar.update()

    try:
        for k, record in run_each(run_one, [specs[i] for i in todo], workers):
            finish(todo[k], record)
    except KeyboardInterrupt:
        bar.close()
        raise RunsStopped([done[i] for i in sorted(done)], len(specs)) from None
    finally:
        bar.close()
    if store is not None:
        return [store.get(k) for k in keys]
    return [done[i] for i in range(len(specs))]


def evaluation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The results table (``table.csv``): per (trace, policy), each of :data:`TABLE_COLUMNS`
    as mean and 95% half-width over the evaluation runs, and whether the SLO is met."""
    evaluation = runs[runs.kind == "evaluation"].reset_index(drop=True)
    return summarise(evaluation, TABLE_COLUMNS, slo=SLO, bar=TUNING_GOOD_MINUTES)


def choose(group: pd.DataFrame) -> float:
    """The tuning rule: the cheapest setting that meets the SLO on the tuning window (good
    minutes >= :data:`TUNING_GOOD_MINUTES` and request availability >= 1 - the SLO's
    ``error_rate``, the error budget: the test the report's ``meets_slo`` applies), else the
    one with the highest availability, then the most good minutes (cheapest among equals)."""
    ok = group[
        (group.good_minutes_fraction >= TUNING_GOOD_MINUTES)
        & (group.availability >= 1.0 - SLO["error_rate"])
    ]
    if len(ok):
        return float(ok.sort_values(["cost_usd", "param"]).iloc[0].param)
    best = group.sort_values(
        ["availability", "good_minutes_fraction", "cost_usd", "param"],
        ascending=[False, False, True, True],
    )
    return float(best.iloc[0].param)


def validate_options(
    traces: list[str],
    policies: list[str],
    seeds: list[int],
    days: float,
    workers: int | None,
    window_step: float,
) -> None:
    """Refuse bad options before any work (ValueError, one line naming the option)."""
    from sim.traces.catalog import catalog_entry

    unknown = sorted(set(traces) - set(TRACES))
    if unknown:
        raise ValueError(f"unknown trace(s) {unknown}; valid: {list(TRACES)}")
    if not traces:
        raise ValueError("--traces: no trace given")
    bad = sorted(set(policies) - set(POLICIES) - set(EXTRA_POLICIES))
    if bad:
        raise ValueError(
            f"unknown policy name(s) {bad}; valid: {list(POLICIES) + list(EXTRA_POLICIES)}"
        )
    if not policies:
        raise ValueError("--policies: no policy given")
    if len(seeds) < 1:
        raise ValueError(
            f"--seeds must be >= 1 (the number of evaluation windows), got {len(seeds)}"
        )
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"--days must be a positive number of days, got {days}")
    if not (math.isfinite(window_step) and window_step >= 0):
        raise ValueError(f"--window-step must be >= 0 days, got {window_step}")
    for trace in traces:
        res = catalog_entry(trace).resolution_s
        least = MIN_SAMPLES_PER_WINDOW * res / DAY_S
        if days < least:
            raise ValueError(
                f"--days {days:g} is too short for trace {trace!r} ({res:g} s resolution): "
                f"a window needs at least {MIN_SAMPLES_PER_WINDOW} samples, {least:.4g} days"
            )
        if len(layout(trace, days, len(seeds), window_step)) < 2:
            raise ValueError(
                f"--days {days:g} is too long for trace {trace!r}: its spans "
                f"{TRACES[trace]['segments']} hold no evaluation window beside the tuning window"
            )


def resolve_fronts(fronts: Iterable[str] | None, policies: list[str]) -> list[str]:
    """The baselines whose Pareto fronts run on the evaluation windows (the ``sweep`` runs).

    ``None``: target tracking on CPU when it is requested with another policy (the default,
    as before ``--fronts``). ``["all"]``: every requested tunable policy but mpc and its
    ablation (the policies compared with the fronts). Else the names given, each of which must
    be a requested policy with a tuning grid (ValueError naming the name and the valid ones)."""
    if fronts is None:
        return [BASELINE] if BASELINE in policies and len(policies) > 1 else []
    fronts = list(fronts)
    tunable = [p for p in policies if p in TUNING]
    if fronts == ["all"]:
        return [p for p in tunable if p not in ("mpc", NO_RESERVE)]
    if not fronts:
        raise ValueError("--fronts: no policy given (names, or 'all')")
    for name in fronts:
        if name == "all":
            raise ValueError("--fronts all: give 'all' alone, not with policy names")
        if name not in POLICIES and name not in EXTRA_POLICIES:
            raise ValueError(
                f"--fronts: unknown policy name {name!r}; valid: 'all' or a tunable policy "
                f"{[p for p in TUNING if p != NO_RESERVE]}"
            )
        if name not in TUNING:
            raise ValueError(
                f"--fronts: {name!r} has no parameter to sweep (no tuning grid); valid: "
                f"'all' or a tunable policy {[p for p in TUNING if p != NO_RESERVE]}"
            )
        if name not in policies:
            raise ValueError(
                f"--fronts: {name!r} is not among the policies run ({policies}); add it to "
                "--policies"
            )
    return list(dict.fromkeys(fronts))


def sweep_specs(
    windows: dict[str, list[Window]], fronts: Iterable[str], tuned: dict[str, dict[str, float]]
) -> list[RunSpec]:
    """The ``sweep`` runs of the fronts: each front policy at every setting of its grid but
    the tuned one (that one is its evaluation run) on every evaluation window."""
    return [
        RunSpec(w, p, value, "sweep")
        for p in fronts
        for t, ws in windows.items()
        for w in ws[1:]
        for value in TUNING[p][1]
        if value != tuned[t][p]
    ]


def run_experiment(
    out: Path,
    *,
    traces: Iterable[str] = tuple(TRACES),
    policies: Iterable[str] = POLICIES,
    seeds: Iterable[int] = (1, 2, 3, 4, 5),
    days: float = DEFAULT_DAYS,
    window_step: float = WINDOW_STEP_DAYS,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    store: RunStore | None = None,
    fronts: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Tune, run every (trace, policy, window), write config.json, tuning.parquet,
    runs.parquet, table.csv, report.md and the cost vs good-minutes figure into ``out``
    (all or nothing); return the table. ``seeds``: its length is the number of evaluation
    windows asked for per trace. ``store``: keep every run there and run only those not
    stored yet (:func:`run_all`; ``fargate-lab claims`` resumes this way). ``fronts``: the
    baselines run at every setting on every evaluation window (:func:`resolve_fronts`;
    default target tracking on CPU)."""
    traces, policies, seeds = list(traces), list(policies), list(seeds)
    validate_options(traces, policies, seeds, days, workers, window_step)
    fronts = resolve_fronts(fronts, policies)
    out = check_out_dir(out)
    workers = workers or os.cpu_count() or 1
    windows = {t: layout(t, days, len(seeds), window_step) for t in traces}
    tunable = [p for p in policies if p in TUNING]
    tuning_specs = [
        RunSpec(windows[t][0], p, value, "tuning")
        for t in traces
        for p in tunable
        for value in TUNING[p][1]
    ]
    total = len(tuning_specs)
    finished: list[dict[str, Any]] = []
    try:
        tuning_runs = pd.DataFrame(
            run_all(tuning_specs, workers, progress, desc="tuning", store=store)
        )
        finished = tuning_runs.to_dict("records")
        tuned: dict[str, dict[str, float]] = {t: {} for t in traces}
        if len(tuning_runs):
            for (t, p), group in tuning_runs.groupby(["trace", "policy"], sort=False):
                tuned[str(t)][str(p)] = choose(group)
        for t in traces:
            if tuned[t]:
                log(f"tuned on {t}: " + ", ".join(f"{p} {v:g}" for p, v in tuned[t].items()))
        specs = [
            RunSpec(w, p, tuned[t].get(p), "evaluation")
            for t in traces
            for w in windows[t][1:]
            for p in policies
        ]
        specs += sweep_specs(windows, fronts, tuned)
        total += len(specs)
        runs = pd.DataFrame(run_all(specs, workers, progress, desc="experiment", store=store))
    except RunsStopped as stop:
        kept = finished + stop.records
        with staged_output(out) as tmp:
            pd.DataFrame(kept).to_parquet(tmp / "runs.partial.parquet", index=False)
        raise Interrupted(
            f"interrupted: kept {len(kept)} of {total} runs in {out / 'runs.partial.parquet'}"
        ) from None
    table = evaluation_table(runs)
    config = {
        "days": days,
        "seeds": seeds,
        "window_step": window_step,
        "policies": policies,
        "traces": traces,
        "history_days": HISTORY_DAYS,
        "tuning_rule": f"cheapest setting with good minutes >= {TUNING_GOOD_MINUTES} and "
        f"availability >= {1.0 - SLO['error_rate']:g}, else highest availability, then most "
        "good minutes",
        "tuning_grid": {p: list(TUNING[p][1]) for p in tunable},
        "tuned": tuned,
        "fronts": fronts,
        "windows": {t: [w.__dict__ | {"end": w.end} for w in ws] for t, ws in windows.items()},
    }
    from experiments.autoscaling_report import write_files

    try:
        with staged_output(out) as tmp:
            write_files(tmp, config, runs, table, tuning_runs)
    except KeyboardInterrupt:
        kept = finished + runs.to_dict("records")
        with staged_output(out) as tmp:
            pd.DataFrame(kept).to_parquet(tmp / "runs.partial.parquet", index=False)
        raise Interrupted(
            f"interrupted while writing the report: kept {len(kept)} of {total} runs in "
            f"{out / 'runs.partial.parquet'}"
        ) from None
    log(
        f"wrote report.md, table.csv, runs.parquet, tuning.parquet, config.json and the figure in {out}"
    )
    return table
