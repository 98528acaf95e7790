"""The advisor: the cheapest Fargate configuration that meets a latency SLO on a user's trace.

``fargate-lab advise --trace FILE --slo-p99-ms X [--spot-ok]`` searches, in simulation, with
Optuna's TPE sampler (seeded: the same seed gives the same recommendation):

* the task size: every CPU value of the Fargate matrix (:data:`sim.fargate.VALID_SIZES`),
  each with the smallest valid memory of at least ``memory_per_vcpu`` MiB per vCPU (the
  model has no memory pressure, so a larger memory would only cost more: the user states
  what the application needs);
* the Spot share (with ``--spot-ok``): the FARGATE capacity provider's ``base`` and the
  weights of FARGATE and FARGATE_SPOT; without it, on-demand only;
* the autoscaler: target tracking on CPU (AWS's native policy, so the recommendation can be
  exported with ``fargate-lab ecs export``), its target and its two cooldowns, and the
  service's ``min_tasks``.

**The SLO** (the autoscaling experiment's definitions, experiments/autoscaling.py): a
configuration *meets the SLO* on a stretch of the trace when (a) its good-minutes fraction
is at least ``good_minutes`` (default the experiment's tuning bar, 0.99), a minute being good
when its p99 latency is at most ``--slo-p99-ms`` and its failed share at most ``error_rate``
(default the experiment's 0.001); and (b) its request availability (1 - failed / total over
the stretch) is at least ``1 - error_rate``.

**Objective**: the cost (USD, per-second Fargate billing) of the tuning part, minimised subject to the SLO (Optuna's constrained TPE: infeasible
trials are ranked by how far they miss). The recommendation is the cheapest trial that meets
the SLO on the tuning part.

**Fairness**: the trace is cut into two disjoint, back-to-back parts of ``duration``: the
*tuning* part (the first) is the only one the search sees; the *confirmation* part (the next
``duration``) is run once, with the recommendation, and its figures are the ones reported as
expected. The output says whether the SLO held there too.

**Assumptions** (named parameters): a task serves ``capacity_rps_per_vcpu`` requests/s per
vCPU at full CPU (default 100: the experiment's 1-vCPU task serving 100 requests/s), with one
worker per vCPU (the scenario's default); the service may grow to :data:`MAX_TASKS_HEADROOM`
times the tasks the tuning part's peak needs at full CPU. The search runs without faults; with
``--spot-ok`` the recommendation is also run on the confirmation part with every Spot task
interrupted at the busiest minute (two-minute notice, as AWS gives): the good minutes this
loses is what a Spot interruption costs. AWS publishes no Spot interruption rate, so no
expected number of interruptions is charged. Spot is priced at the scenario's default
discount, 70%: AWS's pricing page says "up to 70%" and the actual Spot price varies, so a
Spot share's saving is an upper bound.

The output is a scenario TOML file replaying the confirmation part: ``fargate-lab simulate``
runs it (and reproduces the confirmation figures) and ``fargate-lab ecs export`` accepts it.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.autoscaling import SLO as EXPERIMENT_SLO
from experiments.autoscaling import TUNING_GOOD_MINUTES
from experiments.outputs import write_text_atomic
from sim.fargate import VALID_SIZES
from sim.scenario import ECS_TASKS_PER_SERVICE

#: Trials of the search by default: about a minute on one core for 1-day parts.
DEFAULT_TRIALS = 30
DEFAULT_SEED = 0
#: Length of each part (tuning, confirmation) by default: one day, or half the trace when it
#: is shorter than two days.
DEFAULT_PART_S = 86400.0
#: Shortest part accepted: half an hour (30 one-minute SLO periods).
MIN_PART_S = 1800.0
#: Requests/s one vCPU serves at full CPU (the experiment's 1-vCPU task serves 100).
CAPACITY_RPS_PER_VCPU = 100.0
#: Memory per vCPU (MiB) the application needs (the experiment's 1 vCPU / 2 GB task).
MEMORY_PER_VCPU_MIB = 2048
#: The service may scale to this many times the tasks the tuning part's peak needs at full
#: CPU (an invented bound that leaves the autoscaler room; capped at the ECS quota of 5,000).
MAX_TASKS_HEADROOM = 3.0

#: The search space. CPU targets 20-90% (the experiment's grid is 20-80%); cooldowns on a
#: one-minute grid up to 10 / 15 minutes (AWS's default for both is 300 s); min_tasks 1-4;
#: the FARGATE base 0-3 tasks and FARGATE_SPOT's weight out of SPOT_WEIGHTS (the rest of the
#: weight is FARGATE's).
#: Stepped ranges are (low, high, step); integer ranges (low, high).
TARGET_RANGE = (20.0, 90.0, 5.0)
SCALE_OUT_COOLDOWN_RANGE = (0.0, 600.0, 60.0)
SCALE_IN_COOLDOWN_RANGE = (60.0, 900.0, 60.0)
MIN_TASKS_RANGE = (1, 4)
OD_BASE_RANGE = (0, 3)
SPOT_WEIGHTS = 4

#: The first trial (enqueued, so the search always tries it): the experiment's service and
#: AWS's default target-tracking cooldowns.
BASELINE: dict[str, Any] = {
    "cpu_index": sorted(VALID_SIZES).index(1024),
    "target": 50.0,
    "scale_out_cooldown": 300.0,
    "scale_in_cooldown": 300.0,
    "min_tasks": 2,
}


class AdviceError(ValueError):
    """Bad input to the advisor, or an SLO no configuration met; the message says which."""


@dataclass(frozen=True)
class Candidate:
    """One configuration the advisor tries."""

    cpu: int
    memory: int
    min_tasks: int
    target: float
    scale_out_cooldown: float
    scale_in_cooldown: float
    od_base: int = 0
    spot_weight: int = 0

    def providers(self) -> list[dict[str, Any]]:
        """The capacity provider strategy: FARGATE with the base, FARGATE_SPOT's weight out
        of :data:`SPOT_WEIGHTS` (on-demand only when it is 0)."""
        out: list[dict[str, Any]] = []
        od_weight = SPOT_WEIGHTS - self.spot_weight
        if od_weight > 0 or self.od_base > 0:
            out.append({"name": "FARGATE", "base": self.od_base, "weight": od_weight})
        if self.spot_weight > 0:
            out.append({"name": "FARGATE_SPOT", "base": 0, "weight": self.spot_weight})
        return out

    def describe(self) -> str:
        spot = ""
        if self.spot_weight:
            spot = f", FARGATE base {self.od_base}, Spot weight {self.spot_weight}/{SPOT_WEIGHTS}"
        return (
            f"cpu {self.cpu}, memory {self.memory} MiB, min_tasks {self.min_tasks}, "
            f"target-tracking CPU target {self.target:g}%, scale-out cooldown "
            f"{self.scale_out_cooldown:g} s, scale-in cooldown {self.scale_in_cooldown:g} s{spot}"
        )


@dataclass(frozen=True)
class Part:
    """A stretch of the trace: ``start`` (ISO, trace time), ``duration`` s, and its rate."""

    name: str
    start: str
    duration: float
    rate: np.ndarray = field(repr=False)


@dataclass
class Advice:
    """What :func:`advise` found: the recommendation, its figures on both parts, the Spot
    interruption cost (``None`` without ``--spot-ok`` or without Spot tasks) and the file."""

    candidate: Candidate
    tuning: dict[str, Any]
    confirmation: dict[str, Any]
    confirmed: bool
    trials: int
    feasible_trials: int
    spot_interruption: dict[str, Any] | None
    scenario: dict[str, Any]
    spot_ok: bool = False
    out: Path | None = None


def memory_for(cpu: int, memory_per_vcpu: int = MEMORY_PER_VCPU_MIB) -> int:
    """The smallest valid memory (MiB) for ``cpu`` of at least ``memory_per_vcpu`` per vCPU
    (the largest valid value when none is that large)."""
    need = memory_per_vcpu * cpu / 1024.0
    valid = VALID_SIZES[cpu]
    return next((m for m in valid if m >= need), valid[-1])


def meets_slo(summary: dict[str, Any], good_minutes: float, error_rate: float) -> bool:
    """The advisor's SLO test on a run's summary (see the module docstring)."""
    return (
        summary["good_minutes_fraction"] >= good_minutes
        and summary["availability"] >= 1.0 - error_rate
    )


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(np.datetime64(t, "s"), unit="s"))


def _check_options(
    slo_p99_ms: float,
    trials: int,
    seed: int,
    duration: float | None,
    good_minutes: float,
    error_rate: float,
) -> None:
    if not (isinstance(slo_p99_ms, int | float) and math.isfinite(slo_p99_ms) and slo_p99_ms > 0):
        raise AdviceError(f"--slo-p99-ms must be a positive number of ms, got {slo_p99_ms!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise AdviceError(f"--seed must be an integer >= 0, got {seed!r}")
    if not (isinstance(trials, int) and trials >= 1):
        raise AdviceError(f"--trials must be an integer >= 1, got {trials!r}")
    if duration is not None and not (math.isfinite(duration) and duration >= MIN_PART_S):
        raise AdviceError(
            f"--duration must be at least {MIN_PART_S:g} s (30 minutes), got {duration!r}"
        )
    if not 0 < good_minutes <= 1:
        raise AdviceError(f"good_minutes must be in (0, 1], got {good_minutes!r}")
    if not 0 <= error_rate < 1:
        raise AdviceError(f"error_rate must be in [0, 1), got {error_rate!r}")


def _out_file(out: str | os.PathLike[str]) -> Path:
    """The scenario file to write: ``out`` itself when it ends in .toml, else
    ``out/advice.toml``; checked before any work."""
    from experiments.outputs import check_out_dir

    path = Path(out).expanduser().absolute()
    if path.suffix == ".toml":
        if path.is_dir():
            raise AdviceError(f"--out {out}: is a folder; give a .toml file or a folder")
        check_out_dir(path.parent)
        return path
    check_out_dir(path)
    return path / "advice.toml"


def _parts(
    trace_spec: str, duration: float | None, tick: float, base_dir: Path
) -> tuple[Part, Part]:
    """The tuning part (the first ``duration`` of the trace) and the confirmation part (the
    next ``duration``), each with its per-tick rate."""
    from sim.traces.load import load_trace
    from sim.traffic.config import TrafficConfig
    from sim.traffic.rates import build_rate

    trace = load_trace(trace_spec, base_dir=base_dir)
    span = trace.duration_s
    part = min(DEFAULT_PART_S, span / 2.0) if duration is None else float(duration)
    if part < MIN_PART_S or 2 * part > span * (1 + 1e-12):
        raise AdviceError(
            f"--trace {trace_spec}: spans {span:g} s ({span / 86400:.3g} d); the tuning and "
            f"confirmation parts need two disjoint stretches of --duration "
            f"({part:g} s each, at least {MIN_PART_S:g} s)"
        )
    starts = [trace.start, trace.start + np.timedelta64(round(part), "s")]
    out = []
    for name, start in zip(("tuning", "confirmation"), starts, strict=True):
        cfg = TrafficConfig(trace=trace_spec, start=_iso(start))
        rate = build_rate(
            cfg, part, tick, np.random.default_rng(0), trace_loader=lambda _s, _b: trace
        )
        out.append(Part(name, _iso(start), part, rate))
    return out[0], out[1]


def scenario_data(
    cand: Candidate,
    trace: str,
    part: Part,
    *,
    slo_p99_ms: float,
    error_rate: float,
    seed: int,
    max_tasks: int,
    capacity_rps_per_vcpu: float,
    initial_tasks: int | None = None,
    spot_interruption_at: float | None = None,
) -> dict[str, Any]:
    """The scenario (as TOML data) that runs ``cand`` on ``part`` of ``trace``."""
    service: dict[str, Any] = {
        "cpu": cand.cpu,
        "memory": cand.memory,
        "min_tasks": cand.min_tasks,
        "max_tasks": max(max_tasks, cand.min_tasks),
        "initial_tasks": cand.min_tasks if initial_tasks is None else initial_tasks,
        "capacity_rps": capacity_rps_per_vcpu * cand.cpu / 1024.0,
        "capacity_providers": cand.providers(),
    }
    data: dict[str, Any] = {
        "name": f"advice-{part.name}",
        "run": {"seed": seed, "duration": part.duration, "tick": 1.0},
        "service": service,
        "traffic": {"trace": trace, "start": part.start},
        "slo": {"p99_ms": float(slo_p99_ms), "error_rate": float(error_rate)},
        "autoscaler": {
            "policy": "target-tracking",
            "metric": "CPUUtilization",
            "target": cand.target,
            "scale_out_cooldown": cand.scale_out_cooldown,
            "scale_in_cooldown": cand.scale_in_cooldown,
        },
    }
    if spot_interruption_at is not None:
        data["faults"] = {
            "spot_interruptions": [{"at": spot_interruption_at, "tasks": ECS_TASKS_PER_SERVICE}]
        }
    return data


class _Runner:
    """Runs candidates on parts of one trace (the trace's rate computed once per part)."""

    def __init__(self, trace: str, base_dir: Path, **common: Any) -> None:
        self.trace = trace
        self.base_dir = base_dir
        self.common = common

    def data(self, cand: Candidate, part: Part, **extra: Any) -> dict[str, Any]:
        from sim.scenario import scenario_from_dict
        from sim.simulation import slo_utilisation

        data = scenario_data(cand, self.trace, part, **self.common, **extra)
        sc = scenario_from_dict(data, f"advice ({part.name} part)", base_dir=self.base_dir)
        # Start at the load of the first minute (a service running before the part), as the
        # autoscaling experiment does.
        per_task = sc.service.capacity_rps * slo_utilisation(sc)
        first = float(part.rate[:60].mean())
        need = math.ceil(first / per_task - 1e-9) if per_task > 0 else sc.service.max_tasks
        svc = data["service"]
        svc["initial_tasks"] = int(min(max(need, svc["min_tasks"]), svc["max_tasks"]))
        return data

    def run(self, cand: Candidate, part: Part, **extra: Any) -> tuple[dict[str, Any], Any]:
        from backends.sim import run_simulation
        from sim.scenario import scenario_from_dict
        from sim.simulation import Simulation

        data = self.data(cand, part, **extra)
        sc = scenario_from_dict(data, f"advice ({part.name} part)", base_dir=self.base_dir)
        result = run_simulation(Simulation(sc, rate=part.rate))
        return data, result


def _suggest(trial: Any, spot_ok: bool, memory_per_vcpu: int) -> Candidate:
    """A trial's candidate. Ordered settings are integer or stepped ranges (TPE then models
    their order); the CPU value is its index in the matrix's CPU values, which double."""
    cpus = sorted(VALID_SIZES)
    cpu = cpus[trial.suggest_int("cpu_index", 0, len(cpus) - 1)]

    def grid(name: str, bounds: tuple[float, float, float]) -> float:
        return trial.suggest_float(name, bounds[0], bounds[1], step=bounds[2])

    cand: dict[str, Any] = {
        "cpu": cpu,
        "memory": memory_for(cpu, memory_per_vcpu),
        "min_tasks": trial.suggest_int("min_tasks", *MIN_TASKS_RANGE),
        "target": grid("target", TARGET_RANGE),
        "scale_out_cooldown": grid("scale_out_cooldown", SCALE_OUT_COOLDOWN_RANGE),
        "scale_in_cooldown": grid("scale_in_cooldown", SCALE_IN_COOLDOWN_RANGE),
    }
    if spot_ok:
        cand["od_base"] = trial.suggest_int("od_base", *OD_BASE_RANGE)
        cand["spot_weight"] = trial.suggest_int("spot_weight", 0, SPOT_WEIGHTS)
    return Candidate(**cand)


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "cost_usd",
        "cost_spot_usd",
        "good_minutes_fraction",
        "latency_p99_ms",
        "availability",
        "requests_failed",
        "task_hours",
    )
    return {k: summary[k] for k in keys}


