"""Benchmark: 30 simulated days of the NASA trace, peak 2,000 requests/s, 100 requests/s per
task, the reactive rule acting every 60 s. Reports simulated seconds per wall second, peak
memory and where the time goes (``make bench``; target: 30 days in under 5 s on one core).

Usage: python benchmarks/bench_sim.py [--days 30] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time
import tracemalloc

from backends.sim import run_simulation
from sim.scenario import scenario_from_dict
from sim.simulation import Simulation


def scenario(days: float):
    return scenario_from_dict(
        {
            "name": "bench-nasa-30d",
            "run": {"seed": 1, "duration": f"{days}d", "tick": "1s"},
            "service": {"min_tasks": 1, "max_tasks": 200, "initial_tasks": 20, "capacity_rps": 100},
            "traffic": {"trace": "nasa", "peak_rps": 2000},
            "autoscaler": {"policy": "reactive", "interval": 60},
        }
    )


def one_run(days: float) -> tuple[float, float, dict]:
    sc = scenario(days)
    t0 = time.perf_counter()
    sim = Simulation(sc)
    t1 = time.perf_counter()
    result = run_simulation(sim)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, result.summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    args = ap.parse_args(argv)
    sim_seconds = args.days * 86400
    one_run(min(args.days, 1.0))  # warm the trace cache (download + parse once)
    rows = []
    for _ in range(args.repeat):
        setup, run, summary = one_run(args.days)
        rows.append((setup, run))
        print(
            f"setup {setup:6.2f} s  run {run:6.2f} s  total {setup + run:6.2f} s  "
            f"-> {sim_seconds / (setup + run):,.0f} simulated s per wall s",
            flush=True,
        )
    best = min(rows, key=lambda r: r[0] + r[1])
    tracemalloc.start()
    one_run(args.days)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{args.days:g} simulated days, best of {args.repeat}: "
        f"{best[0] + best[1]:.2f} s wall (setup {best[0]:.2f} s, run {best[1]:.2f} s), "
        f"{sim_seconds / (best[0] + best[1]):,.0f} simulated s per wall s"
    )
    print(f"peak traced Python memory {peak / 2**20:.0f} MiB; process max RSS {maxrss_mb:.0f} MiB")
    print("summary:", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()})
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        one_run(args.days)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
