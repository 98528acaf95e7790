"""Declarative sweeps, the resumable results store and the sweep report (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.cli import main
from experiments.store import ResultsStore, StoreError
from experiments.sweep import SpecError, load_spec
from experiments.sweep_report import mean_ci, pareto_front, write_report
from experiments.sweep_run import run_point, run_sweep

BASE = """
[run]
duration = "10m"
[service]
initial_tasks = 4
min_tasks = 1
"""


def write_spec(tmp: Path, body: str, base: str = BASE) -> Path:
    (tmp / "base.toml").write_text(base)
    spec = tmp / "spec.toml"
    spec.write_text('scenario = "base.toml"\n' + body)
    return spec


GRID = """
[axes]
"autoscaler.policy" = ["static", "target-tracking", "hpa"]
"run.seed" = [1, 2]
"""


def counting_runner(calls: list[str], fail_after: int | None = None):
    """An in-process executor that counts the runs it executes and can fail after k."""

    def runner(points, tables):
        for p in points:
            if fail_after is not None and len(calls) >= fail_after:
                raise RuntimeError("worker lost")
            calls.append(p.scenario_hash)
            yield run_point(p, tables)

    return runner


def test_grid_is_the_product_of_the_axes_with_set_applied(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, '[set]\n"run.duration" = "5m"\n' + GRID))
    assert len(spec.points) == 6
    assert {p.scenario["run"]["duration"] for p in spec.points} == {300.0}
    combos = {(p.axes["autoscaler.policy"], p.axes["run.seed"]) for p in spec.points}
    assert len(combos) == 6
    assert len({p.scenario_hash for p in spec.points}) == 6


def test_fault_axis_of_tables(tmp_path: Path) -> None:
    body = '[axes]\n"faults.az_outages" = [[], [{az = "us-east-1a", at = "2m", duration = "3m"}]]\n'
    spec = load_spec(write_spec(tmp_path, body))
    outages = [p.scenario["faults"]["az_outages"] for p in spec.points]
    assert outages[0] == [] and outages[1][0]["az"] == "us-east-1a"
    row, _ = run_point(spec.points[1])
    assert row["faults.az_outages"] == json.dumps(
        spec.points[1].axes["faults.az_outages"], sort_keys=True
    )


def test_policies_table_expands_per_policy_parameter_grids(tmp_path: Path) -> None:
    body = '[policies.static]\n[policies.target-tracking]\ntarget = [40, 60]\n[axes]\n"run.seed" = [1]\n'
    spec = load_spec(write_spec(tmp_path, body))
    tables = [p.axes["autoscaler"] for p in spec.points]
    assert tables == [
        {"policy": "static"},
        {"policy": "target-tracking", "target": 40},
        {"policy": "target-tracking", "target": 60},
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('[axes]\n"run.sede" = [1, 2]\n', ["unknown scenario key", "run.sede", "run.seed"]),
        ('[axes]\n"autoscaler.policy" = ["static", "magic"]\n', ["magic"]),
        ('[axes]\n"run.seed" = []\n', ["run.seed", "empty"]),
        ('[axes]\n"traffic.trace" = ["nope.csv"]\n', ["nope.csv", "no such file"]),
        ('[axes]\n"autoscaler.target" = [40, 60]\n', ["target"]),
        ('[axes]\n"run.seed" = [1, 1]\n', ["repeats"]),
        ('[axes]\n"run.seed" = 3\n', ["must be a list"]),
        ('[sets]\n"run.seed" = 3\n', ["unknown top-level", "sets"]),
    ],
)
def test_bad_spec_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, words: list[str]
) -> None:
    spec = write_spec(tmp_path, body)
    with pytest.raises(SpecError):
        load_spec(spec)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for w in words:
        assert w in err
    assert not out.exists()


def test_killed_sweep_resumes_with_exactly_the_grid(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "out"
    first: list[str] = []
    with pytest.raises(RuntimeError, match="worker lost"):
        run_sweep(spec, out, runner=counting_runner(first, fail_after=4), progress=False)
    assert len(first) == 4
    partial = pd.read_parquet(out / "runs.parquet")
    assert len(partial) == 4
    # a part being written when the process died: a temporary file, removed on resume
    (out / "parts" / ".deadbeef.parquet.tmp-1").write_bytes(b"PAR1 half")
    second: list[str] = []
    frame, executed = run_sweep(spec, out, runner=counting_runner(second), progress=False)
    assert executed == len(second) == 2
    assert not set(first) & set(second)
    grid = [p.scenario_hash for p in load_spec(spec).points]
    assert list(frame.scenario_hash) == grid
    assert list(pd.read_parquet(out / "runs.parquet").scenario_hash) == grid
    third: list[str] = []
    _, executed = run_sweep(spec, out, runner=counting_runner(third), progress=False)
    assert executed == 0 and third == []
    assert not list((out / "parts").glob(".*"))


def test_corrupt_part_is_reported_by_name(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path, '[axes]\n"run.seed" = [1, 2]\n')
    out = tmp_path / "out"
    run_sweep(spec, out, workers=1, progress=False)
    victim = sorted((out / "parts").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:50])
    with pytest.raises(StoreError, match=victim.name):
        ResultsStore(out).read_parts([victim.stem])
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "-q"]) == 2
    assert victim.name in capsys.readouterr().err


def test_runs_table_has_identity_axes_and_summary(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GRID)
    frame, _ = run_sweep(spec, tmp_path / "out", workers=2, progress=False, tables=True)
    for col in (
        "scenario_hash",
        "policy",
        "params",
        "seed",
        "window",
        "code_version",
        "autoscaler.policy",
        "run.seed",
        "cost_usd",
        "good_minutes_fraction",
    ):
        assert col in frame, col
    assert list(frame["autoscaler.policy"]) == list(frame.policy)
    assert list(frame["run.seed"]) == list(frame.seed)
    h = frame.scenario_hash.iloc[0]
    assert (tmp_path / "out" / "tables" / h / "metrics.parquet").is_file()
    # the pool gives what one process gives
    serial, _ = run_sweep(spec, tmp_path / "serial", workers=1, progress=False)
    pd.testing.assert_frame_equal(frame, serial)


def test_pool_and_dask_local_cluster_give_identical_results(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = write_spec(
        tmp_path, '[axes]\n"autoscaler.policy" = ["static", "hpa"]\n"run.seed" = [3, 4]\n'
    )
    pool, _ = run_sweep(spec, tmp_path / "pool", workers=2, progress=False)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        dask, executed = run_sweep(
            spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False
        )
    assert executed == 4
    pd.testing.assert_frame_equal(pool, dask)


def test_ci_matches_scipy_on_a_known_sample() -> None:
    x = np.array([2.1, 3.4, 1.9, 5.0, 4.2, 3.3, 2.8])
    mean, low, high, n = mean_ci(x, "t")
    ref = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert n == 7 and mean == pytest.approx(x.mean())
    assert (low, high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    _, blow, bhigh, _ = mean_ci(x, "bootstrap")
    boot = stats.bootstrap(
        (x,), np.mean, n_resamples=9999, method="BCa", random_state=np.random.default_rng(0)
    ).confidence_interval
    assert (blow, bhigh) == pytest.approx((boot.low, boot.high), rel=1e-12)
    assert low < mean < high
    with pytest.raises(ValueError, match="--ci 'z'"):
        mean_ci(x, "z")


def test_pareto_front() -> None:
    cost = np.array([1.0, 2.0, 3.0, 2.5, 0.5])
    good = np.array([0.90, 0.95, 0.99, 0.94, 0.80])
    assert list(pareto_front(cost, good)) == [4, 0, 1, 2]


def test_user_csv_trace_through_sweep_and_report(tmp_path: Path) -> None:
    minutes = pd.date_range("2024-03-01", periods=40, freq="min")
    load = 300 + 200 * np.sin(np.arange(40) / 6.0)
    pd.DataFrame({"timestamp": minutes, "requests": load * 60}).to_csv(
        tmp_path / "my-traffic.csv", index=False
    )
    body = (
        '[set]\n"traffic.trace" = "my-traffic.csv"\n"traffic.peak_rps" = 500\n'
        '[axes]\n"autoscaler.policy" = ["static", "target-tracking"]\n"run.seed" = [1, 2, 3]\n'
    )
    spec = write_spec(tmp_path, body)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "-q"]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 and runs.trace.str.endswith("my-traffic.csv").all()
    assert main(["report", str(out), "--baseline", "static"]) == 0
    report = (out / "report.md").read_text()
    assert "Paired against the baseline `static`" in report
    assert "| my-traffic.csv | target-tracking | 3 |" in report
    for png in ("cost_vs_good_minutes.png", "timeseries.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # the chosen run's metrics, re-run from the stored scenario, are the run's own
    first = runs.iloc[0]
    again = run_point(_point_of(spec, first.scenario_hash))[0]
    assert again["cost_usd"] == first.cost_usd


def _point_of(spec: Path, digest: str):
    return next(p for p in load_spec(spec).points if p.scenario_hash == digest)


def test_report_refuses_unknown_baseline(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path, '[axes]\n"autoscaler.policy" = ["static", "hpa"]\n')
    out = tmp_path / "out"
    run_sweep(spec, out, workers=1, progress=False)
    assert main(["report", str(out), "--baseline", "oracle"]) == 2
    err = capsys.readouterr().err
    assert "--baseline 'oracle'" in err and "hpa, static" in err
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_rollout_section_when_summary_has_releases(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, '[axes]\n"autoscaler.policy" = ["static", "hpa"]\n"run.seed" = [1, 2]\n'
    )
    out = tmp_path / "out"
    run_sweep(spec, out, workers=1, progress=False, tables=True)
    runs = pd.read_parquet(out / "runs.parquet")
    assert "Rollout outcomes" not in write_report(out).read_text()
    runs["releases_total"] = [3, 4, 5, 6]
    runs.to_parquet(out / "runs.parquet", index=False)
    text = write_report(out, baseline="static").read_text()
    assert "## Rollout outcomes" in text and "releases_total" in text
    assert "stored with the run (--tables)" in text
    assert json.loads((out / "sweep.json").read_text())["grid_size"] == 4


def test_a_report_that_fails_midway_leaves_the_previous_files_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import experiments.sweep_report as sweep_report

    spec = write_spec(
        tmp_path, '[axes]\n"autoscaler.policy" = ["static", "hpa"]\n"run.seed" = [1]\n'
    )
    out = tmp_path / "out"
    run_sweep(spec, out, workers=1, progress=False, tables=True)
    write_report(out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def half_figure(metrics, capacity_rps, title, path) -> None:
        path.write_bytes(b"\x89PNG half a figure")
        raise RuntimeError("disk full")

    write_text = Path.write_text

    def half_text(self: Path, data: str, *args, **kwargs) -> int:
        write_text(self, data[: len(data) // 2], *args, **kwargs)
        raise RuntimeError("disk full")

    # the timeseries figure, then report.md, half written when the writer fails
    for target, attr, broken in [
        (sweep_report, "plot_timeseries", half_figure),
        (Path, "write_text", half_text),
    ]:
        with monkeypatch.context() as m:
            m.setattr(target, attr, broken)
            with pytest.raises(RuntimeError, match="disk full"):
                write_report(out, baseline="hpa")  # another report: its text would differ
        after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        assert sorted(after) == sorted(before)  # no partial or temporary file left
        assert after["report.md"] == before["report.md"]
        assert after["runs.parquet"] == before["runs.parquet"]
        if attr == "plot_timeseries":
            assert after["timeseries.png"] == before["timeseries.png"]
        for name in ("timeseries.png", "cost_vs_good_minutes.png"):
            assert after[name].startswith(b"\x89PNG\r\n") and after[name].endswith(
                b"IEND\xaeB`\x82"
            )
    assert "`hpa`" in write_report(out, baseline="hpa").read_text()  # and the next one works


def test_autoscaling_specs_hold_the_experiments_windows_and_settings() -> None:
    """The tuning spec loads whole (every point validated); the evaluation spec (1,026 points,
    slow to validate) holds the same settings plus the oracle and the evaluation windows."""
    import tomllib

    from experiments.autoscaling import EXTRA_POLICIES, TUNING
    from experiments.autoscaling_windows import TRACES, layout

    root = Path(__file__).resolve().parents[2] / "experiments" / "specs"
    tuning = load_spec(root / "autoscaling-tuning.toml")
    evaluation = tomllib.loads((root / "autoscaling.toml").read_text())
    windows = {(t, w.role, w.start) for t in TRACES for w in layout(t, 3.5, 5)}
    got = {(p.axes["traffic"]["trace"], p.axes["traffic"]["start"]) for p in tuning.points}
    assert got == {(t, s) for t, role, s in windows if role == "tuning"}
    got = {(w["trace"], w["start"]) for w in evaluation["axes"]["traffic"]}
    assert got == {(t, s) for t, role, s in windows if role == "evaluation"}
    assert {p.scenario["run"]["duration"] for p in tuning.points} == {3.5 * 86400}
    # scheduled needs each window's history (not a scenario key); the experiment-only
    # variants (mpc-no-reserve) are not in the default run the specs describe
    settings = sum(
        len(v[1]) for k, v in TUNING.items() if k != "scheduled" and k not in EXTRA_POLICIES
    )
    assert len(tuning.axes["autoscaler"]) == settings
    assert evaluation["axes"]["autoscaler"] == [{"policy": "oracle"}, *tuning.axes["autoscaler"]]
    assert evaluation["scenario"] == "autoscaling-base.toml"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--workers", "0"], "--workers must be >= 1, got 0"),
        (["--scheduler", "localhost:8786"], "expected an address like tcp://HOST:PORT"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], words: str
) -> None:
    spec = write_spec(tmp_path, '[axes]\n"run.seed" = [1, 2]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "-q", *options]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (out / "parts").exists() or not list((out / "parts").iterdir())


def test_ctrl_c_keeps_finished_runs_and_says_so(tmp_path: Path) -> None:
    from experiments.outputs import Interrupted

    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "out"
    calls: list[str] = []

    def interrupted(points, tables):
        yield from counting_runner(calls)(points[:2], tables)
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="2 of 6 runs stored") as info:
        run_sweep(spec, out, runner=interrupted, progress=False)
    assert info.value.exit_status == 130
    assert len(pd.read_parquet(out / "runs.parquet")) == 2
    rest: list[str] = []
    run_sweep(spec, out, runner=counting_runner(rest), progress=False)
    assert len(rest) == 4 and not set(rest) & set(calls)


@pytest.mark.slow
def test_sigkilled_sweep_process_resumes_with_nothing_lost_or_twice(tmp_path: Path) -> None:
    """A real kill: the sweep's process gets SIGKILL once it has stored two runs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    body = '[set]\n"run.duration" = "6h"\n[axes]\n"run.seed" = [1, 2, 3, 4, 5, 6, 7, 8]\n'
    spec = write_spec(tmp_path, body)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "experiments", "sweep", str(spec), "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--workers", "1", "-q"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # a bound on the wait, not an assertion on speed
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "parts").glob("*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = {p.stem for p in (out / "parts").glob("*.parquet")}
    assert 2 <= len(stored) < 8
    calls: list[str] = []
    frame, executed = run_sweep(spec, out, runner=counting_runner(calls), progress=False)
    assert executed == 8 - len(stored) and not set(calls) & stored
    assert list(frame.scenario_hash) == [p.scenario_hash for p in load_spec(spec).points]


def test_hash_covers_the_csv_trace_content(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("timestamp,requests\n2024-01-01T00:00:00,600\n2024-01-01T00:01:00,900\n")
    spec = write_spec(tmp_path, '[set]\n"traffic.trace" = "t.csv"\n')
    before = load_spec(spec).points[0].scenario_hash
    assert load_spec(spec).points[0].scenario_hash == before
    csv.write_text("timestamp,requests\n2024-01-01T00:00:00,600\n2024-01-01T00:01:00,1200\n")
    assert load_spec(spec).points[0].scenario_hash != before


def test_resuming_with_another_code_version_says_the_runs_are_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import experiments.sweep_run as sweep_run

    spec = write_spec(tmp_path, '[axes]\n"run.seed" = [1, 2]\n')
    out = tmp_path / "out"
    monkeypatch.setattr(sweep_run, "code_version", lambda: "1.0+git.aaaaaaa")
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "-q"]) == 0
    assert "code versions" not in capsys.readouterr().err
    sorted((out / "parts").glob("*.parquet"))[0].unlink()
    monkeypatch.setattr(sweep_run, "code_version", lambda: "1.0+git.bbbbbbb")
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "-q"]) == 0
    err = capsys.readouterr().err
    assert "2 code versions" in err
    assert "1 by 1.0+git.aaaaaaa" in err and "1 by 1.0+git.bbbbbbb" in err
