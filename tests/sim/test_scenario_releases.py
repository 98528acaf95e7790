"""The [releases], [rollout] and [analysis] sections: bad values are refused when the scenario
loads, naming the key and the allowed values; ``scenario keys`` lists the sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.scenario_keys import scenario_keys
from sim.scenario import ScenarioError, load_scenario


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[rollout]\nstrategy = "yolo"\n',
            ["rollout.strategy: unknown rollout strategy 'yolo'", "allowed: ", "canary", "rolling"],
        ),
        (
            '[rollout]\nstrategy = "canary"\npercent = 150\n',
            ["rollout: strategy 'canary': percent: must be in (0, 100)"],
        ),
        (
            '[rollout]\nstrategy = "rolling"\nmax_percent = 150\n',
            ["no parameter 'max_percent'", "valid parameters: minimum_healthy_percent"],
        ),
        (
            '[rollout]\nstrategy = "CodeDeployDefault.ECSCanary10Percent5Minutes"\npercent = 20\n',
            ["fixes 'percent'"],
        ),
        (
            '[analysis]\nmethod = "p-value"\n',
            ["analysis.method: unknown analysis method 'p-value'", "alarm, anomaly, kayenta"],
        ),
        (
            '[analysis]\nmethod = "alarm"\ntreat_missing_data = "zero"\n',
            ["analysis: analysis 'alarm'", "treat_missing_data", "'notBreaching'"],
        ),
        (
            '[releases]\nexplicit = [{ at = "2h", kind = "meltdown" }]\n',
            ["releases.explicit.0.kind", "'good'", "'crash-loop'", "'partial'"],
        ),
        ("[releases]\nper_day = -1\n", ["releases.per_day: must be >= 0, got -1"]),
        ("[releases]\nchange_failure_rate = 1.5\n", ["releases.change_failure_rate"]),
        (
            '[releases]\nexplicit = [{ at = "2h", kind = "good", error_share = 0.1 }]\n',
            ["error_share applies only to kind 'errors' or 'late-failure'"],
        ),
    ],
)
def test_bad_release_sections_are_refused_on_load(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[run]\nduration = "3h"\n' + text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


def test_good_sections_load(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[releases]\nexplicit = [{ at = "2h", kind = "errors", error_share = 0.1 }]\n'
        '[rollout]\nstrategy = "linear"\nstep_percent = 25\n'
        '[analysis]\nmethod = "threshold"\n'
    )
    sc = load_scenario(path)
    assert sc.releases.explicit[0].at == 7200.0
    assert (sc.rollout.strategy, sc.rollout.params) == ("linear", {"step_percent": 25})
    assert sc.analysis.method == "threshold"


def test_scenario_keys_lists_the_sections() -> None:
    keys = {row["key"]: row for row in scenario_keys()}
    assert {"releases.per_day", "releases.explicit[].kind", "rollout.strategy"} <= set(keys)
    assert {"analysis.method", "rollout.*", "analysis.*"} <= set(keys)
    assert keys["rollout.strategy"]["default"] == "'rolling'"
    assert "fargate-lab rollouts" in keys["rollout.*"]["doc"]


def test_memory_check_counts_the_releases_revisions(tmp_path: Path, monkeypatch) -> None:
    import sim.scenario as scenario_module

    monkeypatch.setattr(scenario_module, "available_memory", lambda: 2**30)
    path = tmp_path / "s.toml"
    path.write_text('[run]\nduration = "7d"\n')
    load_scenario(path)  # 0.3 GiB without releases
    # 20 releases a day for 7 days: 140 revisions of 64 bytes per tick each.
    path.write_text('[run]\nduration = "7d"\n[releases]\nper_day = 20\n')
    with pytest.raises(ScenarioError, match="with the releases' revisions.*or release less"):
        load_scenario(path)
