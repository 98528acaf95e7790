"""A scenario's autoscaler as native AWS configuration, and back.

:func:`export_requests` turns a scenario's ``[service]`` range and ``[autoscaler]`` into
Application Auto Scaling (and CloudWatch) requests, where AWS can run the policy itself
(Application Auto Scaling API reference,
https://docs.aws.amazon.com/autoscaling/application/APIReference/):

- RegisterScalableTarget (MinCapacity, MaxCapacity) for ``ecs:service:DesiredCount``;
- ``target-tracking``: PutScalingPolicy TargetTrackingScaling on the predefined metric
  (PredefinedMetricSpecification): ECSServiceAverageCPUUtilization,
  ECSServiceAverageMemoryUtilization, their ``HighResolution`` variants when the scenario's
  metric period is 20 s, or ALBRequestCountPerTarget (with its ResourceLabel);
- ``step``: PutScalingPolicy StepScaling and the CloudWatch alarm that triggers it
  (PutMetricAlarm, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html),
  missing data not breaching, as the simulated policy reads NaN;
- ``predictive``: PutScalingPolicy PredictiveScaling with a predefined metric pair
  (ECSServiceCPUUtilization, ECSServiceMemoryUtilization, ALBRequestCount) or a load and a
  scaling metric;
- ``scheduled``: PutScheduledAction per action;
- ``combined``: each member, on the same scalable target, which is how AWS combines them;
- ``static``: the scalable target only;
- a ``[rollout]`` section: UpdateService with the strategy's native ``deploymentConfiguration``
  (backends/ecs_deploy.py; ECS API reference,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html), after
  the scaling requests. An ``[analysis]`` method has no native equivalent (ECS rolls back on
  its circuit breaker and on CloudWatch alarms given by name) and is refused, with what is
  and is not exported.

Policies AWS cannot run (``reactive``, ``hpa``, ``learned``, ``oracle``) are refused with a
message naming ``fargate-lab ecs run``. Parameters that model how AWS behaves rather than
configure it (target tracking's alarm datapoints and scale-in ratio, the predictive
forecaster's internals, a policy's evaluation interval) are not sent; :func:`export_requests`
lists those that differ from their defaults as notes.

Names are ``fargate-lab-NN-<kind>`` (NN the member's position), so
:func:`import_scenario` reads them back in order: export, import and export again gives the
same requests.
"""

from __future__ import annotations

from typing import Any

from backends.aws import AwsClients, AwsError, InputError, Request
from backends.ecs import ServiceRef, describe_service, target_group_dims
from backends.ecs_deploy import native_configuration
from backends.ecs_validate import check_range

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
PREFIX = "fargate-lab"

NOT_NATIVE = ("reactive", "hpa", "learned", "oracle")

TT_METRICS: dict[tuple[str, int], str] = {
    ("CPUUtilization", 60): "ECSServiceAverageCPUUtilization",
    ("CPUUtilization", 20): "ECSServiceAverageCPUUtilizationHighResolution",
    ("MemoryUtilization", 60): "ECSServiceAverageMemoryUtilization",
    ("MemoryUtilization", 20): "ECSServiceAverageMemoryUtilizationHighResolution",
    ("RequestCountPerTarget", 60): "ALBRequestCountPerTarget",
}
PAIRS = {
    ("CPUUtilization", "CPUUtilization"): "ECSServiceCPUUtilization",
    ("MemoryUtilization", "MemoryUtilization"): "ECSServiceMemoryUtilization",
    ("RequestCount", "RequestCountPerTarget"): "ALBRequestCount",
}
PREDICTIVE_LOAD = {
    "CPUUtilization": "ECSServiceTotalCPUUtilization",
    "MemoryUtilization": "ECSServiceTotalMemoryUtilization",
    "RequestCount": "TotalALBRequestCount",
}
PREDICTIVE_SCALING = {
    "CPUUtilization": "ECSServiceAverageCPUUtilization",
    "MemoryUtilization": "ECSServiceAverageMemoryUtilization",
    "RequestCountPerTarget": "ALBRequestCountPerTarget",
}
STEP_NAMESPACES = {"CPUUtilization": "AWS/ECS", "MemoryUtilization": "AWS/ECS"}
COMPARISON_OPS = {"greater": "GreaterThanThreshold", "less": "LessThanThreshold"}

