"""The Kubernetes Horizontal Pod Autoscaler, driving an ECS service.

Follows the controller source of Kubernetes v1.31 (tag ``v1.31.0``),
``pkg/controller/podautoscaler/replica_calculator.go`` and ``horizontal.go``
(https://github.com/kubernetes/kubernetes/tree/v1.31.0/pkg/controller/podautoscaler), with
the defaults of the HPA documentation
(https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/) and of
``kube-controller-manager`` (``--horizontal-pod-autoscaler-sync-period`` 15 s,
``--horizontal-pod-autoscaler-tolerance`` 0.1):

- sync every 15 s (``interval``); ``desired = ceil(current x currentMetric / targetMetric)``;
- tolerance 0.1: no change while the ratio is within [0.9, 1.1];
- scale-down stabilisation window 300 s (the highest recommendation of the window wins),
  scale-up window 0 s (the lowest recommendation of the window wins);
- default rate policies: scale up by the larger of +100 % or +4 pods per 15 s
  (``selectPolicy: Max``), scale down by up to 100 % per 15 s;
- not-ready pods count as 0 % on scale-up; pods with missing metrics count as
  ``max(100 %, target)`` of their request on scale-down (``GetResourceReplicas``:
  ``fallbackUtilization := int64(max(100, targetUtilization))``, since kubernetes PR #112178,
  v1.26) and 0 % on scale-up; if that reverses the direction of the change or brings the
  ratio within the tolerance, nothing changes;
- the controller records the current replica count as a recommendation the first time it
  reconciles an HPA (``recordInitialRecommendation``, called from ``reconcileAutoscaler``
  before any metric is read), so the first scale-down after an HPA is created, or after
  ``kube-controller-manager`` restarts, waits the scale-down stabilisation window. A fresh
  (or reset) :class:`HpaPolicy` does the same at its first decision.

The arithmetic follows the controller's own (``replica_calculator.go`` and
``horizontal.go``): :func:`replica_recommendation` is ``GetResourceReplicas``,
:func:`stabilise` is ``stabilizeRecommendationWithBehaviors`` and :func:`rate_limit` is
``convertDesiredReplicasWithBehaviorRate``. Unlike the controller (DESIGN.md, convention 2),
every timestamp comes from ``observation.time``.

Mapping per-pod rules onto a fleet average
------------------------------------------
The HPA reads one metric per pod; an ECS service publishes one CloudWatch average over its
running tasks per period, plus task counts. The policy uses the latest published
datapoint of ``metric`` (period ``i``) and maps tasks onto the HPA's pod groups as follows.

``CPUUtilization`` (the HPA checks readiness for CPU only):

- *ready pods with a metric*: ``min(healthy, floor(H_i))`` tasks, where ``H_i`` is the
  period's ``HealthyHostCount`` (its mean number of tasks serving behind the load balancer)
  and ``healthy`` the observation's current count. Their average is derived from the fleet
  average ``u``, taking running tasks that were not yet healthy to carry no load (they
  receive no traffic): ``u_ready = min(100, u x max(R, H_i) / H_i)``. ``R`` stands for the
  mean number of running tasks the average was taken over, which CloudWatch does not
  publish; ``RunningTaskCount`` is a count at the end of each period, so
  ``R = min(R_(i-1), R_i)``, the count at the period's start or end, whichever is lower.
  That errs towards a lower ready average: tasks that start running late in a period
  would otherwise inflate it (a 4-task fleet at 75 % whose 2 new tasks run for the last
  second of the period would read 110 % on the ready ones and overshoot). A Fargate task's
  CPU cannot exceed 100 %.
- *pods with missing metrics*: ``healthy - min(healthy, floor(H_i))``, tasks that are ready
  now but were not serving in the datapoint's period (their CPU is not in ``u_ready``).
- *not-ready pods*: ``(running - healthy) + pending + max(0, desired - running - pending)``:
  tasks started but not yet healthy, tasks still provisioning, and tasks ECS has not yet
  launched (a Deployment creates its Pending pods at once; ECS launches them over time).

``MemoryUtilization`` (no readiness check in the HPA): every running task is a ready pod
with a metric (``u_ready = u``) if it was running in the period (``min(running,
floor(R))``), otherwise its metric is missing; pending and unlaunched tasks are not-ready.

When the period's counts are missing (NaN) the current counts stand in for them. No
published datapoint, or no ready task with a metric, means no action (as the HPA, which
reports "did not receive metrics for targeted pods" and does not scale).
``current`` is the desired count (the HPA's ``spec.replicas``); the first branch of the
calculation multiplies by the number of ready pods with a metric, as the controller does.

Choices where the controller has no counterpart: the ratio test is inclusive with a 1e-9
slack (so that 55/50 = 1.1000000000000001 counts as within [0.9, 1.1]); the utilisation is
not truncated to a whole percent as the controller's integer arithmetic does.

Scale-in limits (:attr:`HpaPolicy.scale_in_limits`): the scale-down stabilisation window
and the scale-down rate policy, both Kubernetes' documented defaults.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from policies.base import BasePolicy
from policies.contract import Decision, Observation

#: Resource metrics the HPA can read from an ECS service's CloudWatch averages.
HPA_METRICS: tuple[str, ...] = ("CPUUtilization", "MemoryUtilization")

_EPS = 1e-9


@dataclass(frozen=True)
class PodGroups:
    """The HPA's view of the fleet: ready pods with a metric, not-ready and missing pods."""

    ready: int
    ready_value: float
    unready: int
    missing: int


