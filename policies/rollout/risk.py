"""Risk models: score a release before it ships, from its metadata only.

Three models by name (:func:`make_risk_model`):

* ``rules`` (:class:`RulesRisk`): a transparent points table, no learning. Points for size
  (per doubling of lines above ``size_threshold``) and for many files, a flat
  ``config_points`` instead of both for a configuration-only change (the config-only
  discount), points for a dependency change, for off hours, Fridays and weekends, and
  ``author_points`` x the author's recent failure rate.
* ``logistic`` (:class:`LogisticRisk`): scikit-learn's ``LogisticRegression`` on
  standardised features, as Meta's baseline Diff Risk Score is a logistic regression on
  change metadata (Abreu et al., "Moving Faster and Reducing Risk: Using LLMs in Release
  Deployment", arXiv:2410.06351, 2024).
* ``gbm`` (:class:`GbmRisk`): scikit-learn's ``HistGradientBoostingClassifier``.

Features (:func:`features`) are built from :data:`sim.releases.METADATA_COLUMNS` only:
log lines, log files, config only, dependency change, author failure rate, hour of day,
off hours, Friday, weekend. Nothing hidden (truth, p_bad, kind parameters) is read.

Models follow scikit-learn's estimator rules (DESIGN.md convention 4): the constructor
stores parameters, :meth:`RiskModel.fit` learns state ending in ``_`` from a history table
(metadata plus a boolean label column, default ``bad``), :meth:`RiskModel.score` scores one
release and :meth:`RiskModel.score_frame` a table. Randomness comes in as ``random_state``.
Fitting and scoring run on one thread (``threadpoolctl``): on histories of a few thousand
releases OpenMP threads cost far more than they save on a shared machine (measured: one
``HistGradientBoostingClassifier`` fit on 2,000 rows took 24 s with threads on this busy
2-core machine, 0.3 s on one), and experiments parallelise across processes instead.

No leakage: :func:`walk_forward` scores each release with a model fitted only on releases
that shipped before it *and* whose outcome was known before it shipped
(``outcome_known_at_s < at_s``). Evaluation: :func:`roc_auc` and :func:`gating_curve`, the
share of bad releases caught when gating the riskiest k% (the measure Meta reports for its
Diff Risk Score: 18.7%, 27.9% and 84.6% of SEV-causing diffs caught at 5%, 10% and 50%
gated, Abreu et al. 2024; see also Meta Engineering, "Diff Risk Score: AI-driven
risk-aware software development", 2025-08-06).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from policies.base import BasePolicy

__all__ = [
    "FEATURES",
    "GbmRisk",
    "LogisticRisk",
    "RiskModel",
    "RiskModelError",
    "RulesRisk",
    "features",
    "gating_curve",
    "evaluate_risk",
    "make_risk_model",
    "refit_due",
    "risk_model_from_section",
    "risk_model_defaults",
    "risk_model_names",
    "roc_auc",
    "walk_forward",
]

#: Model inputs, derived from the release metadata only.
FEATURES: tuple[str, ...] = (
    "log_lines",
    "log_files",
    "config_only",
    "dependency_change",
    "author_failure_rate",
    "hour_of_day",
    "off_hours",
    "friday",
    "weekend",
)

_REQUIRED = (
    "lines_changed",
    "files_touched",
    "config_only",
    "dependency_change",
    "author_failure_rate",
    "hour_of_day",
    "day_of_week",
    "off_hours",
)


# scikit-learn is imported where a model is fit or scored, not with this module: checking a
# scenario's [risk] section (sim/scenario.py, at load) or running the `rules` model then costs
# no scikit-learn import (about 1.5 CPU s in a cold process).


@functools.cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # scanning the loaded libraries once costs ~10 ms


def _one_thread() -> Any:
    return _controller().limit(limits=1)


class RiskModelError(ValueError):
    """Unknown risk model or bad parameter; the message names the key."""


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame().T
    if is_dataclass(data) and not isinstance(data, type):
        return pd.DataFrame([asdict(data)])
    if isinstance(data, Mapping):
        return pd.DataFrame([dict(data)])
    return pd.DataFrame([asdict(r) if is_dataclass(r) else dict(r) for r in data])


def features(releases: Any) -> pd.DataFrame:
    """The model inputs (:data:`FEATURES`) of releases given as a DataFrame, a Release, a
    mapping or a list of them. Reads only release metadata."""
    df = _as_frame(releases)
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"releases lack metadata columns {missing}")
    dow = df["day_of_week"].to_numpy(dtype=int)
    return pd.DataFrame(
        {
            "log_lines": np.log(df["lines_changed"].to_numpy(dtype=float)),
            "log_files": np.log(df["files_touched"].to_numpy(dtype=float)),
            "config_only": df["config_only"].to_numpy(dtype=float),
            "dependency_change": df["dependency_change"].to_numpy(dtype=float),
            "author_failure_rate": df["author_failure_rate"].to_numpy(dtype=float),
            "hour_of_day": df["hour_of_day"].to_numpy(dtype=float),
            "off_hours": df["off_hours"].to_numpy(dtype=float),
            "friday": (dow == 4).astype(float),
            "weekend": (dow >= 5).astype(float),
        },
        columns=list(FEATURES),
    )


class RiskModel(BasePolicy):
    """Base: ``fit(history)`` then ``score(release)``; higher means riskier."""

    #: True when ``score`` is a probability of being bad.
    probabilistic: bool = True

    def fit(self, history: pd.DataFrame, label: str = "bad") -> RiskModel:
        """Learn from earlier releases: their metadata and a boolean ``label`` column."""
        self.validate()
        y = history[label].to_numpy(dtype=bool)
        self.n_train_ = len(y)
        self.base_rate_ = float(y.mean()) if len(y) else math.nan
        self.constant_ = len(np.unique(y)) < 2
        if not self.constant_:
            with _one_thread():  # see the module docstring: one thread
                self._fit(features(history).to_numpy(), y)
        return self

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_frame(self, releases: Any) -> np.ndarray:
        """Scores of several releases (a DataFrame or a list of Release)."""
        return self.score_features(features(releases))

    def score_features(self, f: pd.DataFrame) -> np.ndarray:
        """Scores from precomputed :func:`features`."""
        if not hasattr(self, "n_train_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(history) first")
        x = f.to_numpy()
        if self.constant_:
            return np.full(len(x), self.base_rate_)
        with _one_thread():
            return self._score(x)

    def score(self, release: Any) -> float:
        """The risk score of one release (a Release, a mapping or a one-row frame)."""
        return float(self.score_frame(release)[0])


class RulesRisk(RiskModel):
    """A transparent points table (no learning; ``fit`` only records the history size).

    Points: ``size_points`` per doubling of lines above ``size_threshold``; ``files_points``
    when more than ``files_threshold`` files; for a configuration-only change
    ``config_points`` instead of both (the config-only discount); ``dependency_points``;
    ``off_hours_points``; ``friday_points``; ``weekend_points``; and ``author_points`` x
    the author's recent failure rate. Defaults are a plausible team's rules, not fitted.
    """

    probabilistic = False

    def __init__(
        self,
        size_threshold: float = 50.0,
        size_points: float = 1.0,
        files_threshold: int = 10,
        files_points: float = 1.0,
        config_points: float = 1.0,
        dependency_points: float = 2.0,
        off_hours_points: float = 2.0,
        friday_points: float = 1.0,
        weekend_points: float = 2.0,
        author_points: float = 10.0,
    ) -> None:
        self.size_threshold = size_threshold
        self.size_points = size_points
        self.files_threshold = files_threshold
        self.files_points = files_points
        self.config_points = config_points
        self.dependency_points = dependency_points
        self.off_hours_points = off_hours_points
        self.friday_points = friday_points
        self.weekend_points = weekend_points
        self.author_points = author_points

    def _validate(self) -> None:
        if not self.size_threshold > 0:
            raise ValueError(f"size_threshold must be > 0, got {self.size_threshold}")
        if not self.files_threshold >= 1:
            raise ValueError(f"files_threshold must be >= 1, got {self.files_threshold}")
        for name, value in self.get_params().items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")

    def fit(self, history: pd.DataFrame, label: str = "bad") -> RulesRisk:
        self.validate()
        self.n_train_ = len(history)
        self.constant_ = False
        return self

    def score_features(self, f: pd.DataFrame) -> np.ndarray:
        self.validate()
        lines = np.exp(f["log_lines"].to_numpy())
        files = np.exp(f["log_files"].to_numpy())
        size = self.size_points * np.maximum(0.0, np.log2(lines / self.size_threshold))
        size = size + self.files_points * (files > self.files_threshold)
        config = f["config_only"].to_numpy() > 0
        points = np.where(config, self.config_points, size)
        points = points + self.dependency_points * f["dependency_change"].to_numpy()
        points = points + self.off_hours_points * f["off_hours"].to_numpy()
        points = points + self.friday_points * f["friday"].to_numpy()
        points = points + self.weekend_points * f["weekend"].to_numpy()
        return points + self.author_points * f["author_failure_rate"].to_numpy()


class LogisticRisk(RiskModel):
    """L2-regularised logistic regression on standardised :data:`FEATURES`."""

    def __init__(
        self, C: float = 1.0, class_weight: str | None = None, random_state: int | None = 0
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state

    def _validate(self) -> None:
        if not (isinstance(self.C, int | float) and self.C > 0):
            raise ValueError(f"C must be > 0, got {self.C!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(
                C=self.C,
                class_weight=self.class_weight,
                max_iter=1000,
                random_state=self.random_state,
            ),
        ).fit(x, y)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(x)[:, 1]


class GbmRisk(RiskModel):
    """Gradient-boosted trees (scikit-learn ``HistGradientBoostingClassifier``), shallow and
    regularised for the few hundred to few thousand releases a service has."""

    def __init__(
        self,
        max_iter: int = 100,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 8,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        random_state: int | None = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _validate(self) -> None:
        if not (isinstance(self.max_iter, int) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate <= 1):
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        if not (isinstance(self.max_leaf_nodes, int) and self.max_leaf_nodes >= 2):
            raise ValueError(f"max_leaf_nodes must be an integer >= 2, got {self.max_leaf_nodes!r}")
        if not (isinstance(self.min_samples_leaf, int) and self.min_samples_leaf >= 1):
            raise ValueError(
                f"min_samples_leaf must be an integer >= 1, got {self.min_samples_leaf!r}"
            )
        if not (isinstance(self.l2_regularization, int | float) and self.l2_regularization >= 0):
            raise ValueError(f"l2_regularization must be >= 0, got {self.l2_regularization!r}")

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(x, y)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(x)[:, 1]


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

_MODELS: dict[str, type[RiskModel]] = {
    "rules": RulesRisk,
    "logistic": LogisticRisk,
    "gbm": GbmRisk,
}


def risk_model_names() -> list[str]:
    return list(_MODELS)


def risk_model_defaults(name: str) -> dict[str, Any]:
    """The default parameters of a registered risk model."""
    return _model_class(name)().get_params()


def _model_class(name: str) -> type[RiskModel]:
    try:
        return _MODELS[name]
    except KeyError:
        raise RiskModelError(
            f"risk.model: unknown risk model {name!r}; allowed: {', '.join(_MODELS)}"
        ) from None


def make_risk_model(name: str, **params: Any) -> RiskModel:
    """Build a registered risk model; an unknown name, an unknown parameter or a bad value
    is refused with ``risk.<key>`` and what is allowed."""
    cls = _model_class(name)
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise RiskModelError(
            f"risk.{unknown[0]}: risk model {name!r} has no parameter "
            f"{', '.join(map(repr, unknown))}; valid parameters: {', '.join(valid)}"
        )
    model = cls(**params)
    try:
        model.validate()
    except ValueError as exc:
        key = str(exc).split(" ", 1)[0]
        raise RiskModelError(f"risk.{key}: risk model {name!r}: {exc}") from None
    return model


def risk_model_from_section(section: Mapping[str, Any] | None) -> RiskModel:
    """Build the model a scenario's ``[risk]`` section names: ``model`` (default ``rules``)
    plus that model's parameters, refused like :func:`make_risk_model`."""
    params = dict(section or {})
    name = params.pop("model", "rules")
    if not isinstance(name, str):
        raise RiskModelError(
            f"risk.model: expected a name, got {name!r}; allowed: {', '.join(_MODELS)}"
        )
    return make_risk_model(name, **params)


