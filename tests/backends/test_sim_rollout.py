"""Releases deployed into the simulator: each strategy's traffic and task trajectory for a
good and a bad release, the circuit breaker, the measures, autoscaling during a rollout.

The scenario makes start-up deterministic to the second: provisioning 10 s, an image pull of
88 MB at 8.8 MB/s (10 s, no jitter), container start 2 s, then the health check (interval
1 s, threshold 2: healthy 1-2 s after RUNNING). A release at 600 s therefore has its tasks
healthy at 623-624 s (a crash-looping one fails to start at 622 s); the driver's rounds fall
every 15 s from 600 s, so the round at 630 s is the first to see them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backends.sim import run_scenario, run_simulation
from backends.sim_rollout import SUMMARY_KEYS
from policies.base import BasePolicy
from policies.contract import Decision, Observation
from sim.scenario import scenario_from_dict
from sim.simulation import STREAMS, Simulation, random_streams

T0 = 600.0


def scenario(strategy: dict, kind: str = "good", analysis: dict | None = None, **release):
    data = {
        "run": {"duration": "40m", "seed": 7, "tick": 1},
        "service": {
            "initial_tasks": 4,
            "min_tasks": 1,
            "max_tasks": 20,
            "provisioning": [10, 10],
            "image_size_mb": 88.0,
            "pull_mbps": 8.8,
            "pull_jitter": 0.0,
            "health_check_interval": 1,
            "healthy_threshold": 2,
        },
        "traffic": {"synthetic": {"base_rps": 100, "daily_amplitude": 0, "noise_cv": 0}},
        "releases": {"explicit": [{"at": T0, "kind": kind, **release}]},
        "rollout": strategy,
    }
    if analysis is not None:
        data["analysis"] = analysis
    return scenario_from_dict(data)


def events(result, kind: str) -> pd.DataFrame:
    ev = result.events
    return ev[ev.event == kind]


def weights_at(result) -> list[tuple[float, str]]:
    """(time, weights text) of every listener weight change."""
    tr = events(result, "TRAFFIC")
    return [(t, r.split(": ")[0]) for t, r in zip(tr.time_s, tr.reason, strict=True)]


def launched(result, revision: int) -> list[float]:
    ev = events(result, "PROVISIONING")
    return ev.loc[ev.revision == revision, "time_s"].tolist()


def stopped_serving(result, revision: int) -> list[float]:
    ev = events(result, "DEREGISTERED")
    return ev.loc[ev.revision == revision, "time_s"].tolist()


def tg_requests(result, revision: int, t: float) -> float:
    tg = result.target_groups
    row = tg[(tg.revision == revision) & (tg.time_s == t)]
    return float(row.RequestCount.fillna(0.0).iloc[0])


def release_row(result) -> pd.Series:
    assert len(result.releases) == 1
    return result.releases.iloc[0]


# -- good releases: the exact trajectory ---------------------------------------------------
def test_rolling_good_release_trajectory() -> None:
    r = run_scenario(scenario({"strategy": "rolling"}))
    # 100/200: four new tasks at once, the four old ones stop once the new ones are healthy.
    assert launched(r, 2) == [T0] * 4
    assert stopped_serving(r, 1) == [630.0] * 4
    assert weights_at(r) == []  # rolling: split by healthy tasks, no listener weights
    row = release_row(r)
    assert (row.outcome, row.full_s, row.end_s, row.lead_time_s) == ("complete", 630, 630, 30)
    # Both revisions shared the minute 600-660 by healthy tasks; then only the new one.
    assert tg_requests(r, 1, 600) > 0 and tg_requests(r, 2, 600) > 0
    assert tg_requests(r, 1, 660) == 0 and tg_requests(r, 2, 660) > 0


@pytest.mark.parametrize(
    ("strategy", "shifts", "end"),
    [
        ({"strategy": "all-at-once"}, [(630, 0), (630, 100)], 630),
        ({"strategy": "blue-green", "bake_time": 60}, [(600, 0), (630, 100)], 690),
        (
            {"strategy": "canary", "percent": 10, "bake_time": 60},
            [(600, 0), (630, 10), (690, 100)],
            690,
        ),
        (
            {"strategy": "linear", "step_percent": 50, "step_bake_time": 30},
            [(600, 0), (630, 50), (660, 100)],
            660,
        ),
    ],
)
def test_traffic_shifting_good_release_trajectory(strategy, shifts, end) -> None:
    r = run_scenario(scenario(strategy))
    # Green scaled to the desired count with no production traffic, then the weights.
    assert launched(r, 2) == [T0] * 4
    expected = [(t, f"weights tg-rev1={100 - p:g}, tg-rev2={p:g}") for t, p in shifts]
    if strategy["strategy"] == "all-at-once":  # the zero weight is set at the first round
        expected = [(600.0, "weights tg-rev1=100, tg-rev2=0"), *expected[1:]]
    assert weights_at(r) == expected
    # Blue keeps its four tasks until the deployment completes, then stops them.
    assert stopped_serving(r, 1) == [float(end)] * 4
    row = release_row(r)
    assert (row.outcome, row.full_s, row.end_s) == ("complete", shifts[-1][0], end)
    assert r.summary["false_rollbacks"] == 0 and r.summary["lead_time_p50_s"] == end - T0


# -- bad releases ----------------------------------------------------------------------------
def test_crash_loop_under_rolling_with_circuit_breaker() -> None:
    r = run_scenario(scenario({"strategy": "rolling"}, "crash-loop"))
    fails = events(r, "STOPPED")
    fails = fails[(fails.revision == 2) & fails.reason.str.startswith("TaskFailedToStart")]
    assert len(fails) >= 3  # the threshold for 4 desired tasks
    assert not (events(r, "RUNNING").revision == 2).any()  # never reached RUNNING
    # Ends on the previous revision, whose tasks never left the target group: never below
    # the minimum healthy capacity (100% of 4).
    assert stopped_serving(r, 1) == []
    row = release_row(r)
    assert (row.outcome, row.detected_s) == ("rolled_back", 630.0)
    assert "circuit breaker" in row.reason
    assert math.isnan(row.first_traffic_s) and math.isnan(row.full_s)
    s = r.summary
    assert (s["bad_stopped_before_full"], s["prevention_rate"], s["releases_bad"]) == (1, 1.0, 1)
    assert s["time_to_detect_p50_s"] == 30.0
    tg = r.target_groups
    assert tg.loc[tg.revision == 2, "RequestCount"].fillna(0).sum() == 0
    final = tg[tg.time_s == tg.time_s.max()]
    assert final.set_index("revision").HealthyHostCount.to_dict() == {1: 4.0, 2: 0.0}


def test_errors_under_all_at_once_reaches_full_traffic() -> None:
    r = run_scenario(scenario({"strategy": "all-at-once"}, "errors", error_share=0.2))
    row = release_row(r)
    assert (row.outcome, row.full_s) == ("complete", 630.0)
    s = r.summary
    assert s["bad_stopped_before_full"] == 0 and s["prevention_rate"] == 0.0
    assert s["blast_radius_failed_requests"] > 0
    # The failures are the target group's own 5xx: a fifth of what it served.
    tg = r.target_groups
    new = tg[(tg.revision == 2) & (tg.time_s >= 660)]
    assert new.HTTPCode_Target_5XX_Count.sum() == pytest.approx(0.2 * new.served.sum())
    assert s["requests_failed"] == pytest.approx(s["blast_radius_failed_requests"])


def test_errors_under_canary_with_alarm_stopped_before_full() -> None:
    r = run_scenario(
        scenario({"strategy": "canary", "percent": 10, "bake_time": 900}, "errors",
                 analysis={"method": "alarm"}, error_share=0.2)
    )  # fmt: skip
    # The alarm (ErrorRate > 1%, 3 of 3 periods) sees the canary's periods starting 600
    # (traffic from 630), 660 and 720; the last is published at 780 + 180 s = 960 s, a round.
    assert weights_at(r) == [
        (600.0, "weights tg-rev1=100, tg-rev2=0"),
        (630.0, "weights tg-rev1=90, tg-rev2=10"),
        (960.0, "weights tg-rev1=100, tg-rev2=0"),
    ]
    row = release_row(r)
    assert (row.outcome, row.detected_s, row.recovered_s) == ("rolled_back", 960.0, 960.0)
    assert r.summary["bad_stopped_before_full"] == 1
    assert r.summary["time_to_detect_p50_s"] == 360.0
    assert 0 < r.summary["blast_radius_failed_requests"] < r.summary["requests_total"] * 0.02


@pytest.mark.parametrize("name", ["blue-green", "linear", "canary"])
def test_crash_loop_rolled_back_by_the_circuit_breaker(name: str) -> None:
    r = run_scenario(scenario({"strategy": name}, "crash-loop"))
    # Green never became healthy: production traffic never moved.
    assert weights_at(r) == [
        (600.0, "weights tg-rev1=100, tg-rev2=0"),
    ]
    row = release_row(r)
    assert (row.outcome, row.detected_s) == ("rolled_back", 630.0)
    assert stopped_serving(r, 1) == []


def test_blue_green_bad_release_rolled_back_after_full() -> None:
    r = run_scenario(
        scenario({"strategy": "blue-green", "bake_time": 900}, "errors",
                 analysis={"method": "alarm"}, error_share=0.2)
    )  # fmt: skip
    row = release_row(r)
    # All traffic moved at 630 s: rolled back during the bake, but not before full.
    assert (row.outcome, row.full_s, row.detected_s) == ("rolled_back", 630.0, 960.0)
    assert r.summary["bad_stopped_before_full"] == 0
    assert r.summary["prevention_rate"] == 0.0


def test_a_good_release_rolled_back_counts_as_false_rollback() -> None:
    # An alarm on 5xx of a good release with a threshold no period can stay under.
    r = run_scenario(
        scenario({"strategy": "canary", "percent": 10, "bake_time": 900}, "good",
                 analysis={"method": "alarm", "metric": "RequestCount", "threshold": 0})
    )  # fmt: skip
    assert release_row(r).outcome == "rolled_back"
    assert r.summary["false_rollbacks"] == 1 and math.isnan(r.summary["prevention_rate"])


def test_releases_queue_one_at_a_time() -> None:
    sc = scenario({"strategy": "blue-green", "bake_time": 120})
    data = sc.model_dump()
    data["releases"]["explicit"] = [{"at": 600, "kind": "good"}, {"at": 650, "kind": "good"}]
    r = run_scenario(scenario_from_dict(data))
    first, second = r.releases.iloc[0], r.releases.iloc[1]
    assert (first.end_s, second.start_s) == (750.0, 750.0)  # waited for the first
    assert second.lead_time_s == second.end_s - 650.0
    assert list(r.releases.revision) == [2, 3]


# -- autoscaling during a rollout ----------------------------------------------------------
class ScaleTo(BasePolicy):
    """Test policy: desired 8 from ``at`` seconds on (nothing before)."""

    def __init__(self, at: float = 700.0, interval: float = 60.0) -> None:
        self.at = at
        self.interval = interval

    def decide(self, observation: Observation) -> Decision:
        if observation.time >= self.at:
            return Decision(8, "scale out")
        return Decision(None, "wait")


def test_autoscaling_during_a_rollout_applies_to_both_revisions() -> None:
    sc = scenario({"strategy": "canary", "percent": 10, "bake_time": 900})
    sim = Simulation(sc)
    r = run_simulation(sim, ScaleTo())
    scale = events(r, "SCALE")
    assert len(scale) == 1
    t_scale = float(scale.time_s.iloc[0])
    assert 700 < t_scale < 800
    # The autoscaler saw the service: every revision's tasks (4 blue + 4 green running).
    during = r.decisions[(r.decisions.time_s > 630) & (r.decisions.time_s < t_scale)]
    assert (during.running == 8).all() and len(during) > 0
    # Blue (held by the rollout) and green (its task set) both grow to the new desired 8.
    assert sorted(launched(r, 1)) == [t_scale] * 4
    assert sorted(launched(r, 2)) == [T0] * 4 + [t_scale] * 4
    # The canary split is unchanged: the new tasks join each target group.
    row = release_row(r)
    assert row.outcome == "complete"
    tg = r.target_groups
    final = tg[tg.time_s == tg.time_s.max()].set_index("revision").HealthyHostCount
    assert final.to_dict() == {1: 0.0, 2: 8.0}


# -- reproducibility --------------------------------------------------------------------------
@pytest.mark.parametrize("added", ["releases", "approvals"])
def test_new_streams_are_appended_so_earlier_streams_keep_their_seeds(added: str) -> None:
    assert STREAMS[-2:] == ("releases", "approvals")
    n = STREAMS.index(added)
    old = np.random.SeedSequence(11).spawn(n)
    streams = random_streams(11)
    for name, seed in zip(STREAMS[:n], old, strict=True):
        assert streams[name].random(3).tolist() == np.random.default_rng(seed).random(3).tolist()


def test_same_seed_same_releases_and_no_release_keys_without_releases() -> None:
    sc = scenario({"strategy": "canary", "percent": 10, "bake_time": 60}, "latency")
    a, b = run_scenario(sc), run_scenario(sc)
    pd.testing.assert_frame_equal(a.releases, b.releases)
    pd.testing.assert_frame_equal(a.target_groups, b.target_groups)
    assert set(SUMMARY_KEYS) <= set(a.summary)
    plain = sc.model_dump()
    plain["releases"] = {}
    r = run_scenario(scenario_from_dict(plain))
    assert r.releases is None and not set(SUMMARY_KEYS) & set(r.summary)


# -- what each kind does to its revision -------------------------------------------------------
def test_late_failure_crash_escapes_the_circuit_breaker() -> None:
    r = run_scenario(
        scenario({"strategy": "rolling"}, "late-failure", late_mode="crash", failure_delay=120)
    )
    row = release_row(r)
    # Healthy at first: the rollout completes; the crashes come later, after RUNNING, so the
    # circuit breaker (which counts only failed starts) never sees them.
    assert (row.outcome, row.full_s) == ("complete", 630.0)
    crashes = events(r, "STOPPING")
    crashes = crashes[(crashes.revision == 2) & crashes.reason.str.contains("late failure")]
    assert len(crashes) >= 4
    assert crashes.time_s.min() == pytest.approx(623.0 + 120.0, abs=1.0)
    assert r.summary["prevention_rate"] == 0.0
    assert r.summary["blast_radius_failed_requests"] > 0


def test_partial_fails_its_share_and_latency_slows_its_target_group(tmp_path) -> None:
    r = run_scenario(scenario({"strategy": "all-at-once"}, "partial", affected_share=0.05))
    tg = r.target_groups
    new = tg[(tg.revision == 2) & (tg.time_s >= 660)]
    assert new.HTTPCode_Target_5XX_Count.sum() == pytest.approx(0.05 * new.served.sum())
    slow = run_scenario(scenario({"strategy": "all-at-once"}, "latency", latency_factor=3.0))
    tg = slow.target_groups
    before = tg[(tg.revision == 1) & (tg.time_s < 600)].TargetResponseTime_p50.mean()
    after = tg[(tg.revision == 2) & (tg.time_s >= 660)].TargetResponseTime_p50.mean()
    assert after > 2.5 * before  # a third of the capacity per task: three times slower
    out = slow.write(tmp_path / "run")
    table = pd.read_parquet(out / "releases.parquet")
    assert table.truth.tolist() == ["latency"] and table.outcome.tolist() == ["complete"]


def test_a_plan_chooses_the_strategy_per_release() -> None:
    from backends.sim_rollout import RolloutPlan
    from policies.rollout.registry import STRATEGIES

    sc = scenario({"strategy": "rolling"})
    data = sc.model_dump()
    data["releases"]["explicit"] = [{"at": 600, "kind": "good"}, {"at": 900, "kind": "good"}]
    names = {0: "all-at-once", 1: "blue-green"}

    def plan(release):
        name = names[release.id]
        return RolloutPlan(name, STRATEGIES.make(name, bake_time=30))

    r = run_simulation(Simulation(scenario_from_dict(data)), plan=plan)
    assert r.releases.strategy.tolist() == ["all-at-once", "blue-green"]
    assert r.releases.end_s.tolist() == [660.0, 960.0]  # 630 + 30 s bake; 930 + 30 s
