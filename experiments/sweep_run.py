"""Running a sweep: the grid points not yet stored, on a local process pool (default) or on
a Dask distributed cluster (``--scheduler tcp://HOST:PORT``, the ``fargate-lab[dask]`` extra),
with a progress bar and ETA on stderr.

Each run is a pure function of its resolved scenario (seeds come from the spec), so the pool
and Dask give identical rows. The client (this process) writes each finished run to the store
as soon as it arrives; an interrupted sweep keeps every finished run and the next
``fargate-lab sweep`` with the same spec and ``--out`` runs only the rest.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from experiments.outputs import Interrupted
from experiments.pool import ignore_sigint, in_pool
from experiments.store import ResultsStore, code_version
from experiments.sweep import GridPoint, SweepSpec, load_spec

#: Per-run tables the store keeps with ``--tables``.
TABLES = ("metrics", "decisions")


def _cell(value: Any) -> Any:
    """An axis value as a Parquet cell: scalars as they are, tables and lists as JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def run_point(
    point: GridPoint, tables: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run one grid point; return its row (identity, axes, summary) and, with ``tables``, its
    metrics and decisions tables."""
    from backends.sim import run_scenario
    from sim.scenario import scenario_from_dict

    scen = scenario_from_dict(point.scenario, f"grid point {point.index + 1}")
    result = run_scenario(scen)
    params = scen.autoscaler.params
    row: dict[str, Any] = {
        "scenario_hash": point.scenario_hash,
        "grid_index": point.index,
        "name": scen.name,
        "trace": scen.traffic.trace if scen.traffic.trace is not None else "synthetic",
        "policy": scen.autoscaler.policy,
        "params": json.dumps(params, sort_keys=True),
        "seed": scen.run.seed,
        "window": scen.traffic.start.isoformat() if scen.traffic.start is not None else None,
        "duration_s": scen.run.duration,
        "scenario_json": json.dumps(point.scenario, sort_keys=True),
    }
    for key, value in point.axes.items():
        row[key] = _cell(value)
    for key, value in result.summary.items():
        row[key] = value
    out = None
    if tables:
        out = {"metrics": result.metrics, "decisions": result.decisions}
    return row, out


#: What a run imports lazily, imported once per worker before its first run
#: (:func:`preload_simulator`). Measured once: a cold process's first 48-hour run took
#: 2.4 CPU s against 0.9 s for the next ones, most of it importing scikit-learn when the
#: scenario's rollout sections are checked.
PRELOAD = ("backends.base", "backends.sim", "policies.rollout.online_risk", "sim.scenario")


def preload_simulator() -> None:
    """Import the simulator and the modules a run would otherwise import on its first call
    (:data:`PRELOAD`), so that a worker's first run costs what the others cost."""
    for name in PRELOAD:
        importlib.import_module(name)


def _pool_worker_init() -> None:
    """Pool initializer: workers leave Ctrl-C to the parent, which stops them; the simulator
    is imported (already there when the pool forks from a parent that preloaded it)."""
    ignore_sigint()
    preload_simulator()


def serial_results(points: list[GridPoint], tables: bool) -> Iterator[tuple[dict[str, Any], Any]]:
    """Run ``points`` one after the other in this process (``--workers 1``)."""
    for p in points:
        yield run_point(p, tables)


def pool_results(
    points: list[GridPoint], tables: bool, workers: int
) -> Iterator[tuple[dict[str, Any], Any]]:
    """Run ``points`` on a pool of ``workers`` processes (even one), yielding each row as it
    finishes. The simulator is imported here first, so forked workers start with it."""
    preload_simulator()
    run = functools.partial(run_point, tables=tables)
    for _, row in in_pool(run, points, workers, initializer=_pool_worker_init):
        yield row


def dask_setup(worker: Any) -> None:
    """Set up a Dask worker for sweeps; Dask calls this when the worker is started with
    ``--preload experiments.sweep_run`` (``dask worker``, or ``preload=`` of a
    ``LocalCluster``): import the simulator (:func:`preload_simulator`) and stop the
    worker's statistical profiler.

    The profiler samples the stack of the running task every 10 ms by default
    (``distributed.worker.profile.interval``), holding the GIL the simulation needs: two
    warm workers took 19.2 CPU s for 16 runs of 48 hours with it, 13.9 without (measured
    once, under load). Dropping its callbacks here has the effect of
    ``distributed.worker.profile.enabled: false`` for this worker only; the dashboard's
    profile page stays empty."""
    preload_simulator()
    for name in ("profile", "profile-cycle"):
        callback = worker.periodic_callbacks.pop(name, None)
        if callback is not None:
            callback.stop()


#: Dask settings of :func:`local_cluster`: its scheduler, nannies and workers wake up less
#: often (defaults: a 20 ms tick, a 500 ms system monitor, a 100 ms memory monitor, in
#: ``distributed/distributed.yaml`` of distributed 2026.8.0). Idle for 20 s, a 2-worker
#: cluster used 2.83 CPU s with Dask's defaults (7% of this 2-core machine), 0.35 s with
#: these and the preload (``benchmarks/bench_sweep.py --idle 20``). A 1 s memory monitor
#: still stops a worker that outgrows its memory limit, one second later.
SWEEP_DASK_CONFIG = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.profile.enabled": False,
}


