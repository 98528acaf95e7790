"""``fargate-lab claims [--out DIR]``: the claims table (README, "The claims table").

Each claim made for "AI-native" container orchestration is one row: the claim, our
measurement with its 95% confidence interval (Student t over ``n`` independent windows,
:func:`experiments.sweep_report.mean_ci`), the conditions, and the verdict: *holds*, *does
not hold*, *holds only when ...*, or *inconclusive* (the interval straddles the claimed
figure). The spec is ``experiments/specs/claims.toml``.

The runs are the autoscaling experiment's (:func:`experiments.autoscaling.run_experiment`:
its independent windows of the catalog's real traces, warm-start history, tuning rule, SLO
and good minutes), with the policies the claims need, plus the same evaluation windows again
with faults on (an AZ outage and Fargate Spot interruptions, :func:`fault_overrides`):

* **Cost.** Per window, the saving ``1 - cost / baseline cost`` of each "AI" policy against
  static provisioning for the window's peak, and against well-tuned target tracking *at
  equal quality* on both measures, as the autoscaling experiment compares
  (:func:`experiments.stats.cost_at_quality`): its cost read off its Pareto fronts over its
  seven targets at the AI policy's own good-minutes fraction and at its request availability,
  the larger of the two. A window where
  the AI policy misses the SLO (:func:`experiments.advise.meets_slo` with the experiment's
  good-minutes bar) does not count: being cheaper by being worse is no saving.
* **Forecast accuracy.** 1 - MAPE of the predictive policy's own hourly forecast against the
  load that came (experiments/forecast_accuracy.py), and the share of minutes in which the
  load needed more tasks than were serving (1 - ``covered_fraction``).
* **Uptime.** Request availability (served / offered) of each policy with the faults on.
* **Rollouts.** :data:`ROLLOUT_MEASURES` (experiments/claims_rollouts.py): runs of the
  rollouts experiment's configurations over ``[rollouts] seeds`` independent seeds; the risk
  orchestration's prevention rate, and two ratios paired per seed (lead time direct against
  manual approval, approvals with risk tiers against approval of every release).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from experiments.store import RunStore

SPECS = Path(__file__).parent / "specs"
CLAIMS_SPEC = SPECS / "claims.toml"
DEMO_SPEC = SPECS / "claims-demo.toml"


class ClaimsSpecError(ValueError):
    """A claims spec that cannot run; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSection(_Section):
    traces: list[str] = Field(min_length=1)
    days: float = Field(gt=0)
    windows: int = Field(ge=1)


class CostSection(_Section):
    claim: str
    ai: list[str] = Field(min_length=1)
    baselines: list[str] = Field(min_length=1)
    low: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> CostSection:
        allowed = ("static", "target-tracking")
        bad = [b for b in self.baselines if b not in allowed]
        if bad:
            raise ValueError(f"baselines {bad}: allowed values are {', '.join(allowed)}")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


class ForecastSection(_Section):
    claim: str
    target: float = Field(gt=0, le=1)


class UptimeSection(_Section):
    claim: str
    target: float = Field(gt=0, le=1)
    policies: list[str] = Field(min_length=1)
    az_outage_at: float = Field(ge=0, lt=1)
    az_outage_duration: float = Field(gt=0)
    spot_weight: int = Field(ge=0)
    spot_interruptions_per_task_hour: float = Field(ge=0)


class RolloutClaim(_Section):
    claim: str
    measure: str
    target: float = Field(gt=0, le=1)


