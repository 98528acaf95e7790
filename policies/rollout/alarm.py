"""``alarm``: a CloudWatch metric alarm watched during a deployment (ECS deployment alarms,
CodeDeploy alarm rollback): "N of M" datapoints beyond a threshold on one metric.

Sources (AWS documentation):

- [EVAL] "Using Amazon CloudWatch alarms", section "Evaluating an alarm": Period,
  Evaluation Periods (M), Datapoints to Alarm (N); the alarm goes to ALARM when N of the
  last M datapoints breach; states OK, ALARM, INSUFFICIENT_DATA.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
- [MISSING] "Configuring how CloudWatch alarms treat missing data" (TreatMissingData:
  ``missing`` (default), ``notBreaching``, ``breaching``, ``ignore``).
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
- [PUT] PutMetricAlarm API (ComparisonOperator: GreaterThanThreshold,
  GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold).
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html

Rules (*choice* marks what AWS leaves open):

* The alarm is evaluated once per period, when that period is published (the input's
  publication delay), over the last M published periods; the run of states is replayed from
  the first period in the input, so the result is a function of the input.
* ``notBreaching``/``breaching``: a missing datapoint counts as not breaching / breaching;
  ALARM when at least N of the M breach, else OK [MISSING].
* ``missing``: when every datapoint of the range is missing, INSUFFICIENT_DATA [MISSING].
  Otherwise the real datapoints are evaluated: ALARM when at least N of them breach, else OK.
  *Choice*: CloudWatch may look further back than M periods for real datapoints [MISSING];
  this reads only the last M.
* ``ignore``: as ``missing``, except that an all-missing range keeps the previous state
  [MISSING] (INSUFFICIENT_DATA before any state).
* Verdict: ``fail`` when the alarm was in ALARM at any evaluation of a period that started at
  or after ``canary_start`` (a deployment rolls back when its alarm enters ALARM);
  otherwise ``pass`` when the last state is OK (not in ALARM so far: how long to bake is the
  rollout strategy's business), ``inconclusive`` when it is INSUFFICIENT_DATA, ``running``
  before the first evaluation of the deployment.
* A new target group has no datapoint before its revision takes traffic: with ``breaching``
  those periods breach, so an alarm on the canary whose range reaches back before
  ``canary_start`` goes to ALARM at once (as a real alarm created with the target group
  would); use ``notBreaching`` or ``missing`` there.
* ``target_group``: ``canary``, ``baseline`` or ``total`` (both target groups' counts
  summed, the whole service's view; counts and ErrorRate only).
"""

from __future__ import annotations

import math

import numpy as np

from policies.rollout.analysis import (
    COUNT_METRICS,
    DERIVED,
    METRICS,
    AnalysisInput,
    BaseAnalysis,
    MetricDetail,
    Verdict,
    check_choice,
    check_number,
)

