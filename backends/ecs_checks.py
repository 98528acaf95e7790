"""The ECS backend's entry in the conformance suite (:mod:`backends.checks`), run against an
AWS-compatible *emulator*, never an account: the factory refuses to run without an explicit
emulator endpoint (``$FARGATE_LAB_ECS_CHECK_ENDPOINT``; the tests start moto's server and set
it).

Each factory call creates a fresh cluster and service (unique names), without a load
balancer (its ALB metrics are NaN), and drives an :class:`~backends.ecs.EcsBackend` on a
:class:`~backends.base.WallClock` whose sleep, monotonic and wall functions are a virtual
time: ``advance(seconds)`` moves it, so the suite's 200-second controller run takes no real
time. An emulator stores what it is sent and nothing happens by itself (no task starts, no
metric is published), so the ECS backend is not deterministic in the suite's sense only
because AWS is not; see :data:`backends.checks.KNOWN_EXCEPTIONS`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

ENDPOINT_ENV = "FARGATE_LAB_ECS_CHECK_ENDPOINT"


class VirtualTime:
    """A clock that moves only when slept on."""

    def __init__(self, start: float) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += float(seconds)


def create_service(
    clients: Any,
    cluster: str,
    service: str,
    *,
    desired: int = 3,
    cpu: str = "256",
    memory: str = "512",
    load_balancer: bool = False,
) -> dict[str, Any]:
    """Create a Fargate service on an emulator: cluster, task definition, optionally an ALB
    with a target group (slow on moto: its EC2 backend starts), and the service. Returns the
    ARNs. For tests and the conformance suite only."""
    clients.call("ecs", "CreateCluster", clusterName=cluster)
    td = clients.call(
        "ecs",
        "RegisterTaskDefinition",
        family=service,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu=cpu,
        memory=memory,
        containerDefinitions=[
            {"name": "app", "image": "public.ecr.aws/nginx/nginx:1", "memory": int(memory)}
        ],
    )["taskDefinition"]
    out: dict[str, Any] = {"taskDefinitionArn": td["taskDefinitionArn"]}
    params: dict[str, Any] = {
        "cluster": cluster,
        "serviceName": service,
        "taskDefinition": td["taskDefinitionArn"],
        "desiredCount": desired,
        "launchType": "FARGATE",
    }
    if load_balancer:
        vpc = clients.call("ec2", "CreateVpc", CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            clients.call(
                "ec2",
                "CreateSubnet",
                VpcId=vpc,
                CidrBlock=f"10.0.{i}.0/24",
                AvailabilityZone=f"us-east-1{az}",
            )["Subnet"]["SubnetId"]
            for i, az in enumerate("ab")
        ]
        lb = clients.call("elbv2", "CreateLoadBalancer", Name=f"lb-{service}"[:32], Subnets=subnets)
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        tg = clients.call(
            "elbv2",
            "CreateTargetGroup",
            Name=f"tg-{service}"[:32],
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            TargetType="ip",
        )["TargetGroups"][0]["TargetGroupArn"]
        clients.call(
            "elbv2",
            "CreateListener",
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
        params["loadBalancers"] = [
            {"targetGroupArn": tg, "containerName": "app", "containerPort": 80}
        ]
        out.update(loadBalancerArn=lb_arn, targetGroupArn=tg)
    out["serviceArn"] = clients.call("ecs", "CreateService", **params)["service"]["serviceArn"]
    return out


def ecs_factory(endpoint_url: str | None = None) -> Callable[[], tuple[Any, Callable]]:
    """A conformance-suite factory for :class:`~backends.ecs.EcsBackend` on an emulator."""

    def make() -> tuple[Any, Callable[[float], None]]:
        from backends.aws import AwsClients
        from backends.base import WallClock
        from backends.ecs import EcsBackend, ServiceRef

        url = endpoint_url or os.environ.get(ENDPOINT_ENV)
        if not url:
            raise RuntimeError(
                f"the ECS conformance checks need an emulator: set {ENDPOINT_ENV} to its URL "
                "(the tests start moto's server); they create clusters, so never a real account"
            )
        clients = AwsClients(region="us-east-1", endpoint_url=url, max_attempts=1)
        name = f"check-{uuid.uuid4().hex[:8]}"
        create_service(clients, name, name, desired=3)
        vt = VirtualTime(time.time())
        backend = EcsBackend(
            clients,
            ServiceRef(name, name),
            min_tasks=1,
            max_tasks=8,
            clock=WallClock(sleep=vt.sleep, monotonic=vt.now, wall=vt.now),
            max_step=None,
            history=1800.0,
        )
        return backend, vt.sleep

    return make
