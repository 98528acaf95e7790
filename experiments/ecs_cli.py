"""``fargate-lab ecs ...``: operate a real Amazon ECS service (or any AWS-compatible endpoint).

Every command takes ``--cluster``, ``--service``, ``--region``, ``--profile`` and
``--endpoint-url``. Commands that change AWS (``scale``, ``deploy``, ``rollback``, ``run``,
``export``) are a dry run by default: they print the requests they would send, as JSON, and
send them only with ``--apply``. Reads (Describe*, GetMetricData) are made in both cases, to
plan from the service's real state. Credentials come from boto3's standard chain only and are
never printed. Exit status: 0 done, 1 AWS refused or failed (the message says what was and
was not done), 2 bad input (refused before any request).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backends.aws import (
    AwsClients,
    AwsError,
    GuardrailError,
    InputError,
    Request,
    WriteRateGuard,
    execute,
)
from backends.ecs import EcsBackend, ServiceRef, describe_service

log = logging.getLogger("fargate_lab.ecs")

EXIT_AWS = 1
EXIT_BAD_INPUT = 2

SECRET_FIELDS = ("environment",)


def connect(args: argparse.Namespace) -> AwsClients:
    return AwsClients(
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        retry_mode=args.retry_mode,
        max_attempts=args.max_attempts,
    )


def _ref(args: argparse.Namespace) -> ServiceRef:
    return ServiceRef(args.cluster, args.service)


def _redact(value: Any) -> Any:
    """Container environment values are the application's, possibly secret: not printed."""
    if isinstance(value, dict):
        return {
            k: (
                [{**e, "value": "***"} for e in v]
                if k in SECRET_FIELDS and isinstance(v, list)
                else _redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def print_plan(requests: Sequence[Request], applied: bool, out: Any = None) -> None:
    doc = {
        "dry_run": not applied,
        "requests": [_redact(r.to_json()) for r in requests],
    }
    print(json.dumps(doc, indent=2, default=str), file=out or sys.stdout)


def _send(args: argparse.Namespace, clients: AwsClients, requests: list[Request]) -> None:
    guard = WriteRateGuard(max_writes=args.max_writes_per_minute)
    print_plan(requests, args.apply)
    if args.apply:
        outcome = execute(clients, requests, apply=True, guard=guard)
        print(f"applied {len(outcome.sent)} request(s)", file=sys.stderr)
    else:
        print("dry run: nothing was sent; add --apply to send these requests", file=sys.stderr)


def _scalable_range(clients: AwsClients, ref: ServiceRef) -> tuple[int, int] | None:
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


# -- status -------------------------------------------------------------------------------
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
    rng = _scalable_range(clients, ref)
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


def cmd_status(args: argparse.Namespace) -> int:
    doc = status(connect(args), _ref(args), time.time())
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return 0
    print(
        f"service {doc['service']} in {doc['cluster']}: {doc['status']}, task definition "
        f"{doc['taskDefinition']}"
    )
    print(f"  desired {doc['desired']}, running {doc['running']}, pending {doc['pending']}")
    for d in doc["deployments"]:
        print(
            f"  deployment {d['id']}: {d['status']} {d['rolloutState']} {d['taskDefinition']}"
            f" ({d['runningCount']}/{d['desiredCount']} running)"
        )
    print(
        f"  tasks by AZ: {doc['tasks_by_az']}; by capacity provider: "
        f"{doc['tasks_by_capacity_provider']}"
    )
    shown = {k: v for k, v in doc["recent_metrics"].items() if v is not None}
    print(f"  recent metrics: {shown or 'none published in the last 15 minutes'}")
    print(f"  scalable target: {doc['scalable_target']}")
    for p in doc["scaling_policies"]:
        print(f"  scaling policy {p['name']}: {p['type']}")
    for a in doc["scheduled_actions"]:
        print(f"  scheduled action {a['name']}: {a['schedule']}")
    return 0


# -- scale --------------------------------------------------------------------------------
def scale_plan(
    clients: AwsClients, ref: ServiceRef, n: int, lo: int | None, hi: int | None, max_step: int
) -> list[Request]:
    from backends.ecs_validate import check_count, check_range

    n = check_count("desired count", n)
    if lo is not None or hi is not None:
        lo, hi = check_range(0 if lo is None else lo, 10**6 if hi is None else hi)
    current = int(describe_service(clients, ref).get("desiredCount", 0))
    if lo is None:
        rng = _scalable_range(clients, ref)
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


def cmd_scale(args: argparse.Namespace) -> int:
    from backends.ecs_validate import check_count

    check_count("desired count", args.count)  # before any request
    clients = connect(args)
    _send(
        args,
        clients,
        scale_plan(clients, _ref(args), args.count, args.min, args.max, args.max_step),
    )
    return 0


# -- deploy and rollback ------------------------------------------------------------------
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


def deployment_configuration(args: argparse.Namespace) -> dict[str, Any]:
    from backends.ecs_validate import check_deployment_configuration

    cfg: dict[str, Any] = {"strategy": args.strategy}
    cfg["deploymentCircuitBreaker"] = {
        "enable": args.circuit_breaker,
        "rollback": args.circuit_breaker,
    }
    if args.alarm:
        cfg["alarms"] = {"alarmNames": list(args.alarm), "enable": True, "rollback": True}
    if args.bake_time is not None:
        cfg["bakeTimeInMinutes"] = args.bake_time
    if args.strategy == "CANARY" or args.canary_percent is not None:
        cfg["canaryConfiguration"] = {
            "canaryPercent": 5.0 if args.canary_percent is None else args.canary_percent,
            "canaryBakeTimeInMinutes": 10
            if args.canary_bake_time is None
            else args.canary_bake_time,
        }
    if args.strategy == "LINEAR" or args.linear_step is not None:
        cfg["linearConfiguration"] = {
            "stepPercent": 10.0 if args.linear_step is None else args.linear_step,
            "stepBakeTimeInMinutes": 6 if args.linear_bake_time is None else args.linear_bake_time,
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


def deploy_plan(clients: AwsClients, ref: ServiceRef, args: argparse.Namespace) -> list[Request]:
    from backends.ecs_validate import check_task_size

    config = deployment_configuration(args)  # validated before any request
    providers = parse_capacity_providers(args.capacity_provider or [])
    if args.cpu is not None or args.memory is not None:
        if args.cpu is None or args.memory is None:
            raise InputError("--cpu and --memory go together (the Fargate size matrix)")
        check_task_size(args.cpu, args.memory)
    svc = describe_service(clients, ref)
    td = clients.call("ecs", "DescribeTaskDefinition", taskDefinition=svc["taskDefinition"])
    td = td["taskDefinition"]
    params = {k: td[k] for k in REGISTER_KEYS if k in td}
    if args.cpu is not None:
        params["cpu"], params["memory"] = str(args.cpu), str(args.memory)
    if "FARGATE" in params.get("requiresCompatibilities", []):
        check_task_size(params.get("cpu"), params.get("memory"))
    containers = params["containerDefinitions"]
    names = [c["name"] for c in containers]
    chosen = args.container or names[0]
    if chosen not in names:
        raise InputError(
            f"--container {chosen!r} is not in the task definition; containers: {', '.join(names)}"
        )
    for c in containers:
        if c["name"] == chosen:
            c["image"] = args.image
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


def cmd_deploy(args: argparse.Namespace) -> int:
    clients = connect(args)
    _send(args, clients, deploy_plan(clients, _ref(args), args))
    return 0


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


def cmd_rollback(args: argparse.Namespace) -> int:
    clients = connect(args)
    _send(args, clients, rollback_plan(clients, _ref(args)))
    return 0


# -- run ----------------------------------------------------------------------------------
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


def cmd_run(args: argparse.Namespace) -> int:
    from sim.scenario import ScenarioError, load_scenario
    from sim.traffic import parse_duration

    try:
        scenario = load_scenario(args.scenario, args.set)
        until = None if args.for_ is None else parse_duration(args.for_)
        history = parse_duration(args.history)
    except (ScenarioError, ValueError) as exc:
        raise InputError(str(exc)) from None
    svc = scenario.service
    backend = EcsBackend(
        connect(args),
        _ref(args),
        min_tasks=svc.min_tasks,
        max_tasks=svc.max_tasks,
        capacity_rps=svc.capacity_rps,
        period=int(scenario.run.metrics_period),
        publication_delay=scenario.run.publication_delay,
        history=history,
        max_step=args.max_step,
        guard=WriteRateGuard(max_writes=args.max_writes_per_minute),
        dry_run=not args.apply,
    )
    run_live(scenario, backend, until, Path(args.out) if args.out else None)
    if backend.planned:
        print_plan(backend.planned, applied=False, out=sys.stderr)
    return 0


# -- export, import -----------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from backends.aws_export import export_requests, needs_load_balancer, resource_label
    from sim.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario, args.set)
    except ScenarioError as exc:
        raise InputError(str(exc)) from None
    clients = connect(args)
    ref = _ref(args)
    label = resource_label(clients, ref) if needs_load_balancer(scenario) else None
    requests, notes = export_requests(scenario, ref, label)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    _send(args, clients, requests)
    return 0


def cmd_import_policy(args: argparse.Namespace) -> int:
    from backends.aws_export import import_scenario, to_toml
    from sim.scenario import scenario_from_dict

    ref = _ref(args)
    data = import_scenario(connect(args), ref)
    scenario_from_dict(data, f"{ref.resource_id} (imported)")  # simulate must accept it
    text = to_toml(
        data,
        header=f"Imported from {ref.resource_id} by `fargate-lab ecs "
        "import-policy`.\nAdd a [traffic] section (e.g. the trace from `ecs "
        "import-trace`) to replay real load.",
    )
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_import_trace(args: argparse.Namespace) -> int:
    from backends.aws_trace import import_trace
    from sim.traffic import parse_duration

    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise InputError(f"--since: {exc}") from None
    result = import_trace(connect(args), _ref(args), since, args.out, time.time(), args.period)
    print(
        f"wrote {args.out}: {result.rows} periods of {result.metric} ({result.missing} "
        "without a datapoint left out)",
        file=sys.stderr,
    )
    return 0


# -- the parser ---------------------------------------------------------------------------
def _guarded(func: Callable[[argparse.Namespace], int], prog: str):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except InputError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except AwsError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_AWS

    return run


def add_ecs_parser(sub: Any) -> None:
    """Register ``fargate-lab ecs ...`` on the main parser's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cluster", required=True, help="cluster name or ARN")
    common.add_argument("--service", required=True, help="service name or ARN")
    common.add_argument("--region", help="AWS Region (default: from your AWS config)")
    common.add_argument("--profile", help="AWS named profile (default: boto3's standard chain)")
    common.add_argument("--endpoint-url", help="an AWS-compatible endpoint (tests: moto)")
    common.add_argument(
        "--retry-mode",
        choices=("standard", "adaptive"),
        default="standard",
        help="botocore retry mode (standard)",
    )
    common.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        help="attempts per request, throttling retries included (5)",
    )
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument(
        "--apply",
        action="store_true",
        help="send the requests (default: dry run, print them as JSON)",
    )
    writes.add_argument(
        "--max-writes-per-minute",
        type=int,
        default=20,
        help="guardrail: at most this many writes in any 60 s (20)",
    )

    e = sub.add_parser("ecs", help="operate a real ECS service (dry run unless --apply)")
    esub = e.add_subparsers(dest="ecs_command", required=True)

    def add(name: str, func, help: str, parents: list) -> argparse.ArgumentParser:
        p = esub.add_parser(name, help=help, parents=parents)
        p.set_defaults(func=_guarded(func, f"fargate-lab ecs {name}"))
        return p

    p = add("status", cmd_status, "service, deployments, tasks, metrics, scaling", [common])
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("scale", cmd_scale, "set the desired count", [common, writes])
    p.add_argument("count", type=int, metavar="N")
    p.add_argument("--min", type=int, help="guardrail range (default: the scalable target's)")
    p.add_argument("--max", type=int, help="guardrail range (default: the scalable target's)")
    p.add_argument("--max-step", type=int, default=10, help="largest change allowed (10)")

    p = add(
        "deploy",
        cmd_deploy,
        "new task definition revision with IMAGE, then update",
        [common, writes],
    )
    p.add_argument("--image", required=True)
    p.add_argument("--container", help="container to update (default: the first)")
    p.add_argument(
        "--strategy", default="ROLLING", choices=("ROLLING", "BLUE_GREEN", "CANARY", "LINEAR")
    )
    p.add_argument("--bake-time", type=int, metavar="MINUTES")
    p.add_argument("--canary-percent", type=float)
    p.add_argument("--canary-bake-time", type=int, metavar="MINUTES")
    p.add_argument("--linear-step", type=float, metavar="PERCENT")
    p.add_argument("--linear-bake-time", type=int, metavar="MINUTES")
    p.add_argument(
        "--alarm",
        action="append",
        metavar="NAME",
        help="CloudWatch alarm that rolls the deployment back (repeatable)",
    )
    p.add_argument(
        "--no-circuit-breaker",
        dest="circuit_breaker",
        action="store_false",
        help="turn off the deployment circuit breaker (on, with rollback, by default)",
    )
    p.add_argument("--cpu", type=int, help="new task CPU units (with --memory)")
    p.add_argument("--memory", type=int, help="new task memory MiB (with --cpu)")
    p.add_argument("--capacity-provider", action="append", metavar="NAME[:WEIGHT[:BASE]]")

    add("rollback", cmd_rollback, "back to the previous task definition", [common, writes])

    p = add("run", cmd_run, "run a scenario's autoscaler live", [common, writes])
    p.add_argument("--scenario", required=True, help="scenario TOML file")
    p.add_argument("--for", dest="for_", metavar="DURATION", help="stop after (default: never)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--out", default="ecs-decisions.parquet", help="decision log (Parquet)")
    p.add_argument("--max-step", type=int, default=10, help="largest change per decision (10)")
    p.add_argument(
        "--history",
        default="3h",
        metavar="DURATION",
        help="metrics each observation reads (3h; predictive and learned want days)",
    )

    p = add(
        "export",
        cmd_export,
        "a scenario's autoscaler as native AWS configuration",
        [common, writes],
    )
    p.add_argument("scenario", help="scenario TOML file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")

    p = add("import-policy", cmd_import_policy, "the service's scaling as a scenario", [common])
    p.add_argument("--out", required=True, help="scenario TOML file to write")

    p = add("import-trace", cmd_import_trace, "the service's load as a trace CSV", [common])
    p.add_argument("--since", default="14d", help="how far back (14d; at most 15d)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--period", type=int, default=60, help="seconds per row (60)")