class RolloutsSection(_Section):
    """``[rollouts]``: the runs of the rollout rows (experiments/claims_rollouts.py) and the
    three claims, each optional (a claim left out is not in the table)."""

    seeds: int = Field(4, ge=2)  # independent runs per configuration; an interval needs 2
    releases: int = Field(30, ge=1)  # about this many releases a run
    days: float = Field(5.0, gt=0, le=5)  # a run's length, from a Wednesday 00:00
    candidates: list[str] = Field(default_factory=list)  # also run, for the best prevention
    prevention: RolloutClaim | None = None
    lead_time: RolloutClaim | None = None
    interventions: RolloutClaim | None = None

    @model_validator(mode="after")
    def _check(self) -> RolloutsSection:
        from experiments.rollouts import CONFIGS

        bad = [c for c in self.candidates if c not in CONFIGS]
        if bad:
            raise ValueError(f"candidates {bad}: allowed values are {', '.join(CONFIGS)}")
        return self

    def claims(self) -> dict[str, RolloutClaim]:
        """The claims present, by key, in table order."""
        found = {k: getattr(self, k) for k in ("prevention", "lead_time", "interventions")}
        return {k: c for k, c in found.items() if c is not None}


class ClaimsSpec(_Section):
    run: RunSection
    cost: CostSection
    forecast: ForecastSection
    uptime: UptimeSection
    rollouts: RolloutsSection = Field(default_factory=RolloutsSection)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_claims_spec(
    path: str | Path = CLAIMS_SPEC, overrides: dict[str, Any] | None = None
) -> ClaimsSpec:
    """Read a claims spec. A spec may name another with ``base = "file.toml"`` (relative to
    it) and override only some of its sections' keys (claims-demo.toml does); ``overrides``
    (``{"run": {"days": 0.25}}``) are merged last. Bad keys or values raise
    :class:`ClaimsSpecError` naming the file, the key and what is allowed."""
    path = Path(path)

    def read(p: Path) -> dict[str, Any]:
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ClaimsSpecError(f"{p}: cannot read claims spec: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ClaimsSpecError(f"{p}: not valid TOML: {exc}") from None
        base = data.pop("base", None)
        if base is None:
            return data
        if not isinstance(base, str):
            raise ClaimsSpecError(f"{p}: base: expected a file name, got {base!r}")
        return _merge(read(p.parent / base), data)

    data = _merge(read(path), overrides or {})
    try:
        spec = ClaimsSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(spec)'}: {e['msg']}" for e in exc.errors()
        )
        raise ClaimsSpecError(f"{path}: {problems}") from None
    from experiments.autoscaling import TRACES

    unknown = sorted(set(spec.run.traces) - set(TRACES))
    if unknown:
        raise ClaimsSpecError(f"{path}: run.traces: unknown {unknown}; allowed: {list(TRACES)}")
    return spec


def ai_policies(spec: ClaimsSpec) -> tuple[list[str], list[str]]:
    """The cost claim's AI policies that can run now, and a note for each one left out: a
    name must be in the policy registry (checked at run time) and known to the autoscaling
    experiment."""
    from experiments.autoscaling import POLICIES
    from policies import registry

    names = set(registry.names())
    keep, notes = [], []
    for p in spec.cost.ai:
        if p not in names:
            notes.append(f"`{p}` is not in the policy registry, so it was not measured")
        elif p not in POLICIES:
            notes.append(f"`{p}` is registered but the autoscaling experiment cannot run it yet")
        else:
            keep.append(p)
    return keep, notes


def fault_overrides(spec: ClaimsSpec, days: float, azs: Sequence[str]) -> tuple[str, ...]:
    """Scenario overrides of the uptime runs: FARGATE (base = the service's minimum, weight
    1) beside FARGATE_SPOT (``spot_weight``), Spot interruptions at the spec's rate, and the
    first AZ out at ``az_outage_at`` of the window for ``az_outage_duration`` seconds."""
    from experiments.autoscaling_windows import DAY_S, SERVICE

    u = spec.uptime
    at = u.az_outage_at * days * DAY_S
    return (
        "service.capacity_providers=["
        f'{{name = "FARGATE", base = {SERVICE["min_tasks"]}, weight = 1}}, '
        f'{{name = "FARGATE_SPOT", base = 0, weight = {u.spot_weight}}}]',
        f"faults.spot_interruptions_per_task_hour = {u.spot_interruptions_per_task_hour!r}",
        f'faults.az_outages = [{{az = "{azs[0]}", at = {at!r}, duration = {u.az_outage_duration!r}}}]',
    )