@dataclass(frozen=True)
class Recommendation:
    """``GetResourceReplicas``' answer: the count and how it was reached."""

    replicas: int
    usage_ratio: float
    reason: str


def _within(ratio: float, tolerance: float) -> bool:
    return abs(1.0 - ratio) <= tolerance + _EPS


def replica_recommendation(
    current: int, groups: PodGroups, target: float, tolerance: float
) -> Recommendation:
    """The replica count the metric asks for (Kubernetes' ``GetResourceReplicas``).

    Parameters
    ----------
    current : int
        The current desired count (``spec.replicas``), returned when nothing should change.
    groups : PodGroups
        Ready pods with a metric (and their average), not-ready pods, pods without metrics.
    target : float
        The target average value (e.g. 50 for 50 % CPU).
    tolerance : float
        No change while ``|1 - ratio| <= tolerance``.
    """
    n, u = groups.ready, groups.ready_value
    ratio = u / target
    head = f"{u:.1f}/{target:g} = ratio {ratio:.3f} over {n} ready"
    scale_up_with_unready = groups.unready > 0 and ratio > 1.0
    if not scale_up_with_unready and groups.missing == 0:
        if _within(ratio, tolerance):
            return Recommendation(current, ratio, f"{head}: within tolerance {tolerance:g}")
        want = math.ceil(ratio * n - _EPS)
        return Recommendation(want, ratio, f"{head}: ceil({n} x {ratio:.3f}) = {want}")
    total, count = u * n, n
    notes = []
    if groups.missing > 0:
        if ratio < 1.0:
            # GetResourceReplicas: "on a scale-down, treat missing pods as using 100% (all)
            # of the resource request or the utilization target for targets higher than 100%"
            fallback = max(100.0, target)
            total += fallback * groups.missing
            count += groups.missing
            notes.append(f"{groups.missing} missing at {fallback:g}%")
        elif ratio > 1.0:
            count += groups.missing
            notes.append(f"{groups.missing} missing at 0")
    if scale_up_with_unready:
        count += groups.unready
        notes.append(f"{groups.unready} not ready at 0")
    new_ratio = total / (target * count)
    head += f"; with {', '.join(notes)}: ratio {new_ratio:.3f} over {count}"
    if _within(new_ratio, tolerance):
        return Recommendation(current, ratio, f"{head}: within tolerance {tolerance:g}")
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Recommendation(current, ratio, f"{head}: reverses direction, no change")
    want = math.ceil(new_ratio * count - _EPS)
    if (new_ratio < 1.0 and want > current) or (new_ratio > 1.0 and want < current):
        return Recommendation(current, ratio, f"{head}: ceil = {want} reverses direction")
    return Recommendation(want, ratio, f"{head}: ceil({count} x {new_ratio:.3f}) = {want}")


