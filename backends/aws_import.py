"""Native AWS scaling configuration read back into a scenario (``fargate-lab ecs
import-policy``), the inverse of :mod:`backends.aws_export`.

Reads DescribeScalableTargets, DescribeScalingPolicies and DescribeScheduledActions
(Application Auto Scaling API reference,
https://docs.aws.amazon.com/autoscaling/application/APIReference/), CloudWatch DescribeAlarms
for a step policy's alarm, and the service's task size. Members are ordered by name, so the
``fargate-lab-NN-<policy>`` names of an export come back in their order and exporting the
imported scenario gives the same requests. A step policy whose steps have an open bound can be
imported only when they are the default steps (TOML has no null). The service's
``deploymentConfiguration`` (DescribeServices) comes back as a ``[rollout]`` section
(backends/ecs_deploy.py), unless it shows only ECS's defaults for a service created without
one (ROLLING, 100/200 percent, no circuit breaker).
"""

from __future__ import annotations

import json
from typing import Any

from backends.aws import AwsClients, AwsError
from backends.aws_export import (
    COMPARISON_OPS,
    DIMENSION,
    NAMESPACE,
    PAIRS,
    PREDICTIVE_LOAD,
    PREDICTIVE_SCALING,
    TT_METRICS,
    ExportError,
    _base,
    utc_iso,
)
from backends.ecs import ServiceRef, describe_service


def _pages(clients: AwsClients, service: str, op: str, key: str, **params: Any) -> list[dict]:
    items: list[dict] = []
    while True:
        out = clients.call(service, op, **params)
        items.extend(out.get(key, []))
        token = out.get("NextToken")
        if not token:
            return items
        params["NextToken"] = token


def _member_of_policy(p: dict[str, Any], clients: AwsClients) -> tuple[dict[str, Any], int]:
    """A scenario member for one scaling policy, and the metric period it implies.

    ``clients`` is used only to read a step policy's alarm."""
    from policies.autoscaling.step import DEFAULT_STEPS

    kind = p["PolicyType"]
    if kind == "TargetTrackingScaling":
        c = p["TargetTrackingScalingPolicyConfiguration"]
        metric_type = c.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
        found = [k for k, v in TT_METRICS.items() if v == metric_type]
        if not found:
            raise ExportError(
                f"policy {p['PolicyName']!r}: target tracking on {metric_type or 'a custom metric'}"
                " has no scenario equivalent"
            )
        metric, period = found[0]
        member = {"policy": "target-tracking", "metric": metric, "target": float(c["TargetValue"])}
        member["scale_out_cooldown"] = float(c.get("ScaleOutCooldown", 300))
        member["scale_in_cooldown"] = float(c.get("ScaleInCooldown", 300))
        member["disable_scale_in"] = bool(c.get("DisableScaleIn", False))
        return member, period
    if kind == "StepScaling":
        c = p["StepScalingPolicyConfiguration"]
        names = [a["AlarmName"] for a in p.get("Alarms", [])]
        if names:
            found = clients.call("cloudwatch", "DescribeAlarms", AlarmNames=names[:1])
        else:  # not listed (moto): the alarm named after the policy whose action it is
            found = clients.call("cloudwatch", "DescribeAlarms", AlarmNamePrefix=p["PolicyName"])
        alarms = [
            a
            for a in found.get("MetricAlarms", [])
            if names or p.get("PolicyARN") in a.get("AlarmActions", [])
        ]
        if not alarms:
            raise ExportError(f"policy {p['PolicyName']!r}: a step policy without an alarm")
        alarm = alarms[0]
        comparison = {v: k for k, v in COMPARISON_OPS.items()}.get(alarm["ComparisonOperator"])
        if comparison is None:
            raise ExportError(
                f"alarm {alarm['AlarmName']!r}: {alarm['ComparisonOperator']} "
                "has no scenario equivalent (greater or less only)"
            )
        steps = [
            (
                a.get("MetricIntervalLowerBound"),
                a.get("MetricIntervalUpperBound"),
                int(a["ScalingAdjustment"]),
            )
            for a in c["StepAdjustments"]
        ]
        steps.sort(key=lambda s: -1e300 if s[0] is None else s[0])
        member: dict[str, Any] = {
            "policy": "step",
            "metric": alarm["MetricName"],
            "statistic": alarm.get("Statistic", "Average"),
            "threshold": float(alarm["Threshold"]),
            "comparison": comparison,
            "datapoints": int(alarm["EvaluationPeriods"]),
            "datapoints_to_alarm": int(alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])),
            "metric_aggregation_type": c.get("MetricAggregationType", "Average"),
            "adjustment_type": c["AdjustmentType"],
            "cooldown": float(c.get("Cooldown", 300)),
        }
        default = DEFAULT_STEPS.get((comparison, c["AdjustmentType"]))
        as_floats = [
            (None if lo is None else float(lo), None if hi is None else float(hi), a)
            for lo, hi, a in steps
        ]
        default_f = (
            None
            if default is None
            else [
                (None if lo is None else float(lo), None if hi is None else float(hi), a)
                for lo, hi, a in default
            ]
        )
        if as_floats != default_f:
            if any(lo is None or hi is None for lo, hi, _ in steps):
                raise ExportError(
                    f"policy {p['PolicyName']!r}: step bounds with an open end cannot be "
                    "written in TOML (no null); only the default steps can"
                )
            member["steps"] = [[float(lo), float(hi), a] for lo, hi, a in steps]
        if "MinAdjustmentMagnitude" in c:
            member["min_adjustment_magnitude"] = int(c["MinAdjustmentMagnitude"])
        return member, int(alarm.get("Period", 60))
    if kind == "PredictiveScaling":
        c = p["PredictiveScalingPolicyConfiguration"]
        spec = c["MetricSpecifications"][0]
        pair = spec.get("PredefinedMetricPairSpecification", {}).get("PredefinedMetricType")
        if pair:
            load, scaling = next(k for k, v in PAIRS.items() if v == pair)
        else:
            lt = spec["PredefinedLoadMetricSpecification"]["PredefinedMetricType"]
            st = spec["PredefinedScalingMetricSpecification"]["PredefinedMetricType"]
            load = next(k for k, v in PREDICTIVE_LOAD.items() if v == lt)
            scaling = next(k for k, v in PREDICTIVE_SCALING.items() if v == st)
        member = {
            "policy": "predictive",
            "mode": c.get("Mode", "ForecastOnly"),
            "load_metric": load,
            "scaling_metric": scaling,
            "target": float(spec["TargetValue"]),
            "scheduling_buffer": float(c.get("SchedulingBufferTime", 300)),
            "max_capacity_breach_behavior": c.get("MaxCapacityBreachBehavior", "HonorMaxCapacity"),
        }
        if "MaxCapacityBuffer" in c:
            member["max_capacity_buffer"] = float(c["MaxCapacityBuffer"])
        return member, 60
    raise ExportError(f"policy {p['PolicyName']!r}: type {kind} has no scenario equivalent")


