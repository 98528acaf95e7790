"""``fargate-lab experiment rollouts``: which way of shipping stops how many bad releases, at
what cost in false rollbacks and lead time (issue 10, section 6).

Design. Every configuration (:data:`CONFIGS`: the rollout strategies without analysis, the
canary with each analysis, the risk-driven orchestration and the three pipeline templates)
runs the same ``seeds`` independent simulated stretches. A run is five days from a Wednesday
00:00 (``calendar_offset``) with ``per_day = releases / 3`` releases per working day
(Poisson, no weekend releases: the ``[releases]`` defaults), so about ``releases`` releases
land Wednesday to Friday and the weekend drains the queue (five days rather than a week: a
run's cost is mostly its simulated days); the same seed gives every configuration the same releases, the
same traffic and the same task start-ups (common random numbers). A release still queued,
waiting for approval or in progress at the end of the week is counted in ``releases_total``
but has no lead time (censored: reported per configuration as ``unfinished``). The service
is small and steady (4 tasks, 100 requests/s, ``tick`` 10 s) because the cost of a run is
the driver's rounds, not the traffic.

Statistics: each measure is a mean over the ``seeds`` runs with a 95% Student-t interval
(experiments/stats.py ``ci95``; n = seeds, stated in every table). ``prevention_rate`` is
per run (bad releases stopped before full / bad releases), ``false_rollback_rate`` per run
(good releases rolled back or rejected / good releases), ``lead_time_p50_s`` the run's median
over completed releases. Per kind of bad release the prevention rate is pooled per run (NaN
in a run with none of that kind; the interval is over the runs that had one).

Risk models (:func:`risk_evaluation`): the gating curve and ROC-AUC of ``rules``,
``logistic`` and ``gbm`` scored walk-forward (policies/rollout/risk.py ``walk_forward``) on
``risk_days`` of releases per seed (8 a working day, outcomes known one day after shipping),
against the Bayes-optimal score ``p_bad`` and sim/releases.py ``expected_bayes_auc``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from experiments.pool import run_each
from experiments.stats import ci95

if TYPE_CHECKING:
    from experiments.store import RunStore

#: Bad kinds, in the order of sim/releases.py.
KINDS: tuple[str, ...] = ("crash-loop", "errors", "latency", "late-failure", "partial")
#: threshold's first check after the first published period (README "Releases and rollouts").
_THRESHOLD = {"method": "threshold", "initial_delay": 300}

#: Configuration name -> scenario sections (added to :func:`scenario_dict`'s base).
CONFIGS: dict[str, dict[str, Any]] = {
    "all-at-once": {"rollout": {"strategy": "all-at-once"}},
    "rolling (circuit breaker)": {"rollout": {"strategy": "rolling"}},
    "blue-green": {"rollout": {"strategy": "blue-green"}},
    "canary": {"rollout": {"strategy": "canary"}},
    "linear": {"rollout": {"strategy": "linear"}},
    "CodeDeployDefault.ECSCanary10Percent5Minutes": {
        "rollout": {"strategy": "CodeDeployDefault.ECSCanary10Percent5Minutes"}
    },
    "canary + alarm": {"rollout": {"strategy": "canary"}, "analysis": {"method": "alarm"}},
    "canary + threshold": {"rollout": {"strategy": "canary"}, "analysis": _THRESHOLD},
    "canary + kayenta": {"rollout": {"strategy": "canary"}, "analysis": {"method": "kayenta"}},
    "canary + anomaly": {"rollout": {"strategy": "canary"}, "analysis": {"method": "anomaly"}},
    "risk-driven (rules)": {"risk": {"model": "rules", "orchestrate": True}},
    "pipeline direct": {"pipeline": {"template": "direct"}},
    "pipeline manual-approval": {"pipeline": {"template": "manual-approval"}},
    "pipeline staging-canary-full": {"pipeline": {"template": "staging-canary-full"}},
}
#: The measures of :func:`summary_table`, each with a 95% interval over seeds.
MEASURES: tuple[str, ...] = (
    "releases_total",
    "releases_bad",
    "prevention_rate",
    "false_rollback_rate",
    "lead_time_p50_s",
    "time_to_detect_p50_s",
    "time_to_recover_p50_s",
    "blast_radius_failed_requests",
    "approvals",
    "human_wait_s",
    "unfinished",
)
#: The risk models of the gating curve.
RISK_MODELS: tuple[str, ...] = ("rules", "logistic", "gbm")
DEFAULT_RELEASES = 30
DEFAULT_SEEDS = 4
DEFAULT_RISK_DAYS = 365


def working_days(days: float) -> int:
    """Working days in a run of ``days`` days from a Wednesday 00:00."""
    return sum((2 + i) % 7 < 5 for i in range(math.ceil(days)))


def scenario_dict(config: str, seed: int, releases: int, days: float = 5.0) -> dict[str, Any]:
    """The scenario of one run (see the module docstring; ``days`` < 5 for quick checks)."""
    if config not in CONFIGS:
        raise ValueError(f"unknown configuration {config!r}; allowed: {', '.join(CONFIGS)}")
    if releases < 1:
        raise ValueError(f"--releases must be >= 1, got {releases}")
    if not 0 < days <= 5:
        raise ValueError(f"days must be in (0, 5], got {days}")
    return {
        "run": {"duration": float(days) * 86400.0, "seed": int(seed), "tick": 10},
        "service": {"initial_tasks": 4, "min_tasks": 2, "max_tasks": 20},
        "traffic": {"synthetic": {"base_rps": 100}},
        "releases": {"per_day": releases / working_days(days), "calendar_offset": "2d"},
        **CONFIGS[config],
    }


@dataclass(frozen=True)
class RunSpec:
    config: str
    seed: int
    releases: int
    days: float = 5.0


def run_one(spec: RunSpec) -> pd.DataFrame:
    """One run's ``releases`` table, with ``config`` and ``seed`` columns."""
    from backends.sim import run_scenario
    from sim.scenario import scenario_from_dict

    result = run_scenario(
        scenario_from_dict(scenario_dict(spec.config, spec.seed, spec.releases, spec.days))
    )
    table = result.releases
    if table is None:  # no release drawn: the run is left out of n (rare at the defaults)
        return pd.DataFrame({"config": pd.Series(dtype=str), "seed": pd.Series(dtype=int)})
    return table.assign(config=spec.config, seed=spec.seed)