# -- rows ----------------------------------------------------------------------------------


@dataclass
class Measure:
    """One measured quantity: mean, 95% CI and the number of independent samples."""

    label: str
    mean: float
    low: float
    high: float
    n: int
    verdict: str = ""

    @classmethod
    def of(cls, label: str, values: Sequence[float]) -> Measure:
        from experiments.sweep_report import mean_ci

        mean, low, high, n = mean_ci(np.asarray(values, dtype=float), "t")
        return cls(label, mean, low, high, n)

    def text(self, clip: bool = False, digits: int = 1) -> str:
        """ "label: mean [low, high], n = n" in percent with ``digits`` decimals; ``clip``
        caps the interval at 100% (a share)."""
        if not math.isfinite(self.mean):
            return f"{self.label}: n/a (n = {self.n})"

        def f(x: float) -> str:
            return f"{100 * x:.{digits}f}%"

        lo, hi = self.low, self.high
        if clip:  # a share cannot exceed 1; the t interval of values near 1 can
            lo, hi = min(lo, 1.0), min(hi, 1.0)
        ci = f" [{f(lo)}, {f(hi)}]" if math.isfinite(lo) else " (no interval)"
        return f"{self.label}: {f(self.mean)}{ci}, n = {self.n}"


def at_least(m: Measure, target: float) -> str:
    """Verdict of "at least ``target``" from the 95% interval."""
    if m.n == 0 or not math.isfinite(m.mean):
        return "not measured"
    if not math.isfinite(m.low):
        return "inconclusive (one sample, no interval)"
    if m.low >= target:
        return "holds"
    if m.high < target:
        return "does not hold"
    return f"inconclusive (the interval straddles {100 * target:g}%)"


@dataclass
class ClaimRow:
    """A row of the claims table; ``measures`` feed claims.csv and the notebook."""

    key: str
    claim: str
    measures: list[Measure]
    conditions: str
    verdict: str
    notes: list[str] = field(default_factory=list)


def cost_savings(runs: pd.DataFrame, ai: str, baseline: str, bar: float, error_rate: float):
    """Per (trace, window) of ``runs`` (the experiment's runs.parquet): the saving of ``ai``
    against ``baseline`` (NaN when ``ai`` missed the SLO, or target tracking's fronts never
    reach any quality), whether ``ai`` met the SLO, and ``bound``.

    Against target tracking, ``ref`` is its cost at ``ai``'s quality on both measures
    (:data:`experiments.stats.QUALITY_MEASURES`: good minutes and availability), the larger
    of its two front costs (:func:`experiments.stats.cost_at_quality`). ``bound``: a front
    never reaches ``ai``'s value on its measure, so that value is lowered to the front's best
    and the saving is a lower bound of the saving at equal quality."""
    from experiments.advise import meets_slo
    from experiments.stats import QUALITY_MEASURES, cost_at_quality

    rows = []
    for (trace, window), g in runs.groupby(["trace", "window"], sort=True):
        mine = g[(g.policy == ai) & (g.kind == "evaluation")]
        if not len(mine):
            continue
        m = mine.iloc[0]
        bound = False
        if baseline == "target-tracking":  # every setting run on the window: its fronts
            base = g[g.policy == baseline]
            at = {q: float(m[q]) for q in QUALITY_MEASURES}
            ref = cost_at_quality(base, at) if len(base) else math.nan
            if math.isnan(ref) and len(base):
                # A front never gets there: its cost at its best quality on that measure is
                # what it pays for less, so the saving against it is a lower bound.
                best = {q: min(v, float(np.nanmax(base[q].to_numpy(float)))) for q, v in at.items()}
                ref, bound = cost_at_quality(base, best), True
        else:
            base = g[(g.policy == baseline) & (g.kind == "evaluation")]
            ref = float(base.cost_usd.iloc[0]) if len(base) else math.nan
        ok = bool(meets_slo(m, bar, error_rate))
        saving = 1.0 - float(m.cost_usd) / ref if ok and math.isfinite(ref) else math.nan
        rows.append(
            {
                "trace": trace,
                "window": window,
                "meets_slo": ok,
                "ref": ref,
                "bound": bound,
                "saving": saving,
            }
        )
    return pd.DataFrame(rows, columns=["trace", "window", "meets_slo", "ref", "bound", "saving"])


