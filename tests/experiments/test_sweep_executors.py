"""The sweep's executors measured by benchmarks/bench_sweep.py (issue 11): a process pool of
any size, even one worker, and a Dask LocalCluster set up for sweeps, give the rows that one
process gives, and resume a store another executor started."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from experiments.sweep_run import pool_results, run_sweep, serial_results

BASE = '[run]\nduration = "10m"\n[service]\ninitial_tasks = 4\nmin_tasks = 1\n'


def write_spec(tmp: Path, name: str, seeds: list[int]) -> Path:
    (tmp / "base.toml").write_text(BASE)
    spec = tmp / f"{name}.toml"
    values = ", ".join(str(s) for s in seeds)
    spec.write_text(
        f'name = "executors"\nscenario = "base.toml"\n[axes]\n'
        f'"autoscaler.policy" = ["static", "hpa"]\n"run.seed" = [{values}]\n'
    )
    return spec


def test_one_worker_process_pool_gives_the_serial_rows(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "grid", [1, 2])
    serial, _ = run_sweep(spec, tmp_path / "serial", workers=1, progress=False)
    pooled, executed = run_sweep(
        spec, tmp_path / "pool", runner=partial(pool_results, workers=1), progress=False
    )
    assert executed == 4
    pd.testing.assert_frame_equal(serial, pooled)


def callbacks_and_modules(dask_worker) -> tuple[dict[str, float], list[str]]:
    """A worker's periodic callbacks (name: period in ms) and which PRELOAD modules it has."""
    import sys

    from experiments.sweep_run import PRELOAD

    periods = {k: pc.callback_time for k, pc in dask_worker.periodic_callbacks.items()}
    return periods, [m for m in PRELOAD if m in sys.modules]


def test_preloaded_dask_worker_resumes_a_stopped_sweep(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from experiments.sweep_run import PRELOAD

    spec = write_spec(tmp_path, "grid", [1, 2])
    serial, _ = run_sweep(spec, tmp_path / "serial", workers=1, progress=False)
    out = tmp_path / "out"
    # a sweep that stopped after the first two grid points
    run_sweep(spec, out, runner=lambda pts, tb: serial_results(pts[:2], tb), progress=False)
    with distributed.LocalCluster(  # dask's default settings, as `dask worker --preload`
        n_workers=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
        preload=["experiments.sweep_run"],
    ) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            [(periods, loaded)] = client.run(callbacks_and_modules).values()
        frame, executed = run_sweep(spec, out, scheduler=cluster.scheduler_address, progress=False)
    assert "profile" not in periods and "profile-cycle" not in periods
    assert "heartbeat" in periods  # only the profiler's callbacks were dropped
    assert loaded == list(PRELOAD)
    assert executed == 2  # the two points not stored yet
    pd.testing.assert_frame_equal(serial, frame)


def test_sweep_local_cluster_workers_wake_up_less_often() -> None:
    distributed = pytest.importorskip("distributed")
    from experiments.sweep_run import local_cluster

    with local_cluster(2, processes=False, protocol="tcp") as cluster:
        assert len(cluster.workers) == 2
        with distributed.Client(cluster, set_as_default=False) as client:
            states = list(client.run(callbacks_and_modules).values())
        threads = {w.state.nthreads for w in cluster.workers.values()}
    assert threads == {1}
    for periods, _ in states:
        assert "profile" not in periods
        assert periods["tick"] == 1000  # dask's default is 20 ms
        assert periods["monitor"] == 2000  # dask's default is 500 ms