#: Parameters that model AWS (not sent), per policy.
MODEL_PARAMS = {
    "target-tracking": (
        "scale_in_ratio",
        "scale_out_datapoints",
        "scale_in_datapoints",
        "interval",
    ),
    "step": ("interval",),
    "predictive": (
        "min_history",
        "history_window",
        "forecast_horizon",
        "refresh",
        "seasonality",
        "interval",
    ),
    "scheduled": ("start", "interval"),
    "static": ("interval",),
}


class ExportError(InputError):
    """A scenario AWS cannot run natively, or cannot be written back as a scenario."""


def not_native_message(name: str) -> str:
    return (
        f"policy {name!r} has no native AWS equivalent, so it cannot be exported; run it live "
        "against the service with `fargate-lab ecs run --scenario FILE`"
    )


def _members(scenario: Any) -> list[tuple[str, dict[str, Any]]]:
    from policies.autoscaling.combine import DEFAULT_MEMBERS

    name, params = scenario.autoscaler.policy, dict(scenario.autoscaler.params)
    if name != "combined":
        return [(name, params)]
    specs = params.get("policies", DEFAULT_MEMBERS)
    out = []
    for spec in specs:
        spec = dict(spec)
        out.append((spec.pop("policy"), spec))
    return out


def _base(ref: ServiceRef) -> dict[str, Any]:
    return {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": ref.resource_id,
        "ScalableDimension": DIMENSION,
    }


def needs_load_balancer(scenario: Any) -> bool:
    """Whether exporting the scenario needs the service's target group (a ResourceLabel)."""
    from policies import registry

    for name, params in _members(scenario):
        if name not in ("target-tracking", "predictive"):
            continue
        p = {**registry.defaults(name), **params}
        if name == "target-tracking" and p["metric"] == "RequestCountPerTarget":
            return True
        if name == "predictive" and "Request" in p["load_metric"] + p["scaling_metric"]:
            return True
    return False


def resource_label(clients: AwsClients, ref: ServiceRef) -> str:
    """``app/<lb>/<id>/targetgroup/<tg>/<id>`` of the service's target group (reads)."""
    dims = target_group_dims(clients, describe_service(clients, ref))
    if not dims or not dims["LoadBalancer"]:
        raise AwsError(f"service {ref.service!r} has no load balancer target group")
    return f"{dims['LoadBalancer']}/{dims['TargetGroup']}"


def export_requests(
    scenario: Any, ref: ServiceRef, label: str | None = None
) -> tuple[list[Request], list[str]]:
    """The requests that make AWS run the scenario's autoscaler, and notes on what was not
    sent. Raises :class:`ExportError` for what AWS cannot run natively."""
    from policies import registry

    svc = scenario.service
    lo, hi = check_range(svc.min_tasks, svc.max_tasks)
    period = int(scenario.run.metrics_period)
    requests = [
        Request(
            "application-autoscaling",
            "RegisterScalableTarget",
            {**_base(ref), "MinCapacity": lo, "MaxCapacity": hi},
        )
    ]
    notes: list[str] = []
    for i, (name, params) in enumerate(_members(scenario), start=1):
        if name in NOT_NATIVE:
            raise ExportError(not_native_message(name))
        if name not in MODEL_PARAMS:
            raise ExportError(f"policy {name!r} cannot be exported; try `fargate-lab ecs run`")
        policy = registry.make(name, **params)
        defaults = registry.defaults(name)
        for key in MODEL_PARAMS[name]:
            if key in params and params[key] != defaults.get(key):
                notes.append(
                    f"{name}.{key} = {params[key]!r} describes the simulator's model of AWS, "
                    "not a setting AWS takes: not exported"
                )
        if name == "static" and params.get("count") is not None:
            notes.append(
                f"static.count = {params['count']!r} is a desired count, not scaling "
                "configuration: not exported (set it with `fargate-lab ecs scale`)"
            )
        tag = f"{PREFIX}-{i:02d}-{name}"
        if name == "target-tracking":
            requests.append(_target_tracking(tag, policy, ref, period, label))
        elif name == "step":
            requests.extend(_step(tag, policy, ref, period))
        elif name == "predictive":
            requests.append(_predictive(tag, policy, ref, label))
        elif name == "scheduled":
            requests.extend(_scheduled(tag, policy, ref))
    requests.extend(rollout_requests(scenario, ref, notes))
    return requests, notes