def cost_row(spec: ClaimsSpec, runs: pd.DataFrame, ai: list[str], notes: list[str]) -> ClaimRow:
    from experiments.autoscaling import SLO, TUNING_GOOD_MINUTES

    c = spec.cost
    measures, holds = [], {}
    for a in ai:
        for b in c.baselines:
            s = cost_savings(runs, a, b, TUNING_GOOD_MINUTES, SLO["error_rate"])
            m = Measure.of(f"{a} vs {b}", s.saving.dropna())
            missed = int((~s.meets_slo).sum())
            bound = int((s.meets_slo & s.bound).sum())
            v = at_least(m, c.low) if m.n else "does not hold (no window counted)"
            if v == "holds" and m.low > c.high:
                v = f"holds (more than the claimed {100 * c.high:g}%)"
            if missed:
                v += f"; missed the SLO in {missed} of {len(s)} windows (not counted)"
                if v.startswith("holds"):
                    v = f"holds only when {a} meets the SLO ({len(s) - missed} of {len(s)} windows)"
            if bound:
                v += (
                    f"; in {bound} windows {b} never reaches its quality at any target: the "
                    "saving there is against its best quality, a lower bound"
                )
            m.verdict = v
            measures.append(m)
            holds[(a, b)] = v.startswith("holds")
    winners = [a for a in ai if all(holds[(a, b)] for b in c.baselines)]
    only: dict[str, list[str]] = {
        b: [a for a in ai if holds[(a, b)] and a not in winners] for b in c.baselines
    }
    names = {"static": "static provisioning for the peak", "target-tracking": "target tracking"}
    if not ai:
        verdict = "not measured (no AI policy available)"
    elif winners:
        verdict = "holds for " + ", ".join(winners)
    elif any(only.values()):
        verdict = "; ".join(
            f"holds only when the baseline is {names[b]} ({', '.join(ps)})"
            for b, ps in only.items()
            if ps
        )
    elif all(m.verdict.startswith("does not hold") for m in measures):
        verdict = "does not hold"
    else:
        verdict = "inconclusive: " + "; ".join(
            f"{m.label} {m.verdict.split(' (')[0].split(';')[0]}" for m in measures
        )
    conditions = (
        f"saving = 1 - cost / baseline's, per window; {c.low:.0%}-{c.high:.0%} claimed; "
        f"baselines: static sized for each window's peak, target tracking tuned on a "
        "separate window and compared at equal quality on good minutes and availability (the "
        f"larger of its two Pareto fronts' costs over 7 targets); a window counts only if the AI policy meets the SLO (good minutes >= "
        f"{TUNING_GOOD_MINUTES:g}, availability >= {1 - SLO['error_rate']:g}, p99 <= "
        f"{SLO['p99_ms']:g} ms)"
    )
    return ClaimRow("cost", c.claim, measures, conditions, verdict, notes)


