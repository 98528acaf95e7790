"""The three rollout rows of the claims table (experiments/claims.py ``ROLLOUT_MEASURES``),
measured on runs of `fargate-lab experiment rollouts` (experiments/rollouts.py).

The runs: the configurations the rows need (:data:`RISK`, :data:`DIRECT`, :data:`MANUAL`)
plus the spec's ``[rollouts] candidates`` for the best prevention rate, each over the same
``seeds`` independent simulated stretches (common random numbers: the same releases, traffic
and start-ups in every configuration) of ``days`` days with about ``releases`` releases.
Every measure is a value per seed, so its 95% interval (Student t) is over n = seeds
independent runs; the two ratios are paired per seed (the same releases on both sides).

* ``prevention``: the prevention rate (bad releases stopped before full traffic / bad
  releases) of the risk-driven orchestration, per seed (a seed without a bad release has
  none and is left out of n).
* ``lead_time``: ``1 - lead_time_p50(direct) / lead_time_p50(manual-approval)`` per seed.
* ``interventions``: ``1 - approvals(risk-driven) / approvals(manual-approval)`` per seed
  (approvals: human reviews requested, one per release reaching an approval gate).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from experiments.rollouts import KINDS, RunSpec, per_run_table, run_all, summary_table

if TYPE_CHECKING:
    from experiments.store import RunStore

RISK = "risk-driven (rules)"
DIRECT = "pipeline direct"
MANUAL = "pipeline manual-approval"
#: The configurations the three rows need, always run.
NEEDED: tuple[str, ...] = (RISK, DIRECT, MANUAL)


@dataclass
class RolloutMeasure:
    """A rollout claim's values (one per independent seed), what the conditions add, and,
    when the figure is set by a parameter, the verdict's "holds only when ..." clause."""

    values: pd.Series
    conditions: str
    only_when: str | None = None


def configs(candidates: Sequence[str]) -> list[str]:
    """The configurations to run: :data:`NEEDED`, then the candidates not among them."""
    return list(dict.fromkeys([*NEEDED, *candidates]))


def run_rollouts(
    out: Path,
    seeds: int,
    releases: int,
    days: float,
    candidates: Sequence[str] = (),
    workers: int | None = None,
    progress: bool = False,
    store: RunStore | None = None,
) -> pd.DataFrame:
    """Run :func:`configs` over seeds 1..``seeds`` and write into ``out``: ``releases.parquet``
    (every run's releases table, with ``config`` and ``seed``; what ``fargate-lab experiment
    rollouts`` writes too), ``runs.parquet`` (one row per run, :func:`per_run_table`) and
    ``table.csv`` (mean and 95% half-width per configuration). Return the runs table.
    ``store``: keep every run there and run only those not stored yet
    (:func:`experiments.rollouts.run_all`)."""
    names = configs(candidates)
    specs = [RunSpec(c, s, releases, days) for s in range(1, seeds + 1) for c in names]
    n_workers = workers or min(os.cpu_count() or 1, 2)
    table = run_all(specs, n_workers, progress, store)
    if not len(table):
        raise ValueError(
            f"[rollouts]: no release in any run (releases = {releases}, days = {days:g}); "
            "raise releases or days"
        )
    runs = per_run_table(table)
    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "releases.parquet", index=False)
    runs.to_parquet(out / "runs.parquet", index=False)
    summary_table(table).to_csv(out / "table.csv", index=False)
    return runs


def _per_seed(runs: pd.DataFrame, config: str, column: str) -> pd.Series:
    return runs[runs.config == config].set_index("seed")[column].astype(float)


def _n_seeds(runs: pd.DataFrame) -> str:
    return f"{runs.seed.nunique()} seeds, {runs.releases_total.mean():.0f} releases a run"


def _pct(values: pd.Series) -> str:
    from experiments.claims import Measure

    m = Measure.of("", values.dropna())
    return m.text(clip=True, digits=0).removeprefix(": ")


def prevention(runs: pd.DataFrame) -> RolloutMeasure:
    """The risk-driven orchestration's prevention rate per seed; in the conditions the best
    configuration run (its rate, false-rollback rate and lead time) and, per kind of bad
    release, where risk assessment fails."""
    values = _per_seed(runs, RISK, "prevention_rate").dropna()
    means = runs.groupby("config", sort=False)["prevention_rate"].mean()
    best = str(means.idxmax()) if means.notna().any() else RISK
    b = runs[runs.config == best]
    kinds = []
    for kind in KINDS:
        col = f"prevention_{kind}"
        rate = float(runs.loc[runs.config == RISK, col].mean())
        if math.isnan(rate) or rate >= 0.95:
            continue
        never = bool((runs[col].fillna(0) == 0).all())
        kinds.append(
            f"{kind} {100 * rate:.0f}%"
            + (" (never stopped by any configuration run: it fails after every bake)" * never)
        )
    fails = "; it fails on " + ", ".join(kinds) if kinds else ""
    conditions = (
        f"`rules` model, default tiers; {_n_seeds(runs)}"
        f"{fails}. Best configuration run: {best}, prevention {_pct(b.prevention_rate)}, false "
        f"rollbacks {_pct(b.false_rollback_rate)}, lead time p50 "
        f"{b.lead_time_p50_s.median() / 60:.0f} min"
    )
    return RolloutMeasure(values, conditions)


def lead_time(runs: pd.DataFrame) -> RolloutMeasure:
    """``1 - lead_time_p50(direct) / lead_time_p50(manual-approval)``, paired per seed."""
    direct = _per_seed(runs, DIRECT, "lead_time_p50_s")
    manual = _per_seed(runs, MANUAL, "lead_time_p50_s")
    values = (1.0 - direct / manual).replace([np.inf, -np.inf], np.nan).dropna()
    waiting = _per_seed(runs, MANUAL, "unfinished").mean()
    conditions = (
        f"{_n_seeds(runs)}; median lead time {direct.median() / 60:.0f} min "
        f"(`direct`) against {manual.median() / 3600:.1f} h (`manual-approval`). The approval "
        "latency (a 4 h median in working hours) is a parameter with no public source, and "
        f"the manual figure is censored: {waiting:.1f} releases a run still waiting at the end"
    )
    return RolloutMeasure(values, conditions, "a manual approval takes hours (a parameter)")


def interventions(runs: pd.DataFrame) -> RolloutMeasure:
    """``1 - approvals(risk-driven) / approvals(manual-approval)``, paired per seed."""
    risk = _per_seed(runs, RISK, "approvals")
    manual = _per_seed(runs, MANUAL, "approvals")
    values = (1.0 - risk / manual).replace([np.inf, -np.inf], np.nan).dropna()
    conditions = (
        f"{_n_seeds(runs)}; approvals a run {risk.mean():.1f} (risk tiers: "
        f"only above the 95th risk percentile) against {manual.mean():.1f} (every release); "
        "a release still queued at the end was never reviewed, so the manual count is censored"
    )
    return RolloutMeasure(values, conditions)
