"""Benchmark: 30 simulated days of the NASA trace, peak 2,000 requests/s, 100 requests/s per
task, the reactive rule acting every 60 s. Reports simulated seconds per wall second, peak
memory and where the time goes (``make bench``; target: 30 days in under 5 s on one core).

``--process`` times the run as whole processes from the shell (imports and setup included)
against ``benchmarks/bare_fluid.py``, the same fluid arithmetic in a bare numpy loop,
alternating the two ``--repeat`` times; it reports wall and CPU (user + system) seconds, medians
and their ratio (issue 11's target: within 3x). On a shared machine compare CPU seconds: wall
time also counts the time other processes held the cores.

``--breakdown`` runs the same fresh processes and splits each one's CPU seconds into the
interpreter with the standard library, the simulator's imports, setup (scenario, trace,
``Simulation``), the fluid with the metric periods (``FluidServer.advance``,
``Service.advance``, ``Simulation._consume``: what the bare loop computes, and the metric
periods and latency it does not), the rest of the run loop (SimPy, the task lifecycle, the
scheduler, the controller's observation, decision and record, and the modules the run
imports on first use, such as the policy registry) and ``finish`` (the last
stretch, the result tables, the summary), each timed at its outermost call; then the medians,
against 3x the bare loop's, and how many of the run's rounds are quiet (no event since the
round before, no scaling), in runs of how many rounds.

``--memory`` runs one simulation per duration in ``--memory-days`` (default 7, 30, 90 and 365
days), each in a fresh process, and reports each process's peak resident memory (the child's
``resource.getrusage`` max RSS), so that growth with the simulated duration shows. It runs
the synthetic load rescaled to the same 2,000 requests/s peak, since the NASA trace covers
only 62 days; memory depends on the number of ticks, not on where the rate comes from.

Usage: python benchmarks/bench_sim.py [--days 30] [--repeat 3] [--profile]
       python benchmarks/bench_sim.py --process [--days 30] [--repeat 5]
       python benchmarks/bench_sim.py --breakdown [--days 30] [--repeat 3]
       python benchmarks/bench_sim.py --memory [--memory-days 7 30 90 365]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

#: CPU seconds of this process before and after the simulator's imports (``--breakdown``).
CPU_BEFORE_IMPORTS = time.process_time()

from backends.sim import run_simulation  # noqa: E402
from sim.scenario import scenario_from_dict  # noqa: E402
from sim.simulation import Simulation  # noqa: E402

CPU_AFTER_IMPORTS = time.process_time()

#: The NASA trace covers 62 days (July and August 1995); longer runs (``--memory`` goes to a
#: year) use the synthetic load with the same peak, which has the same number of ticks.
SYNTHETIC = {"synthetic": {}, "peak_rps": 2000}


def scenario(days: float, synthetic: bool = False):
    traffic = SYNTHETIC if synthetic else {"trace": "nasa", "peak_rps": 2000}
    return scenario_from_dict(
        {
            "name": "bench-nasa-30d",
            "run": {"seed": 1, "duration": f"{days}d", "tick": "1s"},
            "service": {"min_tasks": 1, "max_tasks": 200, "initial_tasks": 20, "capacity_rps": 100},
            "traffic": traffic,
            "autoscaler": {"policy": "reactive", "interval": 60},
        }
    )


def one_run(days: float, synthetic: bool = False) -> tuple[float, float, dict]:
    sc = scenario(days, synthetic)
    t0 = time.perf_counter()
    sim = Simulation(sc)
    t1 = time.perf_counter()
    result = run_simulation(sim)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, result.summary


HERE = Path(__file__).resolve().parent
#: Child processes import the simulator from this checkout, whatever the venv installed.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])),
}


def child(days: float, synthetic: bool = False) -> int:
    """One run in this process, then its figures as one JSON line (``--child``)."""
    t0 = time.perf_counter()
    setup, run, summary = one_run(days, synthetic)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {
        "days": days,
        "setup_s": setup,
        "run_s": run,
        "wall_s": time.perf_counter() - t0,
        "maxrss_mib": usage.ru_maxrss / 1024,  # Linux: kilobytes
        "cost_usd": summary["cost_usd"],
    }
    print(json.dumps(record), flush=True)
    return 0


#: ``--breakdown``'s parts of a process, in order (CPU seconds).
PARTS = (
    "interpreter",
    "imports",
    "setup",
    "fluid and metric periods",
    "rest of the loop",
    "finish",
)


class OutermostTimer:
    """CPU seconds per part, each call charged to the outermost timed call it runs in (a
    stretch the run's ``finish`` computes is ``finish``'s)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.active = False

    def wrap(self, cls: type, name: str, part: str) -> None:
        inner = getattr(cls, name)
        self.seconds.setdefault(part, 0.0)

        def timed(*args, **kwargs):
            if self.active:
                return inner(*args, **kwargs)
            self.active, t0 = True, time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[part] += time.process_time() - t0
                self.active = False

        setattr(cls, name, timed)