def forecast_row(spec: ClaimsSpec, runs: pd.DataFrame) -> ClaimRow:
    f = spec.forecast
    pred = runs[(runs.policy == "predictive") & (runs.kind == "evaluation")]
    if "forecast_accuracy" not in pred or not len(pred):
        return ClaimRow("forecast", f.claim, [], "", "not measured (no predictive runs)")
    acc = Measure.of("1 - MAPE", pred.forecast_accuracy)
    acc.verdict = at_least(acc, f.target)
    under = Measure.of("minutes short of capacity", 1.0 - pred.covered_fraction)
    hours = int(pred.forecast_hours.sum())
    from experiments.autoscaling_windows import HISTORY_DAYS

    conditions = (
        f"predictive scaling's own hourly forecast (0-6 h ahead, refreshed every 6 h, "
        f"{HISTORY_DAYS:g} days of warm-start history) against the hourly mean RequestCount; {hours} hours scored; "
        "'short of capacity': minutes in which the load needed more tasks than were serving"
    )
    return ClaimRow("forecast", f.claim, [acc, under], conditions, acc.verdict)


def uptime_row(
    spec: ClaimsSpec, faults: pd.DataFrame, runs: pd.DataFrame | None = None
) -> ClaimRow:
    """The uptime claim from the fault runs; with ``runs`` (the experiment's), each policy's
    availability on the same windows without faults beside it (no verdict: a reference that
    tells the faults' share of the losses from the policy's own)."""
    u = spec.uptime
    measures, reference = [], []
    for p in u.policies:
        m = Measure.of(p, faults.loc[faults.policy == p, "availability"])
        m.verdict = at_least(m, u.target)
        measures.append(m)
        if runs is not None:
            calm = runs[(runs.policy == p) & (runs.kind == "evaluation")].availability
            reference.append(Measure.of(f"{p}, no faults", calm))
    ok = [m.label for m in measures if m.verdict == "holds"]
    no = [m.label for m in measures if m.verdict == "does not hold"]
    unsure = [m.label for m in measures if m.label not in ok + no]
    if len(ok) == len(measures):
        verdict = "holds"
    elif ok:
        verdict = "holds only with " + ", ".join(ok)
    elif len(no) == len(measures):
        verdict = "does not hold"
    elif no:
        verdict = f"does not hold for {', '.join(no)}; inconclusive for {', '.join(unsure)}"
    else:
        verdict = f"inconclusive for {', '.join(unsure)} (each policy's interval: see the measures)"
    conditions = (
        f"request availability per window; one AZ of three out for "
        f"{u.az_outage_duration / 3600:g} h at {u.az_outage_at:.0%} of the window; Fargate "
        f"Spot weight {u.spot_weight} beside on-demand weight 1 (on-demand base = minimum "
        f"tasks), {u.spot_interruptions_per_task_hour:g} interruptions per Spot task-hour "
        "with the 2-minute notice; each policy at its tuned setting"
    )
    return ClaimRow("uptime", u.claim, measures + reference, conditions, verdict)


def _rollout_measures() -> dict[str, Callable[[pd.DataFrame], Any] | None]:
    from experiments import claims_rollouts as cr

    return {
        "prevention": cr.prevention,
        "lead_time": cr.lead_time,
        "interventions": cr.interventions,
    }


#: The rollout claims: key (a ``[rollouts.KEY]`` of claims.toml) -> a function of the rollout
#: runs (one row per configuration and seed, ``rollouts/runs.parquet``) returning a
#: :class:`experiments.claims_rollouts.RolloutMeasure`: the measure's value per independent
#: seed, as that section's ``measure`` defines it (a fraction; the claim holds when the 95%
#: interval is at or above ``target``), and the conditions. None: "not yet measured".
ROLLOUT_MEASURES: dict[str, Callable[[pd.DataFrame], Any] | None] = _rollout_measures()


def rollout_row(key: str, claim: RolloutClaim, runs: pd.DataFrame | None) -> ClaimRow:
    """A rollout claim's row from the rollout runs (None: not run, "not yet measured")."""
    measure = ROLLOUT_MEASURES.get(key)
    if measure is None or runs is None:
        return ClaimRow(key, claim.claim, [], claim.measure, "not yet measured")
    got = measure(runs)
    m = Measure.of(key, list(got.values))
    m.verdict = at_least(m, claim.target)
    verdict = m.verdict
    if verdict == "holds" and got.only_when:
        verdict = f"holds only when {got.only_when}"
    return ClaimRow(key, claim.claim, [m], f"{claim.measure}; {got.conditions}", verdict)


