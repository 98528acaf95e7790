"""The autoscaling experiment: its windows, tuning, statistics, guards and a reduced run end to
end."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import autoscaling as exp
from experiments import autoscaling_windows as win
from experiments.stats import ci95, front_cost, summarise
from sim.traces.catalog import catalog_entry

ROOT = Path(__file__).resolve().parents[2]


def test_ci95_matches_student_t() -> None:
    mean, half = ci95(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert mean == 3.0
    # t(0.975, 4) = 2.7764; sd = 1.5811; n = 5
    assert half == pytest.approx(2.7764451 * 1.5811388 / math.sqrt(5), rel=1e-6)
    assert math.isnan(ci95(np.array([2.0]))[1])


def test_summarise_counts_infinite_values_and_never_averages_a_subset() -> None:
    runs = pd.DataFrame(
        {
            "trace": ["t"] * 3,
            "policy": ["p"] * 3,
            "elastic_speedup": [1.0, math.inf, 3.0],
            "good_minutes_fraction": [0.995, 0.999, 0.998],
            "availability": [0.9995, 1.0, 0.9999],
        }
    )
    row = summarise(
        runs, ["elastic_speedup", "good_minutes_fraction", "availability"], exp.SLO, 0.99
    ).iloc[0]
    assert row.n == 3 and row.elastic_speedup_inf == 1
    assert math.isnan(row.elastic_speedup)
    assert bool(row.meets_slo)
    # availability under 1 - error_rate: the SLO is missed though good minutes are fine
    runs.loc[0, "availability"] = 0.99
    assert not bool(
        summarise(runs, ["good_minutes_fraction", "availability"], exp.SLO, 0.99).iloc[0].meets_slo
    )


def test_front_cost_interpolates_the_cheapest_cost_of_each_quality() -> None:
    quality = np.array([0.90, 0.95, 0.99, 0.97])
    cost = np.array([10.0, 12.0, 20.0, 25.0])  # 0.97 at 25 is dominated by 0.99 at 20
    assert front_cost(quality, cost, 0.95) == pytest.approx(12.0)
    assert front_cost(quality, cost, 0.96) == pytest.approx(16.0)  # 12 -> 20 over 0.95 -> 0.97
    assert front_cost(quality, cost, 0.5) == pytest.approx(10.0)
    assert math.isnan(front_cost(quality, cost, 0.995))


def test_hourly_floor_follows_the_profile() -> None:
    tick = 60.0
    hours = np.arange(48 * 60) // 60 % 24
    demand = np.where((hours >= 9) & (hours < 17), 20.0, 4.0)
    floors = exp.hourly_floor(demand, tick, fraction=0.5)
    assert floors[10] == 10 and floors[3] == exp.SERVICE["min_tasks"]


def _span(w: exp.Window) -> tuple[float, float]:
    return win.to_seconds(w.start), win.to_seconds(w.end)


@pytest.mark.parametrize("days", [0.25, 1.0, 7.0])
@pytest.mark.parametrize("trace", list(exp.TRACES))
def test_windows_are_independent_and_tuning_is_apart(trace: str, days: float) -> None:
    ws = exp.layout(trace, days, 5)
    tuning, evals = ws[0], ws[1:]
    assert tuning.role == "tuning" and all(w.role == "evaluation" for w in evals)
    assert 1 <= len(evals) <= 5
    assert [w.index for w in evals] == list(range(1, len(evals) + 1))
    spans = sorted(_span(w) for w in evals)
    for (_, e0), (s1, _) in zip(spans, spans[1:], strict=False):
        assert e0 <= s1  # no two evaluation windows overlap
    t0, t1 = _span(tuning)
    for w in evals:
        s, e = _span(w)
        assert e <= t0 or s >= t1  # disjoint from the tuning window
        h = win.to_seconds(w.history_start)
        assert t1 <= h or t0 >= s  # the tuning window is in no window's history
        assert s - h <= exp.HISTORY_DAYS * 86400
        # window and history inside one usable span
        assert any(
            win.to_seconds(a) <= h and e <= win.to_seconds(b) + 1e-6
            for a, b in exp.TRACES[trace]["segments"]
        )


def test_segments_lie_inside_the_catalog_span() -> None:
    for trace, cfg in exp.TRACES.items():
        first, last = catalog_entry(trace).span.split(" .. ")
        lo, hi = win.to_seconds(first.replace(" ", "T")), win.to_seconds(last.replace(" ", "T"))
        for a, b in cfg["segments"]:
            assert lo <= win.to_seconds(a) < win.to_seconds(b) <= hi


def test_a_short_trace_gets_fewer_windows() -> None:
    # aws-elb holds 14 days: one tuning week and one evaluation week
    assert len(exp.layout("aws-elb", 7.0, 5)) == 2
    assert len(exp.layout("twitter-aapl", 7.0, 5)) == 6


def test_history_metrics_are_those_of_a_service_at_target() -> None:
    rate = np.full(3600, 450.0)  # one hour at 1 s ticks, 450 requests/s
    h = exp.history_metrics(rate, 1.0, target=50.0, idle_cpu=0.0)
    assert h is not None and len(h) == 60 and h.end == 0.0
    assert (h["RunningTaskCount"] == 9).all()  # 450 / (100 x 0.5)
    assert h["CPUUtilization"] == pytest.approx(np.full(60, 50.0))
    assert h["RequestCount"] == pytest.approx(np.full(60, 450.0 * 60))
    assert exp.history_metrics(np.zeros(0), 1.0, 50.0, 0.0) is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"traces": ["nope"]}, "unknown trace"),
        ({"policies": ["magic"]}, "unknown policy name"),
        ({"seeds": []}, "--seeds"),
        ({"workers": 0}, "--workers"),
        ({"days": 0.01}, "--days .* too short"),
        ({"days": 8.0}, "--days .* too long"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"traces": ["aws-elb"], "progress": False, **kwargs}
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match):
        exp.run_experiment(out, **args)
    assert not out.exists()


def test_run_one_is_deterministic(mirror: Path) -> None:
    w = exp.layout("aws-elb", 0.05, 1)[1]
    spec = exp.RunSpec(w, "predictive", 50.0, "evaluation")
    assert exp.run_one(spec) == exp.run_one(spec)


def test_reduced_experiment(mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "a"
    table = exp.run_experiment(
        out,
        traces=["aws-elb"],
        policies=["static", "reactive", "target-tracking", "oracle"],
        seeds=[1, 2],
        days=0.1,
        workers=1,
        progress=False,
        log=lambda _: None,
    )
    for name in (
        "report.md",
        "table.csv",
        "cost_vs_good_minutes.png",
        "config.json",
        "runs.parquet",
        "tuning.parquet",
    ):
        assert (out / name).exists(), name
    assert not list(tmp_path.glob(".*partial*"))
    config = json.loads((out / "config.json").read_text())
    ws = [
        exp.Window(**{k: v for k, v in w.items() if k != "end"})
        for w in config["windows"]["aws-elb"]
    ]
    tuning, evals = ws[0], ws[1:]
    assert len(evals) == 2
    spans = sorted(_span(w) for w in evals)
    assert spans[0][1] <= spans[1][0]
    assert all(_span(w)[1] <= _span(tuning)[0] for w in evals)
    # every row states n, the number of independent windows
    assert (table.n == 2).all()
    csv = pd.read_csv(out / "table.csv")
    assert "n" in csv and (csv.n == 2).all()
    report = (out / "report.md").read_text()
    results = report.split("## Results")[1].split("![cost")[0]
    rows = [line for line in results.splitlines() if line.startswith("| ") and "policy" not in line]
    assert len(rows) == 4 and all(line.split("|")[2].strip() == "2" for line in rows)
    # tuning: every tunable policy requested, and only those, on the tuning window only
    tuning_runs = pd.read_parquet(out / "tuning.parquet")
    assert set(tuning_runs.policy) == {"reactive", "target-tracking"}
    assert set(tuning_runs.window_start) == {tuning.start}
    assert tuning_runs.groupby("policy").size().eq(len(exp.TUNING_TARGETS)).all()
    # the SLO-missing reactive policy is not ranked by cost
    runs = pd.read_parquet(out / "runs.parquet")
    assert not bool(table.set_index("policy").meets_slo["reactive"])
    oracle = report.split("### Distance from the oracle")[1]
    ranked = [line for line in oracle.splitlines() if line.startswith("  meet the SLO, ranked:")]
    missed = [line for line in oracle.splitlines() if line.startswith("  miss the SLO")]
    assert missed and "reactive" in missed[0]
    assert all("reactive" not in line for line in ranked)
    # the baseline's sweep covers every setting on every evaluation window
    tt = runs[runs.policy == "target-tracking"]
    assert tt.groupby("window").param.nunique().eq(len(exp.TUNING_TARGETS)).all()
    assert "Cost at equal quality" in report
    # the cost floor: one per evaluation window, and no run covering the demand in at least
    # the bar's share of periods bills less (evaluation and sweep runs alike)
    floors = runs[runs.floor_cost_usd.notna()]
    assert len(floors) == 2 and set(floors.policy) == {"oracle"}
    assert (floors.floor_cost_usd > 0).all()
    checked = runs.merge(floors[["window", "floor_cost_usd"]], on="window", suffixes=("", "_w"))
    covering = checked[checked.covered_fraction >= exp.TUNING_GOOD_MINUTES]
    assert len(covering) >= 2  # static and the oracle cover every period
    assert (covering.cost_usd >= covering.floor_cost_usd_w - 1e-9).all()
    assert exp.floor_violations(runs).empty
    assert "### Distance from the cost floor" in report and "0 of them bill less" in report


@pytest.mark.parametrize(
    ("good", "availability", "cost", "chosen"),
    [
        # 0.2 has the good minutes but loses requests beyond the budget: 0.5 is chosen.
        ([0.995, 0.999, 1.0], [0.99, 0.9995, 1.0], [1.0, 2.0, 3.0], 0.5),
        # Both meet the SLO: the cheaper.
        ([0.995, 0.999, 1.0], [0.9991, 0.9995, 1.0], [1.0, 2.0, 3.0], 0.2),
        # None meets it: the highest availability, though another has more good minutes.
        ([0.95, 0.999, 0.98], [0.99, 0.995, 0.998], [1.0, 2.0, 3.0], 0.9),
    ],
)
def test_tuning_keeps_the_cheapest_setting_that_meets_the_slo(
    good: list[float], availability: list[float], cost: list[float], chosen: float
) -> None:
    group = pd.DataFrame(
        {
            "param": [0.2, 0.5, 0.9],
            "good_minutes_fraction": good,
            "availability": availability,
            "cost_usd": cost,
        }
    )
    assert exp.choose(group) == chosen


def test_floor_violations_finds_a_run_below_the_floor() -> None:
    runs = pd.DataFrame(
        {
            "trace": ["t", "t", "t"],
            "window": [1, 1, 1],
            "policy": ["oracle", "a", "b"],
            "cost_usd": [10.0, 9.0, 8.0],
            "covered_fraction": [1.0, 0.995, 0.5],
            "floor_cost_usd": [9.5, np.nan, np.nan],
        }
    )
    bad = exp.floor_violations(runs)
    assert list(bad.policy) == ["a"]  # b bills less but covers too few periods


def test_static_alone_tunes_nothing(mirror: Path, tmp_path: Path) -> None:
    exp.run_experiment(
        tmp_path / "s",
        traces=["aws-elb"],
        policies=["static"],
        seeds=[1],
        days=0.05,
        workers=1,
        progress=False,
        log=lambda _: None,
    )
    assert len(pd.read_parquet(tmp_path / "s" / "tuning.parquet")) == 0
    runs = pd.read_parquet(tmp_path / "s" / "runs.parquet")
    assert list(runs.policy) == ["static"]


def test_ctrl_c_keeps_completed_runs_and_exits_130(mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "FARGATE_LAB_TRACE_MIRROR": str(mirror), "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "experiments",
        "experiment",
        "autoscaling",
        "--traces",
        "aws-elb",
        "--policies",
        "target-tracking",
        "--days",
        "0.05",
        "--seeds",
        "3",
        "--workers",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=False)
    seen = bytearray()
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read1(256):
            seen.extend(chunk)
            if b" 1/" in seen or b" 2/" in seen:
                started.set()
        started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started.wait()
    proc.send_signal(signal.SIGINT)
    proc.wait()
    reader.join()
    err = seen.decode(errors="replace")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: kept" in err
    kept = pd.read_parquet(out / "runs.partial.parquet")
    assert len(kept) >= 1
    assert f"kept {len(kept)} of" in err
    assert not (out / "report.md").exists()


def test_a_failed_run_leaves_no_output_folder(tmp_path: Path, monkeypatch) -> None:
    def broken(window: exp.Window, tick: float):
        raise OSError("download failed")

    monkeypatch.setattr(exp, "window_rate", broken)
    out = tmp_path / "new" / "out"
    with pytest.raises(OSError, match="download failed"):
        exp.run_experiment(
            out,
            traces=["aws-elb"],
            policies=["static"],
            seeds=[1],
            days=0.05,
            workers=1,
            progress=False,
            log=lambda _: None,
        )
    assert not (tmp_path / "new").exists()
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_serial_run_keeps_the_completed_runs(tmp_path: Path, monkeypatch) -> None:
    from experiments.outputs import Interrupted

    calls = []

    def fake_run(spec: exp.RunSpec) -> dict:
        calls.append(spec)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return {"trace": spec.window.trace, "policy": spec.policy, "param": spec.param}

    monkeypatch.setattr(exp, "run_one", fake_run)
    out = tmp_path / "out"
    total = len(exp.TUNING_TARGETS)
    with pytest.raises(
        Interrupted, match=rf"interrupted: kept 2 of {total} runs in .*runs\.partial"
    ):
        exp.run_experiment(
            out,
            traces=["aws-elb"],
            policies=["target-tracking"],
            seeds=[1],
            days=0.05,
            workers=1,
            progress=False,
            log=lambda _: None,
        )
    kept = pd.read_parquet(out / "runs.partial.parquet")
    assert list(kept.param) == list(exp.TUNING_TARGETS[:2])
    assert sorted(p.name for p in out.iterdir()) == ["runs.partial.parquet"]
