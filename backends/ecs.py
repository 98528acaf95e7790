"""The real Amazon ECS service as a backend: the twin of :mod:`backends.sim`.

:class:`EcsBackend` implements :class:`backends.base.Backend`, so the unchanged
:class:`~backends.base.Controller` runs any policy against a live service on the
:class:`~backends.base.WallClock`. Policies never see boto3: they get the same
:class:`~policies.contract.Observation` as in simulation, with the same metric names.

observe() reads (AWS API reference):

- DescribeServices: desired, running and pending counts and the deployments,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html
- DescribeTaskDefinition (once per revision): the task size,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTaskDefinition.html
- DescribeTargetGroups (once): the CloudWatch dimensions of the service's target group,
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetGroups.html
- CloudWatch GetMetricData: ``AWS/ECS`` CPU and memory utilisation (Average, Minimum,
  Maximum), ``AWS/ApplicationELB`` RequestCount, RequestCountPerTarget, TargetResponseTime
  (average and p50/p90/p99), HTTPCode_Target_5XX_Count, HTTPCode_ELB_5XX_Count,
  HealthyHostCount, and Container Insights' ``ECS/ContainerInsights`` task counts,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html

The percentiles are read in a call of their own: an AWS-compatible endpoint that refuses
percentile statistics (moto answers HTTP 500) then leaves only them NaN, with one warning.
Periods are aligned to the metric period (60 s, or 20 s for high resolution) on the epoch;
a period is shown once ``publication_delay`` has passed since its end, as the simulator does,
and a period without a datapoint is NaN. ``Observation.time`` is the clock's time, seconds
since the epoch.

apply() writes UpdateService (desiredCount),
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html, after the
guardrails: the result is clamped into the scalable range ``[min_tasks, max_tasks]`` (kept by
the backend; a decision's ``min_tasks``/``max_tasks`` change it and push the desired count
into it, as a scheduled action does), moved at most ``max_step`` tasks from the current
desired count, and sent only within the write-rate guard. With ``dry_run`` the requests are
recorded in :attr:`EcsBackend.planned` and not sent. Each apply leaves what it did in
:attr:`EcsBackend.last_action` for the decision log.

deploy() (:class:`backends.base.Deployer`) ships a new revision: RegisterTaskDefinition (the
service's current revision with the new image),
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html,
then UpdateService with that task definition and the native ``deploymentConfiguration`` of
the requested rollout strategy (backends/ecs_deploy.py maps the registry names), validated
before any request, under the same write-rate guard and dry run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from backends.aws import AwsClients, AwsError, GuardrailError, Request, WriteRateGuard, execute
from backends.base import Clock, DeployRequest, WallClock
from backends.ecs_validate import check_count, check_range
from policies.base import clamp
from policies.contract import METRIC_NAMES, Decision, DeploymentState, MetricHistory, Observation

ECS_NS = "AWS/ECS"
ALB_NS = "AWS/ApplicationELB"
INSIGHTS_NS = "ECS/ContainerInsights"

#: metric name -> (namespace, CloudWatch metric, dimensions kind, statistic). Dimension kinds:
#: "service" (ClusterName, ServiceName), "tg" (TargetGroup, LoadBalancer), "tg_only"
#: (TargetGroup: RequestCountPerTarget), "lb" (LoadBalancer).
METRIC_SOURCES: dict[str, tuple[str, str, str, str]] = {
    "CPUUtilization": (ECS_NS, "CPUUtilization", "service", "Average"),
    "CPUUtilization_Minimum": (ECS_NS, "CPUUtilization", "service", "Minimum"),
    "CPUUtilization_Maximum": (ECS_NS, "CPUUtilization", "service", "Maximum"),
    "MemoryUtilization": (ECS_NS, "MemoryUtilization", "service", "Average"),
    "MemoryUtilization_Minimum": (ECS_NS, "MemoryUtilization", "service", "Minimum"),
    "MemoryUtilization_Maximum": (ECS_NS, "MemoryUtilization", "service", "Maximum"),
    "RequestCount": (ALB_NS, "RequestCount", "tg", "Sum"),
    "RequestCountPerTarget": (ALB_NS, "RequestCountPerTarget", "tg_only", "Sum"),
    "TargetResponseTime": (ALB_NS, "TargetResponseTime", "tg", "Average"),
    "TargetResponseTime_p50": (ALB_NS, "TargetResponseTime", "tg", "p50"),
    "TargetResponseTime_p90": (ALB_NS, "TargetResponseTime", "tg", "p90"),
    "TargetResponseTime_p99": (ALB_NS, "TargetResponseTime", "tg", "p99"),
    "HTTPCode_Target_5XX_Count": (ALB_NS, "HTTPCode_Target_5XX_Count", "tg", "Sum"),
    "HTTPCode_ELB_5XX_Count": (ALB_NS, "HTTPCode_ELB_5XX_Count", "lb", "Sum"),
    "HealthyHostCount": (ALB_NS, "HealthyHostCount", "tg", "Average"),
    "RunningTaskCount": (INSIGHTS_NS, "RunningTaskCount", "service", "Average"),
    "PendingTaskCount": (INSIGHTS_NS, "PendingTaskCount", "service", "Average"),
    "DesiredTaskCount": (INSIGHTS_NS, "DesiredTaskCount", "service", "Average"),
}
assert set(METRIC_SOURCES) == set(METRIC_NAMES)

PERCENTILES = ("TargetResponseTime_p50", "TargetResponseTime_p90", "TargetResponseTime_p99")

log = logging.getLogger("fargate_lab.ecs")


@dataclass(frozen=True)
class ServiceRef:
    """Which service: cluster and service names (or ARNs)."""

    cluster: str
    service: str

    @property
    def resource_id(self) -> str:
        """Application Auto Scaling's ResourceId for the service."""
        return f"service/{self.cluster.split('/')[-1]}/{self.service.split('/')[-1]}"