# -- running and writing -------------------------------------------------------------------


def run_claims(
    out: str | Path,
    spec_path: str | Path = CLAIMS_SPEC,
    *,
    overrides: dict[str, Any] | None = None,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[ClaimRow]:
    """Run the claims spec and write into ``out``: ``claims.md`` (the table), ``claims.csv``
    (one line per measure), ``faults.parquet`` (the uptime runs), ``spec.json``,
    ``autoscaling/`` (the experiment's folder, its report.md included) and, when the spec has
    rollout claims, ``rollouts/`` (:func:`experiments.claims_rollouts.run_rollouts`). Return
    the rows.

    Every run is kept in ``out/runs`` as it finishes (:class:`experiments.store.RunStore`,
    keyed by what the run is and the code version): a re-run with the same ``out`` runs only
    the runs not stored there, so an interrupted or failed run resumes with nothing lost and
    nothing run twice, and a changed spec or code version runs its own runs, never mixing in
    the old ones. The tables and reports are written together once every run is done, each
    file replacing the previous one atomically (:func:`experiments.outputs.staged_output`)."""
    from experiments.autoscaling import RunsStopped
    from experiments.outputs import Interrupted, check_out_dir, staged_output
    from experiments.store import RunStore
    from sim.traces.load import load_catalog_trace

    spec = load_claims_spec(spec_path, overrides)
    ai, notes = ai_policies(spec)
    out = check_out_dir(out)
    for trace in spec.run.traces:  # fetched (or refused, offline) before any work
        load_catalog_trace(trace)
    r = spec.run
    store = RunStore(out / "runs")
    log(
        f"claims: the autoscaling experiment on {', '.join(r.traces)} ({r.days:g}-day "
        f"windows, up to {r.windows} per trace), then the same windows with faults on"
        + (f"; {store.found} runs already stored in {store.root}" if store.found else "")
    )
    try:
        with staged_output(out) as staging:
            rows = _run_claims(
                staging, spec, Path(spec_path), ai, notes, workers, progress, log, store
            )
    except (Interrupted, RunsStopped, KeyboardInterrupt):
        raise Interrupted(
            f"interrupted (Ctrl-C): the {len(store.executed)} runs finished now are kept in "
            f"{store.root}; run the same command again to run only the rest"
        ) from None
    log(
        f"claims: {len(store.executed)} runs run now, {store.reused()} read from {store.root}"
        + (
            f"; {store.unused()} stored runs there are of another spec or code version "
            "and were not used"
            if store.unused()
            else ""
        )
    )
    log(f"wrote claims.md, claims.csv, faults.parquet, autoscaling/ and rollouts/ in {out}")
    return rows


def _run_claims(
    staging: Path,
    spec: ClaimsSpec,
    spec_path: Path,
    ai: list[str],
    notes: list[str],
    workers: int | None,
    progress: bool,
    log: Callable[[str], None],
    store: RunStore | None = None,
) -> list[ClaimRow]:
    from experiments.autoscaling import RunSpec, run_all, run_experiment
    from experiments.autoscaling_windows import WINDOW_STEP_DAYS, layout
    from sim.scenario import ServiceConfig

    r = spec.run
    policies = list(dict.fromkeys([*spec.cost.baselines, "target-tracking", *ai]))
    exp = staging / "autoscaling"
    run_experiment(
        exp,
        traces=r.traces,
        policies=policies + [p for p in spec.uptime.policies if p not in policies],
        seeds=range(1, r.windows + 1),
        days=r.days,
        workers=workers,
        progress=progress,
        log=log,
        store=store,
    )
    runs = pd.read_parquet(exp / "runs.parquet")
    tuned = json.loads((exp / "config.json").read_text())["tuned"]
    azs = ServiceConfig().azs
    over = fault_overrides(spec, r.days, azs)
    fault_specs = [
        RunSpec(w, p, tuned[t].get(p), "faults", over)
        for t in r.traces
        for w in layout(t, r.days, r.windows, WINDOW_STEP_DAYS)[1:]
        for p in spec.uptime.policies
    ]
    n_workers = workers or os.cpu_count() or 1
    faults = pd.DataFrame(run_all(fault_specs, n_workers, progress, desc="faults", store=store))
    faults.to_parquet(staging / "faults.parquet", index=False)
    rollout_runs = None
    ro = spec.rollouts
    if ro.claims():
        from experiments.claims_rollouts import configs, run_rollouts

        log(
            f"claims: the rollout runs, {', '.join(configs(ro.candidates))} x {ro.seeds} seeds "
            f"of {ro.days:g} days"
        )
        rollout_runs = run_rollouts(
            staging / "rollouts",
            ro.seeds,
            ro.releases,
            ro.days,
            ro.candidates,
            workers,
            progress,
            store,
        )
    rows = [
        cost_row(spec, runs, ai, notes),
        forecast_row(spec, runs),
        uptime_row(spec, faults, runs),
        *(rollout_row(k, c, rollout_runs) for k, c in ro.claims().items()),
    ]
    claims_frame(rows).to_csv(staging / "claims.csv", index=False)
    (staging / "spec.json").write_text(json.dumps(spec.model_dump(), indent=2) + "\n")
    (staging / "claims.md").write_text(claims_markdown(rows, spec, spec_path))
    return rows


def claims_frame(rows: Sequence[ClaimRow]) -> pd.DataFrame:
    """claims.csv: one line per measure (a claim without one: a line with NaN values)."""
    lines = []
    for row in rows:
        base = {"key": row.key, "claim": row.claim, "claim_verdict": row.verdict}
        if not row.measures:
            lines.append({**base, "label": "", "mean": math.nan, "low": math.nan})
        for m in row.measures:
            lines.append({**base, **asdict(m)})
    cols = ["key", "claim", "claim_verdict", "label", "mean", "low", "high", "n", "verdict"]
    return pd.DataFrame(lines).reindex(columns=cols)


def claims_markdown(rows: Sequence[ClaimRow], spec: ClaimsSpec, spec_path: Path) -> str:
    r = spec.run
    lines = [
        "# Claims table",
        "",
        f"Spec `{spec_path.name}`: traces {', '.join(r.traces)}; windows of {r.days:g} days, "
        f"up to {r.windows} independent evaluation windows per trace. Measurements: mean "
        "and 95% confidence interval (Student t over independent windows), n = windows. "
        "Details of every run: `autoscaling/report.md`. Rollout rows: n = independent "
        f"seeds of `fargate-lab experiment rollouts` configurations ({spec.rollouts.seeds} "
        f"seeds of {spec.rollouts.days:g} days), `rollouts/table.csv`.",
        "",
        "| claim | our measurement (95% CI, n) | conditions | verdict |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row.measures:
            # shares, and 1 - a ratio of non-negative numbers: none can exceed 100%
            clip = row.key in ("uptime", "forecast", *spec.rollouts.claims())
            digits = 3 if row.key == "uptime" else 1  # 99.9% needs the third decimal
            cell = "<br>".join(
                m.text(clip=clip, digits=digits)
                + (f" ({m.verdict})" if len(row.measures) > 1 and m.verdict else "")
                for m in row.measures
            )
        else:
            cell = "not yet measured" if row.verdict == "not yet measured" else "n/a"
        cond = row.conditions.replace("|", "/")
        lines.append(f"| {row.claim} | {cell} | {cond} | **{row.verdict}** |")
    notes = [n for row in rows for n in row.notes]
    if notes:
        lines += ["", "Notes: " + "; ".join(notes) + "."]
    return "\n".join(lines) + "\n"
