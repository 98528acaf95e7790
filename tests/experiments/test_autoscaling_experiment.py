"""The autoscaling experiment end to end on a small configuration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import autoscaling as exp
from experiments.stats import ci95


def test_ci95_matches_student_t() -> None:
    mean, half = ci95(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert mean == 3.0
    # t(0.975, 4) = 2.7764; sd = 1.5811; n = 5
    assert half == pytest.approx(2.7764451 * 1.5811388 / math.sqrt(5), rel=1e-6)
    assert math.isnan(ci95(np.array([2.0]))[1])


def test_hourly_floor_follows_the_profile() -> None:
    tick = 60.0
    hours = np.arange(48 * 60) // 60 % 24
    demand = np.where((hours >= 9) & (hours < 17), 20.0, 4.0)
    floors = exp.hourly_floor(demand, tick, fraction=0.5)
    assert floors[10] == 10 and floors[3] == exp.SERVICE["min_tasks"]


def test_unknown_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown trace"):
        exp.run_experiment(tmp_path, traces=["nope"], progress=False)
    with pytest.raises(ValueError, match="unknown policy name"):
        exp.run_experiment(tmp_path, traces=["aws-elb"], policies=["magic"], progress=False)


def test_small_experiment_writes_table_report_and_is_deterministic(
    mirror: Path, tmp_path: Path
) -> None:
    kwargs = dict(
        traces=["aws-elb"],
        policies=["static", "target-tracking", "oracle"],
        seeds=[1, 2],
        days=0.25,
        workers=1,
        progress=False,
        log=lambda _: None,
    )
    table = exp.run_experiment(tmp_path / "a", **kwargs)
    assert list(table.policy) == ["static", "target-tracking", "oracle"]
    for col in exp.TABLE_COLUMNS:
        assert col in table and f"{col}_ci95" in table
    runs = pd.read_parquet(tmp_path / "a" / "runs.parquet")
    assert len(runs) == 6
    assert (runs.slack > -1).all()
    for name in ("report.md", "table.csv", "cost_vs_good_minutes.png", "config.json"):
        assert (tmp_path / "a" / name).exists(), name
    report = (tmp_path / "a" / "report.md").read_text()
    assert "Distance from the oracle" in report and "Tuning target tracking" in report
    # Static provisioning is sized for the peak: it never under-provisions.
    static = runs[runs.policy == "static"]
    assert (static.accuracy_under == 0).all()
    # Same seeds, same results.
    again = exp.run_experiment(tmp_path / "b", **kwargs)
    pd.testing.assert_frame_equal(table, again)


def test_seeds_shift_the_window(mirror: Path) -> None:
    assert exp.window_start("nasa", 0, 1.0) == "1995-07-03T00:00:00"
    assert exp.window_start("nasa", 3, 1.0) == "1995-07-06T00:00:00"
    assert exp.window_start("nasa", 3, 0.0) == "1995-07-03T00:00:00"
    # a window-less entry starts at the trace's own first timestamp
    assert exp.window_start("aws-elb", 2, 1.0) == "2014-04-12T00:04:00"
