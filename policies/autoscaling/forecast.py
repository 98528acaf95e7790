"""Features, labels and the boosted-tree evaluator of the learned autoscaler's load forecast.

The forecasting machinery of :class:`policies.autoscaling.learned.LearnedPolicy` that is not
its decision logic (the policy's module docstring describes the method as a whole):

* :func:`load_series`: the ALB ``RequestCount`` per period as requests/s.
* :class:`FeatureSpec`: the feature and label settings in periods (plain data).
* :func:`labels` and :func:`features`: vectorised numpy construction of the label and the
  feature matrix, identical for training rows and the decision row; row ``i`` reads only the
  loads up to period ``i``.
* :func:`flatten_trees`, :func:`predict_trees` and :func:`predict_rows`: a fitted
  scikit-learn HistGradientBoostingRegressor's trees as flat numpy arrays, and their
  evaluation on one feature row or many (identical result, no OpenMP start-up per row).
* :func:`with_warm_history`: an observation whose metrics are preceded by history from before
  time 0 (the warm start of the predictive and learned policies, ``warm_start(history)``).

Plain data and pure functions of their arguments: no clock, no randomness, no scikit-learn
import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from policies.contract import MetricHistory, Observation

DAY_S = 86400.0
WEEK_S = 7 * DAY_S

#: Offset (as a fraction of one task's capacity_rps) added to loads before taking logs: keeps
#: log ratios finite at zero load; loads far below one task's worth do not matter for scaling.
LOG_OFFSET_TASKS = 0.01

#: The gradient-boosting settings (scikit-learn defaults except early stopping, which is off
#: so that training is deterministic and uses every row).
GBR_SETTINGS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "early_stopping": False,
}


def load_series(request_count: np.ndarray, period_s: float) -> np.ndarray:
    """RequestCount per period as requests/s (NaN, i.e. no datapoint, counts as 0)."""
    return np.nan_to_num(np.asarray(request_count, dtype=float), nan=0.0) / period_s


class FeatureSpec:
    """Everything feature and label construction needs, in periods (not a policy: plain data).

    ``lead0``/``lead1``: first and last period (relative to the row) covered by the label.
    """

    def __init__(
        self,
        period_s: float,
        lead0: int,
        lead1: int,
        lags: tuple[int, ...],
        windows: tuple[int, ...],
        label: str,
        offset: float,
    ) -> None:
        self.period_s = period_s
        self.lead0 = lead0
        self.lead1 = lead1
        self.lags = lags
        self.windows = windows
        self.label = label
        self.offset = offset
        self.day = int(round(DAY_S / period_s))
        self.week = int(round(WEEK_S / period_s))

    def key(self) -> tuple:
        return (
            self.period_s,
            self.lead0,
            self.lead1,
            self.lags,
            self.windows,
            self.label,
            self.offset,
        )

    @property
    def tail(self) -> int:
        """Periods of history a single decision row needs."""
        return max(max(self.lags), max(self.windows), self.week + self.windows[0]) + 1

    @property
    def n_features(self) -> int:
        return 1 + len(self.lags) + len(self.windows) - 1 + 4 + 4

    def names(self) -> list[str]:
        return (
            ["log_base"]
            + [f"lag_{k}" for k in self.lags]
            + [f"mean_{w}" for w in self.windows[1:]]
            + ["hod_sin", "hod_cos", "dow_sin", "dow_cos"]
            + ["day_ago_change", "day_ago_level", "week_ago_change", "week_ago_level"]
        )


def _window_mean(cs: np.ndarray, rows: np.ndarray, w: int) -> np.ndarray:
    """Mean of y[max(0, i - w + 1) .. i] for each row i, from cs = [0, cumsum(y)]."""
    lo = np.maximum(rows + 1 - w, 0)
    return (cs[rows + 1] - cs[lo]) / (rows + 1 - lo)


def labels(y: np.ndarray, rows: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Label of each row (NaN where the label's periods are not all in ``y``)."""
    out = np.full(len(rows), np.nan)
    ok = (rows >= 0) & (rows + spec.lead1 < len(y))
    r = rows[ok]
    if spec.label == "point":
        out[ok] = y[r + spec.lead1]
    else:
        idx = r[:, None] + np.arange(spec.lead0, spec.lead1 + 1)[None, :]
        out[ok] = y[idx].max(axis=1) if len(r) else 0.0
    return out


