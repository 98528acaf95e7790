"""The ``fargate-lab`` command as a user runs it (subprocesses, real scenario files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SCENARIO = """
[run]
seed = 2
duration = "2h"
[service]
initial_tasks = 4
[traffic]
arrivals = "poisson"
[traffic.synthetic]
base_rps = 200
[autoscaler]
policy = "reactive"
"""


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "svc.toml"
    path.write_text(SCENARIO)
    return path


def test_simulate_json_prints_exactly_one_object(scenario: Path) -> None:
    proc = cli("simulate", str(scenario), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    for key in (
        "cost_usd",
        "task_hours",
        "vcpu_hours",
        "requests_total",
        "requests_failed",
        "availability",
        "latency_p50_ms",
        "latency_p99_ms",
        "good_minutes_fraction",
        "scaling_actions",
        "cost_on_demand_usd",
        "cost_spot_usd",
    ):
        assert key in summary
    assert summary["requests_total"] > 0


def test_simulate_set_and_out(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli(
        "simulate",
        str(scenario),
        "--set",
        "autoscaler.policy=static",
        "--set",
        "run.duration=30m",
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["scaling_actions"] == 0
    assert json.loads((out / "summary.json").read_text()) == summary
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert len(metrics) == 30
    assert {"CPUUtilization", "supply_tasks", "demand_tasks"} <= set(metrics.columns)
    events = pd.read_parquet(out / "events.parquet")
    assert list(events.columns) == [
        "time_s",
        "task",
        "az",
        "revision",
        "provider",
        "event",
        "reason",
    ]


def test_bad_scenario_exits_nonzero_with_error_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[service]\ncpu = 1024\nmemory = 999\n")
    proc = cli("simulate", str(path), "--json")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "memory=999 MiB is not valid with cpu=1024" in proc.stderr
    assert str(path) in proc.stderr


def test_traces_list() -> None:
    proc = cli("traces", "list")
    assert proc.returncode == 0
    for name in ("nasa", "worldcup98", "aws-elb", "twitter-aapl"):
        assert name in proc.stdout


def test_traces_fetch_from_mirror(mirror: Path, tmp_path: Path) -> None:
    proc = cli(
        "traces",
        "fetch",
        "aws-elb",
        "--mirror",
        str(mirror),
        "-q",
        env={"FARGATE_LAB_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "aws-elb: 4040 intervals of 300s" in proc.stdout
    assert "8 missing" in proc.stdout


def test_traces_fetch_unknown_name() -> None:
    proc = cli("traces", "fetch", "nope")
    assert proc.returncode != 0
    assert "nasa" in proc.stderr


def test_policies_lists_the_registry() -> None:
    proc = cli("policies")
    assert proc.returncode == 0
    assert "reactive:" in proc.stdout and "static:" in proc.stdout
