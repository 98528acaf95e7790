"""Benchmark: the costs the test suite does not time (timed assertions break on a busy
machine, so the figures are measured here and reported).

- the learned policy: one retrain on a 14-day per-minute history, and a decision without one;
- the M/M/k latency table (sim/queueing.py ``MMkTable``) built for k = 1, 4, 16 workers.

Usage: python benchmarks/bench_policies.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "policies")]

from test_learned import DAY, PERIOD, daily_ramp, noisy, observe  # noqa: E402

from policies.autoscaling.learned import LearnedPolicy  # noqa: E402
from sim.queueing import MMkTable  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rate = noisy(daily_ramp(14.5), seed=10)
    first = observe(rate, 14 * DAY + 60.0, running=6)
    later = [observe(rate, 14 * DAY + 60.0 + k * PERIOD, running=6) for k in range(1, 51)]
    train, decide = float("inf"), float("inf")
    for _ in range(args.repeat):
        p = LearnedPolicy()
        t0 = time.perf_counter()
        p.decide(first)
        train = min(train, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for o in later:
            p.decide(o)
        decide = min(decide, (time.perf_counter() - t0) / len(later))
    print(
        f"learned: retrain on 14 days {train:.2f} s; a decision without one {decide * 1e3:.2f} ms"
    )
    for k in (1, 4, 16):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            MMkTable(k)
            best = min(best, time.perf_counter() - t0)
        print(f"MMkTable(k={k}): {best * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