def features(y: np.ndarray, start: np.ndarray, rows: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Feature matrix (len(rows) x spec.n_features) from the loads ``y`` up to each row.

    Row ``i`` reads ``y[: i + 1]`` only (lags, means, and labels of rows a day or a week
    earlier, whose periods end at or before ``i``); ``start`` gives the target time.
    """
    c = spec.offset
    cs = np.concatenate(([0.0], np.cumsum(y)))
    base = _window_mean(cs, rows, spec.windows[0])
    lbase = np.log(base + c)
    cols = [lbase]
    for k in spec.lags:
        j = rows - k
        v = np.where(j >= 0, y[np.maximum(j, 0)], np.nan)
        cols.append(np.log(v + c) - lbase)
    for w in spec.windows[1:]:
        cols.append(np.log(_window_mean(cs, rows, w) + c) - lbase)
    target_time = start[rows] + spec.lead1 * spec.period_s
    hod = 2 * np.pi * np.mod(target_time, DAY_S) / DAY_S
    dow = 2 * np.pi * np.mod(target_time, WEEK_S) / WEEK_S
    cols += [np.sin(hod), np.cos(hod), np.sin(dow), np.cos(dow)]
    for back in (spec.day, spec.week):
        past = rows - back
        ok = past >= 0
        lab = labels(y, np.where(ok, past, -1), spec)  # its periods end at row - back + lead1
        pbase = np.where(ok, _window_mean(cs, np.maximum(past, 0), spec.windows[0]), np.nan)
        llab = np.log(lab + c)
        cols.append(llab - np.log(pbase + c))
        cols.append(llab - lbase)
    return np.column_stack(cols)


def flatten_trees(estimator: Any) -> dict[str, np.ndarray]:
    """The fitted HistGradientBoostingRegressor's trees as flat numpy arrays."""
    feature, threshold, missing_left, left, right, leaf, value, roots = ([] for _ in range(8))
    offset = 0
    depth = 0
    for (tree,) in estimator._predictors:
        nodes = tree.nodes
        n = len(nodes)
        roots.append(offset)
        feature.append(nodes["feature_idx"].astype(np.int64))
        threshold.append(nodes["num_threshold"].astype(float))
        missing_left.append(nodes["missing_go_to_left"].astype(bool))
        left.append(nodes["left"].astype(np.int64) + offset)
        right.append(nodes["right"].astype(np.int64) + offset)
        leaf.append(nodes["is_leaf"].astype(bool))
        value.append(nodes["value"].astype(float))
        depth = max(depth, int(nodes["depth"].max()))
        offset += n
    cat = np.concatenate
    return {
        "feature": cat(feature),
        "threshold": cat(threshold),
        "missing_left": cat(missing_left),
        "left": cat(left),
        "right": cat(right),
        "leaf": cat(leaf),
        "value": cat(value),
        "roots": np.asarray(roots, dtype=np.int64),
        "depth": np.asarray(depth),
        "baseline": np.asarray(float(np.ravel(estimator._baseline_prediction)[0])),
    }


def predict_rows(trees: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Evaluate flattened trees on many feature rows at once (all rows x all trees, level by
    level)."""
    node = np.broadcast_to(trees["roots"], (len(X), len(trees["roots"]))).copy()
    rows = np.arange(len(X))[:, None]
    feature, threshold, missing = trees["feature"], trees["threshold"], trees["missing_left"]
    left, right, leaf = trees["left"], trees["right"], trees["leaf"]
    for _ in range(int(trees["depth"])):
        active = ~leaf[node]
        if not active.any():
            break
        xv = X[rows, feature[node]]
        go_left = np.where(np.isnan(xv), missing[node], xv <= threshold[node])
        node = np.where(active, np.where(go_left, left[node], right[node]), node)
    return float(trees["baseline"]) + trees["value"][node].sum(axis=1)


def predict_trees(trees: dict[str, np.ndarray], x: np.ndarray) -> float:
    """Evaluate flattened trees on one feature row: :func:`predict_rows` on a one-row matrix
    (each row's trees are summed along a contiguous axis, so the same value as alone)."""
    return float(predict_rows(trees, x[None, :])[0])


class _JoinedColumns(Mapping[str, np.ndarray]):
    """Columns of two histories joined end to end, each built on first access (a decision
    reads a few of the many columns)."""

    def __init__(self, first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray]):
        self._first = first
        self._second = second
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._done:
            a = self._first.get(name)
            b = self._second[name]
            if a is None:
                a = np.full(len(next(iter(self._first.values()), ())), np.nan)
            joined = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
            joined.flags.writeable = False
            self._done[name] = joined
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._second)

    def __len__(self) -> int:
        return len(self._second)


def with_warm_history(obs: Observation, history: MetricHistory | None) -> Observation:
    """``obs`` with ``history`` (periods before time 0, negative ``start``) in front of its
    metrics; ``obs`` itself when there is no history.

    The warm start of a policy that learns from past load: a service deployed long ago has
    days of CloudWatch history when a policy is attached, and AWS predictive scaling reads up
    to 14 days of it. The history must use the observation's period and end at or before the
    first period of the observation's own metrics (ValueError otherwise).
    """
    if history is None or len(history) == 0:
        return obs
    m = obs.metrics
    if len(m) and abs(history.period_s - m.period_s) > 1e-9:
        raise ValueError(
            f"warm history period {history.period_s} s differs from the metrics' {m.period_s} s"
        )
    first = float(m.start[0]) if len(m) else float(obs.time)
    if history.end > first + 1e-9:
        raise ValueError(f"warm history ends at {history.end} s, after the metrics start {first} s")
    start = np.concatenate([np.asarray(history.start, dtype=float), np.asarray(m.start)])
    start.flags.writeable = False
    joined = MetricHistory(history.period_s, start, _JoinedColumns(history.columns, m.columns))
    return dataclasses.replace(obs, metrics=joined)
