"""The concurrent baseline (``[analysis] baseline``): with ``kayenta`` and a canary step, a
fresh task set of the old revision, of the canary's size and listener weight, in a third
target group, torn down when the canary step ends; the analysis compares the canary with it.

Same deterministic start-up as tests/backends/test_sim_rollout.py: a release at 600 s, its
tasks (and the baseline's) healthy at 623-624 s, rounds every 15 s from 600 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sim_rollout import (
    T0,
    events,
    launched,
    release_row,
    scenario,
    stopped_serving,
    tg_requests,
    weights_at,
)

from backends.sim import run_scenario
from sim.scenario import ScenarioError, load_scenario, scenario_from_dict

CANARY = {"strategy": "canary", "percent": 10, "bake_time": 900}


def test_good_release_passes_against_a_baseline_of_the_canarys_size_and_weight() -> None:
    r = run_scenario(scenario(CANARY, analysis={"method": "kayenta"}))
    # Revision 3 is the baseline: the old revision's task definition, deployed with the canary.
    deploys = events(r, "DEPLOY").reason.tolist()
    assert (
        deploys[-1] == "revision 3: tg-rev3, 0 tasks: release 0: concurrent baseline of revision 1"
    )
    assert len(launched(r, 3)) == len(launched(r, 2)) == 4  # the canary's task count
    assert launched(r, 3) == launched(r, 2)  # same time of deployment
    # The canary's weight, taken out of the stable revision's; torn down at full traffic.
    assert weights_at(r) == [
        (600.0, "weights tg-rev1=100, tg-rev2=0, tg-rev3=0"),
        (630.0, "weights tg-rev1=80, tg-rev2=10, tg-rev3=10"),
        (1530.0, "weights tg-rev1=0, tg-rev2=100, tg-rev3=0"),
    ]
    assert tg_requests(r, 3, 900.0) == pytest.approx(tg_requests(r, 2, 900.0))
    assert tg_requests(r, 3, 900.0) == pytest.approx(0.125 * tg_requests(r, 1, 900.0))
    assert sorted(stopped_serving(r, 3)) == [1530.0] * 4
    assert tg_requests(r, 3, 1560.0) == 0.0
    # The releases table is unchanged in shape: one row, the release's own revision.
    row = release_row(r)
    assert (row.revision, row.outcome, row.full_s) == (2, "complete", 1530.0)
    # The baseline's requests count in the service's totals.
    tg = r.target_groups
    assert tg.RequestCount.fillna(0).sum() == pytest.approx(r.summary["requests_total"])


def test_errors_release_fails_against_the_concurrent_baseline() -> None:
    r = run_scenario(scenario(CANARY, "errors", analysis={"method": "kayenta"}, error_share=0.2))
    row = release_row(r)
    assert (row.outcome, row.detected_s) == ("rolled_back", 900.0)
    assert "Kayenta score 0" in row.reason and "ErrorRate was classified as High" in row.reason
    assert weights_at(r)[-1] == (900.0, "weights tg-rev1=100, tg-rev2=0, tg-rev3=0")
    assert sorted(stopped_serving(r, 3)) == [900.0] * 4
    # The baseline serves the old revision: no target 5xx.
    tg = r.target_groups
    assert tg.loc[tg.revision == 3, "HTTPCode_Target_5XX_Count"].sum() == 0.0
    assert tg.loc[tg.revision == 2, "HTTPCode_Target_5XX_Count"].sum() > 0.0


@pytest.mark.parametrize(
    ("strategy", "analysis"),
    [
        (CANARY, {"method": "kayenta", "baseline": "stable"}),
        (CANARY, {"method": "alarm"}),  # default stable for the other methods
        ({"strategy": "rolling"}, {"method": "kayenta"}),  # no canary step
        ({"strategy": "blue-green", "bake_time": 60}, {"method": "kayenta"}),
    ],
)
def test_stable_baseline_deploys_no_third_target_group(strategy: dict, analysis: dict) -> None:
    r = run_scenario(scenario(strategy, analysis=analysis))
    assert sorted(r.target_groups.revision.unique()) == [1, 2]
    assert release_row(r).outcome == "complete"


def test_linear_baseline_torn_down_when_the_canary_passes_half() -> None:
    strategy = {"strategy": "linear", "step_percent": 25, "step_bake_time": 120}
    r = run_scenario(scenario(strategy, analysis={"method": "kayenta"}))
    assert weights_at(r) == [
        (600.0, "weights tg-rev1=100, tg-rev2=0, tg-rev3=0"),
        (630.0, "weights tg-rev1=50, tg-rev2=25, tg-rev3=25"),
        (750.0, "weights tg-rev1=0, tg-rev2=50, tg-rev3=50"),
        (870.0, "weights tg-rev1=25, tg-rev2=75, tg-rev3=0"),
        (990.0, "weights tg-rev1=0, tg-rev2=100, tg-rev3=0"),
    ]
    assert sorted(stopped_serving(r, 3)) == [870.0] * 4


def test_bad_baseline_refused_on_load(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[analysis]\nmethod = "kayenta"\nbaseline = "production"\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert "analysis.baseline: unknown baseline 'production'" in text
    assert "allowed: concurrent, stable" in text


def test_baseline_takes_traffic_only_once_all_its_tasks_are_healthy() -> None:
    # Provisioning 5-40 s: with seed 5 the canary's tasks are healthy before the baseline's.
    data = {
        "run": {"duration": "30m", "seed": 5, "tick": 1},
        "service": {"initial_tasks": 4, "min_tasks": 1, "max_tasks": 20, "provisioning": [5, 40]},
        "traffic": {"synthetic": {"base_rps": 100, "daily_amplitude": 0, "noise_cv": 0}},
        "releases": {"explicit": [{"at": T0, "kind": "good"}]},
        "rollout": CANARY,
        "analysis": {"method": "kayenta"},
    }
    r = run_scenario(scenario_from_dict(data))
    shifts = weights_at(r)
    canary_first = next(t for t, w in shifts if "tg-rev2=10" in w)
    base_first = next(t for t, w in shifts if "tg-rev3=10" in w)
    assert (canary_first, "weights tg-rev1=90, tg-rev2=10, tg-rev3=0") in shifts
    healthy = events(r, "HEALTHY")
    base_healthy = healthy.loc[healthy.revision == 3, "time_s"]
    assert len(base_healthy) == 4
    assert canary_first < base_healthy.max() <= base_first
    tg = r.target_groups
    assert tg.loc[tg.revision == 3, "failed"].sum() == 0.0  # never given traffic unhealthy