def local_cluster(n_workers: int, **kwargs: Any) -> Any:
    """A Dask ``LocalCluster`` set up for sweeps on this machine: ``n_workers`` processes of
    one thread each (the simulation is pure Python: a second thread only queues for the
    GIL), on 127.0.0.1, no dashboard, every worker preloaded with
    ``experiments.sweep_run`` (:func:`dask_setup`), with :data:`SWEEP_DASK_CONFIG`.
    ``kwargs`` go to ``LocalCluster``."""
    try:
        import dask
        from distributed import LocalCluster
    except ImportError:
        raise ValueError(
            "a Dask cluster needs Dask distributed: pip install 'fargate-lab[dask]'"
        ) from None
    options: dict[str, Any] = {
        "n_workers": n_workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        "preload": ["experiments.sweep_run"],
    }
    options.update(kwargs)
    with dask.config.set(SWEEP_DASK_CONFIG):  # read when the scheduler and workers start
        return LocalCluster(**options)


def dask_results(
    points: list[GridPoint], tables: bool, scheduler: str
) -> Iterator[tuple[dict[str, Any], Any]]:
    """Run ``points`` on the Dask cluster at ``scheduler``, one task per point, yielding
    each row as it finishes (this process writes the store)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ValueError(
            "--scheduler needs Dask distributed: pip install 'fargate-lab[dask]'"
        ) from None
    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise ValueError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    try:
        with client.as_current():  # this client for as_completed, not a process-wide default
            futures = [
                client.submit(
                    run_point, p, tables, key=f"fargate-lab-{p.scenario_hash}", pure=False
                )
                for p in points
            ]
            for _, result in as_completed(futures, with_results=True):
                yield result
    finally:
        client.close()


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    tables: bool = False,
    progress: bool = True,
    runner: Callable[[list[GridPoint], bool], Iterator[tuple[dict[str, Any], Any]]] | None = None,
) -> tuple[Any, int]:
    """Run every grid point of ``spec`` not yet stored in ``out``; consolidate
    ``runs.parquet``. Return (the runs table, how many runs were executed now).

    ``workers``: local processes (default: CPU count; 1 runs in this process). ``scheduler``:
    a Dask scheduler address instead. ``tables``: keep each run's metrics and decisions.
    ``runner`` replaces the executor (tests). On Ctrl-C the finished runs are stored and
    :class:`experiments.outputs.Interrupted` says so; on a run's error the finished runs are
    stored and the error is raised.
    """
    from tqdm import tqdm

    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if scheduler is not None and workers is not None:
        raise ValueError("give --workers or --scheduler, not both")
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise ValueError(f"--scheduler {scheduler!r}: expected an address like tcp://HOST:PORT")
    store = ResultsStore(out)
    hashes = [p.scenario_hash for p in spec.points]
    meta = {
        "name": spec.name,
        "spec": str(spec.path),
        "axes": list(spec.axes),
        "grid_size": len(spec.points),
        "code_version": code_version(),
    }
    store.prepare()
    store.read_parts(hashes)  # a corrupt part is reported before anything runs
    done = store.stored_hashes()
    todo = [p for p in spec.points if p.scenario_hash not in done]
    if runner is None:
        if scheduler is not None:

            def runner(pts: list[GridPoint], tb: bool) -> Iterator[tuple[dict[str, Any], Any]]:
                return dask_results(pts, tb, scheduler)
        else:
            n = workers or os.cpu_count() or 1

            def runner(pts: list[GridPoint], tb: bool) -> Iterator[tuple[dict[str, Any], Any]]:
                k = min(n, max(1, len(pts)))
                return serial_results(pts, tb) if k == 1 else pool_results(pts, tb, k)

    executed = 0
    bar = tqdm(
        total=len(spec.points),
        initial=len(spec.points) - len(todo),
        desc=f"sweep {spec.name}",
        unit="run",
        disable=not progress,
    )
    try:
        if todo:
            for row, run_tables in runner(todo, tables):
                row["code_version"] = meta["code_version"]
                store.write_run(row, run_tables)
                executed += 1
                bar.update()
    except KeyboardInterrupt:
        bar.close()
        store.consolidate(hashes, meta)
        stored = len(store.stored_hashes() & set(hashes))
        raise Interrupted(
            f"interrupted: {stored} of {len(hashes)} runs stored in {out}; run the same "
            "command again to run the rest"
        ) from None
    except BaseException:
        bar.close()
        store.consolidate(hashes, meta)
        raise
    bar.close()
    frame = store.consolidate(hashes, meta)
    return frame, executed


def runs_per_minute(runs: int, seconds: float) -> float:
    """Throughput of ``runs`` finished in ``seconds`` of wall time."""
    return 60.0 * runs / seconds if seconds > 0 else math.nan