def rollout_requests(scenario: Any, ref: ServiceRef, notes: list[str]) -> list[Request]:
    """UpdateService with the native deploymentConfiguration of the scenario's ``[rollout]``
    (none when the scenario has no ``[rollout]`` or ``[analysis]`` section)."""
    given = scenario.model_fields_set
    if "rollout" not in given and "analysis" not in given:
        return []
    refuse_analysis(scenario)
    try:
        cfg, more = native_configuration(scenario.rollout.strategy, scenario.rollout.params)
    except InputError as exc:
        raise ExportError(f"[rollout]: {exc}") from None
    notes.extend(more)
    if cfg["strategy"] != "ROLLING":
        notes.append(
            f"{cfg['strategy']} needs the service's load balancer set up for it (an alternate "
            "target group, the production listener rule and an infrastructure role in "
            "loadBalancers[].advancedConfiguration): not part of this export"
        )
    params = {"cluster": ref.cluster, "service": ref.service, "deploymentConfiguration": cfg}
    return [Request("ecs", "UpdateService", params)]


def _label(label: str | None, what: str) -> str:
    if not label:
        raise ExportError(f"{what} needs the service's load balancer target group (ResourceLabel)")
    return label


def _target_tracking(tag: str, p: Any, ref: ServiceRef, period: int, label: str | None) -> Request:
    if p.scale_in_max_fraction is not None:
        raise ExportError(
            "target-tracking: scale_in_max_fraction is not an AWS setting (AWS caps no "
            "scale-in); remove it to export, or run it with `fargate-lab ecs run`"
        )
    metric_type = TT_METRICS.get((p.metric, period))
    if metric_type is None:
        valid = ", ".join(f"{m} at {s} s" for m, s in TT_METRICS)
        raise ExportError(
            f"target-tracking: metric {p.metric!r} at a {period} s period has no AWS predefined "
            f"metric; exportable: {valid}"
        )
    spec: dict[str, Any] = {"PredefinedMetricType": metric_type}
    if metric_type == "ALBRequestCountPerTarget":
        spec["ResourceLabel"] = _label(label, "ALBRequestCountPerTarget")
    target = p._validate()
    return Request(
        "application-autoscaling",
        "PutScalingPolicy",
        {
            "PolicyName": tag,
            **_base(ref),
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": float(target),
                "PredefinedMetricSpecification": spec,
                "ScaleOutCooldown": int(p.scale_out_cooldown),
                "ScaleInCooldown": int(p.scale_in_cooldown),
                "DisableScaleIn": bool(p.disable_scale_in),
            },
        },
        ref=tag,
    )


def _step(tag: str, p: Any, ref: ServiceRef, period: int) -> list[Request]:
    _, steps = p._validate()
    if p.metric not in STEP_NAMESPACES:
        raise ExportError(
            f"step: exporting an alarm on {p.metric!r} is not supported; exportable metrics: "
            f"{', '.join(STEP_NAMESPACES)} (run others with `fargate-lab ecs run`)"
        )
    adjustments = []
    for lower, upper, adj in steps:
        item: dict[str, Any] = {"ScalingAdjustment": int(adj)}
        if lower is not None:
            item["MetricIntervalLowerBound"] = float(lower)
        if upper is not None:
            item["MetricIntervalUpperBound"] = float(upper)
        adjustments.append(item)
    config: dict[str, Any] = {
        "AdjustmentType": p.adjustment_type,
        "StepAdjustments": adjustments,
        "Cooldown": int(p.cooldown),
        "MetricAggregationType": p.metric_aggregation_type,
    }
    if p.min_adjustment_magnitude is not None:
        config["MinAdjustmentMagnitude"] = int(p.min_adjustment_magnitude)
    policy = Request(
        "application-autoscaling",
        "PutScalingPolicy",
        {
            "PolicyName": tag,
            **_base(ref),
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": config,
        },
        ref=tag,
    )
    cluster, service = ref.cluster.split("/")[-1], ref.service.split("/")[-1]
    n = int(p.datapoints)
    alarm = Request(
        "cloudwatch",
        "PutMetricAlarm",
        {
            "AlarmName": f"{tag}-{cluster}-{service}",
            "Namespace": STEP_NAMESPACES[p.metric],
            "MetricName": p.metric,
            "Dimensions": [
                {"Name": "ClusterName", "Value": cluster},
                {"Name": "ServiceName", "Value": service},
            ],
            "Statistic": p.statistic,
            "Period": period,
            "EvaluationPeriods": n,
            "DatapointsToAlarm": int(p.datapoints_to_alarm or n),
            "Threshold": float(p.threshold),
            "ComparisonOperator": COMPARISON_OPS[p.comparison],
            "TreatMissingData": "notBreaching",
            "AlarmActions": [f"${{{tag}.PolicyARN}}"],
        },
    )
    return [policy, alarm]


