"""Risk models: no leakage in walk-forward scoring, better than chance but not than Bayes,
the gating curve, the registry and the scikit-learn conventions."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from helpers_rollout import releases_with_outcomes

from policies.rollout.risk import (
    GbmRisk,
    LogisticRisk,
    RiskModel,
    RiskModelError,
    RulesRisk,
    evaluate_risk,
    features,
    gating_curve,
    make_risk_model,
    risk_model_defaults,
    risk_model_from_section,
    risk_model_names,
    roc_auc,
    walk_forward,
)
from sim.releases import DAY_S, HIDDEN_COLUMNS, generate_releases, releases_config, releases_frame


@functools.cache
def _data(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About 1,400 releases over 240 days; outcomes known 10 min to 2 days after shipping."""
    releases, out = releases_with_outcomes(seed, 240)
    return releases_frame(releases), out


def _leaky_walk_forward(rel, out, model, min_history=50, refit_every=25):
    """A deliberately wrong evaluator: trains on every outcome, future ones included."""
    fitted = model.clone().fit(rel.assign(bad=out["bad"].to_numpy()))
    return pd.DataFrame({"id": rel["id"], "score": fitted.score_frame(rel)})


def _scores_before_cut_survive_future_flips(evaluate) -> bool:
    """Flip the outcome of every release whose outcome becomes known after the cut; the
    scores of releases shipped before the cut must not move."""
    rel, out = _data()
    cut = float(rel["at_s"].quantile(0.5))
    flipped = out.copy()
    future = flipped["outcome_known_at_s"] >= cut
    flipped.loc[future, "bad"] = ~flipped.loc[future, "bad"]
    a = evaluate(rel, out, LogisticRisk(), min_history=50, refit_every=100)["score"].to_numpy()
    b = evaluate(rel, flipped, LogisticRisk(), min_history=50, refit_every=100)["score"].to_numpy()
    before = rel["at_s"].to_numpy() < cut
    assert not np.array_equal(a, b, equal_nan=True)  # the flip matters after the cut
    return np.array_equal(a[before], b[before], equal_nan=True)


def test_no_leakage_future_outcomes_do_not_change_earlier_scores() -> None:
    assert _scores_before_cut_survive_future_flips(walk_forward)
    # the test has teeth: an evaluator that trains on the future fails it
    assert not _scores_before_cut_survive_future_flips(_leaky_walk_forward)


def test_no_leakage_training_set_is_observable() -> None:
    rel, out = _data()
    wf = walk_forward(rel, out, LogisticRisk(), min_history=50, refit_every=100)
    trained = wf["n_train"] > 0
    assert trained.mean() > 0.9
    assert (wf.loc[trained, "train_known_until_s"] < wf.loc[trained, "at_s"]).all()
    assert (wf.loc[trained, "train_last_at_s"] < wf.loc[trained, "at_s"]).all()
    # each release is trained on at most the outcomes known when it shipped
    known = np.sort(out["outcome_known_at_s"].to_numpy())
    n_known = np.searchsorted(known, wf["at_s"].to_numpy(), side="left")
    assert (wf["n_train"].to_numpy() <= n_known).all()
    # and refitting is frequent enough that it is close to all of them
    assert (n_known - wf["n_train"].to_numpy()).max() <= 100
    # no score until min_history outcomes are known; the rules fallback fills them
    assert wf.loc[wf["n_train"] < 50, "score"].isna().all()
    assert wf.loc[wf["n_train"] >= 50, "score"].notna().all()
    wf = walk_forward(rel, out, RulesRisk(), min_history=50, fallback=RulesRisk())
    assert wf["score"].notna().all()


def test_walk_forward_refuses_outcomes_known_before_shipping() -> None:
    rel, out = _data()
    bad = out.copy()
    bad.loc[3, "outcome_known_at_s"] = rel.loc[3, "at_s"] - 1
    with pytest.raises(ValueError, match="before at_s"):
        walk_forward(rel, bad, LogisticRisk())


def test_outcomes_never_known_are_never_trained_on() -> None:
    rel, out = _data()
    unknown = out.copy()
    unknown.loc[unknown.index % 3 == 0, "outcome_known_at_s"] = np.nan
    wf = walk_forward(rel, unknown, RulesRisk(), min_history=10, refit_every=10)
    known = np.sort(unknown["outcome_known_at_s"].dropna().to_numpy())
    n_known = np.searchsorted(known, wf["at_s"].to_numpy(), side="left")
    assert (wf["n_train"].to_numpy() <= n_known).all()
    assert wf["n_train"].max() <= len(known)
    with pytest.raises(ValueError, match="min_history and refit_every"):
        walk_forward(rel, out, RulesRisk(), refit_every=0)


@pytest.mark.parametrize("name", ["logistic", "gbm"])
def test_learned_models_beat_chance_and_stay_below_bayes(name: str) -> None:
    rel, out = _data()
    wf = walk_forward(rel, out, make_risk_model(name), min_history=100, refit_every=400)
    scored = wf["score"].notna().to_numpy()
    truth = rel["bad"].to_numpy()[scored]
    auc = roc_auc(wf["score"].to_numpy()[scored], truth)
    bayes = roc_auc(rel["p_bad"].to_numpy()[scored], truth)
    rules = walk_forward(rel, out, RulesRisk(), min_history=100)["score"].to_numpy()[scored]
    assert auc > 0.6
    assert auc < bayes + 0.03
    assert roc_auc(rules, truth) > 0.6


