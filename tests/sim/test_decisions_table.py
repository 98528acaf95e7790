"""The decisions table kept as typed columns (sim/decisions.py) has the values of the table
built from a list of row tuples, as it was before issue 11; only ``policy`` and ``reason``
became Categoricals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim.decisions as decisions
from backends.base import DecisionRecord
from backends.sim import run_simulation
from policies.autoscaling.reactive import ReactivePolicy
from policies.autoscaling.static import StaticPolicy
from sim.decisions import DECISION_COLUMNS, DecisionLog
from sim.scenario import scenario_from_dict
from sim.simulation import Simulation


def _rows_frame(records: list[DecisionRecord]) -> pd.DataFrame:
    """The table as it was built before: a tuple per round, then typed columns."""
    rows = [
        (
            float(r.time),
            r.policy,
            r.desired_before,
            *(r.observed[k] for k in DECISION_COLUMNS[3:10]),
            r.desired,
            r.reason,
        )
        for r in records
    ]
    df = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    ints = ("desired_before", "running", "pending", "healthy", "min_tasks", "max_tasks")
    return df.astype(
        {
            "time_s": float,
            **{name: "int64" for name in ints},
            "CPUUtilization": float,
            "RequestCount": float,
            "desired": "Int64",
            "policy": str,
            "reason": str,
        }
    )


def _same_values(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert tuple(got.columns) == DECISION_COLUMNS
    for name in ("policy", "reason"):
        assert isinstance(got[name].dtype, pd.CategoricalDtype)
        assert got[name].astype(str).tolist() == want[name].tolist()
    rest = [c for c in DECISION_COLUMNS if c not in ("policy", "reason")]
    pd.testing.assert_frame_equal(got[rest], want[rest])  # dtypes, NaN and <NA> included


def _record(t: float, policy: str, desired: int | None, cpu: float, reason: str):
    seen = {
        "desired": 3,
        "running": 3,
        "pending": 1,
        "healthy": 2,
        "min_tasks": 1,
        "max_tasks": 9,
        "CPUUtilization": cpu,
        "RequestCount": math.nan if math.isnan(cpu) else 1234.5,
    }
    return DecisionRecord(t, policy, seen, 3, desired, reason)


@pytest.mark.parametrize("chunk", [4096, 2])
def test_hand_made_rows_keep_their_values(monkeypatch, chunk: int) -> None:
    """No change (None), a change, a zero, NaN metrics, repeated and distinct reasons and
    two policies; in one chunk and in chunks of 2 rows (new reasons in later chunks)."""
    monkeypatch.setattr(decisions, "CHUNK_ROWS", chunk)
    records = [
        _record(0.0, "A", None, math.nan, "nothing published"),
        _record(60.0, "A", 5, 81.25, "scale out"),
        _record(120.0, "B", None, 40.0, "cooldown"),
        _record(180.0, "A", 0, 0.1, "scale in"),
        _record(240.0, "B", None, 40.0, "cooldown"),
    ]
    log = DecisionLog()
    for r in records:
        log.append(r)
    assert len(log) == len(records)
    got = log.frame()
    _same_values(got, _rows_frame(records))
    assert got["desired"].isna().tolist() == [True, False, True, False, True]
    assert list(got["reason"].cat.categories) == [
        "nothing published",
        "scale out",
        "cooldown",
        "scale in",
    ]


def test_an_empty_log_is_an_empty_table_of_the_same_columns() -> None:
    got = DecisionLog().frame()
    assert len(got) == 0
    _same_values(got, _rows_frame([]))


@pytest.mark.parametrize("policy", [ReactivePolicy(interval=30.0, cooldown=60.0), StaticPolicy()])
def test_a_run_records_the_same_values_as_the_rows(policy, tmp_path) -> None:
    """A run with a backlog: rounds that act and rounds that do not, NaN metrics before the
    first publication; the table survives a Parquet round trip."""
    sc = scenario_from_dict(
        {
            "name": "decisions",
            "run": {"seed": 3, "duration": "40m", "tick": "1s"},
            "service": {"min_tasks": 1, "max_tasks": 20, "initial_tasks": 2, "capacity_rps": 50},
            "traffic": {"synthetic": {"base_rps": 300, "noise_cv": 0.3}},
        }
    )
    sim = Simulation(sc)
    records: list[DecisionRecord] = []
    keep = sim.record_decision

    def record(r: DecisionRecord) -> None:
        records.append(r)
        keep(r)

    sim.record_decision = record  # type: ignore[method-assign]
    result = run_simulation(sim, policy)
    d = result.decisions
    _same_values(d, _rows_frame(records))
    assert len(d) == len(records) > 10
    assert d.CPUUtilization.isna().any() and d.CPUUtilization.notna().any()
    if isinstance(policy, ReactivePolicy):
        assert d.desired.notna().any() and (d.desired != d.desired_before).any()
        assert d.reason.nunique() < len(d)  # repeated reasons share a category
    else:
        assert d.desired.isna().all()
    back = pd.read_parquet(result.write(tmp_path) / "decisions.parquet")
    pd.testing.assert_frame_equal(back, d)
    assert np.array_equal(back.time_s, d.time_s)
