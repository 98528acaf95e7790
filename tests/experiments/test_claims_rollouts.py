"""The rollout rows of the claims table (experiments/claims_rollouts.py): each measured on a
tiny real run, per-seed values behind the interval, and the [rollouts] keys validated."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from experiments import claims
from experiments import claims_rollouts as cr


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("claims-rollouts") / "rollouts"
    runs = cr.run_rollouts(out, seeds=2, releases=10, days=1.0, workers=1)
    return out, runs


def test_the_runs_are_written_one_row_per_config_and_seed(tiny_runs) -> None:
    out, runs = tiny_runs
    assert sorted(p.name for p in out.iterdir()) == [
        "releases.parquet",
        "runs.parquet",
        "table.csv",
    ]
    assert sorted(zip(runs.config, runs.seed, strict=True)) == sorted(
        (c, s) for c in cr.NEEDED for s in (1, 2)
    )
    releases = pd.read_parquet(out / "releases.parquet")
    # common random numbers: every configuration of a seed sees the same releases
    truth = releases.groupby(["config", "seed"])["truth"].apply(tuple)
    assert truth[(cr.DIRECT, 1)] == truth[(cr.MANUAL, 1)] == truth[(cr.RISK, 1)]


def test_each_rollout_row_is_measured_over_seeds(tiny_runs) -> None:
    _, runs = tiny_runs
    spec = claims.load_claims_spec(claims.CLAIMS_SPEC).rollouts.claims()
    rows = {k: claims.rollout_row(k, c, runs) for k, c in spec.items()}
    for key, row in rows.items():
        m = row.measures[0]
        assert row.verdict.startswith(("holds", "does not hold", "inconclusive")), row.verdict
        assert row.verdict == m.verdict or row.verdict.startswith("holds only when")
        assert f"n = {m.n}" in m.text() and "2 seeds" in row.conditions, key
    # lead time: paired per seed, recomputed by hand
    by = runs.set_index(["config", "seed"])
    paired = [
        1 - by.at[(cr.DIRECT, s), "lead_time_p50_s"] / by.at[(cr.MANUAL, s), "lead_time_p50_s"]
        for s in (1, 2)
    ]
    m = rows["lead_time"].measures[0]
    assert m.n == 2 and m.mean == pytest.approx(sum(paired) / 2)
    assert math.isfinite(m.low) and m.low <= m.mean <= m.high
    # interventions: manual approval reviews every release that reached its gate
    assert (runs[runs.config == cr.MANUAL].approvals > 0).all()
    ratio = runs[runs.config == cr.RISK].approvals.to_numpy() / by.xs(cr.MANUAL).approvals
    assert rows["interventions"].measures[0].mean == pytest.approx(1 - ratio.mean())
    # prevention: the risk orchestration's rate, over the seeds that had a bad release
    had_bad = int((runs[runs.config == cr.RISK].releases_bad > 0).sum())
    assert rows["prevention"].measures[0].n == had_bad
    assert "Best configuration run:" in rows["prevention"].conditions


def _runs(**cols) -> pd.DataFrame:
    base = {
        "config": [cr.RISK, cr.RISK, cr.DIRECT, cr.DIRECT, cr.MANUAL, cr.MANUAL],
        "seed": [1, 2] * 3,
        "releases_total": [10] * 6,
        "releases_bad": [2] * 6,
        "prevention_rate": [0.5, 0.5, 0.0, 0.0, 0.0, 0.0],
        "false_rollback_rate": [0.0] * 6,
        "lead_time_p50_s": [300.0, 300.0, 200.0, 250.0, 20000.0, 25000.0],
        "approvals": [1, 0, 0, 0, 10, 8],
        "unfinished": [0, 0, 0, 0, 3, 4],
        **{f"prevention_{k}": [0.0] * 6 for k in cr.KINDS},
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_the_conditions_say_where_risk_assessment_fails() -> None:
    runs = _runs(**{"prevention_crash-loop": [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]})
    got = cr.prevention(runs)
    assert list(got.values) == [0.5, 0.5]
    assert "late-failure 0% (never stopped by any configuration run" in got.conditions
    assert "crash-loop" not in got.conditions  # stopped every time by the risk tiers
    lead = cr.lead_time(runs)
    assert list(lead.values) == pytest.approx([1 - 200 / 20000, 1 - 250 / 25000])
    assert "no public source" in lead.conditions and "3.5 releases a run" in lead.conditions
    assert lead.only_when
    assert list(cr.interventions(runs).values) == pytest.approx([0.9, 1.0])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[rollouts]\nseeds = 1\n", ["rollouts.seeds", "greater than or equal to 2"]),
        ("[rollouts]\nsedes = 3\n", ["rollouts.sedes", "Extra inputs"]),
        ("[rollouts]\ndays = 6\n", ["rollouts.days", "less than or equal to 5"]),
        ('[rollouts]\ncandidates = ["canry"]\n', ["candidates ['canry']", "canary + kayenta"]),
        ("[rollouts.lead_time]\ntarget = 2\n", ["rollouts.lead_time.target"]),
    ],
)
def test_bad_rollouts_keys_are_refused(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "{claims.CLAIMS_SPEC}"\n{text}')
    with pytest.raises(claims.ClaimsSpecError) as err:
        claims.load_claims_spec(path)
    for word in words:
        assert word in str(err.value)
