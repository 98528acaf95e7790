"""Benchmark: the cost floor (policies/autoscaling/floor.py) over 7 days of one-minute periods
(10,080) with up to 300 tasks, on a synthetic daily demand with noise (seed 1).

Times, best of ``--repeat``: the DP at ``good_bar = 1`` (one pass with the plan), the exact DP at
0.99 without and with the plan, and the Lagrangian at 0.99; and how far the Lagrangian's
bound and plan are from the exact optimum.

Usage: python benchmarks/bench_floor.py [--days 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from policies.autoscaling.floor import FloorPlan, cost_floor


def demand(days: float, seed: int = 1) -> np.ndarray:
    """A daily swell between 30 and 270 tasks, Gaussian noise of 10 tasks, clipped to 300."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(days * 1440))
    base = 150 + 120 * np.sin(2 * np.pi * t / 1440)
    return np.clip(np.ceil(base + rng.normal(0, 10, len(t))), 1, 300)


def timed(fn, repeat: int) -> tuple[float, FloorPlan]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = demand(args.days)
    common = {
        "price_per_task_s": 0.04937 / 3600,  # 1 vCPU / 2 GB on demand, us-east-1
        "startup_s": 157.0,
        "drain_s": 307.0,
        "initial_tasks": int(d[0]),
        "max_tasks": 300,
        "startup_periods": 3,
    }
    print(f"{len(d)} periods of 60 s, demand {int(d.min())}-{int(d.max())} tasks")
    runs = {
        "good_bar 1.00, plan": lambda: cost_floor(d, 60.0, good_bar=1.0, **common),
        "good_bar 0.99, exact, cost only": lambda: cost_floor(
            d, 60.0, good_bar=0.99, want_plan=False, **common
        ),
        "good_bar 0.99, exact, plan": lambda: cost_floor(d, 60.0, good_bar=0.99, **common),
        "good_bar 0.99, lagrangian": lambda: cost_floor(
            d, 60.0, good_bar=0.99, method="lagrangian", **common
        ),
    }
    plans = {}
    for name, fn in runs.items():
        seconds, plan = timed(fn, args.repeat)
        plans[name] = plan
        print(
            f"{name:34s} {seconds:7.2f} s  floor ${plan.cost_usd:9.4f}  plan "
            f"${plan.plan_cost_usd:9.4f}  covered {plan.good_fraction:.4f}"
        )
    exact = plans["good_bar 0.99, exact, plan"].cost_usd
    lagr = plans["good_bar 0.99, lagrangian"]
    print(
        f"lagrangian vs exact at 0.99: bound {100 * (lagr.cost_usd / exact - 1):+.2f}%, "
        f"plan {100 * (lagr.plan_cost_usd / exact - 1):+.2f}%"
    )


if __name__ == "__main__":
    main()
