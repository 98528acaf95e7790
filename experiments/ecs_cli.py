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
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backends.aws import AwsClients, AwsError, InputError, Request, WriteRateGuard, execute
from backends.ecs import EcsBackend, ServiceRef
from backends.ecs_ops import (
    DeploySpec,
    deploy_plan,
    rollback_plan,
    run_live,
    scale_plan,
    status,
)

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


# -- status -------------------------------------------------------------------------------
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
STRATEGY_FLAGS = (
    "strategy",
    "bake_time",
    "canary_percent",
    "canary_bake_time",
    "linear_step",
    "linear_bake_time",
    "minimum_healthy_percent",
    "maximum_percent",
)


def deploy_spec(args: argparse.Namespace) -> DeploySpec:
    """``ecs deploy``'s flags as a :class:`DeploySpec`; with ``--scenario``, the scenario's
    ``[rollout]`` strategy by the same mapping as ``ecs export`` (backends/ecs_deploy.py)."""
    if args.scenario is None:
        return DeploySpec(
            image=args.image,
            container=args.container,
            strategy=args.strategy or "ROLLING",
            circuit_breaker=args.circuit_breaker,
            alarm=list(args.alarm or []),
            bake_time=args.bake_time,
            canary_percent=args.canary_percent,
            canary_bake_time=args.canary_bake_time,
            linear_step=args.linear_step,
            linear_bake_time=args.linear_bake_time,
            minimum_healthy_percent=args.minimum_healthy_percent,
            maximum_percent=args.maximum_percent,
            cpu=args.cpu,
            memory=args.memory,
            capacity_provider=list(args.capacity_provider or []),
        )
    from backends.aws_export import refuse_analysis
    from backends.ecs_deploy import strategy_spec
    from sim.scenario import ScenarioError, load_scenario

    flags = [f"--{k.replace('_', '-')}" for k in STRATEGY_FLAGS if getattr(args, k) is not None]
    if not args.circuit_breaker:
        flags.append("--no-circuit-breaker")
    if flags:
        raise InputError(
            f"--scenario takes the strategy from the scenario's [rollout]; drop {', '.join(flags)}"
        )
    try:
        scenario = load_scenario(args.scenario, [])
    except ScenarioError as exc:
        raise InputError(str(exc)) from None
    refuse_analysis(scenario)
    spec, notes = strategy_spec(
        scenario.rollout.strategy,
        scenario.rollout.params,
        image=args.image,
        container=args.container,
        alarms=list(args.alarm or []),
    )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    spec.cpu, spec.memory = args.cpu, args.memory
    spec.capacity_provider = list(args.capacity_provider or [])
    return spec


def cmd_deploy(args: argparse.Namespace) -> int:
    spec = deploy_spec(args)  # validated before any request
    clients = connect(args)
    _send(args, clients, deploy_plan(clients, _ref(args), spec))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    clients = connect(args)
    _send(args, clients, rollback_plan(clients, _ref(args)))
    return 0


# -- run ----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from sim.scenario import ScenarioError, load_scenario
    from sim.traffic.config import parse_duration

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
    from backends.aws_import import import_scenario, to_toml
    from sim.scenario import scenario_from_dict

    ref = _ref(args)
    notes: list[str] = []
    data = import_scenario(connect(args), ref, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    scenario_from_dict(data, f"{ref.resource_id} (imported)")  # simulate must accept it
    text = to_toml(
        data,
        header=f"Imported from {ref.resource_id} by `fargate-lab ecs "
        "import-policy`.\nAdd a [traffic] section (e.g. the trace from `ecs "
        "import-trace`) to replay real load.",
    )
    from experiments.outputs import write_text_atomic

    write_text_atomic(args.out, text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_import_trace(args: argparse.Namespace) -> int:
    from backends.aws_trace import import_trace
    from sim.traffic.config import parse_duration

    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise InputError(f"--since: {exc}") from None
    from experiments.outputs import atomic_file

    with atomic_file(args.out) as tmp:  # the previous file stays whole if the import fails
        result = import_trace(connect(args), _ref(args), since, tmp, time.time(), args.period)
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
        "--strategy",
        choices=("ROLLING", "BLUE_GREEN", "CANARY", "LINEAR"),
        help="native deployment strategy (ROLLING)",
    )
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="take the strategy from this scenario's [rollout] (as `ecs export` maps it)",
    )
    p.add_argument("--minimum-healthy-percent", type=int, metavar="PERCENT")
    p.add_argument("--maximum-percent", type=int, metavar="PERCENT")
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
