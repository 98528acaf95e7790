"""Online risk scoring for a run: releases scored as they happen, never with a later outcome.

:class:`OnlineRiskScorer` is the incremental form of :func:`policies.rollout.risk.walk_forward`
for a simulator that learns outcomes while the run goes on. The simulator calls
:meth:`~OnlineRiskScorer.score` (or :meth:`~OnlineRiskScorer.assess`) when a release is about
to ship and :meth:`~OnlineRiskScorer.record_outcome` when its outcome becomes known (it
finished, or a bad one was detected). A release shipping at ``now`` is scored by a model
fitted only on outcomes with ``known_at < now``, refitted by walk_forward's rule
(:func:`policies.rollout.risk.refit_due`: once ``refit_every`` more outcomes are known, and
when ``min_history`` is first reached). Cold start: until ``min_history`` outcomes are known
the score comes from ``cold_start`` (default the ``rules`` model with its default points),
since a learned model needs both classes and enough of them. Scoring releases at their
``at_s`` gives exactly walk_forward's scores with ``fallback = cold_start``.

Outcomes may be recorded early (a test may record every outcome at once): one whose
``known_at`` is not before ``now`` is ignored until time has passed it.

The *risk percentile* (:attr:`RiskAssessment.percentile`) places the release's score among
the scores the same fitted model gives the releases scored before it (their metadata is known
when they ship; no outcome is read): ``(below + (ties + 1) / 2) / (n + 1)`` over ``n`` earlier
releases, 0.5 for the first. It is the input of
:class:`policies.rollout.orchestration.RiskOrchestrator`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from policies.base import BasePolicy
from policies.rollout.risk import (
    RiskModel,
    RulesRisk,
    features,
    refit_due,
    risk_model_from_section,
)
from sim.pipeline_config import RiskConfig
from sim.releases import METADATA_COLUMNS

__all__ = ["OnlineRiskScorer", "RiskAssessment", "scorer_from_risk"]

_LABEL = "bad"
_KEPT = ("id", "at_s", *METADATA_COLUMNS)


@dataclass(frozen=True)
class RiskAssessment:
    """One release's risk as scored when it shipped.

    ``score``: the model's score (a probability for ``logistic`` / ``gbm``, points for
    ``rules``); ``percentile``: see the module docstring; ``model``: ``"model"`` or
    ``"cold_start"``, which one scored it; ``n_train``: outcomes it was fitted on;
    ``train_known_until_s``: the latest ``known_at`` among them (NaN when none), always
    before ``scored_at_s``.
    """

    release_id: Any
    scored_at_s: float
    score: float
    percentile: float
    model: str
    n_train: int
    train_known_until_s: float


def _record(release: Any) -> dict[str, Any]:
    """The release's id, time and metadata only: the hidden truth is never kept."""
    if is_dataclass(release) and not isinstance(release, type):
        data = asdict(release)
    elif isinstance(release, Mapping):
        data = dict(release)
    else:
        raise TypeError(f"a release is a Release or a mapping, got {type(release).__name__}")
    missing = [k for k in _KEPT if k not in data]
    if missing:
        raise ValueError(f"release lacks {missing}")
    return {k: data[k] for k in _KEPT}


