"""Sweep throughput: runs per minute on 1 and 2 workers of a local process pool and of a Dask
LocalCluster (processes, on 127.0.0.1), the same grid each time, in one session.

Usage: ``python benchmarks/bench_sweep.py [--runs 16] [--hours 12] [--rounds 1]``. The grid
is ``--runs`` seeds of target tracking on the synthetic load, ``--hours`` of simulated time
each. Each executor is measured with 1 and with 2 workers started the same way, so the
efficiency on 2 workers = throughput(2) / (2 x throughput(1)) compares like with like: the
pool forks from this process, which has imported the simulator first; the Dask clusters come
from ``experiments.sweep_run.local_cluster`` (one thread per worker, workers preloaded with
the simulator, statistical profiler off), started before the clock. ``--workers 1`` of the
command line, which runs in the command's own process, is timed too, for reference.

``--dask-defaults`` adds two measurements, a LocalCluster of 1 and of 2 workers with Dask's
default settings (one thread per worker, no preload, profiler on), to compare with the
sweep's. ``--idle SECONDS`` measures the CPU an idle 2-worker cluster of each kind uses.

``--rounds R`` repeats the measurements R times, in reverse order every other round, so
that a change in the machine's load hits every executor alike; each round prints its own
efficiencies, and the totals are over all rounds. Each line prints
the load average before it and the CPU seconds used: this process and its pool workers, or
the Dask workers (from each worker's ``getrusage``) plus this process (client and
scheduler). CPU seconds close to the single worker's show that a shortfall in wall time
came from cores taken by other work, not from overhead. The bench also checks that every
executor stored identical rows.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.sweep import GridPoint, load_spec
from experiments.sweep_run import (
    local_cluster,
    pool_results,
    preload_simulator,
    run_sweep,
    runs_per_minute,
    serial_results,
)

Runner = Callable[[list[GridPoint], bool], Iterator[tuple[dict[str, Any], Any]]]


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


def own_cpu_seconds() -> float:
    """CPU time of the calling process (run on each Dask worker)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


class Totals:
    """Runs, wall seconds and CPU seconds of one executor over the rounds."""

    def __init__(self) -> None:
        self.runs, self.wall, self.cpu = 0, 0.0, 0.0

    def rpm(self) -> float:
        return runs_per_minute(self.runs, self.wall)

    @staticmethod
    def sum(parts: Iterable[Totals]) -> Totals:
        out = Totals()
        for t in parts:
            out.runs, out.wall, out.cpu = out.runs + t.runs, out.wall + t.wall, out.cpu + t.cpu
        return out


def efficiencies(totals: dict[str, Totals]) -> str:
    """Efficiency on 2 workers of the pool and of Dask: throughput(2) / (2 x throughput(1))."""
    parts = []
    for name in ("pool", "dask", "defaults"):
        if f"{name}-1" not in totals:
            continue
        one, two = totals[f"{name}-1"].rpm(), totals[f"{name}-2"].rpm()
        parts.append(f"efficiency of the {name} on 2 workers {two / (2 * one):.0%}")
    return "; ".join(parts)


def timed(
    label: str,
    spec_path: Path,
    out: Path,
    totals: Totals,
    *,
    runner: Runner | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    spec = load_spec(spec_path)
    load = os.getloadavg()[0]
    workers_cpu: Callable[[], float] = lambda: 0.0  # noqa: E731
    if scheduler is not None:
        from distributed import Client

        client = Client(scheduler, set_as_default=False)

        def workers_cpu() -> float:
            return sum(client.run(own_cpu_seconds).values())

    w0, t0, c0 = workers_cpu(), time.perf_counter(), cpu_seconds()
    kw: dict[str, Any] = {"scheduler": scheduler} if scheduler else {"runner": runner}
    frame, executed = run_sweep(spec, out, progress=False, **kw)
    elapsed, here = time.perf_counter() - t0, cpu_seconds() - c0
    on_workers = workers_cpu() - w0
    cpu = here + on_workers
    split = ""
    if scheduler is not None:
        client.close()
        split = f" (workers {on_workers:.1f}, client and scheduler {here:.1f})"
    totals.runs, totals.wall, totals.cpu = (
        totals.runs + executed,
        totals.wall + elapsed,
        totals.cpu + cpu,
    )
    print(
        f"{label:<34} load {load:4.2f}: {executed} runs in {elapsed:6.1f} s, {cpu:5.1f} CPU s: "
        f"{runs_per_minute(executed, elapsed):6.1f} runs/min{split}",
        flush=True,
    )
    return frame


def make_cluster(key: str) -> Any:
    """The Dask cluster of ``key``: ``dask-N`` a sweep cluster (``local_cluster``),
    ``defaults-N`` a LocalCluster with Dask's default settings (how the bench started it
    before ``local_cluster`` existed)."""
    n = int(key[-1])
    if key.startswith("dask"):
        return local_cluster(n)
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )


