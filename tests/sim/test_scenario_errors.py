"""Every bad scenario input is refused with a message naming the file, the key and the
allowed values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.scenario import ScenarioError, load_scenario


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[run]\nsed = 1\n", ["run.sed: unknown key in [run]"]),
        ("[servce]\ncpu = 1024\n", ["servce: unknown key"]),
        ("[service]\ncpu = 1000\n", ["service", "cpu=1000 is not a Fargate CPU value", "256"]),
        (
            "[service]\ncpu = 1024\nmemory = 1024\n",
            ["memory=1024 MiB is not valid with cpu=1024", "2048, 3072"],
        ),
        ('[service]\narch = "sparc"\n', ["service.arch", "'x86_64' or 'arm64'"]),
        (
            "[service]\nmin_tasks = 5\nmax_tasks = 2\ninitial_tasks = 3\n",
            ["min_tasks=5 is above max_tasks=2"],
        ),
        (
            "[service]\nmin_tasks = 1\nmax_tasks = 5\ninitial_tasks = 9\n",
            ["initial_tasks=9 is outside [min_tasks, max_tasks] = [1, 5]"],
        ),
        ('[run]\nduration = "ten minutes"\n', ["run.duration", "invalid duration"]),
        ('[run]\ntick = "7s"\n', ["tick=7.0 s must divide metrics_period=60 s"]),
        ("[run]\nmetrics_period = 30\n", ["run.metrics_period", "60", "20"]),
        ("[service]\ncapacity_rps = -5\n", ["service.capacity_rps", "greater than 0"]),
        (
            '[autoscaler]\npolicy = "magic"\n',
            ["autoscaler", "unknown policy 'magic'", "valid policies:", "reactive", "static"],
        ),
        (
            '[autoscaler]\npolicy = "reactive"\ntargett = 50\n',
            ["has no parameter 'targett'", "valid parameters: target, high, low"],
        ),
        (
            '[[faults.az_outages]]\naz = "eu-west-1a"\nat = 10\nduration = 60\n',
            ["az 'eu-west-1a' is not one of service.azs"],
        ),
        (
            "[faults]\nspot_interruptions_per_task_hour = 1.0\n",
            ["need a FARGATE_SPOT capacity provider"],
        ),
        ("[traffic]\npeak_rps = 10\nmean_rps = 5\n", ["peak_rps", "mean_rps"]),
        ('[traffic]\narrivals = "bursty"\n', ["traffic.arrivals", "'poisson' or 'deterministic'"]),
        ("[slo]\nerror_rate = 2\n", ["slo.error_rate", "less than or equal to 1"]),
        ("[run\nseed = 1\n", ["not valid TOML"]),
    ],
)
def test_bad_scenarios_are_refused_by_name(tmp_path: Path, text: str, expected: list[str]):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert str(path) in msg
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.toml")


def test_overrides_and_durations(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nduration = "7d"\n[autoscaler]\npolicy = "static"\n')
    sc = load_scenario(
        path,
        [
            "run.duration=1h30m",
            "autoscaler.policy=reactive",
            "autoscaler.target=55",
            "service.initial_tasks=4",
        ],
    )
    assert sc.run.duration == 5400.0
    assert sc.autoscaler.policy == "reactive"
    assert sc.autoscaler.params == {"target": 55}
    assert sc.service.initial_tasks == 4
    with pytest.raises(ScenarioError, match="expected section.key=value"):
        load_scenario(path, ["duration"])


def test_relative_trace_path_resolves_against_the_scenario_folder(tmp_path: Path) -> None:
    from sim.simulation import Simulation

    (tmp_path / "load.csv").write_text(
        "timestamp,value\n"
        + "".join(f"2024-01-01 00:{m:02d}:00,{600 + 60 * m}\n" for m in range(30))
    )
    path = write(
        tmp_path,
        '[run]\nduration = "20m"\n[traffic]\ntrace = "load.csv"\npeak_rps = 100\n'
        'arrivals = "deterministic"\n',
    )
    sim = Simulation(load_scenario(path))
    assert sim.rate.max() == pytest.approx(100.0)
    assert sim.rate[0] == pytest.approx(100.0 * 600 / (600 + 60 * 19))


def test_missing_trace_file_names_the_path(tmp_path: Path) -> None:
    from sim.simulation import Simulation
    from sim.traces import TraceError

    path = write(tmp_path, '[traffic]\ntrace = "nope.csv"\n')
    with pytest.raises(TraceError, match="nope.csv"):
        Simulation(load_scenario(path))


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('policy = "reactive"\nlow = 90\n', "reactive: need 0 < low <= target <= high"),
        ('policy = "target-tracking"\nmetric = "Bogus"\n', "Bogus"),
        ('policy = "hpa"\ntolerance = -1\n', "tolerance"),
        ('policy = "step"\nadjustment_type = "Sideways"\n', "adjustment_type"),
        ('policy = "scheduled"\nactions = [{ schedule = "cron(99 * * * ? *)" }]\n', "actions[0]"),
        ('policy = "static"\ncount = -3\n', "count must be a whole number"),
    ],
)
def test_bad_policy_values_are_refused_at_load(tmp_path: Path, section: str, expected: str):
    path = write(tmp_path, "[autoscaler]\n" + section)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert expected in str(err.value)
    assert "autoscaler" in str(err.value)


def test_combined_policy_from_a_scenario(tmp_path: Path) -> None:
    from sim.simulation import Simulation

    path = write(
        tmp_path,
        '[run]\nduration = "30m"\n[traffic]\narrivals = "deterministic"\n'
        "[traffic.synthetic]\nbase_rps = 300\nnoise_cv = 0\n"
        '[autoscaler]\npolicy = "combined"\n'
        'policies = [{ policy = "target-tracking", target = 60 }, { policy = "reactive" }]\n',
    )
    sc = load_scenario(path)
    result = Simulation(sc).run()
    reasons = result.events[result.events.event == "SCALE"].reason
    assert len(reasons) and reasons.str.contains("combined:").all()


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ("[{ target = 60 }]", "policies[0] needs a 'policy' key"),
        ('[{ policy = "magic" }]', "unknown policy 'magic'"),
        ('[{ policy = "hpa", tolerence = 0.2 }]', "has no parameter 'tolerence'"),
    ],
)
def test_bad_combined_members_are_refused_at_load(tmp_path: Path, members, expected) -> None:
    path = write(tmp_path, f'[autoscaler]\npolicy = "combined"\npolicies = {members}\n')
    with pytest.raises(ScenarioError, match=re.escape(expected)):
        load_scenario(path)
