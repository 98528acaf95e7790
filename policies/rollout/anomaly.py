"""``anomaly``: a scikit-learn novelty detector over several metrics, trained on the baseline's
periods and scoring the canary's.

Decision rule (all of it; *choice* throughout, no owner to follow):

1. Rows are metric periods, columns the ``features`` (default ErrorRate, p50 and p99
   latency). Training rows: the baseline target group's published periods, all of them
   (``train_on="baseline"``: before and during the canary, the concurrent reference) or only
   those before ``canary_start`` (``"pre-deployment"``). Scored rows: the canary's published
   periods since ``canary_start``. Rows with a missing feature are left out.
2. Each feature is standardised with the training median and ``max(1.4826 MAD,
   min_scale[feature])``: the floor keeps a feature that is constant in training (an error
   rate that is always 0) from turning any change into an infinite one, and sets the size of
   change that matters (defaults: 0.5 percentage point of errors, 5 ms on p50, 20 ms on p99).
3. The detector is fitted on the training rows with ``contamination`` (the share of training
   rows it would call outliers; it sets the decision threshold): ``"lof"``
   (``LocalOutlierFactor(novelty=True)``, the default) or ``"isolation-forest"``
   (``IsolationForest(random_state=random_state)``). A scored row is anomalous when the
   detector predicts -1 and, with ``direction="increase"``, at least one feature is above
   the training median (a canary that is better than its baseline is not a reason to roll
   back).
4. ``score`` = share of anomalous canary rows. Verdict: ``inconclusive`` with fewer than
   ``min_train_periods`` training rows; ``running`` with fewer than ``min_canary_periods``
   scored rows; then ``fail`` when the score exceeds ``max_anomalous_fraction``, else
   ``pass``.

Why LOF by default: an isolation tree splits a feature only within its training range, so a
feature constant in training (the baseline's error rate, often exactly 0) is never split on
and a canary that only adds errors looks normal to an IsolationForest; LOF measures distance
and sees it (``tests/policies/rollout/test_anomaly.py`` shows both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from policies.rollout.analysis import (
    AnalysisInput,
    BaseAnalysis,
    MetricDetail,
    Verdict,
    check_choice,
    check_number,
)

DETECTORS: tuple[str, ...] = ("lof", "isolation-forest")
TRAIN_ON: tuple[str, ...] = ("baseline", "pre-deployment")
ANOMALY_DIRECTIONS: tuple[str, ...] = ("increase", "either")
DEFAULT_FEATURES: tuple[str, ...] = (
    "ErrorRate",
    "TargetResponseTime_p50",
    "TargetResponseTime_p99",
)
DEFAULT_MIN_SCALE: Mapping[str, float] = {
    "ErrorRate": 0.005,
    "TargetResponseTime_p50": 0.005,
    "TargetResponseTime_p90": 0.01,
    "TargetResponseTime_p99": 0.02,
}
MAD_TO_SD = 1.4826


class AnomalyAnalysis(BaseAnalysis):
    """Novelty detection of canary periods against baseline periods (see module docstring)."""

    method = "anomaly"

    def __init__(
        self,
        features: Sequence[str] = DEFAULT_FEATURES,
        detector: str = "lof",
        train_on: str = "baseline",
        direction: str = "increase",
        contamination: float = 0.05,
        max_anomalous_fraction: float = 0.5,
        min_train_periods: int = 10,
        min_canary_periods: int = 3,
        min_scale: Mapping[str, float] | None = None,
        n_neighbors: int = 20,
        n_estimators: int = 100,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.detector = detector
        self.train_on = train_on
        self.direction = direction
        self.contamination = contamination
        self.max_anomalous_fraction = max_anomalous_fraction
        self.min_train_periods = min_train_periods
        self.min_canary_periods = min_canary_periods
        self.min_scale = min_scale
        self.n_neighbors = n_neighbors
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _validate(self) -> None:
        if (
            isinstance(self.features, str)
            or not isinstance(self.features, Sequence)
            or not self.features
        ):
            raise ValueError("features must be a non-empty list of metric names")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features must not repeat a metric")
        check_choice("detector", self.detector, DETECTORS)
        check_choice("train_on", self.train_on, TRAIN_ON)
        check_choice("direction", self.direction, ANOMALY_DIRECTIONS)
        check_number("contamination", self.contamination, lo=0, hi=0.5, lo_open=True)
        check_number("max_anomalous_fraction", self.max_anomalous_fraction, lo=0, hi=1)
        check_number("min_train_periods", self.min_train_periods, lo=2, integer=True)
        check_number("min_canary_periods", self.min_canary_periods, lo=1, integer=True)
        if self.min_scale is not None:
            if not isinstance(self.min_scale, Mapping):
                raise ValueError("min_scale must be a table of metric -> smallest scale")
            for k, v in self.min_scale.items():
                check_number(f"min_scale.{k}", v, lo=0, lo_open=True)
        check_number("n_neighbors", self.n_neighbors, lo=1, integer=True)
        check_number("n_estimators", self.n_estimators, lo=1, integer=True)
        check_number("random_state", self.random_state, lo=0, integer=True)

    def _matrix(self, data: AnalysisInput, group: str, mask: np.ndarray) -> np.ndarray:
        cols = [data.series(group, f)[mask] for f in self.features]
        x = np.column_stack(cols) if cols else np.zeros((0, 0))
        return x[~np.any(np.isnan(x), axis=1)]

    def _fit(self, z_train: np.ndarray) -> Any:
        if self.detector == "lof":
            from sklearn.neighbors import LocalOutlierFactor

            k = min(int(self.n_neighbors), len(z_train) - 1)
            return LocalOutlierFactor(
                n_neighbors=k, novelty=True, contamination=float(self.contamination)
            ).fit(z_train)
        from sklearn.ensemble import IsolationForest

        return IsolationForest(
            n_estimators=int(self.n_estimators),
            contamination=float(self.contamination),
            random_state=int(self.random_state),
        ).fit(z_train)

    def _evaluate(self, data: AnalysisInput) -> Verdict:
        visible = data.visible()
        train_mask = (
            visible & (data.start < data.canary_start)
            if self.train_on == "pre-deployment"
            else visible
        )
        train = self._matrix(data, "baseline", train_mask)
        canary_mask = data.analysis_mask()
        scored = self._matrix(data, "canary", canary_mask)
        names = list(self.features)
        if len(train) < self.min_train_periods:
            return Verdict(
                "inconclusive",
                f"{len(train)} complete baseline periods to train on (< min_train_periods "
                f"{self.min_train_periods})",
                self.method,
            )
        if len(scored) < self.min_canary_periods:
            return Verdict(
                "running",
                f"{len(scored)} complete canary periods (< min_canary_periods {self.min_canary_periods})",
                self.method,
            )
        floors = {**DEFAULT_MIN_SCALE, **(self.min_scale or {})}
        med = np.median(train, axis=0)
        mad = np.median(np.abs(train - med), axis=0) * MAD_TO_SD
        scale = np.maximum(mad, [floors.get(f, 1e-12) for f in names])
        z_train = (train - med) / scale
        z = (scored - med) / scale
        model = self._fit(z_train)
        outlier = model.predict(z) == -1
        if self.direction == "increase":
            outlier &= np.any(z > 0, axis=1)
        share = float(outlier.mean())
        details = tuple(
            MetricDetail(
                f,
                "above" if np.median(z[:, j]) > 0 else "not above",
                f"canary median {np.median(scored[:, j]):.4g} vs baseline {med[j]:.4g} "
                f"(scale {scale[j]:.3g}); anomalous periods above the baseline median: "
                f"{int(np.sum(outlier & (z[:, j] > 0)))}",
                value=float(np.median(z[:, j])),
                data={"baseline_median": float(med[j]), "scale": float(scale[j])},
            )
            for j, f in enumerate(names)
        )
        rule = (
            f"{self.detector} on {', '.join(names)} trained on {len(train)} baseline periods: "
            f"{int(outlier.sum())} of {len(scored)} canary periods anomalous ({share:.0%}; "
            f"fail above {self.max_anomalous_fraction:.0%})"
        )
        status = "fail" if share > self.max_anomalous_fraction else "pass"
        return Verdict(status, rule, self.method, share, details)