def import_scenario(
    clients: AwsClients, ref: ServiceRef, notes: list[str] | None = None
) -> dict[str, Any]:
    """The service's scalable target, scaling policies, scheduled actions and deployment
    configuration as scenario data (a dict for :func:`sim.scenario.scenario_from_dict`).
    Reads only; what a scenario cannot hold is said in ``notes``."""
    from backends.ecs_deploy import rollout_of_configuration

    base = _base(ref)
    targets = clients.call(
        "application-autoscaling",
        "DescribeScalableTargets",
        ServiceNamespace=NAMESPACE,
        ResourceIds=[ref.resource_id],
        ScalableDimension=DIMENSION,
    ).get("ScalableTargets", [])
    if not targets:
        raise AwsError(f"no scalable target is registered for {ref.resource_id}; nothing to import")
    lo, hi = int(targets[0]["MinCapacity"]), int(targets[0]["MaxCapacity"])
    policies = _pages(
        clients, "application-autoscaling", "DescribeScalingPolicies", "ScalingPolicies", **base
    )
    actions = _pages(
        clients, "application-autoscaling", "DescribeScheduledActions", "ScheduledActions", **base
    )
    svc = describe_service(clients, ref)
    td = clients.call("ecs", "DescribeTaskDefinition", taskDefinition=svc["taskDefinition"])
    td = td["taskDefinition"]
    members: list[tuple[str, dict[str, Any]]] = []
    period = 60
    for p in policies:
        member, per = _member_of_policy(p, clients)
        period = min(period, per)
        members.append((p["PolicyName"], member))
    groups: dict[str, list[dict[str, Any]]] = {}
    for a in sorted(actions, key=lambda a: a["ScheduledActionName"]):
        group = a["ScheduledActionName"].rsplit("-", 1)[0]
        t = a.get("ScalableTargetAction", {})
        action: dict[str, Any] = {"schedule": a["Schedule"], "timezone": a.get("Timezone", "UTC")}
        if "MinCapacity" in t:
            action["min_tasks"] = int(t["MinCapacity"])
        if "MaxCapacity" in t:
            action["max_tasks"] = int(t["MaxCapacity"])
        for key, api in (("start", "StartTime"), ("end", "EndTime")):
            if a.get(api) is not None:
                action[key] = utc_iso(a[api])
        groups.setdefault(group, []).append(action)
    for group, acts in groups.items():
        members.append((group, {"policy": "scheduled", "actions": acts}))
    members.sort(key=lambda m: m[0])
    specs = [m for _, m in members]
    if not specs:
        autoscaler: dict[str, Any] = {"policy": "static"}
    elif len(specs) == 1:
        autoscaler = specs[0]
    else:
        autoscaler = {"policy": "combined", "policies": specs}
    desired = int(svc.get("desiredCount", lo))
    data = {
        "name": f"{ref.service.split('/')[-1]}-imported",
        "run": {"metrics_period": period},
        "service": {
            "cpu": int(td.get("cpu") or 256),
            "memory": int(td.get("memory") or 512),
            "min_tasks": lo,
            "max_tasks": hi,
            "initial_tasks": min(hi, max(lo, desired)),
        },
        "autoscaler": autoscaler,
    }
    rollout = rollout_of_configuration(svc.get("deploymentConfiguration"), notes)
    if rollout is not None:
        data["rollout"] = rollout
    return data


# -- TOML output (tomllib reads only) -----------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise ExportError(f"cannot write {v!r} in TOML")


def to_toml(data: dict[str, Any], header: str = "") -> str:
    """Scenario data as TOML: top-level scalars, then one table per section."""
    lines = [f"# {line}" for line in header.splitlines()]
    for k, v in data.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines.extend(f"{key} = {_toml_value(x)}" for key, x in v.items())
    return "\n".join(lines) + "\n"