def stabilise(
    current: int,
    recommendation: int,
    history: list[tuple[float, int]],
    now: float,
    up_window: float,
    down_window: float,
) -> tuple[int, str]:
    """Kubernetes' ``stabilizeRecommendationWithBehaviors`` (without recording).

    ``history`` holds earlier (time, recommendation) pairs; those strictly newer than
    ``now - window`` count, and so does ``recommendation``. The result is ``current`` raised
    to the lowest recommendation of the scale-up window if below it, or lowered to the
    highest of the scale-down window if above it.
    """
    up = down = recommendation
    for t, rec in history:
        if t > now - up_window:
            up = min(up, rec)
        if t > now - down_window:
            down = max(down, rec)
    result = current
    if result < up:
        result = up
    if result > down:
        result = down
    if result == recommendation:
        return result, f"stabilised {result}"
    if result == down:
        return result, f"stabilised {result} (highest recommendation of the last {down_window:g} s)"
    if result == up:
        return result, f"stabilised {result} (lowest recommendation of the last {up_window:g} s)"
    return result, f"stabilised {result} (the current count, within the windows' [{up}, {down}])"


def _changed_since(events: list[tuple[float, int]], now: float, period: float) -> int:
    return sum(change for t, change in events if t > now - period)


def rate_limit(
    current: int,
    desired: int,
    lo: int,
    hi: int,
    up_events: list[tuple[float, int]],
    down_events: list[tuple[float, int]],
    now: float,
    up_percent: float,
    up_pods: int,
    up_period: float,
    down_percent: float,
    down_period: float,
) -> tuple[int, str]:
    """Kubernetes' ``convertDesiredReplicasWithBehaviorRate`` with ``selectPolicy: Max``.

    The limits are measured from the count at the start of each policy's period:
    ``current - added + removed`` within it.
    """
    if desired > current:
        added = _changed_since(up_events, now, up_period)
        removed = _changed_since(down_events, now, up_period)
        base = current - added + removed
        by_percent = math.ceil(base * (1 + up_percent / 100.0) - _EPS)
        by_pods = base + up_pods
        limit = max(by_percent, by_pods, current)
        note = (
            f"scale-up limit max(+{up_percent:g}% -> {by_percent}, +{up_pods} -> {by_pods}) "
            f"from {base} in {up_period:g} s"
        )
        if hi <= limit:
            if desired > hi:
                return hi, f"{note}; max_tasks {hi}"
            return desired, note
        if desired > limit:
            return limit, f"{note}: limited to {limit}"
        return desired, note
    if desired < current:
        added = _changed_since(up_events, now, down_period)
        removed = _changed_since(down_events, now, down_period)
        base = current - added + removed
        limit = min(int(math.floor(base * (1 - down_percent / 100.0) + _EPS)), current)
        note = f"scale-down limit -{down_percent:g}% -> {limit} from {base} in {down_period:g} s"
        if lo >= limit:
            if desired < lo:
                return lo, f"{note}; min_tasks {lo}"
            return desired, note
        if desired < limit:
            return limit, f"{note}: limited to {limit}"
        return desired, note
    return desired, "no change"


