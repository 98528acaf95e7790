"""The online risk scorer: walk_forward's scores, one release at a time, with no leakage,
a documented cold start and a risk percentile."""

from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from helpers_rollout import releases_with_outcomes

from policies.rollout.online_risk import OnlineRiskScorer, RiskAssessment
from policies.rollout.risk import LogisticRisk, RulesRisk, walk_forward
from sim.releases import Release, releases_frame

#: Small enough to keep the file fast, large enough for a cold start and several refits.
MIN_HISTORY, REFIT_EVERY = 30, 15


@functools.cache
def _run(seed: int = 3) -> tuple[tuple[Release, ...], pd.DataFrame]:
    """About 115 releases over 20 days; outcomes known 10 min to 2 days after shipping."""
    releases, out = releases_with_outcomes(seed, 20)
    return tuple(releases), out


def _stream(
    scorer: OnlineRiskScorer, releases, outcomes: pd.DataFrame, poison: bool = False
) -> list[RiskAssessment]:
    """Score each release when it ships, and record its outcome at once, long before it is
    known. With ``poison`` the label recorded early is the wrong one, corrected only once
    the outcome is known: a scorer that never trains on an outcome before it is known gives
    the same scores either way."""
    out = outcomes.set_index("id")
    pending: list[Release] = []
    found = []
    for r in releases:
        for p in [p for p in pending if out.at[p.id, "outcome_known_at_s"] < r.at_s]:
            scorer.record_outcome(
                p.id, bool(out.at[p.id, "bad"]), out.at[p.id, "outcome_known_at_s"]
            )
            pending.remove(p)
        found.append(scorer.assess(r, now=r.at_s))
        label = bool(out.at[r.id, "bad"]) != poison
        scorer.record_outcome(r.id, label, out.at[r.id, "outcome_known_at_s"])
        if poison:
            pending.append(r)
    return found


def _scorer(cls: type[OnlineRiskScorer] = OnlineRiskScorer) -> OnlineRiskScorer:
    return cls(LogisticRisk(), min_history=MIN_HISTORY, refit_every=REFIT_EVERY)


@functools.cache
def _assessed(cls: type[OnlineRiskScorer], poison: bool) -> tuple[RiskAssessment, ...]:
    releases, out = _run()
    return tuple(_stream(_scorer(cls), releases, out, poison))


def test_scores_equal_walk_forward_with_rules_fallback() -> None:
    releases, out = _run()
    found = _assessed(OnlineRiskScorer, False)
    batch = walk_forward(
        releases_frame(releases),
        out,
        LogisticRisk(),
        MIN_HISTORY,
        REFIT_EVERY,
        fallback=RulesRisk(),
    )
    assert len(found) > 100
    assert batch["n_train"].iloc[-1] >= MIN_HISTORY + 3 * REFIT_EVERY  # several refits
    # the same models on the same training sets: equal up to the rounding of scoring one row
    # instead of a block of rows
    np.testing.assert_allclose([a.score for a in found], batch["score"], rtol=1e-12, atol=0)
    assert [a.n_train for a in found] == batch["n_train"].tolist()


class _LeakyScorer(OnlineRiskScorer):
    """A deliberately wrong scorer: trains on every recorded outcome, future ones included."""

    def _known_before(self, now: float) -> list[int]:
        return sorted(self.index_[rid] for rid in self.outcomes_)


def _scores_survive_poisoned_future(cls: type[OnlineRiskScorer]) -> bool:
    return [a.score for a in _assessed(cls, False)] == [a.score for a in _assessed(cls, True)]


def test_no_leakage_labels_not_yet_known_do_not_change_any_score() -> None:
    assert _scores_survive_poisoned_future(OnlineRiskScorer)
    # the test has teeth: a scorer that trains on outcomes not yet known fails it
    assert not _scores_survive_poisoned_future(_LeakyScorer)


def test_training_set_is_known_before_each_release_ships() -> None:
    known = [a for a in _assessed(OnlineRiskScorer, False) if a.n_train > 0]
    assert len(known) > 80
    assert all(a.train_known_until_s < a.scored_at_s for a in known)


def test_cold_start_is_the_rules_model_until_min_history_outcomes() -> None:
    releases, _ = _run()
    found = _assessed(OnlineRiskScorer, False)
    models = [a.model for a in found]
    first_model = models.index("model")
    assert set(models[:first_model]) == {"cold_start"}
    assert set(models[first_model:]) == {"model"}
    assert found[first_model].n_train >= MIN_HISTORY > found[first_model - 1].n_train
    rules = RulesRisk().fit(pd.DataFrame())
    assert [a.score for a in found[:first_model]] == [
        rules.score(r) for r in releases[:first_model]
    ]


def test_percentile_ranks_among_earlier_releases() -> None:
    releases, out = _run()
    scorer = OnlineRiskScorer(None)  # the rules model throughout: one fixed scale
    found = _stream(scorer, releases[:40], out)
    scores = np.array([a.score for a in found])
    assert found[0].percentile == 0.5
    for i in (1, 7, 39):
        below = np.sum(scores[:i] < scores[i])
        ties = np.sum(scores[:i] == scores[i])
        assert found[i].percentile == pytest.approx((below + (ties + 1) / 2) / (i + 1))
    assert all(0 < a.percentile < 1 for a in found)


def test_same_inputs_same_assessments_and_parameters_only_in_constructor() -> None:
    releases, out = _run()
    scorer = _scorer()
    assert set(vars(scorer)) == {"model", "min_history", "refit_every", "cold_start"}
    first = _assessed(OnlineRiskScorer, False)[:60]
    assert tuple(_stream(scorer, releases[:60], out)) == first
    pickle.loads(pickle.dumps(scorer))


def test_bad_calls_are_refused() -> None:
    releases, _ = _run()
    r0, r1 = releases[0], releases[1]
    scorer = OnlineRiskScorer()
    with pytest.raises(ValueError, match="now must be"):
        scorer.assess(r0, now=r0.at_s - 1)
    scorer.assess(r1)
    with pytest.raises(ValueError, match="before the previous call"):
        scorer.assess(r0)
    with pytest.raises(ValueError, match="already scored"):
        scorer.assess(r1, now=r1.at_s + 1)
    with pytest.raises(KeyError, match="never scored"):
        scorer.record_outcome(r0.id, True, r0.at_s + 10)
    with pytest.raises(ValueError, match="known_at"):
        scorer.record_outcome(r1.id, True, r1.at_s - 1)
    with pytest.raises(ValueError, match="known_at"):
        scorer.record_outcome(r1.id, True, math.nan)
    with pytest.raises(ValueError, match="min_history must be an integer >= 1"):
        OnlineRiskScorer(min_history=0).assess(r0)
    with pytest.raises(ValueError, match="release lacks"):
        OnlineRiskScorer().assess({"id": 1, "at_s": 0.0})
