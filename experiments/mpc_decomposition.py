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
[--quantile 0.99] [--out FILE.csv]``.
"""

from __future__ import annotations

import argparse
import math
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", required=True)
    ap.add_argument("--window", type=int, default=1)
    ap.add_argument("--days", type=float, default=3.5)
    ap.add_argument("--quantile", type=float, default=0.99)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    table = decompose(args.trace, args.window, args.days, args.quantile)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