class HpaPolicy(BasePolicy):
    """The Kubernetes HPA algorithm with its default behaviour, on an ECS service's metrics.

    Parameters
    ----------
    metric : str, default "CPUUtilization"
        ``CPUUtilization`` or ``MemoryUtilization`` (the HPA's resource metrics; the ECS
        service averages, in %).
    target : float, default 50
        Target average utilisation (%). Kubernetes' ``averageUtilization`` is chosen by the
        user; 50 is the value of the kubernetes.io HPA walkthrough.
    tolerance : float, default 0.1
        No change while the ratio metric/target is within [1 - tolerance, 1 + tolerance]
        (Kubernetes default).
    interval : float, default 15
        Sync period, seconds between decisions (Kubernetes default).
    scale_down_stabilization : float, default 300
        Seconds of past recommendations whose highest bounds a scale-down (Kubernetes default).
    scale_up_stabilization : float, default 0
        Seconds of past recommendations whose lowest bounds a scale-up (Kubernetes default).
    scale_up_percent : float, default 100
        Scale-up policy: at most this % more pods per ``scale_up_period`` (Kubernetes default).
    scale_up_pods : int, default 4
        Scale-up policy: at most this many more pods per ``scale_up_period``; the larger of
        the two policies applies (``selectPolicy: Max``, Kubernetes default).
    scale_up_period : float, default 15
        Period (s) of both scale-up policies (Kubernetes default).
    scale_down_percent : float, default 100
        Scale-down policy: at most this % fewer pods per ``scale_down_period`` (Kubernetes default).
    scale_down_period : float, default 15
        Period (s) of the scale-down policy (Kubernetes default).

    ``min_tasks``/``max_tasks`` come from the observation (the HPA's minReplicas and
    maxReplicas).

    A fresh or reset policy starts with the current desired count as its only past
    recommendation (the controller's ``recordInitialRecommendation``): it does not scale
    down before ``scale_down_stabilization`` seconds have passed since its first decision.
    """

    percent_params = {"target": "metric"}  # utilisation % (policies/base.py)

    @property
    def scale_in_limits(self) -> str:
        """The scale-in limits this policy applies, and their source (for reports)."""
        return (
            f"scale-down stabilisation window {self.scale_down_stabilization:g} s (highest "
            f"recommendation wins, the first one the count at start); at most "
            f"{self.scale_down_percent:g}% removed per {self.scale_down_period:g} s "
            "(Kubernetes HPA defaults, horizontal.go v1.31)"
        )

    def __init__(
        self,
        metric: str = "CPUUtilization",
        target: float = 50.0,
        tolerance: float = 0.1,
        interval: float = 15.0,
        scale_down_stabilization: float = 300.0,
        scale_up_stabilization: float = 0.0,
        scale_up_percent: float = 100.0,
        scale_up_pods: int = 4,
        scale_up_period: float = 15.0,
        scale_down_percent: float = 100.0,
        scale_down_period: float = 15.0,
    ) -> None:
        self.metric = metric
        self.target = target
        self.tolerance = tolerance
        self.interval = interval
        self.scale_down_stabilization = scale_down_stabilization
        self.scale_up_stabilization = scale_up_stabilization
        self.scale_up_percent = scale_up_percent
        self.scale_up_pods = scale_up_pods
        self.scale_up_period = scale_up_period
        self.scale_down_percent = scale_down_percent
        self.scale_down_period = scale_down_period

    # -- validation -----------------------------------------------------------------------
    def _validate(self) -> None:
        if self.metric not in HPA_METRICS:
            raise ValueError(f"hpa: metric must be one of {HPA_METRICS}, got {self.metric!r}")

        def number(name: str, ok, rule: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not ok(v):
                raise ValueError(f"hpa: {name} must be {rule}, got {v!r}")

        number("target", lambda v: v > 0, "> 0")
        number("tolerance", lambda v: 0 <= v < 1, "in [0, 1)")
        number("interval", lambda v: v > 0, "> 0 s")
        number("scale_down_stabilization", lambda v: v >= 0, ">= 0 s")
        number("scale_up_stabilization", lambda v: v >= 0, ">= 0 s")
        number("scale_up_percent", lambda v: v >= 0, ">= 0")
        number("scale_up_period", lambda v: v > 0, "> 0 s")
        number("scale_down_percent", lambda v: 0 <= v <= 100, "in [0, 100]")
        number("scale_down_period", lambda v: v > 0, "> 0 s")
        v = self.scale_up_pods
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"hpa: scale_up_pods must be an integer >= 0, got {v!r}")

    # -- the observation as pod groups ----------------------------------------------------
    def _datapoint(self, observation: Observation) -> tuple[int, float] | None:
        """The latest published (non-NaN) datapoint of the metric: (period index, value)."""
        values = observation.metrics[self.metric]
        for i in range(len(values) - 1, -1, -1):
            v = float(values[i])
            if not math.isnan(v):
                return i, v
        return None

    def pod_groups(self, observation: Observation, index: int, value: float) -> PodGroups:
        """Map the fleet average of period ``index`` and the counts onto the HPA's pods."""
        obs = observation
        unlaunched = max(0, obs.desired - obs.running - obs.pending)

        def period_count(name: str, fallback: float, at: int = index) -> float:
            col = obs.metrics.columns.get(name)
            if col is None or at >= len(col) or math.isnan(col[at]):
                return float(fallback)
            return float(col[at])

        def period_count_at(at: int, fallback: float) -> float:
            return period_count("RunningTaskCount", fallback, at)

        running_p = period_count("RunningTaskCount", obs.running)
        if index > 0:  # the count at the period's start, if lower (see the module docstring)
            running_p = min(running_p, period_count_at(index - 1, running_p))
        if self.metric == "CPUUtilization":
            healthy_p = period_count("HealthyHostCount", obs.healthy)
            with_metric = min(obs.healthy, math.floor(healthy_p + _EPS))
            ready_value = 0.0
            if healthy_p > 0:
                ready_value = min(100.0, value * max(running_p, healthy_p) / healthy_p)
            return PodGroups(
                ready=with_metric,
                ready_value=ready_value,
                unready=max(0, obs.running - obs.healthy) + obs.pending + unlaunched,
                missing=obs.healthy - with_metric,
            )
        with_metric = min(obs.running, math.floor(running_p + _EPS))
        return PodGroups(
            ready=with_metric,
            ready_value=value,
            unready=obs.pending + unlaunched,
            missing=obs.running - with_metric,
        )

    # -- decide ---------------------------------------------------------------------------
    def decide(self, observation: Observation) -> Decision:
        self._validate()
        obs = observation
        now = float(obs.time)
        current, lo, hi = obs.desired, obs.min_tasks, obs.max_tasks
        if getattr(self, "recommendations_", None) is None:
            # horizontal.go, recordInitialRecommendation: the first reconcile of an HPA
            # records the current replica count as a recommendation, so the first scale-down
            # waits the stabilisation window.
            self.recommendations_ = [(now, current)]
        if current == 0:
            return Decision(
                None, "hpa: desired count is 0, autoscaling disabled (as in Kubernetes)"
            )
        if current > hi:
            return self._apply(now, current, hi, f"hpa: desired {current} above max_tasks {hi}")
        if current < lo:
            return self._apply(now, current, lo, f"hpa: desired {current} below min_tasks {lo}")
        point = self._datapoint(obs)
        if point is None:
            return Decision(None, f"hpa: no {self.metric} datapoint published yet, no action")
        index, value = point
        period_end = float(obs.metrics.start[index] + obs.metrics.period_s)
        groups = self.pod_groups(obs, index, value)
        if groups.ready <= 0:
            return Decision(
                None,
                f"hpa: {self.metric} {value:.1f} (period ending {period_end:g} s) but no ready "
                f"task with a metric ({groups.unready} not ready, {groups.missing} missing), "
                "no action",
            )
        rec = replica_recommendation(current, groups, float(self.target), float(self.tolerance))
        history = self._prune_history(now)
        stable, why_stable = stabilise(
            current,
            rec.replicas,
            history,
            now,
            float(self.scale_up_stabilization),
            float(self.scale_down_stabilization),
        )
        history.append((now, rec.replicas))
        desired, why_rate = rate_limit(
            current,
            stable,
            lo,
            hi,
            getattr(self, "up_events_", []),
            getattr(self, "down_events_", []),
            now,
            float(self.scale_up_percent),
            int(self.scale_up_pods),
            float(self.scale_up_period),
            float(self.scale_down_percent),
            float(self.scale_down_period),
        )
        reason = (
            f"hpa: {self.metric} {value:.1f}% (period ending {period_end:g} s; ready avg "
            f"{rec.reason}); recommend {rec.replicas}; {why_stable}; {why_rate}"
        )
        return self._apply(now, current, desired, reason)

    def _prune_history(self, now: float) -> list[tuple[float, int]]:
        keep = max(float(self.scale_up_stabilization), float(self.scale_down_stabilization))
        history = [(t, r) for t, r in getattr(self, "recommendations_", []) if t > now - keep]
        self.recommendations_ = history
        return history

    def _apply(self, now: float, current: int, desired: int, reason: str) -> Decision:
        """Record the scale event (for the rate limits) and build the decision."""
        if desired == current:
            return Decision(None, f"{reason} -> keep {current}")
        keep = max(float(self.scale_up_period), float(self.scale_down_period))
        up = [(t, c) for t, c in getattr(self, "up_events_", []) if t > now - keep]
        down = [(t, c) for t, c in getattr(self, "down_events_", []) if t > now - keep]
        if desired > current:
            up.append((now, desired - current))
        else:
            down.append((now, current - desired))
        self.up_events_, self.down_events_ = up, down
        return Decision(desired, f"{reason} -> {current} to {desired}")