def run_all(
    specs: Sequence[RunSpec], workers: int, progress: bool, store: RunStore | None = None
) -> pd.DataFrame:
    """Every spec's releases table, in spec order (a process pool when ``workers > 1``).

    With ``store`` only the specs not stored there run, each stored (its releases table) as
    it finishes, and every table is read back from the store, so a resumed call returns
    what an uninterrupted one does (``fargate-lab claims`` resumes this way)."""
    from dataclasses import asdict

    from tqdm import tqdm

    keys = [store.key({"run": "rollouts", **asdict(s)}) for s in specs] if store else []
    todo = store.missing(keys) if store is not None else list(range(len(specs)))
    tables: dict[int, pd.DataFrame] = {}
    with tqdm(
        total=len(specs),
        initial=len(specs) - len(todo),
        desc="rollout runs",
        disable=not progress,
        unit="run",
    ) as bar:

        def finish(i: int, table: pd.DataFrame) -> None:
            if store is not None:
                spec = specs[i]
                store.put(keys[i], {"config": spec.config, "seed": spec.seed}, {"releases": table})
            tables[i] = table
            bar.update()

        for k, table in run_each(run_one, [specs[i] for i in todo], workers):
            finish(todo[k], table)
    if store is not None:
        return pd.concat([store.table(k, "releases") for k in keys], ignore_index=True)
    return pd.concat([tables[i] for i in range(len(specs))], ignore_index=True)


