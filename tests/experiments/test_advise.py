"""The advisor (experiments/advise.py, ``fargate-lab advise``): on a user's CSV trace it
writes a scenario that loads, simulates (reproducing the confirmation figures) and exports;
the same seed gives the same recommendation; bad input is refused before any search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import advise as adv
from experiments.cli import main

SLO_MS = 250.0


@pytest.fixture
def trace_csv(tmp_path: Path) -> Path:
    """One hour of per-minute counts, 150-450 requests/s with a ramp (a user's own trace)."""
    rng = np.random.default_rng(7)
    minutes = np.arange(60)
    rps = 300.0 + 150.0 * np.sin(2 * np.pi * minutes / 60.0) + rng.normal(0.0, 10.0, 60)
    lines = ["timestamp,count"] + [
        f"2024-03-04T10:{m:02d}:00,{int(r * 60)}" for m, r in zip(minutes, rps, strict=True)
    ]
    path = tmp_path / "traffic" / "web.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    return path


def test_advise_writes_a_scenario_that_simulates_and_exports(
    trace_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backends.sim import run_scenario
    from sim.scenario import load_scenario

    out = tmp_path / "advice"
    args = ["advise", "--trace", str(trace_csv), "--slo-p99-ms", str(SLO_MS)]
    assert main([*args, "--trials", "4", "--duration", "30m", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "recommendation: cpu " in printed
    assert "confirmation part from 2024-03-04T10:30:00" in printed  # disjoint from tuning
    assert "expected cost:" in printed and "margin: good minutes" in printed

    path = out / "advice.toml"
    scenario = load_scenario(path)
    assert scenario.traffic.trace == "../traffic/web.csv"  # relative to the file's folder
    assert scenario.slo.p99_ms == SLO_MS
    assert scenario.run.duration == 1800.0
    svc = scenario.service
    assert svc.memory == adv.memory_for(svc.cpu)
    assert svc.capacity_rps == adv.CAPACITY_RPS_PER_VCPU * svc.cpu / 1024
    # `simulate` on the file reproduces the confirmation figures the advice printed.
    summary = run_scenario(scenario).summary
    for label, key, fmt in (
        ("cost (USD)", "cost_usd", ".4f"),
        ("p99 latency", "latency_p99_ms", ".1f"),
    ):
        confirmation_column = printed.split(label)[1].split("\n")[0].split()[-1]
        assert confirmation_column == format(summary[key], fmt)
    # `ecs export` accepts it (its dry run, which sends nothing): a scalable target and one
    # target-tracking policy on CPU with the recommended target and range.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    ecs = ["ecs", "export", str(path), "--cluster", "c", "--service", "web"]
    assert main([*ecs, "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True
    requests = plan["requests"]
    assert [r["operation"] for r in requests] == ["RegisterScalableTarget", "PutScalingPolicy"]
    config = requests[1]["params"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == scenario.autoscaler.params["target"]
    assert requests[0]["params"]["MinCapacity"] == svc.min_tasks


def test_same_seed_same_recommendation(trace_csv: Path) -> None:
    kw = {"trials": 5, "duration": 1800.0, "progress": False, "spot_ok": True}
    first = adv.advise(str(trace_csv), SLO_MS, seed=3, **kw)
    again = adv.advise(str(trace_csv), SLO_MS, seed=3, **kw)
    assert first.candidate == again.candidate
    assert first.confirmation == again.confirmation
    assert first.scenario == again.scenario
    # The recommendation met the SLO on the tuning part, and is the cheapest that did.
    assert adv.meets_slo(first.tuning, 0.99, 0.001)


def test_a_spot_interruption_costs_good_minutes(trace_csv: Path) -> None:
    tuning, confirmation = adv._parts(str(trace_csv), 1800.0, 1.0, trace_csv.parent)
    assert tuning.start == "2024-03-04T10:00:00" and confirmation.start == "2024-03-04T10:30:00"
    runner = adv._Runner(
        str(trace_csv),
        trace_csv.parent,
        slo_p99_ms=SLO_MS,
        error_rate=0.001,
        seed=1,
        capacity_rps_per_vcpu=100.0,
    )
    spot_only = adv.Candidate(1024, 2048, 2, 60.0, 60.0, 300.0, od_base=0, spot_weight=4)
    _, clean = runner.run(spot_only, confirmation, max_tasks=20)
    hit = adv._spot_cost(runner, spot_only, confirmation, 20, clean)
    assert hit["tasks_interrupted"] >= 3
    assert hit["good_minutes_fraction"] <= clean.summary["good_minutes_fraction"]
    assert hit["extra_requests_failed"] > 0


def test_impossible_slo_says_the_best_found(trace_csv: Path) -> None:
    with pytest.raises(adv.AdviceError, match=r"no configuration of 2 trials .* best found"):
        adv.advise(str(trace_csv), 0.5, trials=2, duration=1800.0, progress=False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trace", "missing.csv"], "missing.csv: no such file"),
        (["--slo-p99-ms", "-3"], "--slo-p99-ms must be a positive number"),
        (["--trials", "0"], "--trials must be an integer >= 1, got 0"),
        (["--seed", "-1"], "--seed must be an integer >= 0"),
        (["--duration", "10m"], "--duration must be at least 1800 s"),
        (["--duration", "2h"], "the tuning and confirmation parts need two disjoint"),
        (["--duration", "soon"], "--duration: invalid duration 'soon'"),
        (["--out", "/proc/advice"], "--out /proc/advice: cannot write"),
    ],
)
def test_bad_input_is_refused_before_any_search(
    trace_csv: Path,
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(trace_csv.parent)
    ran = []
    monkeypatch.setattr(adv._Runner, "run", lambda *a, **k: ran.append(a))
    opts = {"--trace": str(trace_csv), "--slo-p99-ms": "200", "--duration": "30m"}
    opts.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    argv = ["advise", *[x for kv in opts.items() for x in kv], "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fargate-lab advise: ") and "\n" not in err
    assert message in err
    assert not ran


def test_memory_for_follows_the_fargate_matrix() -> None:
    from sim.fargate import VALID_SIZES

    assert adv.memory_for(256) == 512
    assert adv.memory_for(1024) == 2048
    assert adv.memory_for(16384) == 32768
    assert adv.memory_for(512, memory_per_vcpu=16384) == 4096  # capped at the largest valid
    for cpu in VALID_SIZES:
        mem = adv.memory_for(cpu)
        assert mem in VALID_SIZES[cpu] and mem >= 2 * cpu
