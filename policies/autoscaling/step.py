"""AWS Application Auto Scaling step scaling, as it behaves for an ECS service.

Sources (AWS documentation):

- [STEP] "Step scaling policies for Application Auto Scaling",
  https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-step-scaling-policies.html
- [CFG] StepScalingPolicyConfiguration (AdjustmentType, Cooldown, MetricAggregationType,
  MinAdjustmentMagnitude, StepAdjustments),
  https://docs.aws.amazon.com/autoscaling/application/APIReference/API_StepScalingPolicyConfiguration.html
- [ADJ] StepAdjustment,
  https://docs.aws.amazon.com/autoscaling/application/APIReference/API_StepAdjustment.html
- [CW] "Using Amazon CloudWatch alarms", section "Evaluating an alarm" (Period,
  EvaluationPeriods, DatapointsToAlarm, "M out of N"),
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html

*Choice* marks a rule AWS leaves open.

* The alarm is a CloudWatch alarm the user creates [STEP] on ``metric`` with the alarm's
  ``statistic`` per period (Average/Minimum/Maximum across the service's tasks: the plain
  column, ``<metric>_Minimum`` or ``<metric>_Maximum``), ``threshold`` and ``comparison``
  ("greater": GreaterThanThreshold, "less": LessThanThreshold). It evaluates the last
  ``datapoints`` published periods (EvaluationPeriods, N) and is in ALARM when at least
  ``datapoints_to_alarm`` of them breach (DatapointsToAlarm, M; by default M = N) [CW]. A
  NaN datapoint (missing data) does not breach (*choice*, as in
  :mod:`policies.autoscaling.target_tracking`; CloudWatch's treatment of missing data is a
  per-alarm setting).
* The step is chosen by the breach size ``d = aggregated value - threshold``: a step
  adjustment is "based on the difference between the value of the aggregated CloudWatch
  metric and the breach threshold" [ADJ], aggregated with ``metric_aggregation_type``
  (MetricAggregationType: "Minimum, Maximum, and Average. If the aggregation type is null,
  the value is treated as Average" [CFG]). *Choice* (AWS does not say which datapoints are
  aggregated): the alarm's evaluated datapoints, the last N periods, missing ones left out.
  An aggregate on the non-breaching side of the threshold falls in no step (the steps of a
  "greater" alarm start at 0) and changes nothing.
* Bounds are relative to the threshold, None is infinite. AWS [ADJ]: above the threshold
  (d >= 0) a step's lower bound is inclusive and its upper bound exclusive; below it
  (d < 0), the lower bound is exclusive and the upper inclusive. Steps must not overlap or
  leave gaps, at most one step has an open lower bound (the first) and one an open upper
  bound (the last), a step with a negative lower bound needs an open-lower-bound step and
  one with a positive upper bound an open-upper-bound step, and no step has both bounds
  open. *Choice*: the steps must be given sorted by their bounds.
* Adjustment types [CFG]: ChangeInCapacity (add the adjustment), ExactCapacity (set it),
  PercentChangeInCapacity (add that percentage of the current capacity). Percent rounding
  ([STEP]: 30% of 11 rounds down to 3): a change
  above 1 is rounded down, between 0 and 1 becomes 1, between -1 and 0 becomes -1, below -1 is
  rounded up (toward zero: -1.4 -> -1). MinAdjustmentMagnitude (Percent only) then raises a
  smaller non-zero change to that many tasks, in the adjustment's direction.
  Integer arithmetic: no float rounding can turn 30% of 10 into 2.
* Current capacity is the service's desired count.
* Cooldown (300 s for ECS [CFG]) after a scale-out: the policy scales out again only for a
  *larger* step: "capacity added by the initiating scale-out activity is calculated as part
  of the desired capacity for the next scale-out activity ... only 1 is added" [CFG]: the
  adjustment is applied to the capacity before the scale-out that started the cooldown, and
  only the difference above what is already set is added. *Choice*: such a follow-up does
  not restart the cooldown. Scale-in is blocked during any cooldown of this policy
  ("scale-in activities are blocked until the cooldown period has expired" [CFG]; one
  Cooldown serves a step policy in both directions).
* Cooldown after a scale-in: "if another alarm triggers a scale-out activity during the
  cooldown period after a scale-in activity, Application Auto Scaling scales out the target
  immediately" [CFG], whether this policy's or another's (seen as the desired count rising
  above what this policy's scale-in set).
* Min and max capacity clamp every result.

The usual setup is a pair: a scale-out policy (``comparison="greater"``, positive steps) and a
scale-in policy (``comparison="less"``, negative steps, a lower ``threshold``), joined by
:class:`policies.autoscaling.combine.CombinedPolicy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from policies.autoscaling.target_tracking import fmt, fmt_values
from policies.base import BasePolicy, clamp
from policies.contract import METRIC_NAMES, Decision, Observation

ADJUSTMENT_TYPES = ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity")
STATISTICS = {"Average": "", "Minimum": "_Minimum", "Maximum": "_Maximum"}
AGGREGATIONS = {"Average": np.mean, "Minimum": np.min, "Maximum": np.max}
COMPARISONS = ("greater", "less")

Step = tuple[float | None, float | None, int]

#: Default ladders (*choice*: AWS gives none), by comparison and adjustment type.
#: Scale-out: +1 task up to 10 points above the threshold, +2 up to 20, +3 beyond (or +10%,
#: +20%, +30%); scale-in mirrors it below the threshold. ExactCapacity has no sensible default.
DEFAULT_STEPS: dict[tuple[str, str], tuple[Step, ...]] = {
    ("greater", "ChangeInCapacity"): ((0, 10, 1), (10, 20, 2), (20, None, 3)),
    ("greater", "PercentChangeInCapacity"): ((0, 10, 10), (10, 20, 20), (20, None, 30)),
    ("less", "ChangeInCapacity"): ((None, -20, -3), (-20, -10, -2), (-10, 0, -1)),
    ("less", "PercentChangeInCapacity"): ((None, -20, -30), (-20, -10, -20), (-10, 0, -10)),
}


def percent_change(capacity: int, percent: int) -> int:
    """AWS's rounding of a PercentChangeInCapacity change, in integer arithmetic.

    ``capacity x percent / 100``: above 1 rounded down, in (0, 1) -> 1, in (-1, 0) -> -1,
    below -1 rounded toward zero. 30% of 11 = 3; -10% of 14 = -1; 10% of 4 = 1.
    """
    raw = capacity * percent  # the change times 100
    if raw == 0:
        return 0
    magnitude = max(1, abs(raw) // 100)
    return magnitude if raw > 0 else -magnitude


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _is_bound(x: object) -> bool:
    return x is None or (
        isinstance(x, int | float | np.integer | np.floating)
        and not isinstance(x, bool)
        and math.isfinite(float(x))
    )


def validate_steps(steps: Sequence[Sequence[object]], adjustment_type: str) -> list[Step]:
    """Check step adjustments by AWS's rules; return them as (lower, upper, adjustment)."""
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or len(steps) == 0:
        raise ValueError(
            f"step: steps must be a non-empty list of (lower_bound, upper_bound, adjustment), "
            f"got {steps!r}"
        )
    out: list[Step] = []
    for i, s in enumerate(steps):
        if isinstance(s, str | bytes) or not isinstance(s, Sequence) or len(s) != 3:
            raise ValueError(
                f"step: steps[{i}] must be (lower_bound, upper_bound, adjustment), got {s!r}"
            )
        lower, upper, adj = s
        if not (_is_bound(lower) and _is_bound(upper)):
            raise ValueError(f"step: steps[{i}] bounds must be finite numbers or None, got {s!r}")
        if not _is_int(adj):
            raise ValueError(f"step: steps[{i}] adjustment must be an integer, got {adj!r}")
        if lower is None and upper is None:
            raise ValueError(f"step: steps[{i}] has both bounds open (None); AWS refuses that")
        if lower is not None and upper is not None and not float(lower) < float(upper):
            raise ValueError(f"step: steps[{i}] needs lower_bound < upper_bound, got {s!r}")
        if adjustment_type == "ExactCapacity" and adj < 0:
            raise ValueError(f"step: steps[{i}] ExactCapacity adjustment must be >= 0, got {adj}")
        if adjustment_type == "PercentChangeInCapacity" and adj < -100:
            raise ValueError(f"step: steps[{i}] percent adjustment must be >= -100, got {adj}")
        out.append(
            (
                None if lower is None else float(lower),
                None if upper is None else float(upper),
                int(adj),
            )
        )
    for i in range(1, len(out)):
        prev, cur = out[i - 1], out[i]
        if cur[0] is None:
            raise ValueError(
                f"step: steps[{i}] has an open lower bound; only the first step may (at most one "
                "step has a None lower bound, and steps are sorted by their bounds)"
            )
        if prev[1] is None:
            raise ValueError(
                f"step: steps[{i - 1}] has an open upper bound; only the last step may (at most "
                "one step has a None upper bound, and steps are sorted by their bounds)"
            )
        if prev[0] is not None and cur[0] < prev[0]:
            raise ValueError(
                f"step: steps must be sorted by their bounds; steps[{i}] lower bound {fmt(cur[0])}"
                f" is below steps[{i - 1}] lower bound {fmt(prev[0])}"
            )
        if cur[0] > prev[1]:
            raise ValueError(
                f"step: gap between steps[{i - 1}] (upper {fmt(prev[1])}) and steps[{i}] "
                f"(lower {fmt(cur[0])}); step ranges must not leave gaps"
            )
        if cur[0] < prev[1]:
            raise ValueError(
                f"step: steps[{i - 1}] (upper {fmt(prev[1])}) overlaps steps[{i}] (lower "
                f"{fmt(cur[0])}); step ranges must not overlap"
            )
    if any(s[0] is not None and s[0] < 0 for s in out) and out[0][0] is not None:
        raise ValueError(
            "step: a step has a negative lower bound, so a step with an open (None) lower bound "
            "is needed (AWS rule)"
        )
    if any(s[1] is not None and s[1] > 0 for s in out) and out[-1][1] is not None:
        raise ValueError(
            "step: a step has a positive upper bound, so a step with an open (None) upper bound "
            "is needed (AWS rule)"
        )
    return out


