"""AWS Application Auto Scaling target tracking, as it behaves for an ECS service.

Sources (AWS documentation; [TT], [HOW], [API], [ECS], [HR] below):

- [TT] "Target tracking scaling policies for Application Auto Scaling",
  https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html
- [HOW] "How target tracking scaling for Application Auto Scaling works",
  https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html
- [API] TargetTrackingScalingPolicyConfiguration (ScaleOutCooldown, ScaleInCooldown,
  DisableScaleIn),
  https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html
- [ECS] "Target tracking scaling policies" in the Amazon ECS developer guide,
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-autoscaling-targettracking.html
- [HR] "Faster auto scaling with high-resolution metrics" (Amazon ECS developer guide),
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/target-tracking-faster-auto-scaling.html,
  and AWS's benchmark in "Amazon ECS introduces new high-resolution metrics for faster
  service auto scaling",
  https://aws.amazon.com/blogs/aws/amazon-ecs-introduces-new-high-resolution-metrics-for-faster-service-auto-scaling/

Rules marked *parameter* are not published by AWS; they are parameters with the default
given and the evidence for it.

* Two CloudWatch alarms, created and managed by Application Auto Scaling [TT]. AWS does not
  publish their evaluation settings. *Parameter*: scale-out when the last
  ``scale_out_datapoints`` (3) published periods are all **above** the target, scale-in when
  the last ``scale_in_datapoints`` (15) are all **below** the scale-in threshold
  ``scale_in_ratio x target``. 3 and 15 one-minute datapoints are what users read on the
  alarms AWS creates (``AlarmHigh`` "three consecutive minutes", ``AlarmLow`` "fifteen",
  https://repost.aws/questions/QUVoLPVCU5QamquwCMrFMOzw/aws-ecs-uses-fargate-service-auto-scaling-which-is-not-working-properly).
  The scale-in alarm's threshold: when the metric falls below the target, the policy removes
  capacity only once utilisation passes a threshold below the target value "(usually more
  than 10% lower)" [HOW, section "How it works"]. AWS gives no exact figure, so
  ``scale_in_ratio`` is a parameter, default 0.9 (10% below the target).
* A datapoint is one published metric period, ``observation.metrics.period_s`` long: 60 s,
  or 20 s with the high-resolution predefined metrics [HR]. The counts stay 3 and 15 at
  20 s: AWS's benchmark (scale-out triggered 86 s after a load step with 20 s metrics
  against 363 s with 60 s metrics [HR]) fits a scale-out alarm of three 20 s datapoints,
  not three minutes. AWS publishes no datapoint count for the high-resolution scale-in
  alarm; 15 is kept (300 s at 20 s) and is a parameter.
* Missing data: "A target tracking scaling policy does not perform scaling when the
  specified metric has insufficient data. It does not perform scale in because it does not
  interpret insufficient data as low utilization" [ECS]. A NaN datapoint is "not breaching"
  for **both** alarms, so it breaks a run of high or low datapoints; with fewer published
  periods than an alarm needs, it does not fire.
* The adjustment is computed from the metric and the target in both directions ("calculates
  the scaling adjustment based on the metric and the target value" [TT]):
  ``ceil(current x metric / target)``, where *metric* is the latest datapoint and *current*
  the service's current **desired** count. The ceiling is taken after removing float noise
  below 1e-9, so 10 x 80 / 50 is 16, not 17. Rounding up on scale-in too: the service
  "acts conservatively by rounding up or down ... This prevents it from ... removing too
  much capacity" [ECS].
* Scale-in is gradual [TT: "scales out proportionally to the metric as fast as it can, but
  scales in more gradually"; HOW: "more aggressive in adding capacity when utilization
  increases than it is in removing capacity when utilization decreases"] through its lower
  threshold and slower alarm (parameters, above) and the scale-in cooldown [API]. AWS
  documents no limit on how much one scale-in removes, so by default there is none
  (``scale_in_max_fraction=None``). ``scale_in_max_fraction`` remains as an explicit,
  non-AWS option (a sensitivity knob), never a default.
* Scale-out cooldown (300 s for ECS [API]): "While the cooldown period is in effect, the
  capacity added by the initiating scale-out activity is calculated as part of the desired
  capacity for the next scale-out activity" [API]. Implemented as: the proportional capacity
  is computed from the capacity *before* the scale-out that started the cooldown, and the
  policy scales out further only if that exceeds the capacity it set at its last scale-out
  (and the current desired count), so only the difference is added. *Choice*: a follow-up
  scale-out inside the cooldown does not restart it; the cooldown belongs to the scale-out
  that initiated it.
* Scale-in cooldown (300 s for ECS [API]): "scale-in activities are blocked until the
  cooldown period has expired. However, if another alarm triggers a scale-out activity
  during the scale-in cooldown period, Application Auto Scaling scales out the target
  immediately. In this case, the scale-in cooldown period stops" [API]. A scale-out by
  anyone else (another policy on the service, see :mod:`policies.autoscaling.combine`) is
  seen as the desired count rising above what this policy set at its last scale-in, and ends
  the cooldown too.
* Each cooldown applies to its own direction: [API] defines ScaleOutCooldown as the time
  "after a scale-out activity completes before another scale-out activity can start" and
  ScaleInCooldown likewise for scale-in; no Application Auto Scaling page found says a
  scale-out cooldown blocks scale-in. (Amazon EC2 Auto Scaling does block target tracking and
  step scale-in while a scale-out's instances warm up, "Scaling cooldowns for Amazon EC2 Auto
  Scaling", https://docs.aws.amazon.com/autoscaling/ec2/userguide/Cooldown.html; Application
  Auto Scaling has no warm-up setting and documents no such rule for ECS services.) So with
  20 s metrics a scale-in may follow a scale-out within 300 s, once the scale-in alarm has
  its 15 low datapoints.
* Scale-in never happens with ``disable_scale_in`` [API], nor while a deployment is in
  progress ("Application Auto Scaling turns off scale-in processes while Amazon ECS
  deployments are in progress" [ECS]). Min and max capacity clamp every result.

Scale-in limits (:attr:`TargetTrackingPolicy.scale_in_limits`): the scale-in alarm
(``scale_in_datapoints`` below ``scale_in_ratio x target``) and ``scale_in_cooldown``; no
cap on the size of one scale-in unless ``scale_in_max_fraction`` is set.
"""

