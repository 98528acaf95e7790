"""The claims table: its spec, the cost claim at equal quality, the verdicts, the forecast
score, the fault overrides and the rollout hook (the end-to-end run is in test_demo.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import claims
from experiments.autoscaling import SLO, TUNING_GOOD_MINUTES
from experiments.forecast_accuracy import forecast_accuracy, hourly_actual
from experiments.stats import equal_quality_costs


def test_specs_load_and_the_demo_inherits_the_claims() -> None:
    full = claims.load_claims_spec(claims.CLAIMS_SPEC)
    demo = claims.load_claims_spec(claims.DEMO_SPEC)
    assert demo.cost == full.cost and demo.uptime == full.uptime
    assert demo.run.days < full.run.days
    assert set(full.rollouts.claims()) == set(claims.ROLLOUT_MEASURES)
    assert demo.rollouts.seeds < full.rollouts.seeds


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[cost]\nfoo = 1\n", ["cost.foo", "Extra inputs"]),
        ('[cost]\nbaselines = ["hpa"]\n', ["baselines ['hpa']", "static, target-tracking"]),
        ('[run]\ntraces = ["nope"]\n', ["run.traces", "'nope'", "aws-elb"]),
        ("[run]\ndays = -1\n", ["run.days", "greater than 0"]),
    ],
)
def test_a_bad_spec_names_the_key(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "{claims.CLAIMS_SPEC}"\n{text}')
    with pytest.raises(claims.ClaimsSpecError) as err:
        claims.load_claims_spec(path)
    assert str(path) in str(err.value)
    for word in words:
        assert word in str(err.value)


def _run(
    window: int,
    policy: str,
    cost: float,
    good: float,
    kind: str = "evaluation",
    availability: float = 1.0,
) -> dict:
    return {
        "trace": "t",
        "window": window,
        "policy": policy,
        "kind": kind,
        "cost_usd": cost,
        "good_minutes_fraction": good,
        "availability": availability,
    }


def _front(window: int) -> list[dict]:
    """Target tracking at three settings: (good minutes, cost) = (0.98, 50), (0.995, 80),
    (1.0, 100)."""
    return [
        _run(window, "target-tracking", 50.0, 0.98, "sweep"),
        _run(window, "target-tracking", 80.0, 0.995),
        _run(window, "target-tracking", 100.0, 1.0, "sweep"),
    ]


def test_a_window_missing_the_slo_is_no_saving() -> None:
    runs = pd.DataFrame(
        [
            _run(1, "static", 100.0, 1.0),
            _run(1, "learned", 60.0, 0.995),
            *_front(1),
            _run(2, "static", 100.0, 1.0),
            _run(2, "learned", 10.0, 0.9),  # cheap because it misses the SLO
            *_front(2),
        ]
    )
    bar, err = TUNING_GOOD_MINUTES, SLO["error_rate"]
    static = claims.cost_savings(runs, "learned", "static", bar, err)
    assert list(static.meets_slo) == [True, False]
    assert static.saving[0] == pytest.approx(0.4) and math.isnan(static.saving[1])
    tt = claims.cost_savings(runs, "learned", "target-tracking", bar, err)
    assert tt.ref[0] == pytest.approx(80.0)  # the front at the policy's own quality
    assert tt.saving[0] == pytest.approx(0.25)


def _spec() -> claims.ClaimsSpec:
    return claims.load_claims_spec(claims.CLAIMS_SPEC)


def test_saving_against_static_only_holds_only_when() -> None:
    rows = []
    for w, cost in enumerate([59.0, 60.0, 61.0], start=1):
        rows += [_run(w, "static", 100.0, 1.0), _run(w, "learned", cost, 0.995)]
        rows += _front(w)[:1] + [_run(w, "target-tracking", 60.0, 0.995)] + _front(w)[2:]
    row = claims.cost_row(_spec(), pd.DataFrame(rows), ["learned"], [])
    by = {m.label: m for m in row.measures}
    assert by["learned vs static"].verdict.startswith("holds (more than")
    assert by["learned vs target-tracking"].verdict == "does not hold"
    assert row.verdict.startswith("holds only when the baseline is static provisioning")


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        ([0.9995, 0.9996, 0.9997], "holds"),
        ([0.98, 0.985, 0.99], "does not hold"),
        ([0.998, 1.0, 0.9995], "inconclusive (the interval straddles 99.9%)"),
        ([0.9999], "inconclusive (one sample, no interval)"),
        ([], "not measured"),
    ],
)
def test_at_least(values: list[float], verdict: str) -> None:
    assert claims.at_least(claims.Measure.of("x", values), 0.999) == verdict


def test_uptime_holds_only_with_the_policies_that_reach_it() -> None:
    faults = pd.DataFrame(
        {
            "policy": ["target-tracking"] * 3 + ["predictive"] * 3 + ["learned"] * 3,
            "availability": [0.9999, 0.99995, 0.99992, 0.99, 0.992, 0.991, 0.97, 0.98, 0.975],
        }
    )
    calm = faults.assign(availability=1.0, kind="evaluation")
    row = claims.uptime_row(_spec(), faults, calm)
    assert row.verdict == "holds only with target-tracking"
    assert [m.n for m in row.measures] == [3] * 6
    assert [m.mean for m in row.measures[3:]] == [1.0] * 3  # the same windows, no faults
    assert row.measures[3].label == "target-tracking, no faults" and not row.measures[3].verdict


def test_rollout_rows_verdicts_from_the_measure(monkeypatch) -> None:
    from experiments.claims_rollouts import RolloutMeasure

    spec = _spec()
    rollouts = spec.rollouts.claims()
    for key, claim in rollouts.items():
        row = claims.rollout_row(key, claim, None)  # not run
        assert row.verdict == "not yet measured" and row.measures == []

    def fixed(values: list[float], only_when: str | None = None):
        return lambda runs: RolloutMeasure(pd.Series(values), "cond", only_when)

    monkeypatch.setitem(claims.ROLLOUT_MEASURES, "prevention", fixed([0.97, 0.98, 0.99]))
    row = claims.rollout_row("prevention", rollouts["prevention"], pd.DataFrame())
    assert row.verdict == "holds" and row.measures[0].n == 3
    assert row.conditions.endswith("; cond")
    monkeypatch.setitem(claims.ROLLOUT_MEASURES, "prevention", fixed([0.97, 0.98, 0.99], "x"))
    row = claims.rollout_row("prevention", rollouts["prevention"], pd.DataFrame())
    assert row.verdict == "holds only when x"
    monkeypatch.setitem(claims.ROLLOUT_MEASURES, "prevention", fixed([0.5, 0.6, 0.55], "x"))
    row = claims.rollout_row("prevention", rollouts["prevention"], pd.DataFrame())
    assert row.verdict == "does not hold"
    text = claims.claims_markdown([row], spec, claims.CLAIMS_SPEC)
    assert f"| {rollouts['prevention'].claim} | prevention: 55.0% [" in text


def test_forecast_accuracy_scores_the_forecast_in_force() -> None:
    t = np.arange(3 * 60) * 60.0  # three hours of 1-minute periods at 100 requests/s
    metrics = pd.DataFrame({"time_s": t, "RequestCount": np.full(len(t), 6000.0)})
    assert list(hourly_actual(metrics)) == [100.0, 100.0, 100.0]
    forecasts = [
        (0.0, 0.0, np.array([100.0, 100.0, 80.0])),
        # made after hour 1 began: in force from hour 2 (90 against 100)
        (3630.0, 3600.0, np.array([10.0, 90.0])),
    ]
    score = forecast_accuracy(forecasts, metrics)
    assert score["forecast_hours"] == 3
    assert score["forecast_mape"] == pytest.approx(0.1 / 3)
    assert score["forecast_accuracy"] == pytest.approx(1 - 0.1 / 3)
    none = forecast_accuracy([], metrics)
    assert none["forecast_hours"] == 0 and math.isnan(none["forecast_accuracy"])


def test_fault_overrides_make_a_valid_scenario() -> None:
    from experiments.autoscaling import scenario_dict
    from experiments.autoscaling_windows import DAY_S, layout
    from sim.scenario import apply_overrides, scenario_from_dict

    spec = _spec()
    window = layout("aws-elb", 1.0, 1, 1.0)[1]
    over = claims.fault_overrides(spec, 1.0, ["us-east-1a", "us-east-1b", "us-east-1c"])
    sc = scenario_from_dict(apply_overrides(scenario_dict(window, 1), list(over)))
    assert [p.name for p in sc.service.capacity_providers] == ["FARGATE", "FARGATE_SPOT"]
    assert (
        sc.faults.spot_interruptions_per_task_hour == spec.uptime.spot_interruptions_per_task_hour
    )
    (outage,) = sc.faults.az_outages
    assert outage.at == pytest.approx(spec.uptime.az_outage_at * DAY_S)
    assert outage.duration == spec.uptime.az_outage_duration


def test_a_front_that_never_gets_there_gives_a_lower_bound() -> None:
    runs = pd.DataFrame(
        [
            _run(1, "learned", 60.0, 0.999),
            _run(1, "target-tracking", 50.0, 0.9, "sweep"),
            _run(1, "target-tracking", 120.0, 0.95),  # its best quality, below learned's
            _run(1, "target-tracking", 150.0, 0.94, "sweep"),
        ]
    )
    s = claims.cost_savings(runs, "learned", "target-tracking", TUNING_GOOD_MINUTES, 0.001)
    assert bool(s.bound[0]) and s.ref[0] == pytest.approx(120.0)
    assert s.saving[0] == pytest.approx(0.5)


def test_equal_quality_is_on_good_minutes_and_availability() -> None:
    # the 80 USD setting matches learned's good minutes but loses requests: not credited;
    # availability's front reaches 0.9995 halfway from 80 to 100 USD (90), good minutes' at
    # 80: the larger, 90, is target tracking's cost at learned's quality on both measures
    front = [
        _run(1, "target-tracking", 50.0, 0.98, "sweep", availability=0.998),
        _run(1, "target-tracking", 80.0, 0.995, availability=0.999),
        _run(1, "target-tracking", 100.0, 1.0, "sweep", availability=1.0),
    ]
    runs = pd.DataFrame([_run(1, "learned", 60.0, 0.995, availability=0.9995), *front])
    s = claims.cost_savings(runs, "learned", "target-tracking", TUNING_GOOD_MINUTES, 0.001)
    assert s.ref[0] == pytest.approx(90.0) and not bool(s.bound[0])
    assert s.saving[0] == pytest.approx(1 - 60 / 90)
    # the same rule as the autoscaling experiment's (one code path)
    (ref,) = (
        equal_quality_costs(runs, "learned", ["target-tracking"])
        .query("reference == 'target-tracking'")
        .reference_cost_usd
    )
    assert s.ref[0] == ref


def test_an_availability_front_that_never_gets_there_gives_a_lower_bound() -> None:
    runs = pd.DataFrame(
        [
            _run(1, "learned", 60.0, 0.995, availability=1.0),
            _run(1, "target-tracking", 50.0, 0.98, "sweep", availability=0.99),
            _run(1, "target-tracking", 80.0, 0.995, availability=0.998),  # best availability
            _run(1, "target-tracking", 100.0, 1.0, "sweep", availability=0.997),
        ]
    )
    s = claims.cost_savings(runs, "learned", "target-tracking", TUNING_GOOD_MINUTES, 0.001)
    assert bool(s.bound[0]) and s.ref[0] == pytest.approx(80.0)
    assert s.saving[0] == pytest.approx(0.25)


def test_the_command_refuses_a_bad_spec_in_one_line(tmp_path: Path, capsys) -> None:
    from experiments.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(f'base = "{claims.CLAIMS_SPEC}"\n[uptime]\ntarget = 2\n')
    out = tmp_path / "out"
    assert main(["claims", "--spec", str(bad), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"fargate-lab claims: {bad}: uptime.target")
    assert "\n" not in err and not out.exists()
