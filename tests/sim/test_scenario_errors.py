"""Every bad scenario input is refused with a message naming the file, the key and the
allowed values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.sim import run_simulation
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
        ("[service]\ncapacity_rps = -5\n", ["service.capacity_rps: must be > 0, got -5"]),
        ("[service]\ncapacity_rps = inf\n", ["service.capacity_rps: must be a finite number"]),
        ("[service]\ncapacity_rps = nan\n", ["service.capacity_rps: must be a finite number"]),
        ("[slo]\np99_ms = inf\n", ["slo.p99_ms: must be a finite number"]),
        ("[traffic]\npeak_rps = inf\n", ["traffic.peak_rps", "finite number"]),
        (
            "[service]\nmax_tasks = 5001\ninitial_tasks = 1\n",
            ["service.max_tasks: must be <= 5000, got 5001"],
        ),
        ("[run]\nduration = -5\n", ["run.duration: must be > 0, got -5"]),
        ("[run]\nduration = 0\n", ["run.duration: must be > 0, got 0"]),
        ('[run]\nduration = "0s"\n', ["run.duration: must be > 0"]),
        ("[service]\nrequest_timeout = -1\n", ["service.request_timeout: must be > 0, got -1"]),
        (
            '[run]\nduraton = "1h"\n',
            [
                "run.duraton: unknown key in [run]; did you mean 'duration'?",
                "Allowed keys: seed, duration, tick, metrics_period",
            ],
        ),
        (
            "[traffic.synthetic]\nbse_rps = 3\n",
            ["traffic.synthetic.bse_rps", "did you mean 'base_rps'?", "Allowed keys: base_rps"],
        ),
        (
            '[[faults.az_outages]]\naz = "us-east-1a"\nat = 1\nduraton = 60\n',
            ["faults.az_outages.0.duraton", "did you mean 'duration'?", "Allowed keys: az, at"],
        ),
        ("[servce]\ncpu = 1\n", ["servce: unknown key", "did you mean 'service'?"]),
        (
            '[autoscaler]\npolicy = "static"\ninterval = 1e-9\n',
            ["autoscaler.interval: 1e-09 s is shorter than run.tick = 1 s"],
        ),
        (
            '[run]\ntick = 2\n[autoscaler]\npolicy = "reactive"\ninterval = 1\n',
            ["autoscaler.interval: 1 s is shorter than run.tick = 2 s"],
        ),
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
        ("[slo]\nerror_rate = 2\n", ["slo.error_rate: must be <= 1, got 2"]),
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
    assert ">= 0" not in msg


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[run]\nduration = "1h"\n# caf\u00e9\n'.encode("latin-1"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: not UTF-8 text")
    assert "byte 0xe9 on line 3" in str(err.value)


@pytest.mark.parametrize(
    ("policy", "override", "expected"),
    [
        (
            "target-tracking",
            "autoscaler.target=abc",
            "autoscaler.target: expected a number or None",
        ),
        ("reactive", "autoscaler.target=abc", "autoscaler.target: expected a number, got 'abc'"),
        ("reactive", "autoscaler.cooldown=true", "autoscaler.cooldown: expected a number"),
        ("hpa", "autoscaler.scale_up_pods=2.5", "autoscaler.scale_up_pods: expected an integer"),
        ("target-tracking", "autoscaler.target=inf", "autoscaler.target: must be finite"),
        ("target-tracking", "autoscaler.target=nan", "autoscaler.target: must be finite"),
        ("reactive", "autoscaler.interval=inf", "autoscaler.interval: must be finite"),
        ("learned", "autoscaler.lags=[0, inf]", "autoscaler.lags[1]: must be finite"),
        ("target-tracking", "autoscaler.target=150", "autoscaler.target: is a utilisation"),
        ("target-tracking", "autoscaler.target=0", "must be in (0, 100], got 0"),
        ("hpa", 'autoscaler.metric="MemoryUtilization"', None),
        ("hpa", "autoscaler.target=101", "autoscaler.target: is a utilisation of CPUUtilization"),
        ("predictive", "autoscaler.target=-5", "autoscaler.target: is a utilisation"),
        ("reactive", "autoscaler.high=120", "autoscaler.high: is a utilisation in %"),
    ],
)
def test_policy_parameters_are_type_and_range_checked(
    tmp_path: Path, policy: str, override: str, expected: str | None
) -> None:
    """Policy parameters are checked like scenario keys: type from the constructor's hints,
    finite numbers, utilisation targets in (0, 100], each error naming autoscaler.<key>."""
    path = write(tmp_path, f'[run]\nduration = "1h"\n[autoscaler]\npolicy = "{policy}"\n')
    if expected is None:
        load_scenario(path, [override])
        return
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, [override])
    msg = str(err.value)
    assert msg.startswith(f"{path}: ")
    assert expected in msg, msg
    assert "not supported between" not in msg


def test_a_non_utilisation_target_is_not_bounded_by_100(tmp_path: Path) -> None:
    path = write(tmp_path, '[autoscaler]\npolicy = "target-tracking"\n')
    sc = load_scenario(path, ['autoscaler.metric="RequestCountPerTarget"', "autoscaler.target=500"])
    assert sc.autoscaler.params["target"] == 500


def test_a_run_too_big_for_memory_is_refused_before_allocating(tmp_path: Path, monkeypatch):
    import tracemalloc

    import sim.scenario as scenario_module

    path = write(tmp_path, '[run]\nduration = "100000d"\n')
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError) as err:
            load_scenario(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # nothing of the 258 GiB was allocated
    msg = str(err.value)
    assert "run.duration" in msg and "8,640,000,000 ticks" in msg
    assert "257.7 GiB (32 bytes per tick)" in msg and "GiB of memory available" in msg
    # The bound is the machine's available memory, not a fixed duration.
    monkeypatch.setattr(scenario_module, "available_memory", lambda: 2**30)
    with pytest.raises(ScenarioError, match=r"more than the 1\.0 GiB of memory available"):
        load_scenario(write(tmp_path, '[run]\nduration = "365d"\n'))  # 1.1 GiB
    load_scenario(write(tmp_path, '[run]\nduration = "7d"\n'))  # 0.2 GiB fits
    monkeypatch.setattr(scenario_module, "available_memory", lambda: None)  # unknown: allowed
    load_scenario(write(tmp_path, '[run]\nduration = "60d"\n'))


def test_available_memory_reads_meminfo() -> None:
    from sim.scenario import available_memory

    have = available_memory()
    assert have is None or have > 0


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
    from sim.traces.base import TraceError

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
    result = run_simulation(Simulation(sc))
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
