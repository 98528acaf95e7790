"""Canary analysis: the contract every analysis method shares.

An analysis reads only what CloudWatch would show about the target groups of a deployment
(per-period ALB metrics, published after a delay), never the ground truth of a release, and
returns a :class:`Verdict` with a reason. Methods are pure decision objects (DESIGN.md,
conventions 2, 4, 5): the constructor stores parameters, :meth:`BaseAnalysis.evaluate` reads
only its argument and the parameters, there is no clock read and no global randomness. A
method keeps no state between calls: the verdict is a function of the input, which holds the
whole history of the deployment, so the same input always gives the same verdict.

Input (:class:`AnalysisInput`): one ``start`` array of period start times (seconds) shared by
the target groups, and per target group (``canary``; ``baseline``, the stable or a concurrent
baseline revision) the per-period columns, NaN where CloudWatch has no datapoint. Metric
names are CloudWatch's: ``RequestCount``, ``HTTPCode_Target_5XX_Count`` (sums per period),
``TargetResponseTime_p50``, ``_p90``, ``_p99`` (seconds, percentiles per period), plus the
derived ``ErrorRate`` (see :meth:`TargetGroupMetrics.column`); any other column passed in can
be named too. A period is visible at time ``t`` when ``start + period_s +
publication_delay_s <= t``; periods that are not yet visible are ignored, so a caller may pass
the simulator's whole series.

Output (:class:`Verdict`): ``status`` is ``"running"`` (no decision yet: keep going),
``"pass"``, ``"fail"`` (roll back) or ``"inconclusive"`` (Argo Rollouts pauses for a human;
Kayenta's Marginal), with the reason, a score when the method has one (Kayenta, anomaly) and
one :class:`MetricDetail` per metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from policies.base import BasePolicy

#: Columns a target group carries, as the ALB publishes them per target group.
METRICS: tuple[str, ...] = (
    "RequestCount",
    "HTTPCode_Target_5XX_Count",
    "TargetResponseTime_p50",
    "TargetResponseTime_p90",
    "TargetResponseTime_p99",
)
#: Derived columns: ``ErrorRate`` = HTTPCode_Target_5XX_Count / RequestCount per period.
DERIVED: tuple[str, ...] = ("ErrorRate",)
#: Count metrics (summed when periods or target groups are combined).
COUNT_METRICS: tuple[str, ...] = ("RequestCount", "HTTPCode_Target_5XX_Count")
STATUSES: tuple[str, ...] = ("running", "pass", "fail", "inconclusive")
TARGET_GROUPS: tuple[str, ...] = ("canary", "baseline")


def _frozen(values: Any, n: int, name: str) -> np.ndarray:
    a = np.array(values, dtype=float, copy=True).reshape(-1)
    if len(a) != n:
        raise ValueError(f"column {name!r} has {len(a)} values, expected {n} (one per period)")
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class TargetGroupMetrics:
    """Per-period CloudWatch columns of one target group (read-only arrays)."""

    columns: Mapping[str, np.ndarray]

    def __contains__(self, name: str) -> bool:
        return name in self.columns or (
            name in ("ErrorRate", "HTTPCode_Target_5XX_Count") and "RequestCount" in self.columns
        )

    def column(self, name: str) -> np.ndarray:
        """The column ``name``; ``ErrorRate`` is derived when not given.

        ``ErrorRate`` is 5XX / RequestCount in periods with requests, NaN without. *Choice*:
        a period with requests but no ``HTTPCode_Target_5XX_Count`` datapoint had no 5XX
        (CloudWatch publishes no datapoint for a count that did not occur).
        """
        if name in self.columns:
            return self.columns[name]
        if name == "HTTPCode_Target_5XX_Count" and "RequestCount" in self.columns:
            none = np.full(len(self.columns["RequestCount"]), np.nan)
            none.flags.writeable = False
            return none
        if name == "ErrorRate" and "RequestCount" in self.columns:
            req = self.columns["RequestCount"]
            err = self.column("HTTPCode_Target_5XX_Count")
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = np.where(req > 0, np.nan_to_num(err, nan=0.0) / req, np.nan)
            rate.flags.writeable = False
            return rate
        raise KeyError(
            f"unknown metric {name!r}; available: {sorted(self.columns) + ['ErrorRate']}"
        )


@dataclass(frozen=True)
class AnalysisInput:
    """What an analysis may read: CloudWatch's per-period view of the deployment's target groups.

    ``time``: the decision time (seconds, same clock as ``start``). ``canary_start``: when
    the canary began to take traffic; the periods starting at or after it are the analysis
    periods, earlier ones are pre-deployment history (used by ``anomaly``).
    Build it with :meth:`build`, which copies and freezes the arrays.
    """

    time: float
    period_s: float
    start: np.ndarray
    canary: TargetGroupMetrics
    baseline: TargetGroupMetrics | None = None
    canary_start: float = 0.0
    publication_delay_s: float = 0.0

    @classmethod
    def build(
        cls,
        *,
        time: float,
        period_s: float,
        start: Any,
        canary: Mapping[str, Any],
        baseline: Mapping[str, Any] | None = None,
        canary_start: float = 0.0,
        publication_delay_s: float = 0.0,
    ) -> AnalysisInput:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        if publication_delay_s < 0:
            raise ValueError(f"publication_delay_s must be >= 0, got {publication_delay_s}")
        st = np.array(start, dtype=float, copy=True).reshape(-1)
        if np.any(np.diff(st) <= 0):
            raise ValueError("start must be strictly increasing")
        st.flags.writeable = False
        n = len(st)

        def group(cols: Mapping[str, Any]) -> TargetGroupMetrics:
            return TargetGroupMetrics({k: _frozen(v, n, k) for k, v in cols.items()})

        return cls(
            time=float(time),
            period_s=float(period_s),
            start=st,
            canary=group(canary),
            baseline=None if baseline is None else group(baseline),
            canary_start=float(canary_start),
            publication_delay_s=float(publication_delay_s),
        )

    def visible(self, t: float | None = None) -> np.ndarray:
        """Mask of the periods published by time ``t`` (default: the decision time)."""
        t = self.time if t is None else t
        return self.start + self.period_s + self.publication_delay_s <= t

    def analysis_mask(self, t: float | None = None) -> np.ndarray:
        """Visible periods that start at or after ``canary_start``."""
        return self.visible(t) & (self.start >= self.canary_start)

    def group(self, name: str) -> TargetGroupMetrics:
        if name == "canary":
            return self.canary
        if name == "baseline":
            if self.baseline is None:
                raise ValueError("this analysis needs a baseline target group; the input has none")
            return self.baseline
        raise ValueError(f"unknown target group {name!r}; allowed: {', '.join(TARGET_GROUPS)}")

    def series(self, target_group: str, metric: str) -> np.ndarray:
        """Per-period values of ``metric`` on ``target_group`` ("canary", "baseline" or
        "total": both target groups together, for counts and ErrorRate only)."""
        if target_group == "total":
            if metric not in COUNT_METRICS + ("ErrorRate",):
                raise ValueError(
                    f"target_group 'total' combines counts only: metric {metric!r} cannot be "
                    f"summed; allowed: {', '.join(COUNT_METRICS + ('ErrorRate',))}"
                )
            groups = [self.canary] + ([self.baseline] if self.baseline is not None else [])
            if metric == "ErrorRate":
                req = _nansum_rows([g.column("RequestCount") for g in groups])
                err = _nansum_rows([g.column("HTTPCode_Target_5XX_Count") for g in groups])
                return TargetGroupMetrics(
                    {"RequestCount": req, "HTTPCode_Target_5XX_Count": err}
                ).column("ErrorRate")
            return _nansum_rows([g.column(metric) for g in groups])
        return self.group(target_group).column(metric)


def _nansum_rows(arrays: list[np.ndarray]) -> np.ndarray:
    """Element-wise sum, NaN only where every array is NaN (no datapoint anywhere)."""
    stack = np.vstack(arrays)
    out = np.where(np.all(np.isnan(stack), axis=0), np.nan, np.nansum(stack, axis=0))
    return out


def window_value(data: AnalysisInput, target_group: str, metric: str, mask: np.ndarray) -> float:
    """One measurement of ``metric`` over the periods in ``mask`` (NaN: no data).

    Counts are summed; ``ErrorRate`` is total 5XX over total requests; any other column
    (latency percentiles) is the largest per-period value. *Choice*: CloudWatch cannot merge
    percentiles across periods from the per-period statistics; the maximum is the
    conservative reading a dashboard shows.
    """
    if not np.any(mask):
        return math.nan
    if metric == "ErrorRate":
        req = data.series(target_group, "RequestCount")[mask]
        err = data.series(target_group, "HTTPCode_Target_5XX_Count")[mask]
        ok = ~np.isnan(req) & (req > 0)
        if not np.any(ok):
            return math.nan
        return float(np.nansum(err[ok]) / np.sum(req[ok]))
    values = data.series(target_group, metric)[mask]
    if np.all(np.isnan(values)):
        return math.nan
    if metric in COUNT_METRICS:
        return float(np.nansum(values))
    return float(np.nanmax(values))


@dataclass(frozen=True)
class MetricDetail:
    """One metric's part of a verdict: its own label (method-specific: "pass"/"fail"/
    "inconclusive"/"error" for checks, "High"/"Low"/"Pass"/"Nodata" for Kayenta, "ALARM"/"OK"
    for an alarm), the reason and the figures behind it."""

    metric: str
    label: str
    reason: str
    value: float = math.nan
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """An analysis result. ``status`` in :data:`STATUSES`; the reason is always given."""

    status: str
    reason: str
    method: str = ""
    score: float | None = None
    details: tuple[MetricDetail, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not self.reason:
            raise ValueError("a Verdict needs a reason")

    @property
    def rollback(self) -> bool:
        """True when the analysis asks for a rollback (status "fail")."""
        return self.status == "fail"

    def detail(self, metric: str) -> MetricDetail:
        for d in self.details:
            if d.metric == metric:
                return d
        raise KeyError(f"no detail for {metric!r}; have {[d.metric for d in self.details]}")


def check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise ValueError naming the parameter and the allowed values."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def check_number(
    name: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    lo_open: bool = False,
) -> None:
    """Raise ValueError naming the parameter when ``value`` is not a number in range."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        kind = "an integer" if integer else "a number"
        bounds = []
        if lo is not None:
            bounds.append(f"{'>' if lo_open else '>='} {lo}")
        if hi is not None:
            bounds.append(f"<= {hi}")
        raise ValueError(
            f"{name} must be {kind}{' ' + ' and '.join(bounds) if bounds else ''}, got {value!r}"
        )


def check_metric_table(name: str, i: int, item: Any, allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming ``name[i]`` unless ``item`` is a table whose keys are among
    ``allowed`` and whose ``metric`` names a metric (the shared shape of the per-metric
    tables of ``threshold`` checks and ``kayenta`` metrics)."""
    if not isinstance(item, Mapping):
        raise ValueError(f"{name}[{i}] must be a table with keys {', '.join(allowed)}")
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name}[{i}] has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )
    if not isinstance(item.get("metric"), str) or not item["metric"]:
        raise ValueError(f"{name}[{i}].metric must name a metric")


class BaseAnalysis(BasePolicy):
    """Base of the analysis methods: ``evaluate(AnalysisInput) -> Verdict``.

    Subclasses set :attr:`method` and implement ``_evaluate``; ``_validate`` refuses bad
    parameters naming the key and the allowed values (called by the registry's ``make``
    and again before every evaluation, as parameters may have been set since).
    """

    method: ClassVar[str] = ""

    def evaluate(self, data: AnalysisInput) -> Verdict:
        """The verdict for ``data``; pure (reads nothing else, mutates nothing)."""
        self.validate()
        return self._evaluate(data)

    def _evaluate(self, data: AnalysisInput) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError
