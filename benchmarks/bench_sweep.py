"""Sweep throughput: runs per minute on 1 and 2 local workers and on a 2-worker Dask
LocalCluster (processes, on 127.0.0.1), the same grid each time, in one session.

Usage: ``python benchmarks/bench_sweep.py [--runs 16] [--hours 12]``. The grid is
``--runs`` seeds of target tracking on the synthetic load, ``--hours`` of simulated time
each. Efficiency on 2 workers = (2-worker throughput) / (2 x 1-worker throughput); the CPU
seconds of the local runs (this process and its pool workers) show how much of a shortfall is
overhead rather than cores taken by other work. It also
checks that the three executors stored identical rows. The machine's load average is
printed before and after: other work on the machine lowers the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from experiments.sweep import load_spec
from experiments.sweep_run import run_sweep, runs_per_minute


def make_spec(folder: Path, runs: int, hours: float) -> Path:
    (folder / "base.toml").write_text(
        f'[run]\nduration = "{hours:g}h"\n[autoscaler]\npolicy = "target-tracking"\n'
    )
    spec = folder / "bench.toml"
    seeds = ", ".join(str(s) for s in range(1, runs + 1))
    spec.write_text(f'scenario = "base.toml"\n[axes]\n"run.seed" = [{seeds}]\n')
    return spec


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, spec_path: Path, out: Path, **kw) -> tuple[float, pd.DataFrame]:
    spec = load_spec(spec_path)
    t0, c0 = time.perf_counter(), cpu_seconds()
    frame, executed = run_sweep(spec, out, progress=False, **kw)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rpm = runs_per_minute(executed, elapsed)
    # The Dask workers are not this process's finished children: their CPU is not counted.
    where = "" if "scheduler" in kw else f", {cpu:.1f} CPU s"
    print(
        f"{label:<28} {executed} runs in {elapsed:7.1f} s{where}: {rpm:6.2f} runs/min", flush=True
    )
    return rpm, frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--hours", type=float, default=12.0)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = make_spec(root, args.runs, args.hours)
        one, f1 = timed("1 local worker", spec, root / "w1", workers=1)
        two, f2 = timed("2 local workers", spec, root / "w2", workers=2)
        from distributed import LocalCluster

        with LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            dask, f3 = timed(
                "Dask LocalCluster, 2 workers",
                spec,
                root / "dask",
                scheduler=cluster.scheduler_address,
            )
        pd.testing.assert_frame_equal(f1, f2)
        pd.testing.assert_frame_equal(f1, f3)
    print(f"efficiency on 2 local workers: {two / (2 * one):.0%}")
    print(f"efficiency on the 2-worker Dask LocalCluster: {dask / (2 * one):.0%}")
    print("identical rows from the three executors: yes")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
