"""Where mpc's cost above the cost floor comes from (issue 8's report: "which part of the cost
is forecast error, which is start-up lag, and which is the minimum billing").

On one window of a trace, at one mpc setting:

* ``mpc``: the policy as the experiment runs it (warm history, no look-ahead);
* ``mpc-perfect-forecast``: the same policy with its forecast replaced by the true future
  load (:class:`PerfectForecastMpc`: the peak of the offered load over the same launch and
  keep windows, read from ``observation.future_load`` as the oracle does). The cost between
  the two is the **forecast error**; what remains above the oracle is the rest of mpc's
  rules (the request-count safety net, its reaction to what it sees, whole-minute windows);
* ``oracle``: the "just enough" rule with the future known;
* the window's cost floor (:func:`policies.autoscaling.floor.cost_floor`, covering 0.99 of
  the periods) and the same floor with parts of the cost of scaling removed: with no billed
  start-up and no start-up delay, with no drain, with no one-minute minimum, and with none of
  them (the bare cost of the demand). The differences are what **start-up**, **draining** and
  the **minimum billing** cost even with the future known.

Usage: ``python -m experiments.mpc_decomposition --trace aws-elb [--window 1] [--days 3.5]
[--quantile 0.99] [--out FILE.csv]``; ``--compare DIR`` instead compares mpc with each
baseline in an experiment's output directory (:func:`compare`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policies.autoscaling.mpc import MpcPolicy
from policies.contract import Observation

#: The experiment's name for :class:`PerfectForecastMpc` (experiments/autoscaling.py builds it).
PERFECT = "mpc-perfect-forecast"


class PerfectForecastMpc(MpcPolicy):
    """mpc with its forecast replaced by the true future load: a diagnostic, not a policy
    (it needs ``observation.future_load``, so it is not registered). The launch and keep
    windows, the capacity per task, the safety net and the scaling rules are mpc's."""

    requires_future = True

    def forecast(self, observation: Observation) -> dict[str, float] | None:
        future = observation.future_load
        if future is None:
            raise ValueError(f"{PERFECT} needs observation.future_load (the simulator fills it)")
        launch_end = float(self.startup) + float(self.interval) + float(self.margin)
        out = {}
        for name, a, b in (
            ("launch", float(self.startup), launch_end),
            ("keep", 0.0, launch_end + float(self.hold)),
        ):
            i0 = int(math.floor(a / future.tick_s))
            i1 = min(len(future.rate), int(math.ceil(b / future.tick_s)) + 1)
            out[name] = float(np.max(future.rate[i0:i1])) if i1 > i0 else 0.0
        return out


def floor_components(metrics: pd.DataFrame, scenario: Any, initial: int) -> dict[str, float]:
    """The window's cost floor (good bar 0.99) in full and without each cost of scaling, all
    from the same warm start ``initial`` (the oracle run's; the experiment's own floor starts
    from static's peak count, so its figure can be slightly lower)."""
    from experiments.autoscaling import TUNING_GOOD_MINUTES
    from policies.autoscaling.floor import cost_floor, floor_inputs

    demand = np.asarray(metrics["demand_tasks"], dtype=float)
    base = floor_inputs(scenario, initial)
    variants = {
        "floor": {},
        "floor_no_startup": {"startup_s": 0.0, "startup_periods": 0},
        "floor_no_drain": {"drain_s": 0.0},
        "floor_no_min_billing": {"min_billed_s": 0.0},
        "floor_bare": {"startup_s": 0.0, "startup_periods": 0, "drain_s": 0.0, "min_billed_s": 0.0},
    }
    out = {}
    for name, change in variants.items():
        plan = cost_floor(
            demand,
            good_bar=TUNING_GOOD_MINUTES,
            want_plan=False,
            free_initial=True,
            **{**base, **change},
        )
        out[f"{name}_usd"] = float(plan.cost_usd)
    return out