def advise(
    trace: str,
    slo_p99_ms: float,
    *,
    spot_ok: bool = False,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    duration: float | None = None,
    out: str | os.PathLike[str] | None = None,
    good_minutes: float = TUNING_GOOD_MINUTES,
    error_rate: float = float(EXPERIMENT_SLO["error_rate"]),
    capacity_rps_per_vcpu: float = CAPACITY_RPS_PER_VCPU,
    memory_per_vcpu: int = MEMORY_PER_VCPU_MIB,
    progress: bool = True,
    base_dir: str | os.PathLike[str] | None = None,
) -> Advice:
    """Search, recommend, confirm and (with ``out``) write the scenario file.

    Raises :class:`AdviceError` for bad options or when no trial met the SLO on the tuning
    part (the message gives the best found), :class:`sim.traces.base.TraceError` for a
    missing or unreadable trace, :class:`experiments.outputs.OutputError` for an unusable
    ``out``: all before the search, except the SLO.
    """
    import optuna
    from tqdm import tqdm

    _check_options(slo_p99_ms, trials, seed, duration, good_minutes, error_rate)
    if not (math.isfinite(capacity_rps_per_vcpu) and capacity_rps_per_vcpu > 0):
        raise AdviceError(f"capacity_rps_per_vcpu must be > 0, got {capacity_rps_per_vcpu!r}")
    out_file = _out_file(out) if out is not None else None
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    tuning, confirmation = _parts(trace, duration, 1.0, base)
    peak = float(tuning.rate.max())

    def max_tasks_for(cpu: int) -> int:
        full = peak / (capacity_rps_per_vcpu * cpu / 1024.0)
        return int(min(ECS_TASKS_PER_SERVICE, max(2, math.ceil(MAX_TASKS_HEADROOM * full))))

    runner = _Runner(
        trace,
        base,
        slo_p99_ms=slo_p99_ms,
        error_rate=error_rate,
        seed=seed,
        capacity_rps_per_vcpu=capacity_rps_per_vcpu,
    )
    results: dict[int, tuple[Candidate, dict[str, Any]]] = {}

    def objective(trial: Any) -> float:
        cand = _suggest(trial, spot_ok, memory_per_vcpu)
        _, res = runner.run(cand, tuning, max_tasks=max_tasks_for(cand.cpu))
        s = res.summary
        # Feasible when both are <= 0 (Optuna's constrained TPE ranks infeasible trials by
        # the sum of their violations).
        trial.set_constraint("good_minutes", good_minutes - s["good_minutes_fraction"])
        trial.set_constraint("availability", (1.0 - error_rate) - s["availability"])
        results[trial.number] = (cand, _figures(s))
        return float(s["cost_usd"])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    first = dict(BASELINE)
    if spot_ok:
        first.update(od_base=0, spot_weight=0)
    study.enqueue_trial(first)
    bar = tqdm(total=trials, desc="advise", unit="trial", file=sys.stderr, disable=not progress)
    try:
        study.optimize(objective, n_trials=trials, callbacks=[lambda _s, _t: bar.update()])
    finally:
        bar.close()

    ok = [
        (figs["cost_usd"], n, cand)
        for n, (cand, figs) in results.items()
        if meets_slo(figs, good_minutes, error_rate)
    ]
    if not ok:
        n, (cand, figs) = max(
            results.items(),
            key=lambda kv: (kv[1][1]["good_minutes_fraction"], kv[1][1]["availability"], -kv[0]),
        )
        raise AdviceError(
            f"no configuration of {trials} trials met the SLO (p99 <= {slo_p99_ms:g} ms in "
            f">= {good_minutes:g} of the minutes, availability >= {1 - error_rate:g}) on the "
            f"tuning part; the best found ({cand.describe()}) had good minutes "
            f"{figs['good_minutes_fraction']:.4f}, p99 {figs['latency_p99_ms']:.1f} ms, "
            f"availability {figs['availability']:.5f}: relax --slo-p99-ms or raise --trials"
        )
    _, best_n, best = min(ok, key=lambda x: (x[0], x[1]))
    max_tasks = max_tasks_for(best.cpu)
    data, conf = runner.run(best, confirmation, max_tasks=max_tasks)
    confirmed = meets_slo(conf.summary, good_minutes, error_rate)
    spot = None
    if spot_ok and best.spot_weight > 0:
        spot = _spot_cost(runner, best, confirmation, max_tasks, conf)
    data["name"] = "advice"
    advice = Advice(
        candidate=best,
        tuning=results[best_n][1],
        confirmation=_figures(conf.summary),
        confirmed=confirmed,
        trials=trials,
        feasible_trials=len(ok),
        spot_interruption=spot,
        scenario=data,
        spot_ok=spot_ok,
    )
    if out_file is not None:
        write_scenario(advice, out_file, trace, base, slo_p99_ms, seed, good_minutes)
        advice.out = out_file
    return advice


