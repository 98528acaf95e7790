"""Plans for the ``fargate-lab ecs`` commands: what to read and which requests to send.

Each ``*_plan`` function reads what it needs (Describe*, List*) and returns the write
requests as :class:`backends.aws.Request` data, validated before any request; the command line
(:mod:`experiments.ecs_cli`) prints them (dry run) or sends them (``--apply``).
:func:`run_live` runs a scenario's autoscaler against the service with the unchanged
:class:`~backends.base.Controller`. AWS API reference for the writes: UpdateService,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html, and
RegisterTaskDefinition,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.aws import AwsClients, AwsError, GuardrailError, InputError, Request
from backends.ecs import EcsBackend, ServiceRef, describe_service

log = logging.getLogger("fargate_lab.ecs")


@dataclass
class DeploySpec:
    """What ``fargate-lab ecs deploy`` was asked for (the command's flags)."""

    image: str
    container: str | None = None
    strategy: str = "ROLLING"
    circuit_breaker: bool = True
    alarm: list[str] = field(default_factory=list)
    bake_time: int | None = None
    canary_percent: float | None = None
    canary_bake_time: int | None = None
    linear_step: float | None = None
    linear_bake_time: int | None = None
    minimum_healthy_percent: int | None = None
    maximum_percent: int | None = None
    cpu: int | None = None
    memory: int | None = None
    capacity_provider: list[str] = field(default_factory=list)


def scalable_range(clients: AwsClients, ref: ServiceRef) -> tuple[int, int] | None:
    targets = clients.call(
        "application-autoscaling",
        "DescribeScalableTargets",
        ServiceNamespace="ecs",
        ResourceIds=[ref.resource_id],
        ScalableDimension="ecs:service:DesiredCount",
    ).get("ScalableTargets", [])
    if not targets:
        return None
    return int(targets[0]["MinCapacity"]), int(targets[0]["MaxCapacity"])


def status(clients: AwsClients, ref: ServiceRef, now: float) -> dict[str, Any]:
    """The service, its deployments, tasks by AZ and capacity provider, recent metrics and the
    scaling configuration (reads only)."""
    svc = describe_service(clients, ref)
    arns: list[str] = []
    token = None
    while True:
        kw = {"cluster": ref.cluster, "serviceName": ref.service}
        out = clients.call("ecs", "ListTasks", **kw, **({"nextToken": token} if token else {}))
        arns.extend(out.get("taskArns", []))
        token = out.get("nextToken")
        if not token:
            break
    by_az: dict[str, int] = {}
    by_provider: dict[str, int] = {}
    for i in range(0, len(arns), 100):
        tasks = clients.call("ecs", "DescribeTasks", cluster=ref.cluster, tasks=arns[i : i + 100])
        for t in tasks.get("tasks", []):
            az = t.get("availabilityZone", "unknown")
            cp = t.get("capacityProviderName") or t.get("launchType", "unknown")
            by_az[az] = by_az.get(az, 0) + 1
            by_provider[cp] = by_provider.get(cp, 0) + 1
    rng = scalable_range(clients, ref)
    backend = EcsBackend(
        clients,
        ref,
        min_tasks=rng[0] if rng else 0,
        max_tasks=rng[1] if rng else 10**6,
        history=900.0,
    )
    backend.use_load_balancer(svc)
    metrics = backend.metrics(now)
    recent = {}
    for name in metrics.columns:
        col = metrics[name]
        finite = [float(v) for v in col if v == v]
        recent[name] = finite[-1] if finite else None
    policies = clients.call(
        "application-autoscaling",
        "DescribeScalingPolicies",
        ServiceNamespace="ecs",
        ResourceId=ref.resource_id,
        ScalableDimension="ecs:service:DesiredCount",
    ).get("ScalingPolicies", [])
    actions = clients.call(
        "application-autoscaling",
        "DescribeScheduledActions",
        ServiceNamespace="ecs",
        ResourceId=ref.resource_id,
        ScalableDimension="ecs:service:DesiredCount",
    ).get("ScheduledActions", [])
    return {
        "service": svc.get("serviceName"),
        "cluster": ref.cluster,
        "status": svc.get("status"),
        "taskDefinition": svc.get("taskDefinition"),
        "desired": svc.get("desiredCount"),
        "running": svc.get("runningCount"),
        "pending": svc.get("pendingCount"),
        "capacityProviderStrategy": svc.get("capacityProviderStrategy", []),
        "deployments": [
            {
                k: d.get(k)
                for k in (
                    "id",
                    "status",
                    "rolloutState",
                    "taskDefinition",
                    "desiredCount",
                    "runningCount",
                    "pendingCount",
                    "createdAt",
                )
            }
            for d in svc.get("deployments", [])
        ],
        "tasks_by_az": by_az,
        "tasks_by_capacity_provider": by_provider,
        "recent_metrics": recent,
        "scalable_target": None if rng is None else {"min": rng[0], "max": rng[1]},
        "scaling_policies": [{"name": p["PolicyName"], "type": p["PolicyType"]} for p in policies],
        "scheduled_actions": [
            {"name": a["ScheduledActionName"], "schedule": a["Schedule"]} for a in actions
        ],
    }


def scale_plan(
    clients: AwsClients, ref: ServiceRef, n: int, lo: int | None, hi: int | None, max_step: int
) -> list[Request]:
    from backends.ecs_validate import check_count, check_range

    n = check_count("desired count", n)
    if lo is not None or hi is not None:
        lo, hi = check_range(0 if lo is None else lo, 10**6 if hi is None else hi)
    current = int(describe_service(clients, ref).get("desiredCount", 0))
    if lo is None:
        rng = scalable_range(clients, ref)
        lo, hi = rng if rng else (0, 10**6)
    if not lo <= n <= hi:
        raise GuardrailError(f"desired count {n} is outside the scalable range [{lo}, {hi}]")
    if abs(n - current) > max_step:
        raise GuardrailError(
            f"desired count {n} is {abs(n - current)} tasks from the current {current}, more "
            f"than --max-step {max_step}"
        )
    if n == current:
        return []
    return [
        Request(
            "ecs",
            "UpdateService",
            {"cluster": ref.cluster, "service": ref.service, "desiredCount": n},
        )
    ]


REGISTER_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


def deployment_configuration(spec: DeploySpec) -> dict[str, Any]:
    """UpdateService's ``deploymentConfiguration`` for ``spec``, validated against ECS's
    limits. The one mapping of ``ecs deploy``'s flags, :meth:`EcsBackend.deploy` and ``ecs
    export`` (the last two fill ``spec`` from a rollout strategy: backends/ecs_deploy.py)."""
    from backends.ecs_validate import check_deployment_configuration

    cfg: dict[str, Any] = {"strategy": spec.strategy}
    if spec.minimum_healthy_percent is not None:
        cfg["minimumHealthyPercent"] = spec.minimum_healthy_percent
    if spec.maximum_percent is not None:
        cfg["maximumPercent"] = spec.maximum_percent
    cfg["deploymentCircuitBreaker"] = {
        "enable": spec.circuit_breaker,
        "rollback": spec.circuit_breaker,
    }
    if spec.alarm:
        cfg["alarms"] = {"alarmNames": list(spec.alarm), "enable": True, "rollback": True}
    if spec.bake_time is not None:
        cfg["bakeTimeInMinutes"] = spec.bake_time
    if spec.strategy == "CANARY" or spec.canary_percent is not None:
        cfg["canaryConfiguration"] = {
            "canaryPercent": 5.0 if spec.canary_percent is None else spec.canary_percent,
            "canaryBakeTimeInMinutes": 10
            if spec.canary_bake_time is None
            else spec.canary_bake_time,
        }
    if spec.strategy == "LINEAR" or spec.linear_step is not None:
        cfg["linearConfiguration"] = {
            "stepPercent": 10.0 if spec.linear_step is None else spec.linear_step,
            "stepBakeTimeInMinutes": 6 if spec.linear_bake_time is None else spec.linear_bake_time,
        }
    check_deployment_configuration(cfg)
    return cfg


def parse_capacity_providers(items: Sequence[str]) -> list[dict[str, Any]]:
    """``NAME[:WEIGHT[:BASE]]`` -> CapacityProviderStrategyItem dicts (validated)."""
    from backends.ecs_validate import check_capacity_providers

    out = []
    for item in items:
        parts = item.split(":")
        if not 1 <= len(parts) <= 3:
            raise InputError(f"--capacity-provider {item!r}: expected NAME[:WEIGHT[:BASE]]")
        try:
            weight = int(parts[1]) if len(parts) > 1 else 1
            base = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            raise InputError(
                f"--capacity-provider {item!r}: weight and base are integers"
            ) from None
        out.append({"capacityProvider": parts[0], "weight": weight, "base": base})
    check_capacity_providers(out)
    return out


def deploy_plan(clients: AwsClients, ref: ServiceRef, spec: DeploySpec) -> list[Request]:
    from backends.ecs_validate import check_task_size

    config = deployment_configuration(spec)  # validated before any request
    providers = parse_capacity_providers(spec.capacity_provider or [])
    if spec.cpu is not None or spec.memory is not None:
        if spec.cpu is None or spec.memory is None:
            raise InputError("--cpu and --memory go together (the Fargate size matrix)")
        check_task_size(spec.cpu, spec.memory)
    svc = describe_service(clients, ref)
    td = clients.call("ecs", "DescribeTaskDefinition", taskDefinition=svc["taskDefinition"])
    td = td["taskDefinition"]
    params = {k: td[k] for k in REGISTER_KEYS if k in td}
    if spec.cpu is not None:
        params["cpu"], params["memory"] = str(spec.cpu), str(spec.memory)
    if "FARGATE" in params.get("requiresCompatibilities", []):
        check_task_size(params.get("cpu"), params.get("memory"))
    containers = params["containerDefinitions"]
    names = [c["name"] for c in containers]
    chosen = spec.container or names[0]
    if chosen not in names:
        raise InputError(
            f"--container {chosen!r} is not in the task definition; containers: {', '.join(names)}"
        )
    for c in containers:
        if c["name"] == chosen:
            c["image"] = spec.image
    update: dict[str, Any] = {
        "cluster": ref.cluster,
        "service": ref.service,
        "taskDefinition": "${register.taskDefinition.taskDefinitionArn}",
        "deploymentConfiguration": config,
    }
    if providers:
        update["capacityProviderStrategy"] = providers
        update["forceNewDeployment"] = True
    return [
        Request("ecs", "RegisterTaskDefinition", params, ref="register"),
        Request("ecs", "UpdateService", update),
    ]


def rollback_plan(clients: AwsClients, ref: ServiceRef) -> list[Request]:
    """Back to the previous task definition: the one still ACTIVE beside a deployment in
    progress, else the previous ACTIVE revision of the family."""
    svc = describe_service(clients, ref)
    current = svc["taskDefinition"]
    previous = next(
        (
            d["taskDefinition"]
            for d in svc.get("deployments", [])
            if d.get("status") == "ACTIVE" and d.get("taskDefinition") != current
        ),
        None,
    )
    if previous is None:
        family, _, revision = current.rsplit("/", 1)[-1].rpartition(":")
        arns = clients.call(
            "ecs", "ListTaskDefinitions", familyPrefix=family, status="ACTIVE", sort="DESC"
        ).get("taskDefinitionArns", [])
        older = [
            a
            for a in arns
            if a.rsplit("/", 1)[-1].rpartition(":")[0] == family
            and int(a.rsplit(":", 1)[-1]) < int(revision)
        ]
        if not older:
            raise AwsError(f"no earlier ACTIVE revision of {family} to roll back to")
        previous = max(older, key=lambda a: int(a.rsplit(":", 1)[-1]))
    return [
        Request(
            "ecs",
            "UpdateService",
            {"cluster": ref.cluster, "service": ref.service, "taskDefinition": previous},
        )
    ]


def run_live(
    scenario: Any,
    backend: EcsBackend,
    until: float | None,
    out: Path | None,
    emit: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the scenario's autoscaler against the backend's service with the unchanged
    :class:`~backends.base.Controller` on the backend's clock; each decision is a JSON line
    (``emit``) and a row of the Parquet file ``out``."""
    from datetime import UTC, datetime

    from backends.base import Controller
    from policies import registry

    name = scenario.autoscaler.policy
    policy = registry.make(name, **scenario.autoscaler.params)
    if getattr(policy, "requires_future", False):
        raise InputError(
            f"policy {name!r} needs the future load, which a live service does not have"
        )
    controller = Controller(policy, backend)
    rows: list[dict[str, Any]] = []

    def steps():
        while True:
            rec = controller.step()
            action = backend.last_action
            row = {
                "time": rec.time,
                "time_utc": datetime.fromtimestamp(rec.time, UTC).isoformat(),
                "policy": name,
                "observed": rec.desired_before,
                "decided": rec.desired,
                "sent": None if action is None else action.sent,
                "dry_run": backend.dry_run,
                "guardrail": "" if action is None else action.note,
                "reason": rec.reason,
            }
            rows.append(row)
            emit(json.dumps(row))
            log.info("decision %s", row)
            yield policy.interval_s

    try:
        backend.clock.drive(steps(), until)
    finally:
        if out is not None:
            import pandas as pd

            out.parent.mkdir(parents=True, exist_ok=True)
            frame = pd.DataFrame(
                rows,
                columns=[
                    "time",
                    "time_utc",
                    "policy",
                    "observed",
                    "decided",
                    "sent",
                    "dry_run",
                    "guardrail",
                    "reason",
                ],
            )
            for col in ("decided", "sent"):
                frame[col] = frame[col].astype("Int64")
            frame.to_parquet(out, index=False)
    return rows