from __future__ import annotations

import math

import numpy as np

from policies.base import BasePolicy, clamp
from policies.contract import METRIC_NAMES, Decision, Observation

#: Default target (%) for a utilisation metric: the "CPU utilization of the fleet to stay at
#: around 50 percent" example of [TT] (see the module docstring).
DEFAULT_UTILISATION_TARGET = 50.0

#: Float noise removed before a ceiling (so that 10 x 80 / 50 = 16.000000000000004 is 16).
_EPS = 1e-9


def is_utilisation(metric: str) -> bool:
    """Whether ``metric`` is a percentage (CPU or memory utilisation, any statistic)."""
    return metric.startswith(("CPUUtilization", "MemoryUtilization"))


def ceil_clean(x: float) -> int:
    """``ceil(x)`` ignoring float noise below 1e-9."""
    return int(math.ceil(x - _EPS))


def fmt(x: float) -> str:
    """A number for a reason string: up to 4 significant digits, no trailing zeros."""
    return f"{x:.4g}"


def fmt_values(values: np.ndarray, limit: int = 5) -> str:
    """Datapoints for a reason string; long runs are shortened to min..max."""
    vals = [("nan" if math.isnan(v) else fmt(float(v))) for v in values]
    if len(vals) <= limit:
        return "[" + ", ".join(vals) + "]"
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return f"[{len(vals)} x nan]"
    return f"[{len(vals)} values, min {fmt(float(finite.min()))}, max {fmt(float(finite.max()))}]"


def all_breaching(values: np.ndarray, n: int, above: bool, threshold: float) -> bool:
    """An "n of n" alarm: the last ``n`` datapoints all strictly above (or below) ``threshold``.

    NaN (missing data) is not breaching, and fewer than ``n`` datapoints never fire.
    """
    if len(values) < n:
        return False
    last = values[len(values) - n :]
    with np.errstate(invalid="ignore"):
        hit = last > threshold if above else last < threshold
    return bool(np.all(hit))


