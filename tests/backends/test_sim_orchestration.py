"""Plans in a run: risk-driven orchestration with a human approval, staging with synthetic
traffic, the reviewer's catch, the production bake (backends/sim_pipeline.py)."""

from __future__ import annotations

import math

import pytest

from backends.sim import run_scenario
from sim.releases import HOUR_S
from sim.scenario import ScenarioError, scenario_from_dict

T0 = 600.0  # the release arrives 10 min into the run


def scenario(
    kind: str = "good", at: float = T0, duration: str = "80m", offset: str = "0h", **sections
):
    data = {
        "run": {"duration": duration, "seed": 5, "tick": 10},
        "service": {"initial_tasks": 4, "min_tasks": 2, "max_tasks": 20},
        "traffic": {"synthetic": {"base_rps": 100, "daily_amplitude": 0, "noise_cv": 0}},
        "releases": {"explicit": [{"at": at, "kind": kind}], "calendar_offset": offset},
        **sections,
    }
    return scenario_from_dict(data)


def only_row(result):
    assert len(result.releases) == 1
    return result.releases.iloc[0]


def test_a_high_risk_release_gets_canary_and_a_human_approval_in_working_hours() -> None:
    # The first release's risk percentile is 0.5: above these thresholds it is high risk.
    risk = {
        "orchestrate": True,
        "medium_threshold": 0.1,
        "high_threshold": 0.4,
        "approval_threshold": 0.45,
    }
    pipeline = {"approval_median": "2h", "approval_sigma": 0.0}
    # The run starts on Monday 16:50, so the release arrives at 17:00.
    r = run_scenario(scenario(duration="20h", offset="16h50m", risk=risk, pipeline=pipeline))
    row = only_row(r)
    assert (row.plan, row.tier, row.strategy, row.analysis) == (
        "risk-high",
        "high",
        "canary",
        "threshold",
    )
    assert row.risk_percentile == 0.5 and math.isfinite(row.risk_score)
    # Requested Monday 17:00; 1 working hour on Monday, 1 on Tuesday from 10:00: 11:00.
    assert row.approvals == 1
    assert row.human_wait_s == (24 + 11 - 17) * HOUR_S
    assert row.start_s == T0 + row.human_wait_s
    assert row.stage_outcomes == "production:approved;production:complete"
    assert row.outcome == "complete"
    assert row.lead_time_s > row.human_wait_s
    assert r.summary["approvals"] == 1
    assert r.summary["human_wait_s"] == row.human_wait_s


def test_low_risk_releases_ship_without_a_gate() -> None:
    r = run_scenario(scenario(risk={"orchestrate": True}))
    row = only_row(r)
    assert (row.plan, row.tier, row.strategy, row.approvals) == ("risk-low", "low", "rolling", 0)
    assert r.summary["human_wait_s"] == 0.0


def test_a_staging_stage_stops_a_crash_loop_before_production() -> None:
    r = run_scenario(scenario("crash-loop", pipeline={"template": "staging-canary-full"}))
    row = only_row(r)
    assert row.outcome == "rolled_back"
    assert row.stage_outcomes == "staging:failed"
    assert row.revision == 0  # never deployed to the production service
    assert row.detected_s == T0 + 120.0  # the staging tasks never became healthy
    assert row.failed_requests == 0.0
    assert r.summary["bad_stopped_before_full"] == 1 and r.summary["prevention_rate"] == 1.0
    assert set(r.target_groups.revision) == {1}


def test_a_good_release_passes_staging_then_the_canary_with_its_bake() -> None:
    r = run_scenario(scenario(pipeline={"template": "staging-canary-full"}))
    row = only_row(r)
    assert row.stage_outcomes == "staging:passed;canary:complete"
    assert row.outcome == "complete" and row.strategy == "canary"
    production = T0 + 120.0 + 600.0  # staging: start-up + its bake
    assert row.start_s == T0
    assert row.first_traffic_s >= production
    # The canary's 10 min at 5%, then the stage's 600 s bake at full traffic.
    assert row.end_s - row.full_s == pytest.approx(600.0, abs=15.0)
    assert row.full_s - row.first_traffic_s >= 600.0
    assert r.summary["false_rollbacks"] == 0


def test_errors_shown_in_staging_but_not_without_analysis() -> None:
    staged = {"template": "staging-canary-full"}
    bare = {
        "stages": [
            {"strategy": "all-at-once", "traffic": "synthetic", "bake": 600},
            {"strategy": "all-at-once"},
        ]
    }
    caught = only_row(run_scenario(scenario("errors", pipeline=staged)))
    missed = only_row(run_scenario(scenario("errors", pipeline=bare)))
    assert caught.stage_outcomes == "staging:failed"
    assert caught.detected_s == T0 + 120.0 + 60.0 + 180.0  # first published period
    assert missed.stage_outcomes == "stage1:passed;stage2:complete"
    assert missed.failed_requests > 0


def test_a_reviewer_who_catches_every_bad_release_rejects_it() -> None:
    pipeline = {
        "template": "manual-approval",
        "approval_catch_probability": 1.0,
        "approval_sigma": 0.0,
        "approval_median": "1h",
    }
    r = run_scenario(scenario("errors", duration="2h", offset="10h", pipeline=pipeline))
    row = only_row(r)
    assert row.outcome == "rejected" and row.human_wait_s == HOUR_S
    assert row.stage_outcomes == "production:rejected"
    assert r.summary["bad_stopped_before_full"] == 1
    good = only_row(run_scenario(scenario("good", duration="2h", offset="10h", pipeline=pipeline)))
    assert good.outcome == "complete" and good.approvals == 1


def test_a_pipeline_the_simulator_cannot_run_is_refused_at_load() -> None:
    stages = [{"strategy": "canary"}, {"strategy": "rolling"}]
    with pytest.raises(ScenarioError, match=r"pipeline\.stages\[0\]\.traffic: the simulator"):
        scenario(pipeline={"stages": stages})


def test_same_seed_same_releases_table_with_approvals() -> None:
    pipeline = {"template": "manual-approval", "approval_median": "10m"}
    sc = scenario(duration="3h", offset="10h", pipeline=pipeline)
    a, b = run_scenario(sc).releases, run_scenario(sc).releases
    assert a.equals(b)
    assert a.human_wait_s.iloc[0] > 0