def arn_suffix(arn: str, marker: str) -> str:
    """The CloudWatch dimension value of an ELB ARN: ``targetgroup/name/id`` or
    ``app/name/id`` (the part after ``loadbalancer/``)."""
    _, _, rest = arn.partition(":" + marker)
    if marker == "loadbalancer/":
        return rest
    return marker + rest if rest else arn


def describe_service(clients: AwsClients, ref: ServiceRef) -> dict[str, Any]:
    """DescribeServices for one service; a missing service is a one-line :class:`AwsError`."""
    out = clients.call("ecs", "DescribeServices", cluster=ref.cluster, services=[ref.service])
    services = out.get("services", [])
    if not services or services[0].get("status") == "INACTIVE":
        reason = "; ".join(f.get("reason", "") for f in out.get("failures", [])) or "not found"
        raise AwsError(
            f"ecs DescribeServices: service {ref.service!r} in {ref.cluster!r}: {reason}"
        )
    return services[0]


def target_group_dims(clients: AwsClients, service: dict[str, Any]) -> dict[str, str] | None:
    """CloudWatch dimension values of the service's (first) target group, or None."""
    tgs = [
        lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if "targetGroupArn" in lb
    ]
    if not tgs:
        return None
    out = clients.call("elbv2", "DescribeTargetGroups", TargetGroupArns=tgs[:1])
    group = out["TargetGroups"][0]
    lbs = group.get("LoadBalancerArns", [])
    return {
        "TargetGroup": arn_suffix(group["TargetGroupArn"], "targetgroup/"),
        "LoadBalancer": arn_suffix(lbs[0], "loadbalancer/") if lbs else "",
    }


def metric_queries(
    names: list[str], ref: ServiceRef, tg: dict[str, str] | None, period: int
) -> list[dict[str, Any]]:
    """GetMetricData queries (Id ``m<i>``) for the metric names that have a source."""
    cluster, service = ref.cluster.split("/")[-1], ref.service.split("/")[-1]
    queries = []
    for i, name in enumerate(names):
        ns, metric, kind, stat = METRIC_SOURCES[name]
        if kind == "service":
            dims = [
                {"Name": "ClusterName", "Value": cluster},
                {"Name": "ServiceName", "Value": service},
            ]
        elif tg is None:
            continue  # no load balancer: the ALB metrics stay NaN
        elif kind == "tg":
            dims = [
                {"Name": "TargetGroup", "Value": tg["TargetGroup"]},
                {"Name": "LoadBalancer", "Value": tg["LoadBalancer"]},
            ]
        elif kind == "tg_only":
            dims = [{"Name": "TargetGroup", "Value": tg["TargetGroup"]}]
        else:
            dims = [{"Name": "LoadBalancer", "Value": tg["LoadBalancer"]}]
        queries.append(
            {
                "Id": f"m{i}",
                "Label": name,
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": metric, "Dimensions": dims},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
        )
    return queries


def fetch_metrics(
    clients: AwsClients,
    queries: list[dict[str, Any]],
    start: float,
    end: float,
    period: int,
) -> dict[str, np.ndarray]:
    """GetMetricData over ``[start, end)`` (epoch seconds, period-aligned) into arrays on the
    period grid, NaN where there is no datapoint; keyed by the queries' labels."""
    n = int(round((end - start) / period))
    out = {q["Label"]: np.full(n, np.nan) for q in queries}
    if n <= 0 or not queries:
        return out
    label = {q["Id"]: q["Label"] for q in queries}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": datetime.fromtimestamp(start, UTC),
        "EndTime": datetime.fromtimestamp(end, UTC),
        "ScanBy": "TimestampAscending",
    }
    while True:
        page = clients.call("cloudwatch", "GetMetricData", **kwargs)
        for result in page.get("MetricDataResults", []):
            column = out[label[result["Id"]]]
            for ts, value in zip(
                result.get("Timestamps", []), result.get("Values", []), strict=False
            ):
                i = int(math.floor((ts.timestamp() - start) / period + 1e-9))
                if 0 <= i < n:
                    column[i] = float(value)
        token = page.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass
class Action:
    """What one apply() did: the desired count asked, the one sent (None: nothing sent),
    whether it was a dry run, and why the guardrails changed it."""

    asked: int | None
    sent: int | None
    dry_run: bool
    note: str = ""


class EcsBackend:
    """:class:`backends.base.Backend` over a live ECS service (see the module docstring).

    Parameters: ``clients`` (:class:`backends.aws.AwsClients`), ``ref`` (the service),
    ``min_tasks``/``max_tasks`` (the scalable range the guardrails enforce),
    ``capacity_rps`` (requests/s one task serves at full CPU, as in a scenario),
    ``period`` (60 or 20 s), ``publication_delay`` (s), ``history`` (seconds of metrics each
    observation reads), ``max_step`` (largest change of the desired count per apply, None:
    unlimited), ``guard`` (the write-rate guard), ``clock`` (default the wall clock),
    ``dry_run`` (record writes instead of sending them).
    """

    deterministic = False

    def __init__(
        self,
        clients: AwsClients,
        ref: ServiceRef,
        *,
        min_tasks: int,
        max_tasks: int,
        capacity_rps: float = 100.0,
        period: int = 60,
        publication_delay: float = 60.0,
        history: float = 3 * 3600.0,
        max_step: int | None = 10,
        guard: WriteRateGuard | None = None,
        clock: Clock | None = None,
        dry_run: bool = False,
        metric_names: tuple[str, ...] = METRIC_NAMES,
    ) -> None:
        self.min_tasks, self.max_tasks = check_range(min_tasks, max_tasks)
        if period not in (20, 60):
            raise GuardrailError(f"metric period must be 60 or 20 s, got {period}")
        if max_step is not None and check_count("max step", max_step) < 1:
            raise GuardrailError("max step must be >= 1 (or None for no limit)")
        self.clients = clients
        self.ref = ref
        self.capacity_rps = capacity_rps
        self.period = period
        self.publication_delay = publication_delay
        self.history = history
        self.max_step = max_step
        self.guard = guard if guard is not None else WriteRateGuard()
        self.clock = clock if clock is not None else WallClock()
        self.dry_run = dry_run
        self.metric_names = metric_names
        self.planned: list[Request] = []
        self.last_action: Action | None = None
        self._desired: int | None = None
        self._tg: dict[str, str] | None | bool = False  # False: not looked up yet
        self._sizes: dict[str, tuple[int, int]] = {}
        self._percentiles_failed = False

    # -- the read ---------------------------------------------------------------------------
    def use_load_balancer(self, service: dict[str, Any]) -> None:
        """Look up (once) the CloudWatch dimensions of the service's target group."""
        self._tg = target_group_dims(self.clients, service)

    def _task_size(self, arn: str) -> tuple[int, int]:
        if arn not in self._sizes:
            td = self.clients.call("ecs", "DescribeTaskDefinition", taskDefinition=arn)
            td = td["taskDefinition"]
            self._sizes[arn] = (int(td.get("cpu") or 0), int(td.get("memory") or 0))
        return self._sizes[arn]

    def metrics(self, now: float) -> MetricHistory:
        """The published metric periods in the ``history`` window before ``now``."""
        p = self.period
        visible_end = math.floor((now - self.publication_delay) / p + 1e-9) * p
        start = max(0.0, visible_end - math.floor(self.history / p) * p)
        tg = self._tg if isinstance(self._tg, dict) else None
        queries = metric_queries(list(self.metric_names), self.ref, tg, p)
        plain = [q for q in queries if q["Label"] not in PERCENTILES]
        values = fetch_metrics(self.clients, plain, start, visible_end, p)
        extended = [q for q in queries if q["Label"] in PERCENTILES]
        if extended and not self._percentiles_failed:
            try:  # a separate call: an endpoint without percentiles loses only these
                values.update(fetch_metrics(self.clients, extended, start, visible_end, p))
            except AwsError as exc:
                self._percentiles_failed = True
                log.warning("percentile statistics unavailable, left NaN from now on: %s", exc)
        n = max(0, int(round((visible_end - start) / p)))
        starts = _readonly(start + p * np.arange(n, dtype=float))
        columns = {name: _readonly(values.get(name, np.full(n, np.nan))) for name in METRIC_NAMES}
        return MetricHistory(float(p), starts, columns)

    def observe(self) -> Observation:
        now = self.clock.now()
        svc = describe_service(self.clients, self.ref)
        if self._tg is False:
            self.use_load_balancer(svc)
        desired = int(svc.get("desiredCount", 0))
        running, pending = int(svc.get("runningCount", 0)), int(svc.get("pendingCount", 0))
        self._desired = desired
        cpu, memory = self._task_size(svc["taskDefinition"])
        metrics = self.metrics(now)
        healthy = running
        hosts = metrics["HealthyHostCount"]
        if self._tg and len(hosts) and not math.isnan(hosts[-1]):
            healthy = min(running, int(round(hosts[-1])))
        deployments = svc.get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        in_progress = len(deployments) > 1 or primary.get("rolloutState") == "IN_PROGRESS"
        # the service's task definition is its PRIMARY deployment's on AWS (the newest); an
        # emulator that keeps its deployments unchanged (moto) still shows it there
        revision = int(str(svc.get("taskDefinition") or primary["taskDefinition"]).rsplit(":")[-1])
        return Observation(
            time=float(now),
            desired=desired,
            running=running,
            pending=pending,
            healthy=healthy,
            min_tasks=self.min_tasks,
            max_tasks=self.max_tasks,
            cpu=cpu,
            memory=memory,
            capacity_rps=self.capacity_rps,
            metrics=metrics,
            deployment=DeploymentState(in_progress=in_progress, revision=revision),
        )

    # -- the write --------------------------------------------------------------------------
    def plan(self, decision: Decision, current: int) -> tuple[list[Request], Action]:
        """The requests a decision leads to from the current desired count, after the
        guardrails; also updates the scalable range. Nothing is sent."""
        lo = self.min_tasks if decision.min_tasks is None else decision.min_tasks
        hi = self.max_tasks if decision.max_tasks is None else decision.max_tasks
        lo, hi = check_range(lo, hi)
        self.min_tasks, self.max_tasks = lo, hi
        asked = decision.desired
        want = current if asked is None else check_count("desired count", asked)
        notes = []
        target = clamp(want, lo, hi)
        if target != want:
            notes.append(f"clamped {want} into [{lo}, {hi}]")
        if self.max_step is not None and abs(target - current) > self.max_step:
            step = self.max_step if target > current else -self.max_step
            notes.append(f"moved {step:+d} of {target - current:+d} (max step {self.max_step})")
            target = current + step
        if target == current:
            return [], Action(asked, None, self.dry_run, "; ".join(notes))
        req = Request(
            "ecs",
            "UpdateService",
            {"cluster": self.ref.cluster, "service": self.ref.service, "desiredCount": target},
        )
        return [req], Action(asked, target, self.dry_run, "; ".join(notes))

    def apply(self, decision: Decision) -> None:
        current = self._desired
        if current is None:
            current = int(describe_service(self.clients, self.ref).get("desiredCount", 0))
        requests, action = self.plan(decision, current)
        if requests and self.dry_run:
            self.planned.extend(requests)
        elif requests:
            execute(self.clients, requests, apply=True, guard=self.guard)
        if action.sent is not None:
            self._desired = action.sent
        self.last_action = action

    def deploy(self, request: DeployRequest) -> list[Request]:
        """Ship ``request`` through ECS's native deployment (module docstring): returns the
        requests, sent in order, or recorded in :attr:`planned` with ``dry_run``. Bad input
        (unknown strategy, a value ECS cannot take, no image, the Fargate size matrix) is
        refused before any request; a plan over the write-rate guard before any write."""
        from backends.ecs_deploy import deploy_requests

        requests = deploy_requests(self.clients, self.ref, request)
        if self.dry_run:
            self.planned.extend(requests)
        else:
            execute(self.clients, requests, apply=True, guard=self.guard)
        log.info("deploy %s by %s: %s", request.image, request.strategy, request.reason)
        return requests