def idle_cpu(scheduler: str, seconds: float) -> float:
    """CPU seconds an idle cluster uses in ``seconds``: its workers plus this process (its
    scheduler and nannies)."""
    from distributed import Client

    with Client(scheduler, set_as_default=False) as client:
        time.sleep(1.0)  # let the connection settle
        w0, c0 = sum(client.run(own_cpu_seconds).values()), own_cpu_seconds()
        time.sleep(seconds)
        w1, c1 = sum(client.run(own_cpu_seconds).values()), own_cpu_seconds()
    return w1 - w0 + c1 - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved repetitions")
    ap.add_argument(
        "--dask-defaults",
        action="store_true",
        help="also time Dask clusters with Dask's default settings (no preload, profiler on)",
    )
    ap.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also measure the CPU an idle 2-worker cluster uses, both kinds, for SECONDS",
    )
    args = ap.parse_args()
    if args.runs < 1 or args.rounds < 1 or args.idle < 0:
        ap.error(
            f"--runs and --rounds must be >= 1 and --idle >= 0, got {args.runs}, "
            f"{args.rounds} and {args.idle:g}"
        )
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} cores", flush=True)
    preload_simulator()  # the pool's workers fork from this process, as in `fargate-lab sweep`
    labels = {
        "in-process": "--workers 1 (in this process)",
        "pool-1": "process pool, 1 worker",
        "pool-2": "process pool, 2 workers",
        "dask-1": "Dask LocalCluster, 1 worker",
        "dask-2": "Dask LocalCluster, 2 workers",
    }
    if args.dask_defaults:
        labels["defaults-1"] = "Dask defaults, 1 worker"
        labels["defaults-2"] = "Dask defaults, 2 workers"
    rounds = [{key: Totals() for key in labels} for _ in range(args.rounds)]
    frames: list[pd.DataFrame] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = make_spec(root, args.runs, args.hours)
        for r in range(args.rounds):
            order = list(labels) if r % 2 == 0 else list(reversed(labels))  # interleaved
            for key in order:
                label = labels[key]
                out = root / f"{key}-{r}"
                if key == "in-process":  # what `--workers 1` runs: no pool
                    frames.append(timed(label, spec, out, rounds[r][key], runner=serial_results))
                elif key.startswith("pool"):
                    n = int(key[-1])
                    runner = partial(pool_results, workers=n)
                    frames.append(timed(label, spec, out, rounds[r][key], runner=runner))
                else:
                    with make_cluster(key) as cluster:
                        addr = cluster.scheduler_address
                        frames.append(timed(label, spec, out, rounds[r][key], scheduler=addr))
            print(f"round {r + 1}: {efficiencies(rounds[r])}", flush=True)
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], frame)
    totals = {key: Totals.sum(t[key] for t in rounds) for key in labels}
    print(f"\nover {args.rounds} round(s) of {args.runs} runs of {args.hours:g} h:")
    for key, label in labels.items():
        t = totals[key]
        print(f"{label:<34} {t.wall:7.1f} s ({t.cpu:6.1f} CPU s): {t.rpm():6.1f} runs/min")
    print(efficiencies(totals))
    for key in ("dask-2", "defaults-2") if args.idle > 0 else ():
        with make_cluster(key) as cluster:
            used = idle_cpu(cluster.scheduler_address, args.idle)
        print(f"idle for {args.idle:g} s, {labels[key]} used {used:.2f} CPU s", flush=True)
    print(f"identical rows from every executor: yes ({len(frames)} sweeps)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
