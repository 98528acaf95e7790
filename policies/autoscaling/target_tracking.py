"""AWS Application Auto Scaling target tracking, as it behaves for an ECS service.

Every rule and default here comes from /work/shared/reference/autoscaling.md, section "AWS
Application Auto Scaling, target tracking", unless it is marked *choice* (the reference and
AWS are silent; the rule is then a parameter or stated here):

* Two CloudWatch alarms. Scale-out: the last ``scale_out_datapoints`` (3) published periods
  all **above** the target. Scale-in: the last ``scale_in_datapoints`` (15) all **below** the
  scale-in threshold ``scale_in_ratio x target`` (0.9 x target, "about 10% below").
  A datapoint is one published metric period, ``observation.metrics.period_s`` long (60 s,
  or 20 s with high-resolution metrics), so "3 of 3" is the last three published periods.
* Missing data never counts as low load (reference). *Choice*: a NaN datapoint is "not
  breaching" for **both** alarms, so it breaks a run of high or low datapoints; with fewer
  published periods than an alarm needs, it does not fire. (AWS's default treatment of missing
  data keeps an alarm in its current state; treating NaN as not breaching is the conservative
  reading for a simulator that starts with no alarm state, and it never scales on a gap.)
* Scale-out capacity is proportional: ``ceil(current x metric / target)``, where *metric* is
  the latest datapoint and *current* the service's current **desired** count (the capacity
  Application Auto Scaling manages for ECS is the service's DesiredCount). The ceiling is taken
  after removing float noise below 1e-9, so 10 x 80 / 50 is 16, not 17.
* Scale-out cooldown (300 s): while it runs, "capacity already added counts towards the next
  scale-out" (reference; AWS: "the capacity added by the initiating scale-out activity is
  calculated as part of the desired capacity for the next scale-out"). Implemented as: the
  proportional capacity is computed from the capacity *before* the scale-out that started the
  cooldown, and the policy scales out further only if that exceeds the capacity it set at its
  last scale-out (and the current desired count), so only the difference is added.
  *Choice*: a follow-up scale-out inside the cooldown does not restart it; the cooldown
  belongs to the scale-out that initiated it.
* A scale-out ends a scale-in cooldown early (reference). A scale-out by anyone else (another
  policy on the service, see :mod:`policies.autoscaling.combine`) is seen as the desired count
  rising above what this policy set at its last scale-in, and ends the cooldown too.
* Scale-in is conservative (reference: "scale out fast, scale in gradually"). *Choice*:
  ``new = max(ceil(current x metric / target), current - max(1, floor(scale_in_max_fraction x
  current)))``: proportional, but removing at most 10% of the tasks (at least one) per
  scale-in; with the 15-datapoint alarm and the 300 s scale-in cooldown a large drop is
  followed down in 10% steps every 5 minutes while the alarm stays in ALARM (CloudWatch
  re-invokes an Auto Scaling action every period the alarm stays in ALARM).
  ``scale_in_max_fraction=None`` gives plain proportional scale-in.
* Scale-in happens only outside the scale-in cooldown (300 s), never with
  ``disable_scale_in``, and never while a deployment is in progress (reference). The scale-out
  cooldown does not block scale-in (AWS: each cooldown applies to its own direction).
* Min and max capacity clamp every result (reference).
"""

from __future__ import annotations

import math

import numpy as np

from policies.base import METRIC_NAMES, BasePolicy, Decision, Observation, clamp

#: Default target (%) for a utilisation metric: the "CPU 50%" example of the reference
#: (/work/shared/reference/autoscaling.md, "AWS predictive scaling", metric pairs).
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
        sum) or any name in :data:`policies.base.METRIC_NAMES` (a custom metric).
    target : float or None, default None
        Target value of the metric. None means 50 (%) for a utilisation metric (CPU or memory);
        any other metric has no sensible default and needs an explicit target (ValueError).
    scale_in_ratio : float, default 0.9
        Scale-in threshold as a fraction of the target (reference: "about 10% below target").
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
    scale_in_max_fraction : float or None, default 0.1
        *Choice* (the reference only says "conservative"): the largest fraction of the current
        desired count one scale-in removes (at least one task). None: plain proportional.
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
        scale_in_max_fraction: float | None = 0.1,
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