class OnlineRiskScorer(BasePolicy):
    """Scores a run's releases one by one with no leakage (see the module docstring).

    ``model`` is a :class:`~policies.rollout.risk.RiskModel` (it is cloned, never fitted in
    place); ``min_history`` and ``refit_every`` default to walk_forward's 50 and 25
    (parameters, no public figure).
    """

    def __init__(
        self,
        model: RiskModel | None = None,
        min_history: int = 50,
        refit_every: int = 25,
        cold_start: RiskModel | None = None,
    ) -> None:
        self.model = model
        self.min_history = min_history
        self.refit_every = refit_every
        self.cold_start = cold_start

    def _validate(self) -> None:
        for key in ("min_history", "refit_every"):
            value = getattr(self, key)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
        for key in ("model", "cold_start"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, RiskModel):
                raise ValueError(f"{key} must be a RiskModel, got {type(value).__name__}")

    # -- state -----------------------------------------------------------------------------

    def _start(self) -> None:
        self.validate()
        self.records_: list[dict[str, Any]] = []  # releases seen, in scoring order
        self.index_: dict[Any, int] = {}
        self.outcomes_: dict[Any, tuple[bool, float]] = {}
        self.known_times_: list[float] = []  # sorted known_at of the recorded outcomes
        self.now_ = -math.inf
        self.fitted_: RiskModel | None = None
        self.fitted_on_: int | None = None
        self.fitted_known_until_ = math.nan
        self.reference_ = np.zeros(0)  # sorted scores of earlier releases, current model

    def _state(self) -> None:
        if not hasattr(self, "records_"):
            self._start()

    def record_outcome(self, release_id: Any, label: bool, known_at: float) -> None:
        """The outcome of a release scored earlier: ``label`` True when it was bad (as
        observed), known from ``known_at`` (run seconds) on."""
        self._state()
        if release_id not in self.index_:
            raise KeyError(f"release {release_id!r} was never scored; score it first")
        at = self.records_[self.index_[release_id]]["at_s"]
        if not (isinstance(known_at, int | float) and math.isfinite(known_at) and known_at >= at):
            raise ValueError(
                f"known_at must be a finite time >= the release's at_s {at:g}, got {known_at!r}"
            )
        if release_id in self.outcomes_:  # a correction: its old time leaves the index
            old = self.outcomes_[release_id][1]
            del self.known_times_[bisect.bisect_left(self.known_times_, old)]
        self.outcomes_[release_id] = (bool(label), float(known_at))
        bisect.insort(self.known_times_, float(known_at))

    def _known_before(self, now: float) -> list[int]:
        """Rows (scoring order) whose outcome is known strictly before ``now``."""
        return sorted(self.index_[rid] for rid, (_, known) in self.outcomes_.items() if known < now)

    def _refit(self, rows: list[int]) -> None:
        n = len(rows)
        cold = n < self.min_history
        source = (self.cold_start or RulesRisk()) if cold or self.model is None else self.model
        history = pd.DataFrame([self.records_[i] for i in rows])
        labels = [self.outcomes_[self.records_[i]["id"]][0] for i in rows]
        history = history.assign(**{_LABEL: np.array(labels, dtype=bool)})
        self.fitted_ = source.clone().fit(history, label=_LABEL)  # type: ignore[attr-defined]
        self.fitted_on_ = n
        self.fitted_model_ = "cold_start" if cold or self.model is None else "model"
        known = [self.outcomes_[self.records_[i]["id"]][1] for i in rows]
        self.fitted_known_until_ = max(known) if known else math.nan
        earlier = pd.DataFrame(self.records_[:-1]) if len(self.records_) > 1 else None
        scores = self.fitted_.score_frame(earlier) if earlier is not None else np.zeros(0)
        self.reference_ = np.sort(np.asarray(scores, dtype=float))

    def assess(self, release: Any, now: float | None = None) -> RiskAssessment:
        """Score ``release`` (a :class:`sim.releases.Release` or a mapping with ``id``,
        ``at_s`` and the metadata) as it ships at ``now`` (default its ``at_s``; never
        before it). Calls must come in non-decreasing ``now`` and each release once."""
        self._state()
        rec = _record(release)
        rid, at = rec["id"], float(rec["at_s"])
        now = at if now is None else float(now)
        if not (math.isfinite(now) and now >= at):
            raise ValueError(f"now must be a finite time >= the release's at_s {at!r}, got {now!r}")
        if now < self.now_:
            raise ValueError(f"now = {now:g} is before the previous call's {self.now_:g}")
        if rid in self.index_:
            raise ValueError(f"release {rid!r} was already scored")
        self.now_ = now
        self.index_[rid] = len(self.records_)
        self.records_.append(rec)
        n_known = bisect.bisect_left(self.known_times_, now)
        if refit_due(n_known, self.fitted_on_, self.min_history, self.refit_every):
            self._refit(self._known_before(now))
        assert self.fitted_ is not None
        score = float(self.fitted_.score_features(features(rec))[0])
        ref = self.reference_
        below = np.searchsorted(ref, score, side="left")
        ties = np.searchsorted(ref, score, side="right") - below
        percentile = float((below + (ties + 1) / 2) / (len(ref) + 1))
        self.reference_ = np.insert(ref, below, score)
        return RiskAssessment(
            release_id=rid,
            scored_at_s=now,
            score=score,
            percentile=percentile,
            model=self.fitted_model_,
            n_train=int(self.fitted_on_ or 0),
            train_known_until_s=float(self.fitted_known_until_),
        )

    def score(self, release: Any, now: float | None = None) -> float:
        """The model score of ``release`` shipping at ``now`` (:meth:`assess`'s ``score``)."""
        return self.assess(release, now).score


def scorer_from_risk(cfg: RiskConfig) -> OnlineRiskScorer:
    """The scorer a ``[risk]`` section configures: ``model`` plus its parameters (refused
    naming ``risk.<key>`` and the allowed values), ``min_history``, ``refit_every``."""
    model = risk_model_from_section({"model": cfg.model, **cfg.model_params})
    scorer = OnlineRiskScorer(model, min_history=cfg.min_history, refit_every=cfg.refit_every)
    return scorer.validate()  # type: ignore[return-value]