def run_measures(table: pd.DataFrame) -> dict[str, Any]:
    """One run's measures from its releases table (backends/sim_rollout.py release_summary,
    plus the false-rollback rate, the unfinished count and the prevention per kind)."""
    from backends.sim_rollout import release_summary

    row = release_summary(table)
    bad = table["bad"].astype(bool)
    stopped = table["outcome"].isin(["rolled_back", "rejected"])
    n_good = int((~bad).sum())
    row["false_rollback_rate"] = row["false_rollbacks"] / n_good if n_good else math.nan
    row["unfinished"] = int(table["outcome"].isin(["queued", "in_progress"]).sum())
    for kind in KINDS:
        of = table["truth"] == kind
        hit = of & stopped & table["full_s"].isna()
        row[f"prevention_{kind}"] = hit.sum() / of.sum() if of.any() else math.nan
    return row


def per_run_table(releases: pd.DataFrame) -> pd.DataFrame:
    """One row per run (``config``, ``seed``) of the releases of many runs, with
    :func:`run_measures`: the per-seed values the intervals are computed over."""
    return pd.DataFrame(
        [
            {"config": config, "seed": seed, **run_measures(group)}
            for (config, seed), group in releases.groupby(["config", "seed"], sort=False)
        ]
    )


def summary_table(releases: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: ``n`` (seeds), each measure's mean and ``_ci95``."""
    runs = per_run_table(releases)
    rows = []
    columns = [*MEASURES, *(f"prevention_{k}" for k in KINDS)]
    for config, group in runs.groupby("config", sort=False):
        row: dict[str, Any] = {"config": config, "n": len(group)}
        for col in columns:
            mean, half = ci95(group[col].to_numpy(dtype=float))
            row[col], row[f"{col}_ci95"] = mean, half
        rows.append(row)
    return pd.DataFrame(rows)


def risk_evaluation(
    seeds: Sequence[int], days: float = DEFAULT_RISK_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Walk-forward ROC-AUC and gating curves of :data:`RISK_MODELS` and of ``p_bad`` over
    ``days`` of releases per seed. Returns (one row per seed and model with ``roc_auc`` and
    ``caught_at_*``; the gating curves, ``k`` x model, mean over seeds; the Bayes bound)."""
    from policies.rollout.risk import evaluate_risk, gating_curve, make_risk_model, walk_forward
    from sim.releases import (
        DAY_S,
        expected_bayes_auc,
        generate_releases,
        releases_config,
        releases_frame,
    )

    cfg = releases_config({"per_day": 8})
    records, curves = [], []
    for seed in seeds:
        rng = np.random.default_rng([seed, 10])
        rel = releases_frame(generate_releases(cfg, days * DAY_S, rng))
        outcomes = pd.DataFrame(
            {"id": rel["id"], "bad": rel["bad"], "outcome_known_at_s": rel["at_s"] + DAY_S}
        )
        scores = {"bayes (p_bad)": rel["p_bad"].to_numpy(dtype=float)}
        for name in RISK_MODELS:
            scored = walk_forward(
                rel, outcomes, make_risk_model(name), fallback=make_risk_model("rules")
            )
            scores[name] = scored["score"].to_numpy(dtype=float)
        for name, s in scores.items():
            records.append({"seed": seed, "model": name, **evaluate_risk(s, rel["bad"])})
            curve = gating_curve(s, rel["bad"].to_numpy(dtype=bool))
            curves.append(curve.assign(model=name, seed=seed))
    bound = expected_bayes_auc(cfg, np.random.default_rng(0))
    curve = pd.concat(curves).groupby(["model", "k"], as_index=False)["caught_share"].mean()
    return pd.DataFrame(records), curve, bound


def claims(table: pd.DataFrame) -> dict[str, Any]:
    """The two claims of the seed report, from :func:`summary_table`'s table:

    * ``prevents_95``: whether any configuration's mean prevention rate reaches 0.95, with
      ``best_prevention`` (the configuration with the highest mean, its rate, interval,
      false-rollback rate and lead time) and, per bad kind, ``prevention_by_kind``;
    * ``lead_time_speedup``: 1 - lead time p50 of ``pipeline direct`` / that of ``pipeline
      manual-approval`` (0.8 is the "80% faster" claim), ``faster_80`` whether it holds.
    """
    t = table.set_index("config")
    rates = t["prevention_rate"].dropna()
    best = rates.idxmax() if len(rates) else t.index[0]  # no bad release at all: NaN rates
    out: dict[str, Any] = {
        "n_seeds": int(t["n"].min()),
        "prevents_95": bool((t["prevention_rate"] >= 0.95).any()),
        "best_prevention": {
            "config": best,
            "prevention_rate": float(t.at[best, "prevention_rate"]),
            "prevention_rate_ci95": float(t.at[best, "prevention_rate_ci95"]),
            "false_rollback_rate": float(t.at[best, "false_rollback_rate"]),
            "lead_time_p50_s": float(t.at[best, "lead_time_p50_s"]),
        },
        "prevention_by_kind": {
            kind: {
                "best_config": t[f"prevention_{kind}"].dropna().idxmax(),
                "best_rate": float(t[f"prevention_{kind}"].max()),
                "configs_at_95": [c for c in t.index if t.at[c, f"prevention_{kind}"] >= 0.95],
            }
            for kind in KINDS
            if t[f"prevention_{kind}"].notna().any()
        },
    }
    direct = "pipeline direct"
    manual = "pipeline manual-approval"
    if direct in t.index and manual in t.index:
        speedup = 1.0 - t.at[direct, "lead_time_p50_s"] / t.at[manual, "lead_time_p50_s"]
        out["lead_time_direct_s"] = float(t.at[direct, "lead_time_p50_s"])
        out["lead_time_manual_s"] = float(t.at[manual, "lead_time_p50_s"])
        out["lead_time_speedup"] = float(speedup)
        out["faster_80"] = bool(speedup >= 0.8)
    return out


def rollout_measures(
    releases: int = DEFAULT_RELEASES,
    seeds: int = DEFAULT_SEEDS,
    workers: int | None = None,
    configs: Sequence[str] | None = None,
    risk_days: float = DEFAULT_RISK_DAYS,
    progress: bool = False,
    days: float = 5.0,
) -> dict[str, Any]:
    """Run the experiment and return its measures: ``table`` (:func:`summary_table`),
    ``releases`` (every run's releases table), ``risk`` and ``gating`` (:func:`risk_evaluation`),
    ``bayes_auc`` and ``claims`` (:func:`claims`). For the claims table."""
    names = list(CONFIGS) if configs is None else list(configs)
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration {unknown[0]!r}; allowed: {', '.join(CONFIGS)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if releases < 1:
        raise ValueError(f"--releases must be >= 1, got {releases}")
    workers = workers or min(os.cpu_count() or 1, 2)
    specs = [RunSpec(c, s, releases, days) for s in range(1, seeds + 1) for c in names]
    table = run_all(specs, workers, progress)
    summary = summary_table(table)
    summary["config"] = pd.Categorical(summary["config"], names, ordered=True)
    summary = summary.sort_values("config").reset_index(drop=True)
    summary["config"] = summary["config"].astype(str)
    risk, gating, bound = risk_evaluation(range(1, seeds + 1), risk_days)
    return {
        "table": summary,
        "releases": table,
        "risk": risk,
        "gating": gating,
        "bayes_auc": bound,
        "claims": claims(summary),
    }


def _fmt(mean: float, half: float, scale: float = 1.0, digits: int = 2) -> str:
    if not math.isfinite(mean):
        return "n/a"
    text = f"{mean * scale:.{digits}f}"
    return text + (f" ± {half * scale:.{digits}f}" if math.isfinite(half) else "")


def report_text(measures: dict[str, Any], releases: int) -> str:
    """report.md: the tables and the plain statement of both claims."""
    t = measures["table"]
    c = measures["claims"]
    n = c["n_seeds"]
    lines = [
        "# Rollouts: prevention, false rollbacks and lead time",
        "",
        f"{len(t)} configurations x {n} independent simulated runs (seeds 1..{n}; five days, "
        f"Wednesday to Sunday, releases Wednesday to Friday), about {releases} releases each ({int(measures['releases'].shape[0])} simulated "
        "releases in all); mean ± 95% Student-t half-width over the n = "
        f"{n} seeds. Prevention: bad releases rolled back (or rejected) before they reached "
        "100% of traffic / bad releases. False rollbacks: good releases rolled back or "
        "rejected / good releases. Lead time: arrival to fully deployed, median over the "
        "completed releases (h).",
        "",
        "| configuration | bad / run | prevention % | false rollbacks % | lead time p50 (h) "
        "| approvals / run | unfinished / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in t.iterrows():
        lines.append(
            f"| {r.config} | {_fmt(r.releases_bad, r.releases_bad_ci95, digits=1)} "
            f"| {_fmt(r.prevention_rate, r.prevention_rate_ci95, 100, 0)} "
            f"| {_fmt(r.false_rollback_rate, r.false_rollback_rate_ci95, 100, 1)} "
            f"| {_fmt(r.lead_time_p50_s, r.lead_time_p50_s_ci95, 1 / 3600, 2)} "
            f"| {_fmt(r.approvals, r.approvals_ci95, digits=1)} "
            f"| {_fmt(r.unfinished, r.unfinished_ci95, digits=1)} |"
        )
    lines += [
        "",
        "Prevention by kind of bad release (%, mean ± 95% CI over the runs that had one):",
        "",
    ]
    lines.append("| configuration | " + " | ".join(KINDS) + " |")
    lines.append("|---|" + "---|" * len(KINDS))
    for _, r in t.iterrows():
        cells = [_fmt(r[f"prevention_{k}"], r[f"prevention_{k}_ci95"], 100, 0) for k in KINDS]
        lines.append(f"| {r.config} | " + " | ".join(cells) + " |")
    best = c["best_prevention"]
    verdict = "holds" if c["prevents_95"] else "does not hold"
    lines += [
        "",
        "## The claims",
        "",
        f'**"Prevents 95% of deployment failures" {verdict} for any configuration here.** '
        f"The best is {best['config']}: {best['prevention_rate'] * 100:.0f}% "
        f"(± {best['prevention_rate_ci95'] * 100:.0f}) of bad releases stopped before full "
        f"traffic, at a false-rollback rate of {best['false_rollback_rate'] * 100:.1f}% and a "
        f"median lead time of {best['lead_time_p50_s'] / 60:.0f} min. Per kind:",
        "",
    ]
    for kind, k in c["prevention_by_kind"].items():
        at95 = ", ".join(k["configs_at_95"]) or "none"
        lines.append(
            f"- {kind}: best {k['best_config']} ({k['best_rate'] * 100:.0f}%); at 95% or more: "
            f"{at95}"
        )
    if "lead_time_speedup" in c:
        faster = "holds" if c["faster_80"] else "does not hold"
        lines += [
            "",
            f'**"Automated pipelines make deployments 80% faster" {faster} here**: median lead '
            f"time {c['lead_time_direct_s'] / 60:.0f} min with the automated `direct` pipeline "
            f"against {c['lead_time_manual_s'] / 3600:.1f} h with `manual-approval` (4 h "
            f"median approval in working hours), {c['lead_time_speedup'] * 100:.0f}% shorter. "
            "The figure is set by the approval latency, a parameter without a public source.",
        ]
    risk = measures["risk"]
    agg = risk.groupby("model", sort=False).agg(
        auc=("roc_auc", "mean"),
        auc_sd=("roc_auc", "std"),
        c5=("caught_at_5pct", "mean"),
        c10=("caught_at_10pct", "mean"),
        c50=("caught_at_50pct", "mean"),
    )
    lines += [
        "",
        "## Risk models",
        "",
        f"Walk-forward on {risk['seed'].nunique()} seeds of releases (8 a working day, "
        f"outcomes known a day after shipping; mean over seeds, sd in brackets). The "
        f"Bayes-optimal bound (`expected_bayes_auc`) is {measures['bayes_auc']:.3f}.",
        "",
        "| model | ROC-AUC | caught gating 5% / 10% / 50% |",
        "|---|---|---|",
    ]
    for model, r in agg.iterrows():
        lines.append(
            f"| {model} | {r.auc:.3f} ({r.auc_sd:.3f}) | {r.c5 * 100:.1f}% / {r.c10 * 100:.1f}% "
            f"/ {r.c50 * 100:.1f}% |"
        )
    lines += ["", "Figures: prevention.png (prevention against false rollbacks), gating.png.", ""]
    return "\n".join(lines)


def write_figures(measures: dict[str, Any], out: Path) -> None:
    """prevention.png and gating.png into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = measures["table"]
    fig, ax = plt.subplots(figsize=(8, 6))
    markers = "osD^v<>phX*P8H"
    for i, (_, r) in enumerate(t.iterrows()):
        ax.errorbar(
            r.false_rollback_rate * 100,
            r.prevention_rate * 100,
            xerr=np.nan_to_num(r.false_rollback_rate_ci95 * 100),
            yerr=np.nan_to_num(r.prevention_rate_ci95 * 100),
            fmt=markers[i % len(markers)],
            capsize=3,
            label=r.config,
        )
    ax.axhline(95, color="grey", ls="--", lw=1)
    ax.text(0, 95.5, '"prevents 95%"', color="grey", fontsize=8)
    ax.set_xlabel("false rollbacks (% of good releases)")
    ax.set_ylabel("bad releases stopped before full traffic (%)")
    ax.set_title(f"Prevention against false rollbacks (95% CI, n = {int(t['n'].min())} seeds)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "prevention.png", dpi=110)
    plt.close(fig)

    g = measures["gating"]
    fig, ax = plt.subplots(figsize=(6, 5))
    for model, curve in g.groupby("model", sort=False):
        ax.plot(curve["k"] * 100, curve["caught_share"] * 100, label=model)
    ax.plot([0, 100], [0, 100], color="grey", ls=":", label="random")
    ax.set_xlabel("riskiest releases gated (%)")
    ax.set_ylabel("bad releases caught (%)")
    ax.set_title(f"Gating curve (Bayes bound AUC {measures['bayes_auc']:.3f})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "gating.png", dpi=110)
    plt.close(fig)


def run_experiment(
    out: Path,
    releases: int = DEFAULT_RELEASES,
    seeds: int = DEFAULT_SEEDS,
    workers: int | None = None,
    configs: Sequence[str] | None = None,
    risk_days: float = DEFAULT_RISK_DAYS,
    progress: bool = True,
    days: float = 5.0,
) -> dict[str, Any]:
    """Run the experiment and write report.md, table.csv, risk.csv, gating.csv,
    releases.parquet (every run's releases table) and the figures into
    ``out`` (whole or not at all: experiments/outputs.py)."""
    from experiments.outputs import check_out_dir, staged_output

    check_out_dir(out)
    measures = rollout_measures(releases, seeds, workers, configs, risk_days, progress, days)
    with staged_output(out) as tmp:
        measures["table"].to_csv(tmp / "table.csv", index=False)
        measures["risk"].to_csv(tmp / "risk.csv", index=False)
        measures["gating"].to_csv(tmp / "gating.csv", index=False)
        measures["releases"].to_parquet(tmp / "releases.parquet", index=False)
        (tmp / "report.md").write_text(report_text(measures, releases))
        write_figures(measures, tmp)
    return measures