def alarm_state(values: np.ndarray, n: int, m: int, above: bool, threshold: float) -> bool:
    """CloudWatch "M out of N": at least ``m`` of the last ``n`` datapoints strictly above
    (or below) ``threshold``. NaN (missing data) does not breach; fewer than ``n`` published
    datapoints never alarm."""
    if len(values) < n:
        return False
    last = values[len(values) - n :]
    with np.errstate(invalid="ignore"):
        hit = last > threshold if above else last < threshold
    return int(np.count_nonzero(hit)) >= m


def aggregate(values: np.ndarray, n: int, how: str) -> float:
    """MetricAggregationType over the alarm's last ``n`` datapoints, missing ones left out."""
    last = values[max(0, len(values) - n) :]
    finite = last[~np.isnan(last)]
    return float(AGGREGATIONS[how](finite)) if len(finite) else math.nan


def find_step(steps: list[Step], d: float) -> Step | None:
    """The step whose range holds breach size ``d`` (AWS inclusive/exclusive rules)."""
    lo_inf, hi_inf = -math.inf, math.inf
    for s in steps:
        lower = lo_inf if s[0] is None else s[0]
        upper = hi_inf if s[1] is None else s[1]
        if d >= 0 and lower <= d < upper:
            return s
        if d < 0 and lower < d <= upper:
            return s
    return None