def _spot_cost(
    runner: _Runner, cand: Candidate, part: Part, max_tasks: int, clean: Any
) -> dict[str, Any]:
    """Every Spot task interrupted at the part's busiest minute, against no interruption."""
    per_minute = part.rate[: len(part.rate) // 60 * 60].reshape(-1, 60).mean(axis=1)
    at = 60.0 * int(np.argmax(per_minute))
    _, hit = runner.run(cand, part, max_tasks=max_tasks, spot_interruption_at=at)
    events = hit.events
    spot_stops = events[events.reason.astype(str).str.contains("SpotInterruption")]
    interrupted = int(spot_stops.task.nunique())
    minutes = len(clean.metrics)
    good0 = clean.summary["good_minutes_fraction"]
    good1 = hit.summary["good_minutes_fraction"]
    return {
        "at_s": at,
        "tasks_interrupted": interrupted,
        "good_minutes_fraction": good1,
        "good_minutes_lost": round((good0 - good1) * minutes),
        "extra_requests_failed": hit.summary["requests_failed"] - clean.summary["requests_failed"],
        "cost_usd": hit.summary["cost_usd"],
    }


def write_scenario(
    advice: Advice,
    path: Path,
    trace: str,
    base_dir: Path,
    slo_p99_ms: float,
    seed: int,
    good_minutes: float,
) -> None:
    """Write the recommendation as a scenario TOML file (atomically: a temporary file in the
    same folder, renamed into place, :func:`experiments.outputs.write_text_atomic`). A trace given as a path is written relative to the
    file's folder, so the pair can move together."""
    from backends.aws_import import to_toml
    from sim.traces.catalog import CATALOG

    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in advice.scenario.items()}
    if trace not in CATALOG:
        src = (base_dir / Path(trace).expanduser()).resolve()
        data["traffic"]["trace"] = os.path.relpath(src, path.parent.resolve())
    header = (
        f"Recommended by `fargate-lab advise` (Optuna TPE, {advice.trials} trials, seed {seed})\n"
        f"for p99 <= {slo_p99_ms:g} ms in >= {good_minutes:g} of the minutes. It replays the\n"
        "confirmation part of the trace, which the search did not see:\n"
        "`fargate-lab simulate` on this file reproduces the confirmation figures."
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, to_toml(data, header=header))


