"""Benchmark: the mpc policy's cost over a 7-day run (issue 8: "retraining cost must keep a
7-day run under a minute"; measured here, never asserted in a test).

Runs the autoscaling experiment's configuration of ``mpc`` (14 days of warm history) on the
NASA trace's latest 7-day evaluation window, and the oracle on the same window for the
simulator's own share, and reports the wall time of each, the number of trainings and the
time they took (the benchmark times ``MpcPolicy._train`` from outside; the policy reads no
clock).

Usage: FARGATE_LAB_TRACE_MIRROR=... python benchmarks/bench_mpc.py [--trace nasa] [--days 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from experiments.autoscaling import RunSpec, layout, run_one  # noqa: E402
from policies.autoscaling.mpc import MpcPolicy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="nasa")
    ap.add_argument("--days", type=float, default=7.0)
    args = ap.parse_args()
    window = layout(args.trace, args.days, 1)[-1]
    spent: list[float] = []
    train = MpcPolicy._train

    def timed(self, *a, **k):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return train(self, *a, **k)
        finally:
            spent.append(time.perf_counter() - t0)

    MpcPolicy._train = timed  # type: ignore[method-assign]
    for name in ("oracle", "mpc"):
        spent.clear()
        t0 = time.perf_counter()
        rec = run_one(RunSpec(window, name, None, "evaluation"))
        wall = time.perf_counter() - t0
        extra = (
            f"; {len(spent)} model fits (launch and keep windows) took {sum(spent):.1f} s"
            if name == "mpc"
            else ""
        )
        print(
            f"{name}: {args.days:g} days of {args.trace} ({window.start}) in {wall:.1f} s wall"
            f"{extra}; cost ${rec['cost_usd']:.2f}, good minutes "
            f"{rec['good_minutes_fraction']:.4f}, availability {rec['availability']:.5f}"
        )


if __name__ == "__main__":
    main()