def _bounds(s: Step, d: float) -> str:
    """The step's range as it applies to breach ``d``: [lo, hi) above the threshold, (lo, hi]
    below it."""
    lower = "-inf" if s[0] is None else fmt(s[0])
    upper = "+inf" if s[1] is None else fmt(s[1])
    return f"[{lower}, {upper})" if d >= 0 else f"({lower}, {upper}]"


class StepScalingPolicy(BasePolicy):
    """AWS Application Auto Scaling step scaling for an ECS service.

    See the module docstring for the rules and where each comes from.

    Parameters
    ----------
    metric : str, default "CPUUtilization"
        Alarm metric, a name in :data:`policies.contract.METRIC_NAMES` without a statistic suffix.
    statistic : str, default "Average"
        The alarm's per-period statistic across the service's tasks: "Average" (the metric's
        column), "Minimum" or "Maximum" (its ``_Minimum`` / ``_Maximum`` column, which must
        exist).
    metric_aggregation_type : str, default "Average"
        MetricAggregationType: how the alarm's evaluated datapoints are aggregated into the
        value whose distance from the threshold picks the step: "Average", "Minimum" or
        "Maximum" (AWS's default when unset: Average).
    threshold : float, default 70
        Alarm threshold in the metric's unit (70 % CPU for the default scale-out policy; give a
        lower one, e.g. 30, for a scale-in policy).
    comparison : str, default "greater"
        "greater" (GreaterThanThreshold) or "less" (LessThanThreshold).
    datapoints : int, default 1
        EvaluationPeriods (N): the published periods the alarm evaluates (1 is the console's
        default for an alarm you create yourself).
    datapoints_to_alarm : int or None, default None
        DatapointsToAlarm (M): how many of the N must breach; None means N ("N of N", the
        CloudWatch default).
    adjustment_type : str, default "ChangeInCapacity"
        "ChangeInCapacity", "PercentChangeInCapacity" or "ExactCapacity".
    steps : list of (lower_bound, upper_bound, adjustment) or None, default None
        Step adjustments, bounds relative to the threshold (None = unbounded), sorted. None
        picks :data:`DEFAULT_STEPS` for the comparison and adjustment type ("greater":
        (0, 10, +1), (10, 20, +2), (20, None, +3) tasks, or +10/20/30 %; "less" mirrors them
        below the threshold); ExactCapacity needs explicit steps.
    min_adjustment_magnitude : int or None, default None
        MinAdjustmentMagnitude, only with PercentChangeInCapacity.
    cooldown : float, default 300
        Cooldown, seconds.
    interval : float, default 60
        Seconds between decisions (the alarm evaluation cadence).
    """

    def __init__(
        self,
        metric: str = "CPUUtilization",
        statistic: str = "Average",
        threshold: float = 70.0,
        comparison: str = "greater",
        datapoints: int = 1,
        datapoints_to_alarm: int | None = None,
        metric_aggregation_type: str = "Average",
        adjustment_type: str = "ChangeInCapacity",
        steps: list[tuple[float | None, float | None, int]] | None = None,
        min_adjustment_magnitude: int | None = None,
        cooldown: float = 300.0,
        interval: float = 60.0,
    ) -> None:
        self.metric = metric
        self.statistic = statistic
        self.threshold = threshold
        self.comparison = comparison
        self.datapoints = datapoints
        self.datapoints_to_alarm = datapoints_to_alarm
        self.metric_aggregation_type = metric_aggregation_type
        self.adjustment_type = adjustment_type
        self.steps = steps
        self.min_adjustment_magnitude = min_adjustment_magnitude
        self.cooldown = cooldown
        self.interval = interval

    # -- validation ---------------------------------------------------------------------
    def _validate(self) -> tuple[str, list[Step]]:
        """Check the parameters; return the metric column and the step list in use."""
        if self.statistic not in STATISTICS:
            raise ValueError(
                f"step: statistic must be one of {', '.join(STATISTICS)}, got {self.statistic!r}"
            )
        column = f"{self.metric}{STATISTICS[self.statistic]}"
        if column not in METRIC_NAMES:
            raise ValueError(
                f"step: metric {self.metric!r} with statistic {self.statistic!r} needs column "
                f"{column!r}, which is unknown; valid columns: {', '.join(METRIC_NAMES)}"
            )
        if not (
            isinstance(self.threshold, int | float | np.integer | np.floating)
            and math.isfinite(float(self.threshold))
        ):
            raise ValueError(f"step: threshold must be a finite number, got {self.threshold!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(
                f"step: comparison must be one of {', '.join(COMPARISONS)}, got {self.comparison!r}"
            )
        if not _is_int(self.datapoints) or self.datapoints < 1:
            raise ValueError(f"step: datapoints must be an integer >= 1, got {self.datapoints!r}")
        m = self.datapoints_to_alarm
        if m is not None and (not _is_int(m) or not 1 <= m <= self.datapoints):
            raise ValueError(
                f"step: datapoints_to_alarm must be None or an integer in [1, datapoints = "
                f"{self.datapoints}], got {m!r}"
            )
        if self.metric_aggregation_type not in AGGREGATIONS:
            raise ValueError(
                f"step: metric_aggregation_type must be one of {', '.join(AGGREGATIONS)}, got "
                f"{self.metric_aggregation_type!r}"
            )
        if self.adjustment_type not in ADJUSTMENT_TYPES:
            raise ValueError(
                f"step: adjustment_type must be one of {', '.join(ADJUSTMENT_TYPES)}, got "
                f"{self.adjustment_type!r}"
            )
        mam = self.min_adjustment_magnitude
        if mam is not None:
            if self.adjustment_type != "PercentChangeInCapacity":
                raise ValueError(
                    "step: min_adjustment_magnitude applies only with adjustment_type "
                    f"'PercentChangeInCapacity', not {self.adjustment_type!r}"
                )
            if not _is_int(mam) or mam < 1:
                raise ValueError(
                    f"step: min_adjustment_magnitude must be an integer >= 1, got {mam!r}"
                )
        steps = self.steps
        if steps is None:
            key = (self.comparison, self.adjustment_type)
            if key not in DEFAULT_STEPS:
                raise ValueError(
                    f"step: adjustment_type {self.adjustment_type!r} has no default steps; give "
                    "steps as (lower_bound, upper_bound, adjustment)"
                )
            steps = DEFAULT_STEPS[key]
        for name in ("cooldown", "interval"):
            value = getattr(self, name)
            ok = isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)
            if not ok or value < 0 or (name == "interval" and value == 0):
                bound = "> 0" if name == "interval" else ">= 0"
                raise ValueError(f"step: {name} must be {bound} seconds, got {value!r}")
        return column, validate_steps(steps, self.adjustment_type)

    # -- arithmetic ---------------------------------------------------------------------
    def _apply(self, capacity: int, adj: int) -> tuple[int, str]:
        """Capacity after adjustment ``adj`` from ``capacity``, and the arithmetic."""
        kind = self.adjustment_type
        if kind == "ExactCapacity":
            return adj, f"ExactCapacity {adj}"
        if kind == "ChangeInCapacity":
            return (
                capacity + adj,
                f"{capacity} {'+' if adj >= 0 else '-'} {abs(adj)} = {capacity + adj}",
            )
        change = percent_change(capacity, adj)
        text = f"{adj}% of {capacity} = {fmt(capacity * adj / 100)} -> {change:+d}"
        mam = self.min_adjustment_magnitude
        if mam is not None and adj != 0 and abs(change) < mam:
            change = mam if adj > 0 else -mam
            text += f", MinAdjustmentMagnitude {mam} -> {change:+d}"
        return capacity + change, f"{text}; {capacity} {change:+d} = {capacity + change}"

    @property
    def scale_in_limits(self) -> str:
        """The scale-in limits this policy applies, and their source (for reports)."""
        if self.comparison == "greater" and self.adjustment_type != "ExactCapacity":
            return "none: a scale-out policy (AWS step scaling)"
        m = self.datapoints if self.datapoints_to_alarm is None else self.datapoints_to_alarm
        return (
            f"its alarm ({m} of {self.datapoints} datapoints {self.comparison} than "
            f"{self.threshold:g}), its step adjustments ({self.adjustment_type}), and the "
            f"cooldown of {float(self.cooldown):g} s after any of its scaling activities "
            "(AWS step scaling)"
        )

    def vetoes_scale_in(self) -> bool:
        """Whether this policy, when it does not scale in, blocks a scale-in by another policy
        on the service (:mod:`policies.autoscaling.combine`): only while its alarm is in ALARM
        (a step policy acts only on its own alarm, so a quiet one has no say)."""
        return bool(getattr(self, "alarm_", False))

    # -- the decision -------------------------------------------------------------------
    def decide(self, observation: Observation) -> Decision:
        column, steps = self._validate()
        obs = observation
        now, desired = float(obs.time), int(obs.desired)
        lo, hi = obs.min_tasks, obs.max_tasks
        threshold = float(self.threshold)
        n = int(self.datapoints)
        above = self.comparison == "greater"
        sign = ">" if above else "<"
        values = obs.metrics[column]
        period = fmt(float(obs.metrics.period_s))
        notes: list[str] = []

        cd_time = getattr(self, "cooldown_time_", None)
        if (
            cd_time is not None
            and getattr(self, "cooldown_dir_", None) == "in"
            and desired > int(self.cooldown_set_)
        ):
            notes.append(
                f"desired {desired} > {self.cooldown_set_} set at the last scale-in: its cooldown "
                "is interrupted"
            )
            cd_time = self.cooldown_time_ = None
        in_cooldown = cd_time is not None and now - cd_time < float(self.cooldown)
        cd_text = (
            f"{fmt(now - cd_time)}s into the {fmt(float(self.cooldown))}s cooldown"
            if in_cooldown
            else ""
        )

        m = n if self.datapoints_to_alarm is None else int(self.datapoints_to_alarm)
        how = self.metric_aggregation_type
        shown = fmt_values(values[max(0, len(values) - n) :])
        self.alarm_ = alarm_state(values, n, m, above, threshold)
        if not self.alarm_:
            return Decision(
                None,
                _join(
                    f"step: {column} alarm OK: fewer than {m} of the last {n} {period}s "
                    f"datapoints {shown} {sign} {fmt(threshold)}",
                    notes,
                ),
            )
        value = aggregate(values, n, how)
        d = value - threshold
        head = (
            f"step: {column} {m} of {n} {period}s datapoints {shown} {sign} {fmt(threshold)}; "
            f"{how} {fmt(value)}; breach {fmt(value)} - {fmt(threshold)} = {fmt(d)}"
        )
        step = find_step(steps, d)
        if step is None:
            return Decision(None, _join(f"{head}: no step covers it, no change", notes))
        head += f" in step {_bounds(step, d)} adjustment {step[2]:+d}"

        if in_cooldown and self.cooldown_dir_ == "out":
            base, already = int(self.cooldown_base_), int(self.cooldown_set_)
            raw, arith = self._apply(base, step[2])
            new = clamp(raw, lo, hi)
            if new != raw:
                arith += f", clamped to [{lo}, {hi}] = {new}"
            floor = max(already, desired)
            if new > floor:
                self.cooldown_set_ = new
                return Decision(
                    new,
                    _join(
                        f"{head}; {cd_text}, a larger step from the capacity {base} before it: "
                        f"{arith}; adds only the difference, {desired} -> {new}",
                        notes,
                    ),
                )
            if self._apply(desired, step[2])[0] < desired:
                return Decision(None, _join(f"{head}; {cd_text}: scale-in blocked", notes))
            return Decision(
                None,
                _join(
                    f"{head}; {cd_text}, from the capacity {base} before it: {arith}, not above "
                    f"{floor}: no change",
                    notes,
                ),
            )

        raw, arith = self._apply(desired, step[2])
        new = clamp(raw, lo, hi)
        if new != raw:
            arith += f", clamped to [{lo}, {hi}] = {new}"
        if new > desired:
            if in_cooldown:
                notes.append("the scale-out interrupts the scale-in cooldown")
            self.cooldown_time_ = now
            self.cooldown_dir_ = "out"
            self.cooldown_base_ = desired
            self.cooldown_set_ = new
            return Decision(new, _join(f"{head}: {arith}; scale out {desired} -> {new}", notes))
        if new < desired:
            if in_cooldown:
                return Decision(None, _join(f"{head}: {arith}; {cd_text}: scale-in blocked", notes))
            self.cooldown_time_ = now
            self.cooldown_dir_ = "in"
            self.cooldown_base_ = desired
            self.cooldown_set_ = new
            return Decision(new, _join(f"{head}: {arith}; scale in {desired} -> {new}", notes))
        return Decision(None, _join(f"{head}: {arith}; already {desired}: no change", notes))


def _join(reason: str, notes: list[str]) -> str:
    return reason if not notes else f"{reason} ({'; '.join(notes)})"
