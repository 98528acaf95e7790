"""Policy benchmarks in CI (experiments/leaderboard.py): the committed leaderboard passes
unmodified, a deliberate regression in a policy fails it, and the comparison's arithmetic."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from experiments import leaderboard as lb
from policies.autoscaling.target_tracking import TargetTrackingPolicy

CELL = {"traces": ["aws-elb"], "policies": ["target-tracking"]}


@pytest.fixture
def committed() -> pd.DataFrame:
    return lb.read_leaderboard()


def test_committed_leaderboard_covers_every_suite(committed: pd.DataFrame) -> None:
    for suite, cfg in lb.SUITES.items():
        rows = committed[committed.suite == suite]
        expected = {(t, p) for t in cfg["traces"] for p in cfg["policies"]}
        assert set(zip(rows.trace, rows.policy, strict=True)) == expected, suite
        assert (rows.days == cfg["days"]).all()


@pytest.mark.usefixtures("mirror")
def test_unmodified_policy_passes_and_a_regression_fails(
    committed: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = lb.run_suite("quick", **CELL)
    assert len(runs) == 1
    assert lb.compare(runs, committed).empty

    # A deliberate regression: target tracking asks for 50% more tasks than it decided.
    decide = TargetTrackingPolicy.decide

    def wasteful(self, observation):
        d = decide(self, observation)
        if d.desired is None:
            return d
        return dataclasses.replace(d, desired=int(d.desired * 1.5) + 1)

    monkeypatch.setattr(TargetTrackingPolicy, "decide", wasteful)
    worse = lb.run_suite("quick", **CELL)
    failed = lb.compare(worse, committed)
    assert "cost_usd" in set(failed.metric)
    row = failed[failed.metric == "cost_usd"].iloc[0]
    assert (row.suite, row.trace, row.policy) == ("quick", "aws-elb", "target-tracking")
    assert row.now > row.leaderboard * (1 + lb.COST_TOLERANCE)


def _runs(**changes: float) -> pd.DataFrame:
    row = {
        "suite": "quick",
        "trace": "nasa",
        "policy": "step",
        "window_start": "1995-08-30T18:00:00",
        "days": 0.25,
        "seed": 1,
        "cost_usd": 10.0,
        "good_minutes_fraction": 0.99,
        "latency_p99_ms": 200.0,
        "availability": 1.0,
    }
    return pd.DataFrame([{**row, **changes}])


@pytest.mark.parametrize(
    ("changes", "metrics"),
    [
        ({}, []),
        ({"cost_usd": 10.0 * (1 + lb.COST_TOLERANCE) - 1e-6}, []),  # within the tolerance
        ({"cost_usd": 10.0 * (1 + lb.COST_TOLERANCE) + 1e-3}, ["cost_usd"]),
        ({"cost_usd": 5.0}, []),  # cheaper: an improvement passes
        ({"good_minutes_fraction": 0.99 - lb.GOOD_MINUTES_TOLERANCE + 1e-6}, []),
        ({"good_minutes_fraction": 0.98}, ["good_minutes_fraction"]),
        ({"cost_usd": 11.0, "good_minutes_fraction": 0.9}, ["cost_usd", "good_minutes_fraction"]),
        ({"policy": "hpa"}, ["(no leaderboard row)"]),
    ],
)
def test_compare_tolerances(changes: dict, metrics: list[str]) -> None:
    failed = lb.compare(_runs(**changes), _runs())
    assert list(failed.metric) == metrics


def test_update_replaces_only_the_runs_rows(tmp_path) -> None:
    path = tmp_path / "board.csv"
    lb.update(pd.concat([_runs(), _runs(policy="hpa", cost_usd=3.0)]), path)
    lb.update(_runs(cost_usd=12.0), path)
    board = lb.read_leaderboard(path)
    assert dict(zip(board.policy, board.cost_usd, strict=True)) == {"hpa": 3.0, "step": 12.0}


def test_bad_names_and_files_are_refused(tmp_path) -> None:
    with pytest.raises(lb.LeaderboardError, match="unknown suite 'nope'.*full"):
        lb.suite_specs("nope")
    with pytest.raises(lb.LeaderboardError, match="policy.*'oracle'.*not in suite 'quick'"):
        lb.suite_specs("quick", policies=["oracle"])
    bad = tmp_path / "bad.csv"
    bad.write_text("suite,trace\nquick,nasa\n")
    with pytest.raises(lb.LeaderboardError, match="missing column"):
        lb.read_leaderboard(bad)
    assert lb.main(["--suite", "nope", "--leaderboard", str(bad)]) == 2