def decompose(trace: str, window: int, days: float, quantile: float) -> pd.DataFrame:
    """Run mpc, mpc with a perfect forecast and the oracle on evaluation window ``window``
    (1 = earliest) of ``trace``; return one row per run with the floor's components."""
    from experiments.autoscaling import RunSpec, layout, simulate

    windows = layout(trace, days, 5)
    w = windows[window]
    rows = []
    components: dict[str, float] = {}
    for name, param in (("mpc", quantile), (PERFECT, quantile), ("oracle", None)):
        record, metrics, scenario = simulate(RunSpec(w, name, param, "evaluation"))
        if name == "oracle":
            components = floor_components(metrics, scenario, int(record["initial_tasks"]))
        keep = ("cost_usd", "good_minutes_fraction", "availability", "initial_tasks")
        rows.append(
            {"trace": trace, "window": w.index, "policy": name, "param": param}
            | {k: record[k] for k in keep}
        )
    table = pd.DataFrame(rows)
    for k, v in components.items():
        table[k] = v
    return table


#: The baselines issue 8 compares mpc with.
BASELINES: tuple[str, ...] = (
    "target-tracking",
    "target-tracking-requests",
    "predictive",
    "learned",
)


def compare(out: Path, policy: str = "mpc") -> pd.DataFrame:
    """mpc against each baseline, from an experiment's output directory ``out``.

    Two comparisons per (trace, baseline), relative cost (negative: mpc cheaper):

    * ``tuned``: paired by evaluation window, each policy at its tuned setting (mean, 95%
      interval, n windows), with both policies' mean good minutes and availability beside;
    * ``equal_quality``: mpc's cost against the baseline's Pareto front (cost as a function of
      good minutes over the baseline's seven settings) at mpc's good minutes. Every setting of
      every tunable policy runs on the tuning window, so this one is on the tuning window
      (n = 1, mpc at its tuned setting). On the evaluation windows, with good minutes and
      availability matched and 95% intervals, the comparison is report.md's "Cost at equal
      quality", for the baselines whose fronts ran there (``--fronts``, or added to an output
      folder by ``fargate-lab experiment equal-quality``).
    """
    from experiments.stats import equal_quality_difference, paired_difference

    runs = pd.read_parquet(out / "runs.parquet")
    tuning = pd.read_parquet(out / "tuning.parquet")
    tuned = json.loads((out / "config.json").read_text())["tuned"]
    evaluation = runs[runs.kind == "evaluation"]
    chosen = tuning.apply(
        lambda r: r.policy == policy and r.param == tuned.get(r.trace, {}).get(policy), axis=1
    )
    tuning = tuning.assign(kind=np.where(chosen, "evaluation", "tuning"))
    rows = []
    for base in BASELINES:
        if base not in set(runs.policy):
            continue
        tuned_diff = paired_difference(evaluation, policy, base).set_index("trace")
        eq = equal_quality_difference(tuning, policy, base).set_index("trace")
        for trace in tuned_diff.index.union(eq.index):
            ev = evaluation[evaluation.trace == trace]
            mine, theirs = ev[ev.policy == policy], ev[ev.policy == base]
            row = {"trace": trace, "baseline": base}
            if trace in tuned_diff.index:
                d = tuned_diff.loc[trace]
                row |= {"tuned_mean": d["mean"], "tuned_ci95": d["ci95"], "tuned_n": d["n"]}
            row |= {
                "mpc_good": mine.good_minutes_fraction.mean(),
                "mpc_availability": mine.availability.mean(),
                "baseline_good": theirs.good_minutes_fraction.mean(),
                "baseline_availability": theirs.availability.mean(),
            }
            if trace in eq.index:
                e = eq.loc[trace]
                row |= {"equal_quality_tuning_window": e["mean"], "beyond": e.get("beyond", 0)}
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", help="decompose mpc's cost on a window of this trace")
    ap.add_argument("--compare", metavar="DIR", help="compare mpc with the baselines in DIR")
    ap.add_argument("--window", type=int, default=1)
    ap.add_argument("--days", type=float, default=3.5)
    ap.add_argument("--quantile", type=float, default=0.99)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if not args.trace and not args.compare:
        ap.error("give --trace (decomposition) or --compare DIR (an experiment's output)")
    if args.compare:
        table = compare(Path(args.compare))
    else:
        table = decompose(args.trace, args.window, args.days, args.quantile)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    if args.out:
        from experiments.outputs import atomic_file

        with atomic_file(args.out) as tmp:
            table.to_csv(tmp, index=False)


if __name__ == "__main__":
    main()