class TargetTrackingPolicy(BasePolicy):
    """AWS Application Auto Scaling target tracking for an ECS service.

    See the module docstring for the rules and where each comes from.

    Parameters
    ----------
    metric : str, default "CPUUtilization"
        The tracked metric: "CPUUtilization" (ECSServiceAverageCPUUtilization),
        "MemoryUtilization", "RequestCountPerTarget" (ALBRequestCountPerTarget, a per-period
        sum) or any name in :data:`policies.contract.METRIC_NAMES` (a custom metric).
    target : float or None, default None
        Target value of the metric. None means 50 (%) for a utilisation metric (CPU or memory);
        any other metric has no sensible default and needs an explicit target (ValueError).
    scale_in_ratio : float, default 0.9
        Scale-in threshold as a fraction of the target (AWS: "usually more than 10% lower";
        no exact figure).
    scale_out_datapoints : int, default 3
        Datapoints the scale-out alarm needs above the target ("3 of 3").
    scale_in_datapoints : int, default 15
        Datapoints the scale-in alarm needs below the scale-in threshold ("15 of 15").
    scale_out_cooldown : float, default 300
        ScaleOutCooldown, seconds.
    scale_in_cooldown : float, default 300
        ScaleInCooldown, seconds.
    disable_scale_in : bool, default False
        DisableScaleIn: never remove tasks.
    scale_in_max_fraction : float or None, default None
        None means no cap (the proportional adjustment): AWS documents no cap on one
        scale-in, so this is not an AWS setting. A number caps one scale-in at that fraction
        of the current desired count (at least one task), for sensitivity studies.
    interval : float, default 60
        Seconds between decisions (the alarm evaluation cadence).
    """

    percent_params = {"target": "metric"}  # utilisation % (policies/base.py)

    def __init__(
        self,
        metric: str = "CPUUtilization",
        target: float | None = None,
        scale_in_ratio: float = 0.9,
        scale_out_datapoints: int = 3,
        scale_in_datapoints: int = 15,
        scale_out_cooldown: float = 300.0,
        scale_in_cooldown: float = 300.0,
        disable_scale_in: bool = False,
        scale_in_max_fraction: float | None = None,
        interval: float = 60.0,
    ) -> None:
        self.metric = metric
        self.target = target
        self.scale_in_ratio = scale_in_ratio
        self.scale_out_datapoints = scale_out_datapoints
        self.scale_in_datapoints = scale_in_datapoints
        self.scale_out_cooldown = scale_out_cooldown
        self.scale_in_cooldown = scale_in_cooldown
        self.disable_scale_in = disable_scale_in
        self.scale_in_max_fraction = scale_in_max_fraction
        self.interval = interval

    # -- validation ---------------------------------------------------------------------
    def _validate(self) -> float:
        """Check the parameters; return the target in use."""
        if self.metric not in METRIC_NAMES:
            raise ValueError(
                f"target-tracking: metric {self.metric!r} is unknown; valid metrics: "
                f"{', '.join(METRIC_NAMES)}"
            )
        target = self.target
        if target is None:
            if not is_utilisation(self.metric):
                raise ValueError(
                    f"target-tracking: metric {self.metric!r} is not a utilisation, so target "
                    "has no default; give target (the metric value per task to hold)"
                )
            target = DEFAULT_UTILISATION_TARGET
        target = float(target)
        if not (math.isfinite(target) and target > 0):
            raise ValueError(f"target-tracking: target must be a number > 0, got {self.target!r}")
        if not (0 < float(self.scale_in_ratio) <= 1):
            raise ValueError(
                f"target-tracking: scale_in_ratio must be in (0, 1], got {self.scale_in_ratio!r}"
            )
        for name in ("scale_out_datapoints", "scale_in_datapoints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"target-tracking: {name} must be an integer >= 1, got {value!r}")
        for name in ("scale_out_cooldown", "scale_in_cooldown"):
            value = getattr(self, name)
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"target-tracking: {name} must be >= 0 seconds, got {value!r}")
        frac = self.scale_in_max_fraction
        if frac is not None and not (0 < float(frac) <= 1):
            raise ValueError(
                f"target-tracking: scale_in_max_fraction must be None or in (0, 1], got {frac!r}"
            )
        if not (math.isfinite(float(self.interval)) and float(self.interval) > 0):
            raise ValueError(
                f"target-tracking: interval must be > 0 seconds, got {self.interval!r}"
            )
        return target

    @property
    def scale_in_limits(self) -> str:
        """The scale-in limits this policy applies, and their source (for reports)."""
        threshold = (
            f"{self.scale_in_ratio:g} x target"
            if self.target is None
            else f"{float(self.scale_in_ratio) * float(self.target):g}"
        )
        cap = (
            "no cap on one scale-in (AWS documents none)"
            if self.scale_in_max_fraction is None
            else f"at most {float(self.scale_in_max_fraction):.0%} of the tasks per scale-in "
            "(not an AWS setting)"
        )
        return (
            f"scale-in alarm {self.scale_in_datapoints} datapoints below {threshold}; "
            f"scale-in cooldown {float(self.scale_in_cooldown):g} s; {cap}"
            + ("; scale-in disabled" if self.disable_scale_in else "")
        )

    def vetoes_scale_in(self) -> bool:
        """Whether this policy, when it does not scale in, blocks a scale-in by another policy
        on the service (:mod:`policies.autoscaling.combine`): yes unless ``disable_scale_in``
        (AWS: scale in only if all target tracking policies with scale-in enabled are ready)."""
        return not self.disable_scale_in

    # -- the decision -------------------------------------------------------------------
    def decide(self, observation: Observation) -> Decision:
        target = self._validate()
        obs = observation
        now, desired = float(obs.time), int(obs.desired)
        lo, hi = obs.min_tasks, obs.max_tasks
        values = obs.metrics[self.metric]
        period = fmt(float(obs.metrics.period_s))
        name = self.metric
        n_out, n_in = int(self.scale_out_datapoints), int(self.scale_in_datapoints)
        threshold_in = float(self.scale_in_ratio) * target
        notes: list[str] = []

        # A scale-out by anyone (desired above what this policy's last scale-in set) ends the
        # scale-in cooldown early.
        in_set = getattr(self, "scale_in_set_", None)
        if in_set is not None and desired > in_set:
            self.scale_in_time_ = None
            self.scale_in_set_ = None
            notes.append(f"desired {desired} > {in_set} set at the last scale-in: cooldown ended")

        # -- scale-out alarm ----------------------------------------------------------------
        if all_breaching(values, n_out, True, target):
            latest = float(values[-1])
            shown = fmt_values(values[len(values) - n_out :])
            head = (
                f"target-tracking: {name} {n_out} of {n_out} {period}s datapoints {shown} "
                f"> target {fmt(target)}"
            )
            out_time = getattr(self, "scale_out_time_", None)
            in_cooldown = out_time is not None and now - out_time < float(self.scale_out_cooldown)
            if in_cooldown:
                base = int(self.scale_out_base_)
                floor = max(int(self.scale_out_set_), desired)
                where = (
                    f"in scale-out cooldown ({fmt(now - out_time)}s of "
                    f"{fmt(float(self.scale_out_cooldown))}s), from the capacity {base} before it"
                )
            else:
                base, floor, where = desired, desired, "from the current desired count"
            want = ceil_clean(base * latest / target)
            new = clamp(want, lo, hi)
            arith = f"ceil({base} x {fmt(latest)} / {fmt(target)}) = {want}"
            if new != want:
                arith += f", clamped to [{lo}, {hi}] = {new}"
            if new > floor:
                if not in_cooldown:
                    self.scale_out_time_ = now
                    self.scale_out_base_ = desired
                self.scale_out_set_ = new
                if getattr(self, "scale_in_time_", None) is not None:
                    notes.append("scale-out ends the scale-in cooldown")
                self.scale_in_time_ = None
                self.scale_in_set_ = None
                return Decision(
                    new, _join(f"{head}; {where}: {arith}; scale out {desired} -> {new}", notes)
                )
            return Decision(
                None,
                _join(f"{head}; {where}: {arith}, not above {floor}: no change", notes),
            )

        # -- scale-in alarm -----------------------------------------------------------------
        if all_breaching(values, n_in, False, threshold_in):
            latest = float(values[-1])
            shown = fmt_values(values[len(values) - n_in :])
            head = (
                f"target-tracking: {name} {n_in} of {n_in} {period}s datapoints {shown} "
                f"< scale-in threshold {fmt(self.scale_in_ratio)} x {fmt(target)} = "
                f"{fmt(threshold_in)}"
            )
            if self.disable_scale_in:
                return Decision(None, _join(f"{head}; scale-in disabled: no change", notes))
            if obs.deployment.in_progress:
                return Decision(
                    None, _join(f"{head}; deployment in progress: scale-in suspended", notes)
                )
            in_time = getattr(self, "scale_in_time_", None)
            if in_time is not None and now - in_time < float(self.scale_in_cooldown):
                return Decision(
                    None,
                    _join(
                        f"{head}; in scale-in cooldown ({fmt(now - in_time)}s of "
                        f"{fmt(float(self.scale_in_cooldown))}s): no change",
                        notes,
                    ),
                )
            prop = ceil_clean(desired * latest / target)
            arith = f"ceil({desired} x {fmt(latest)} / {fmt(target)}) = {prop}"
            want = prop
            frac = self.scale_in_max_fraction
            if frac is not None:
                step = max(1, int(math.floor(float(frac) * desired + _EPS)))
                want = max(prop, desired - step)
                arith = (
                    f"max({arith}, {desired} - max(1, floor({fmt(float(frac))} x {desired}))"
                    f" = {desired - step}) = {want}"
                )
            new = clamp(want, lo, hi)
            if new != want:
                arith += f", clamped to [{lo}, {hi}] = {new}"
            if new < desired:
                self.scale_in_time_ = now
                self.scale_in_set_ = new
                self.scale_out_time_ = None  # a scale-in supersedes an earlier scale-out cooldown
                return Decision(new, _join(f"{head}: {arith}; scale in {desired} -> {new}", notes))
            return Decision(None, _join(f"{head}: {arith}, not below {desired}: no change", notes))

        # -- no alarm -----------------------------------------------------------------------
        return Decision(
            None,
            _join(
                f"target-tracking: {name} no alarm: last {n_out} {period}s datapoints "
                f"{fmt_values(values[max(0, len(values) - n_out) :])} not all > target "
                f"{fmt(target)}, last {n_in} not all < {fmt(threshold_in)}",
                notes,
            ),
        )


def _join(reason: str, notes: list[str]) -> str:
    return reason if not notes else f"{reason} ({'; '.join(notes)})"
