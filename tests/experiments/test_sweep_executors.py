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


def test_sweep_local_cluster_preloads_and_resumes_a_stopped_sweep(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from distributed import Client

    from experiments.sweep_run import PRELOAD, local_cluster

    full = write_spec(tmp_path, "full", [1, 2])
    serial, _ = run_sweep(full, tmp_path / "serial", workers=1, progress=False)
    out = tmp_path / "out"
    # a sweep that stopped after the first two grid points
    run_sweep(full, out, runner=lambda pts, tb: serial_results(pts[:2], tb), progress=False)

    def state(dask_worker) -> tuple[list[str], list[str]]:
        import sys

        return sorted(dask_worker.periodic_callbacks), [m for m in PRELOAD if m in sys.modules]

    with local_cluster(1, processes=False, protocol="tcp") as cluster:
        with Client(cluster, set_as_default=False) as client:
            [(callbacks, loaded)] = client.run(state).values()
        frame, executed = run_sweep(full, out, scheduler=cluster.scheduler_address, progress=False)
    assert "profile" not in callbacks and "profile-cycle" not in callbacks
    assert "heartbeat" in callbacks  # only the profiler's callbacks were dropped
    assert loaded == list(PRELOAD)
    assert executed == 2  # the two points not stored yet
    pd.testing.assert_frame_equal(serial, frame)