def format_advice(
    advice: Advice, slo_p99_ms: float, good_minutes: float = TUNING_GOOD_MINUTES
) -> str:
    """The advice as people read it: the recommendation, expected cost, margins, fairness."""
    t, c = advice.tuning, advice.confirmation
    days = advice.scenario["run"]["duration"] / 86400.0
    start = advice.scenario["traffic"]["start"]
    lines = [
        f"recommendation: {advice.candidate.describe()}",
        f"search: Optuna TPE, {advice.trials} trials ({advice.feasible_trials} met the SLO) on "
        f"the tuning part; confirmed on the disjoint confirmation part from {start} "
        f"({days * 24:g} h), which the search never saw",
        "",
        f"{'':<26}{'tuning':>14}{'confirmation':>16}",
    ]

    def row(label: str, key: str, fmt: str) -> None:
        lines.append(f"{label:<26}{format(t[key], fmt):>14}{format(c[key], fmt):>16}")

    row("cost (USD)", "cost_usd", ".4f")
    row("good-minutes fraction", "good_minutes_fraction", ".4f")
    row("p99 latency (ms)", "latency_p99_ms", ".1f")
    row("availability", "availability", ".6f")
    lines += [
        "",
        f"expected cost: {c['cost_usd']:.4f} USD for the confirmation part, "
        f"{c['cost_usd'] / days * 30:.2f} USD per 30 days at that load",
        f"margin: good minutes {c['good_minutes_fraction'] - good_minutes:+.4f} over the "
        f"{good_minutes:g} bar; p99 {slo_p99_ms - c['latency_p99_ms']:+.1f} ms under the "
        f"{slo_p99_ms:g} ms SLO",
        "SLO on the confirmation part: "
        + ("met" if advice.confirmed else "NOT met (the tuning part was not representative)"),
    ]
    s = advice.spot_interruption
    if s is not None:
        lines.append(
            f"Spot interruption: every Spot task ({s['tasks_interrupted']}) interrupted at "
            f"{s['at_s'] / 3600:.2f} h (the busiest minute) cost {s['good_minutes_lost']} good "
            f"minutes (good-minutes fraction {c['good_minutes_fraction']:.4f} -> "
            f"{s['good_minutes_fraction']:.4f}) and {s['extra_requests_failed']:.0f} more "
            "failed requests"
        )
    elif advice.spot_ok:
        lines.append(
            "Spot interruption: nothing to interrupt, the cheapest configuration found runs "
            "on-demand only"
        )
    if advice.out is not None:
        lines.append(f"wrote {advice.out}")
    return "\n".join(lines)


def run_advise_command(args: Any, log: Callable[[str], None] = print) -> int:
    """``fargate-lab advise``: the command line's logic (experiments/cli.py parses)."""
    from sim.traffic.config import parse_duration

    duration = None
    if args.duration is not None:
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise AdviceError(f"--duration: {exc}") from None
    advice = advise(
        args.trace,
        args.slo_p99_ms,
        spot_ok=args.spot_ok,
        trials=DEFAULT_TRIALS if args.trials is None else args.trials,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        duration=duration,
        out=args.out,
        progress=not args.quiet,
    )
    log(format_advice(advice, args.slo_p99_ms))
    return 0


__all__ = [
    "Advice",
    "AdviceError",
    "Candidate",
    "advise",
    "format_advice",
    "meets_slo",
    "memory_for",
    "scenario_data",
    "write_scenario",
]