# ---------------------------------------------------------------------------------------------
# Walk-forward scoring (no leakage) and evaluation
# ---------------------------------------------------------------------------------------------


def refit_due(n_known: int, fitted_on: int | None, min_history: int, refit_every: int) -> bool:
    """The walk-forward refit rule (:func:`walk_forward` and the online scorer of
    :mod:`policies.rollout.online_risk` share it): with ``n_known`` outcomes known when a
    release ships and the current model fitted on ``fitted_on`` of them (None: no model yet),
    fit a new one at the first release, once ``refit_every`` more outcomes are known, and
    when ``min_history`` is first reached (the switch from the fallback to the model)."""
    if fitted_on is None:
        return True
    return n_known - fitted_on >= refit_every or fitted_on < min_history <= n_known


def walk_forward(
    releases: pd.DataFrame,
    outcomes: pd.DataFrame,
    model: RiskModel,
    min_history: int = 50,
    refit_every: int = 25,
    label: str = "bad",
    fallback: RiskModel | None = None,
) -> pd.DataFrame:
    """Score every release as it would have been scored when it shipped.

    ``releases`` has ``id``, ``at_s`` and the metadata; ``outcomes`` has ``id``, ``label``
    (observed: bad or not) and ``outcome_known_at_s`` (when the release finished or was
    detected; NaN: not known within the run). Release ``i`` is scored by a fresh clone of
    ``model`` fitted on the releases ``j`` with ``at_s[j] < at_s[i]`` and
    ``outcome_known_at_s[j] < at_s[i]``, refitted once at least ``refit_every`` outcomes have
    become known since the last fit; until ``min_history`` outcomes are known the score comes
    from ``fallback`` (fitted on the same history; NaN when there is none).

    Returns one row per release, in ``releases`` order: ``id``, ``at_s``, ``score``,
    ``n_train`` (outcomes in the training set), ``train_known_until_s`` (the latest
    ``outcome_known_at_s`` among them, NaN when none) and ``train_last_at_s`` (the latest
    ``at_s`` among them), so the absence of leakage is observable.
    """
    if min_history < 1 or refit_every < 1:
        raise ValueError("min_history and refit_every must be >= 1")
    rel = releases.reset_index(drop=True)
    out = outcomes.set_index("id")[[label, "outcome_known_at_s"]]
    missing = sorted(set(rel["id"]) - set(out.index))
    if missing:
        raise ValueError(f"outcomes lack release ids {missing[:5]}")
    known = out.loc[rel["id"], "outcome_known_at_s"].to_numpy(dtype=float)
    at = rel["at_s"].to_numpy(dtype=float)
    early = known < at
    if np.any(early):
        ids = rel["id"].to_numpy()[early][:5].tolist()
        raise ValueError(f"outcome_known_at_s before at_s for release ids {ids}")
    labels = out.loc[rel["id"], label].to_numpy(dtype=bool)
    data = rel.assign(**{label: labels})

    order = np.argsort(at, kind="stable")
    known_order = np.argsort(np.where(np.isnan(known), np.inf, known), kind="stable")
    known_sorted = known[known_order]
    # outcomes known strictly before each release ships (every one of them shipped before
    # it too, since an outcome is known no earlier than its release ships)
    n_known_at = np.searchsorted(known_sorted, at, side="left")
    # fit epochs, in shipping order: a new epoch when refit_every more outcomes are known,
    # or when min_history is first reached
    epoch_of = np.zeros(len(rel), dtype=np.int64)
    epochs: list[int] = []  # n_known each epoch is fitted on
    for i in order:
        n = int(n_known_at[i])
        if refit_due(n, epochs[-1] if epochs else None, min_history, refit_every):
            epochs.append(n)
        epoch_of[i] = len(epochs) - 1
    x_all = features(rel)
    scores = np.full(len(rel), np.nan)
    n_train = np.zeros(len(rel), dtype=np.int64)
    known_until = np.full(len(rel), np.nan)
    last_at = np.full(len(rel), np.nan)
    for e, n in enumerate(epochs):
        members = np.flatnonzero(epoch_of == e)
        rows = np.sort(known_order[:n])
        first_at = at[members].min()
        rows = rows[at[rows] < first_at]
        n_train[members] = len(rows)
        if len(rows):
            known_until[members] = float(known[rows].max())
            last_at[members] = float(at[rows].max())
        source = model if n >= min_history else fallback
        if source is None:
            continue
        fitted = source.clone().fit(data.iloc[rows], label=label)
        scores[members] = fitted.score_features(x_all.iloc[members])
    return pd.DataFrame(
        {
            "id": rel["id"].to_numpy(),
            "at_s": at,
            "score": scores,
            "n_train": n_train,
            "train_known_until_s": known_until,
            "train_last_at_s": last_at,
        }
    )