def breakdown_child(days: float) -> int:
    """One run in this process, its CPU seconds by part as one JSON line."""
    from sim.service import Service
    from sim.serving import FluidServer

    timer = OutermostTimer()
    timer.wrap(Simulation, "finish", "finish")
    for cls, name in ((FluidServer, "advance"), (Service, "advance"), (Simulation, "_consume")):
        timer.wrap(cls, name, "fluid and metric periods")
    sc = scenario(days)
    c0 = time.process_time()
    sim = Simulation(sc)
    c1 = time.process_time()
    run_simulation(sim)
    c2 = time.process_time()
    fluid, finish = timer.seconds["fluid and metric periods"], timer.seconds["finish"]
    parts = dict.fromkeys(PARTS, 0.0)
    parts.update(
        {
            "interpreter": CPU_BEFORE_IMPORTS,
            "imports": CPU_AFTER_IMPORTS - CPU_BEFORE_IMPORTS,
            "setup": c1 - c0,
            "fluid and metric periods": fluid,
            "rest of the loop": c2 - c1 - fluid - finish,
            "finish": finish,
        }
    )
    print(json.dumps(parts), flush=True)
    return 0


def quiet_rounds(decisions: Any, events: Any) -> dict[str, float]:
    """How many of a run's controller rounds are quiet: no event (lifecycle, scaling, fault)
    since the round before, and no change of the desired count. Batching rounds could skip
    the work of a quiet run of rounds but not its policy decisions, so the run lengths say
    how much a batched loop would have to batch."""
    import numpy as np  # here, not above: numpy counts among the simulator's imports

    t = decisions["time_s"].to_numpy(dtype=float)
    ev = np.sort(events["time_s"].to_numpy(dtype=float))
    before = np.concatenate(([-np.inf], t[:-1]))
    since = np.searchsorted(ev, t, side="right") - np.searchsorted(ev, before, side="right")
    desired = decisions["desired"]
    acting = (desired.notna() & (desired != decisions["desired_before"])).to_numpy()
    quiet = (since == 0) & ~acting
    edges = np.flatnonzero(np.concatenate(([True], ~quiet, [True])))
    runs = np.diff(edges) - 1
    runs = runs[runs > 0]
    n = max(len(t), 1)
    return {
        "rounds": float(len(t)),
        "quiet": float(quiet.sum()) / n,
        "mean_run": float(runs.mean()) if len(runs) else 0.0,
        "in_runs_of_5": float(runs[runs >= 5].sum()) / n,
    }


def breakdown_benchmark(days: float, repeat: int) -> None:
    """Fresh processes by part (:func:`breakdown_child`), alternating with the bare loop."""
    one_run(min(days, 1.0))  # the trace cache both read
    cmd = [sys.executable, str(HERE / "bench_sim.py"), "--breakdown-child", f"{days:g}"]
    bare_cmd = [sys.executable, str(HERE / "bare_fluid.py"), "--days", f"{days:g}"]
    runs, bares = [], []
    for i in range(repeat):
        _, cpu, out = timed_process(cmd)
        runs.append({**json.loads(out.strip().splitlines()[-1]), "process": cpu})
        bares.append(timed_process(bare_cmd)[1])
        shown = ", ".join(f"{k} {runs[-1][k]:.2f}" for k in PARTS)
        print(f"#{i + 1}: {shown}; process {cpu:.2f} | bare loop {bares[-1]:.2f}", flush=True)
    med = {k: statistics.median(r[k] for r in runs) for k in (*PARTS, "process")}
    bare = statistics.median(bares)
    print(f"medians of {repeat}, CPU s: " + ", ".join(f"{k} {med[k]:.2f}" for k in PARTS))
    print(f"process {med['process']:.2f} ({med['process'] / bare:.2f}x the bare loop's {bare:.2f})")
    rest = sum(med[k] for k in PARTS if k != "fluid and metric periods")
    print(
        f"all but the fluid and metric periods: {rest:.2f} ({rest / bare:.2f}x the bare loop); "
        f"3x the bare loop: {3 * bare:.2f}"
    )
    result = run_simulation(Simulation(scenario(days)))  # once more, for its tables
    q = quiet_rounds(result.decisions, result.events)
    print(
        f"quiet rounds (no event since the round before, no scaling): {q['quiet']:.1%} of "
        f"{q['rounds']:,.0f}, in runs of {q['mean_run']:.2f} rounds on average; "
        f"{q['in_runs_of_5']:.1%} of rounds in quiet runs of 5 or more"
    )