COMPARISONS: tuple[str, ...] = (
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
TREAT_MISSING: tuple[str, ...] = ("missing", "notBreaching", "breaching", "ignore")
ALARM_TARGETS: tuple[str, ...] = ("canary", "baseline", "total")


def breaches(values: np.ndarray, comparison: str, threshold: float) -> np.ndarray:
    """Element-wise breach test (False for NaN)."""
    with np.errstate(invalid="ignore"):
        if comparison == "GreaterThanThreshold":
            return values > threshold
        if comparison == "GreaterThanOrEqualToThreshold":
            return values >= threshold
        if comparison == "LessThanThreshold":
            return values < threshold
        return values <= threshold


def alarm_state(
    window: np.ndarray,
    n: int,
    comparison: str,
    threshold: float,
    treat_missing_data: str,
    previous: str = "INSUFFICIENT_DATA",
) -> str:
    """One evaluation of an "N of M" alarm over ``window`` (the last M datapoints, NaN
    missing): "ALARM", "OK" or "INSUFFICIENT_DATA"."""
    missing = np.isnan(window)
    hit = breaches(window, comparison, threshold)
    if treat_missing_data == "breaching":
        hit = hit | missing
    elif treat_missing_data in ("missing", "ignore") and np.all(missing):
        return previous if treat_missing_data == "ignore" else "INSUFFICIENT_DATA"
    return "ALARM" if int(hit.sum()) >= n else "OK"


class AlarmAnalysis(BaseAnalysis):
    """A CloudWatch "N of M" alarm on one metric of one target group.

    Parameters
    ----------
    metric: a column of the input (``ErrorRate``, ``TargetResponseTime_p99``, ...).
    threshold: the alarm threshold (ErrorRate as a fraction, latency in seconds).
    comparison: ComparisonOperator, one of :data:`COMPARISONS`.
    evaluation_periods: M, the number of most recent periods evaluated.
    datapoints_to_alarm: N (<= M); None means M ("M of M").
    treat_missing_data: TreatMissingData, one of :data:`TREAT_MISSING`.
    target_group: "canary", "baseline" or "total".
    """

    method = "alarm"

    def __init__(
        self,
        metric: str = "ErrorRate",
        threshold: float = 0.01,
        comparison: str = "GreaterThanThreshold",
        evaluation_periods: int = 3,
        datapoints_to_alarm: int | None = None,
        treat_missing_data: str = "missing",
        target_group: str = "canary",
    ) -> None:
        self.metric = metric
        self.threshold = threshold
        self.comparison = comparison
        self.evaluation_periods = evaluation_periods
        self.datapoints_to_alarm = datapoints_to_alarm
        self.treat_missing_data = treat_missing_data
        self.target_group = target_group

    def _validate(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"metric must be a metric name such as {METRICS + DERIVED}")
        check_number("threshold", self.threshold)
        check_choice("comparison", self.comparison, COMPARISONS)
        check_number("evaluation_periods", self.evaluation_periods, lo=1, integer=True)
        if self.datapoints_to_alarm is not None:
            check_number(
                "datapoints_to_alarm",
                self.datapoints_to_alarm,
                lo=1,
                hi=self.evaluation_periods,
                integer=True,
            )
        check_choice("treat_missing_data", self.treat_missing_data, TREAT_MISSING)
        check_choice("target_group", self.target_group, ALARM_TARGETS)
        if self.target_group == "total" and self.metric not in COUNT_METRICS + DERIVED:
            raise ValueError(
                f"target_group 'total' needs a count metric or ErrorRate; metric {self.metric!r} "
                f"is not one of {', '.join(COUNT_METRICS + DERIVED)}"
            )

    @property
    def interval_s(self) -> float:
        return 0.0  # evaluated once per published period; the caller's cadence is free

    def states(self, data: AnalysisInput) -> list[tuple[float, str, np.ndarray]]:
        """The replayed evaluations: (period start, state, window) per visible period."""
        m = int(self.evaluation_periods)
        n = int(self.datapoints_to_alarm or m)
        values = data.series(self.target_group, self.metric)
        visible = np.flatnonzero(data.visible())
        state = "INSUFFICIENT_DATA"
        out = []
        for k in visible:
            lo = max(0, k - m + 1)
            window = np.full(m, np.nan)
            window[m - (k - lo + 1) :] = values[lo : k + 1]
            state = alarm_state(
                window, n, self.comparison, float(self.threshold), self.treat_missing_data, state
            )
            out.append((float(data.start[k]), state, window))
        return out

    def _evaluate(self, data: AnalysisInput) -> Verdict:
        m = int(self.evaluation_periods)
        n = int(self.datapoints_to_alarm or m)
        rule = (
            f"{self.metric} ({self.target_group}) {self.comparison} {self.threshold:g}, "
            f"{n} of {m} datapoints, treat missing data as {self.treat_missing_data}"
        )
        run = [s for s in self.states(data) if s[0] >= data.canary_start]
        if not run:
            return Verdict(
                "running", f"no period of the deployment published yet; alarm {rule}", self.method
            )
        first_alarm = next((s for s in run if s[1] == "ALARM"), None)
        start, state, window = first_alarm or run[-1]
        shown = ", ".join("-" if math.isnan(v) else f"{v:.4g}" for v in window)
        detail = MetricDetail(
            self.metric,
            state,
            f"window [{shown}] at period {start:g}",
            value=float(window[-1]),
            data={"evaluations": len(run), "period_start": start},
        )
        if first_alarm is not None:
            status, what = "fail", f"ALARM at the period starting {start:g} s"
        elif state == "OK":
            status, what = "pass", f"OK ({len(run)} evaluations, never in ALARM)"
        else:
            status, what = "inconclusive", "INSUFFICIENT_DATA (every datapoint missing)"
        return Verdict(
            status, f"alarm {rule}: {what}; window [{shown}]", self.method, None, (detail,)
        )