def roc_auc(scores: Sequence[float] | np.ndarray, bad: Sequence[bool] | np.ndarray) -> float:
    """ROC-AUC (``sklearn.metrics.roc_auc_score``) over the scored releases; NaN when the
    labels have a single class."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(bad, dtype=bool)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    if len(np.unique(y)) < 2:
        return math.nan
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def gating_curve(
    scores: Sequence[float] | np.ndarray,
    bad: Sequence[bool] | np.ndarray,
    ks: Iterable[float] | None = None,
) -> pd.DataFrame:
    """Share of bad releases caught when gating the riskiest share ``k`` of releases.

    ``ks`` default 0, 0.01, ..., 1. Releases tied at the cut are gated in proportion (the
    expectation over random tie-breaking), so a constant score gives ``caught_share = k``.
    Columns: ``k``, ``gated`` (releases), ``caught`` (bad releases, fractional at ties),
    ``caught_share`` (NaN when there is no bad release), ``random_share`` (= k, a random
    gate's expectation). NaN scores are dropped first.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(bad, dtype=bool)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    k = np.linspace(0.0, 1.0, 101) if ks is None else np.asarray(list(ks), dtype=float)
    if np.any((k < 0) | (k > 1)):
        raise ValueError("k must lie in [0, 1]")
    uniq, inv = np.unique(-s, return_inverse=True)  # groups, riskiest first
    size = np.bincount(inv, minlength=len(uniq)).astype(float)
    nbad = np.bincount(inv, weights=y.astype(float), minlength=len(uniq))
    cum_size = np.concatenate([[0.0], np.cumsum(size)])
    cum_bad = np.concatenate([[0.0], np.cumsum(nbad)])
    gated = k * len(s)
    g = np.clip(np.searchsorted(cum_size, gated, side="right") - 1, 0, max(len(uniq) - 1, 0))
    if len(uniq):
        part = np.clip(gated - cum_size[g], 0.0, size[g])
        caught = cum_bad[g] + nbad[g] * np.where(size[g] > 0, part / size[g], 0.0)
    else:
        caught = np.zeros_like(k)
    total = y.sum()
    return pd.DataFrame(
        {
            "k": k,
            "gated": gated,
            "caught": caught,
            "caught_share": caught / total if total else np.full_like(k, np.nan),
            "random_share": k,
        }
    )


def evaluate_risk(
    scores: Sequence[float] | np.ndarray,
    bad: Sequence[bool] | np.ndarray,
    ks: Sequence[float] = (0.05, 0.1, 0.5),
) -> dict[str, float]:
    """``roc_auc`` and ``caught_at_<k%>`` (the gating curve at ``ks``; Meta's 5%, 10%, 50%
    gating zones by default) as one flat record, plus ``n_scored`` and ``n_bad``."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(bad, dtype=bool)
    keep = ~np.isnan(s)
    record: dict[str, float] = {
        "n_scored": int(keep.sum()),
        "n_bad": int(y[keep].sum()),
        "roc_auc": roc_auc(s, y),
    }
    curve = gating_curve(s, y, ks)
    for k, share in zip(curve["k"], curve["caught_share"], strict=True):
        record[f"caught_at_{k * 100:g}pct"] = float(share)
    return record