def timed_process(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd``; its wall seconds, CPU seconds (user + system) and standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=CHILD_ENV).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def process_benchmark(days: float, repeat: int) -> None:
    """Whole processes, alternating: the simulation run and the bare numpy loop."""
    one_run(min(days, 1.0))  # the trace cache both read (download + parse once)
    sim_cmd = [sys.executable, str(HERE / "bench_sim.py"), "--child", f"{days:g}"]
    bare_cmd = [sys.executable, str(HERE / "bare_fluid.py"), "--days", f"{days:g}"]
    sims, bares = [], []
    for i in range(repeat):
        sims.append(timed_process(sim_cmd)[:2])
        bares.append(timed_process(bare_cmd)[:2])
        print(
            f"#{i + 1}: simulation wall {sims[-1][0]:6.2f} s cpu {sims[-1][1]:6.2f} s | "
            f"bare loop wall {bares[-1][0]:6.2f} s cpu {bares[-1][1]:6.2f} s",
            flush=True,
        )
    for k, what in enumerate(("wall", "cpu")):
        sim_m = statistics.median(r[k] for r in sims)
        bare_m = statistics.median(r[k] for r in bares)
        print(
            f"median {what}: simulation {sim_m:.2f} s, bare loop {bare_m:.2f} s, "
            f"ratio {sim_m / bare_m:.2f}x"
        )


def memory_benchmark(days_list: list[float]) -> None:
    """Peak resident memory of one run per duration, each in a fresh process, on the
    synthetic load (the NASA trace is too short for a year)."""
    for days in days_list:
        cmd = [sys.executable, str(HERE / "bench_sim.py"), "--child", f"{days:g}", "--synthetic"]
        wall, cpu, out = timed_process(cmd)
        rec = json.loads(out.strip().splitlines()[-1])
        print(
            f"{days:g} days: peak RSS {rec['maxrss_mib'] / 1024:.2f} GiB "
            f"({rec['maxrss_mib']:.0f} MiB), wall {wall:.1f} s, cpu {cpu:.1f} s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    ap.add_argument(
        "--process",
        action="store_true",
        help="whole processes from the shell against benchmarks/bare_fluid.py",
    )
    ap.add_argument(
        "--memory", action="store_true", help="peak RSS per simulated duration, fresh processes"
    )
    ap.add_argument("--memory-days", type=float, nargs="+", default=[7.0, 30.0, 90.0, 365.0])
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="fresh processes' CPU by part (imports, setup, fluid, rest, finish)",
    )
    ap.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--breakdown-child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--synthetic", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.days > 0:
        ap.error(f"--days must be > 0, got {args.days:g}")
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {args.repeat}")
    if any(not d > 0 for d in args.memory_days):
        ap.error(
            f"--memory-days must all be > 0, got {' '.join(f'{d:g}' for d in args.memory_days)}"
        )
    if args.child is not None:
        return child(args.child, args.synthetic)
    if args.breakdown_child is not None:
        return breakdown_child(args.breakdown_child)
    if args.breakdown:
        breakdown_benchmark(args.days, args.repeat)
        return 0
    if args.process:
        process_benchmark(args.days, args.repeat)
        return 0
    if args.memory:
        memory_benchmark(args.memory_days)
        return 0
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