def test_gating_curve_monotone_from_zero_to_one() -> None:
    rel, out = _data()
    wf = walk_forward(rel, out, RulesRisk(), min_history=1)
    curve = gating_curve(wf["score"], rel["bad"])
    share = curve["caught_share"].to_numpy()
    assert share[0] == 0 and share[-1] == pytest.approx(1.0)
    assert np.all(np.diff(share) >= -1e-12)
    assert curve["k"].iloc[0] == 0 and curve["k"].iloc[-1] == 1
    # a useful score catches more than a random gate at 10% and 50%
    at = gating_curve(wf["score"], rel["bad"], [0.1, 0.5])["caught_share"].to_numpy()
    assert at[0] > 0.1 and at[1] > 0.5


def test_gating_curve_ties_and_perfect_scores() -> None:
    bad = np.array([True, False, False, True, False, False, False, False, False, False])
    flat = gating_curve(np.zeros(10), bad, [0.0, 0.1, 0.35, 1.0])
    np.testing.assert_allclose(flat["caught_share"], [0.0, 0.1, 0.35, 1.0])
    perfect = gating_curve(bad.astype(float), bad, [0.1, 0.2, 0.5])
    np.testing.assert_allclose(perfect["caught_share"], [0.5, 1.0, 1.0])
    worst = gating_curve(-bad.astype(float), bad, [0.5, 0.8, 0.9])
    np.testing.assert_allclose(worst["caught_share"], [0.0, 0.0, 0.5])
    assert gating_curve([1.0, 2.0], [False, False])["caught_share"].isna().all()


def test_scores_read_metadata_only() -> None:
    rel, out = _data()
    hist = rel.iloc[:600]
    model = GbmRisk(max_iter=20).fit(hist)
    blind = rel.drop(columns=[c for c in HIDDEN_COLUMNS if c != "bad"])
    blind = blind.drop(columns=["bad"])
    np.testing.assert_array_equal(model.score_frame(rel), model.score_frame(blind))
    assert set(features(rel).columns).isdisjoint(HIDDEN_COLUMNS)


def test_score_one_release_equals_the_table_row() -> None:
    rng = np.random.default_rng(1)
    releases = generate_releases(releases_config({"per_day": 8}), 60 * DAY_S, rng)
    model = LogisticRisk().fit(releases_frame(releases))
    table = model.score_frame(releases)
    assert model.score(releases[7]) == pytest.approx(table[7])
    assert 0 < table.min() and table.max() < 1


def test_constructor_stores_parameters_only_and_fit_is_deterministic() -> None:
    rel, _ = _data()
    for name in risk_model_names():
        model = make_risk_model(name)
        assert not [k for k in vars(model) if k.endswith("_")]
        assert model.get_params() == risk_model_defaults(name)
        with pytest.raises(RuntimeError, match="not fitted"):
            LogisticRisk().score_frame(rel)
    a = GbmRisk(random_state=3).fit(rel.iloc[:500]).score_frame(rel)
    b = GbmRisk(random_state=3).fit(rel.iloc[:500]).score_frame(rel)
    np.testing.assert_array_equal(a, b)
    model = LogisticRisk().fit(rel.iloc[:500])
    clone = model.clone()
    assert isinstance(clone, RiskModel) and not hasattr(clone, "model_")


def test_single_class_history_scores_its_base_rate() -> None:
    rel, _ = _data()
    good = rel[~rel["bad"]].iloc[:50]
    model = GbmRisk().fit(good)
    assert (model.score_frame(rel) == 0).all()


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("forest", {}, ["risk.model", "allowed: rules, logistic, gbm"]),
        ("logistic", {"c": 1.0}, ["risk.c", "valid parameters: C, class_weight"]),
        ("logistic", {"C": -1}, ["risk.C", "must be > 0"]),
        ("gbm", {"learning_rate": 2.0}, ["risk.learning_rate", "(0, 1]"]),
        ("gbm", {"max_iter": 0}, ["risk.max_iter", ">= 1"]),
        ("rules", {"size_threshold": 0}, ["risk.size_threshold", "> 0"]),
    ],
)
def test_registry_refuses_bad_parameters_naming_the_key(
    name: str, params: dict, expected: list[str]
) -> None:
    with pytest.raises(RiskModelError) as err:
        make_risk_model(name, **params)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


def test_risk_section_builds_the_named_model() -> None:
    model = risk_model_from_section({"model": "gbm", "max_iter": 30})
    assert isinstance(model, GbmRisk) and model.max_iter == 30
    assert isinstance(risk_model_from_section(None), RulesRisk)
    with pytest.raises(RiskModelError, match="risk.max_depth"):
        risk_model_from_section({"model": "gbm", "max_depth": 3})


def test_evaluate_risk_is_one_flat_record() -> None:
    bad = np.array([True, False, False, True] + [False] * 16)
    record = evaluate_risk(bad.astype(float), bad)
    assert record["roc_auc"] == 1.0 and record["n_bad"] == 2 and record["n_scored"] == 20
    assert record["caught_at_5pct"] == 0.5 and record["caught_at_10pct"] == 1.0
    assert record["caught_at_50pct"] == 1.0