def _predictive(tag: str, p: Any, ref: ServiceRef, label: str | None) -> Request:
    p._validate()
    spec: dict[str, Any] = {"TargetValue": float(p.target)}
    pair = PAIRS.get((p.load_metric, p.scaling_metric))
    if pair:
        spec["PredefinedMetricPairSpecification"] = {"PredefinedMetricType": pair}
        if pair == "ALBRequestCount":
            spec["PredefinedMetricPairSpecification"]["ResourceLabel"] = _label(label, pair)
    else:
        load = {"PredefinedMetricType": PREDICTIVE_LOAD[p.load_metric]}
        scaling = {"PredefinedMetricType": PREDICTIVE_SCALING[p.scaling_metric]}
        for s in (load, scaling):
            if "ALB" in s["PredefinedMetricType"]:
                s["ResourceLabel"] = _label(label, s["PredefinedMetricType"])
        spec["PredefinedLoadMetricSpecification"] = load
        spec["PredefinedScalingMetricSpecification"] = scaling
    config: dict[str, Any] = {
        "MetricSpecifications": [spec],
        "Mode": p.mode,
        "SchedulingBufferTime": int(p.scheduling_buffer),
        "MaxCapacityBreachBehavior": p.max_capacity_breach_behavior,
    }
    if p.max_capacity_breach_behavior == "IncreaseMaxCapacity":
        config["MaxCapacityBuffer"] = int(p.max_capacity_buffer)
    return Request(
        "application-autoscaling",
        "PutScalingPolicy",
        {
            "PolicyName": tag,
            **_base(ref),
            "PolicyType": "PredictiveScaling",
            "PredictiveScalingPolicyConfiguration": config,
        },
        ref=tag,
    )


def _scheduled(tag: str, p: Any, ref: ServiceRef) -> list[Request]:
    p._compiled()  # validates every action
    out = []
    for j, action in enumerate(p.actions, start=1):
        target = {}
        if action.get("min_tasks") is not None:
            target["MinCapacity"] = int(action["min_tasks"])
        if action.get("max_tasks") is not None:
            target["MaxCapacity"] = int(action["max_tasks"])
        params: dict[str, Any] = {
            **_base(ref),
            "ScheduledActionName": f"{tag}-{j:02d}",
            "Schedule": action["schedule"].strip(),
            "Timezone": action.get("timezone") or "UTC",
            "ScalableTargetAction": target,
        }
        for key, api in (("start", "StartTime"), ("end", "EndTime")):
            if action.get(key) is not None:
                params[api] = utc_iso(action[key])
        out.append(Request("application-autoscaling", "PutScheduledAction", params))
    return out


def utc_iso(value: Any) -> str:
    """A time (datetime or ISO string; naive means UTC, as PutScheduledAction reads it) as
    ``YYYY-MM-DDTHH:MM:SSZ``."""
    from datetime import UTC, datetime

    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def refuse_analysis(scenario: Any) -> None:
    """An ``[analysis]`` method cannot be shipped to ECS: refuse, saying what is shipped."""
    method = scenario.analysis.method
    if method is not None:
        raise ExportError(
            f"analysis method {method!r} has no native ECS equivalent: ECS rolls a deployment "
            "back only on its circuit breaker and on CloudWatch alarms given by name. `ecs "
            "export` ships the [autoscaler] (Application Auto Scaling) and the [rollout] "
            "strategy (the service's deploymentConfiguration), not the [analysis]; remove "
            "[analysis] to export the rest, and attach an existing alarm with `fargate-lab ecs "
            "deploy --alarm NAME`"
        )
