"""``fargate-lab experiment rollouts`` end to end on a tiny configuration."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments.rollouts import CONFIGS, claims, run_experiment, scenario_dict, working_days


def test_tiny_experiment_writes_its_files_with_intervals_over_seeds(tmp_path) -> None:
    out = tmp_path / "exp"
    configs = ["all-at-once", "pipeline manual-approval"]
    m = run_experiment(
        out,
        releases=24,
        seeds=2,
        workers=1,
        configs=configs,
        risk_days=5,
        progress=False,
        days=0.5,
    )
    for name in (
        "report.md",
        "table.csv",
        "risk.csv",
        "gating.csv",
        "prevention.png",
        "gating.png",
    ):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "table.csv")
    assert table["config"].tolist() == configs
    assert (table["n"] == 2).all()  # one run per seed and configuration
    releases = m["releases"]
    assert sorted(releases.seed.unique()) == [1, 2]
    # The interval is over the seeds' per-run values: recompute one by hand.
    per_seed = releases[releases.config == "all-at-once"].groupby("seed").size()
    assert table.loc[0, "releases_total"] == pytest.approx(per_seed.mean())
    assert math.isfinite(table.loc[0, "releases_total_ci95"])
    # Same seed, same releases in every configuration (common random numbers).
    ids = releases.groupby("config")["truth"].apply(tuple)
    assert ids["all-at-once"] == ids["pipeline manual-approval"]
    assert (table.loc[1, "approvals"] > 0) and table.loc[0, "approvals"] == 0
    report = (out / "report.md").read_text()
    assert "n = 2 seeds" in report and "Prevents 95% of deployment failures" in report
    assert set(m["risk"]["model"]) == {"bayes (p_bad)", "rules", "logistic", "gbm"}
    assert 0.5 < m["bayes_auc"] < 1


def test_claims_state_both_figures() -> None:
    table = pd.DataFrame(
        {
            "config": ["pipeline direct", "pipeline manual-approval", "canary + alarm"],
            "n": [3, 3, 3],
            "prevention_rate": [0.2, 0.2, 0.96],
            "prevention_rate_ci95": [0.1, 0.1, 0.02],
            "false_rollback_rate": [0.0, 0.0, 0.05],
            "lead_time_p50_s": [300.0, 3000.0, 900.0],
            **{f"prevention_{k}": [0.0, 0.0, 1.0] for k in ("crash-loop", "errors")},
            **{f"prevention_{k}": [math.nan] * 3 for k in ("latency", "late-failure", "partial")},
        }
    )
    c = claims(table)
    assert c["prevents_95"] and c["best_prevention"]["config"] == "canary + alarm"
    assert c["lead_time_speedup"] == pytest.approx(0.9) and c["faster_80"]
    assert set(c["prevention_by_kind"]) == {"crash-loop", "errors"}


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="allowed: all-at-once"):
        scenario_dict("canry", 1, 10)
    with pytest.raises(ValueError, match="--releases must be >= 1"):
        scenario_dict("canary", 1, 0)
    assert working_days(5) == 3 and working_days(1) == 1 and working_days(7) == 5
    assert len(CONFIGS) == 14
