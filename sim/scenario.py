"""Scenario files: TOML, validated on load (pydantic models with ``extra="forbid"``).

An error names the file, the key (``section.key``) and what is allowed: an unknown key lists
the keys of its section and suggests the closest one. Every default below is documented on its
field, with its AWS source where AWS publishes the number; the rest are named model
parameters. Infinite and NaN numbers are refused everywhere, and a run whose per-tick arrays
would not fit in the machine's available memory is refused before anything is allocated
(:func:`check_memory`).
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.fargate import DEFAULT_SPOT_DISCOUNT, TaskSize, TaskSizeError
from sim.pipeline_config import PipelineConfig, RiskConfig
from sim.releases import ReleasesConfig
from sim.traffic.config import TrafficConfig, parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


def _positive_duration(value: Any) -> float:
    """:func:`parse_duration` for a duration that must be > 0: zero and negative numbers are
    refused as "must be > 0" (parse_duration alone would say ">= 0" for a negative one)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return parse_duration(value)


#: A duration that must be > 0.
PositiveDuration = Annotated[float, BeforeValidator(_positive_duration), Field(gt=0)]

#: Amazon ECS quota "Tasks per service", 5,000 per Region (the most tasks one service may
#: run, its desired count): https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
#: service-quotas.html ("Amazon ECS service quotas" table; quota code L-4637F321).
ECS_TASKS_PER_SERVICE = 5000

#: Bytes of memory a run needs per simulated tick. The per-tick arrays are windows of a day or
#: two (sim/window.py), except the rate (8 bytes per tick, kept whole for the future-load view);
#: what else grows with the run is per period (the metric store's columns, the decisions
#: table, the event log). Measured with ``python benchmarks/bench_sim.py --memory`` (peak RSS,
#: 1 s ticks, 60 s periods, a policy deciding every minute): about 26 bytes per simulated
#: second between 90 and 365 days; rounded up to 32 for shorter periods and decision
#: intervals. (200 before the windows, when every per-tick array was kept whole.)
BYTES_PER_TICK = 32
#: Fixed memory of a run besides its ticks (interpreter, libraries, tables), bytes.
BASE_RUN_BYTES = 200 * 2**20
#: Bytes per tick of each revision a release deploys: its target group's arrays (arrivals,
#: rate, target 5xx, served, failed, late, backlog as float64, the serving count as int32:
#: 60 bytes, sim/service.py), rounded up to 64. A run's revisions are kept to its end.
BYTES_PER_TICK_PER_RELEASE = 64


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)


#: Default publication delay by metric period (s), fitted to AWS's reaction-time benchmark
#: (see RunConfig.publication_delay and the README section on metrics and delays).
PUBLICATION_DELAY_S: dict[int, float] = {60: 180.0, 20: 25.0}


class RunConfig(_Section):
    seed: int = Field(1, ge=0, description="Root seed; one generator per random source.")
    duration: PositiveDuration = Field(86400.0, description="Simulated time, default 24h.")
    tick: PositiveDuration = Field(1.0, description="Fluid step, default 1 s; divides 60 s.")
    metrics_period: Literal[60, 20] = Field(
        60, description="CloudWatch period: 60 s standard or 20 s high resolution."
    )
    # -- reaction-time calibration (README "Metrics, delays and reaction time") -------------
    # AWS's benchmark (AWS News Blog, "Amazon ECS introduces new high-resolution metrics for
    # faster service auto scaling", 2026-06, https://aws.amazon.com/blogs/aws/
    # amazon-ecs-introduces-new-high-resolution-metrics-for-faster-service-auto-scaling/):
    # target tracking on CPU triggers a scale-out 363 s after a load step with 60 s metrics
    # and 86 s with 20 s metrics; scale and provision take 386 s and 109 s. AWS publishes no
    # figure for any single component below, so the two delays are fitted to that benchmark
    # (tests/backends/test_reaction_time.py) and are named parameters. The fit assumes a
    # step to saturation at a random phase, target tracking's 3-datapoint scale-out alarm,
    # and an alarm evaluated once per datapoint period (with 20 s metrics and a 60 s
    # evaluation the means are 101 s and 124 s, outside AWS's 86 s and 109 s).
    # Documented facts: ECS sends CPU and memory utilisation in 1-minute periods, or 20 s
    # when configured (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
    # service_utilization.html, .../target-tracking-faster-auto-scaling.html); CloudWatch
    # evaluates alarms with 10 s or 30 s periods every 10 s (https://docs.aws.amazon.com/
    # AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html); no AWS page gives the
    # publication lag, the phase of an alarm's evaluations or the actuation time.
    publication_delay: Duration | None = Field(
        None,
        description="Seconds after a period ends before a reader (the alarm) sees it. None: "
        "by resolution, PUBLICATION_DELAY_S (60 s metrics 180 s, 20 s metrics 25 s), fitted "
        "to AWS's benchmark: AWS documents only that ECS sends metrics in 1-minute periods "
        "(20 s when high resolution is configured), not the lag before CloudWatch serves them.",
    )
    alarm_evaluation_phase: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Where in its evaluation interval the alarm (the controller round) is "
        "evaluated, as a fraction of the policy's interval: CloudWatch evaluates alarms on its "
        "own schedule, not aligned with publication. None: drawn per run, uniform in [0, 1), "
        "from the 'cloudwatch' stream of the seed.",
    )
    actuation_delay: Duration = Field(
        23.0,
        description="Seconds from a scaling decision to the service's new desired count "
        "(Application Auto Scaling -> ECS UpdateService -> the scheduler starting tasks). "
        "Fitted: AWS's benchmark puts 23 s between trigger and first task provisioning at "
        "both resolutions (386 - 363, 109 - 86); AWS documents no figure for it.",
    )

    @model_validator(mode="after")
    def _publication_delay_by_resolution(self) -> RunConfig:
        if self.publication_delay is None:
            self.publication_delay = PUBLICATION_DELAY_S[self.metrics_period]
        return self

    @field_validator("metrics_period", mode="before")
    @classmethod
    def _period(cls, v: Any) -> Any:
        return int(parse_duration(v)) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _tick_divides_period(self) -> RunConfig:
        ratio = self.metrics_period / self.tick
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(
                f"tick={self.tick} s must divide metrics_period={self.metrics_period} s"
            )
        return self


class CapacityProvider(_Section):
    name: Literal["FARGATE", "FARGATE_SPOT"]
    base: int = Field(0, ge=0, le=100000)
    weight: int = Field(1, ge=0, le=1000)


class ServiceConfig(_Section):
    cpu: int = Field(1024, description="CPU units (Fargate size matrix).")
    memory: int = Field(2048, description="MiB, valid for the CPU value.")
    arch: Literal["x86_64", "arm64"] = "x86_64"
    min_tasks: int = Field(1, ge=0)
    max_tasks: int = Field(
        100,
        ge=1,
        le=ECS_TASKS_PER_SERVICE,
        description="Most tasks; at most the ECS quota of 5,000 tasks per service.",
    )
    initial_tasks: int = Field(10, ge=0)
    capacity_rps: float = Field(
        100.0, gt=0, description="Requests/s one task serves at full CPU (model parameter)."
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Requests one task serves concurrently (M/M/k servers per task); default "
        "one per vCPU (at least 1), for a CPU-bound service.",
    )
    azs: list[str] = Field(
        default_factory=lambda: ["us-east-1a", "us-east-1b", "us-east-1c"], min_length=1
    )
    image_size_mb: float = Field(
        413.0, gt=0, description="Image size MB (model parameter; a measured 413 MB image)."
    )
    pull_mbps: float = Field(
        8.8,
        gt=0,
        description="Image pull throughput MB/s (model parameter). Default from a measured "
        "example: 413 MB in 57 s creation-to-start, less ~10 s provisioning -> 413/47 = "
        "8.8 MB/s.",
    )
    pull_jitter: float = Field(
        0.08,
        ge=0,
        lt=1,
        description="Coefficient of variation of pull time; the measured 53-62 s around "
        "57 s is about +/-8%.",
    )
    provisioning: tuple[Duration, Duration] = Field(
        (5.0, 15.0), description="Uniform range of PROVISIONING time (model parameter)."
    )
    container_start: Duration = Field(
        2.0, description="Seconds from image pulled to RUNNING (model parameter)."
    )
    health_check_interval: PositiveDuration = Field(30.0, description="ALB default 30 s.")
    healthy_threshold: int = Field(5, ge=2, le=10, description="ALB default 5.")
    deregistration_delay: Duration = Field(
        300.0, le=3600, description="Draining time, ALB default 300 s (0-3600)."
    )
    stop_duration: Duration = Field(
        2.0,
        le=120,
        description="Seconds from SIGTERM to exit for a well-behaved app (model parameter; "
        "bounded by stopTimeout, default 30 s, max 120 s).",
    )
    deprovisioning: Duration = Field(
        5.0, description="DEPROVISIONING time, network interface detach (model parameter)."
    )
    request_timeout: PositiveDuration = Field(
        60.0,
        description="A request waiting longer fails as a 5xx; default the ALB idle timeout, "
        "60 s (AWS ALB documentation).",
    )
    capacity_providers: list[CapacityProvider] = Field(
        default_factory=lambda: [CapacityProvider(name="FARGATE", weight=1)], min_length=1
    )
    spot_discount: float = Field(
        DEFAULT_SPOT_DISCOUNT,
        ge=0,
        lt=1,
        description="Fargate Spot discount, 'up to 70%' (https://aws.amazon.com/fargate/pricing/).",
    )
    launch_rate_per_minute: int = Field(
        500,
        ge=1,
        description="Tasks launched per service per minute on Fargate, 500 (https://"
        "docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html).",
    )
    account_burst: int = Field(
        100,
        ge=1,
        description="Account launch token bucket, burst 100 (https://docs.aws.amazon.com/"
        "AmazonECS/latest/developerguide/throttling.html).",
    )
    account_rate: float = Field(
        20.0, gt=0, description="Account launch bucket refill, 20 tasks/s (same page)."
    )
    vcpu_quota: float | None = Field(
        None, gt=0, description="Fargate vCPU quota; default unlimited (model parameter)."
    )
    scheduler_retry: PositiveDuration = Field(
        15.0, description="Seconds between placement retries when blocked (parameter)."
    )
    idle_cpu: float = Field(
        0.0, ge=0, le=100, description="CPU % of a running task with no traffic (parameter)."
    )
    memory_base: float = Field(
        25.0, ge=0, le=100, description="Memory % of an idle task (model parameter)."
    )
    memory_per_cpu: float = Field(
        0.25, ge=0, description="Extra memory % per CPU % (model parameter)."
    )
    az_rebalancing: bool = Field(True, description="AZ rebalancing, on by default since 2025.")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        try:
            TaskSize(self.cpu, self.memory, self.arch)
        except TaskSizeError as exc:
            raise ValueError(str(exc)) from None
        if self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks={self.min_tasks} is above max_tasks={self.max_tasks}")
        if not self.min_tasks <= self.initial_tasks <= self.max_tasks:
            raise ValueError(
                f"initial_tasks={self.initial_tasks} is outside [min_tasks, max_tasks] = "
                f"[{self.min_tasks}, {self.max_tasks}]"
            )
        if self.provisioning[0] > self.provisioning[1]:
            raise ValueError(f"provisioning range {self.provisioning} is not [low, high]")
        if len(set(self.azs)) != len(self.azs):
            raise ValueError(f"azs has duplicates: {self.azs}")
        names = [p.name for p in self.capacity_providers]
        if len(set(names)) != len(names):
            raise ValueError(f"capacity_providers names repeat: {names}")
        if sum(1 for p in self.capacity_providers if p.base > 0) > 1:
            raise ValueError("capacity_providers: only one provider may set base")
        if sum(p.weight for p in self.capacity_providers) == 0:
            raise ValueError("capacity_providers: at least one weight must be > 0")
        return self

    @property
    def task_size(self) -> TaskSize:
        return TaskSize(self.cpu, self.memory, self.arch)

    @property
    def workers_per_task(self) -> int:
        return self.workers if self.workers is not None else max(1, self.cpu // 1024)


class AzOutage(_Section):
    az: str
    at: Duration
    duration: PositiveDuration


class Window(_Section):
    at: Duration
    duration: PositiveDuration


class ExplicitFault(_Section):
    at: Duration
    tasks: int = Field(1, ge=1)


class FaultsConfig(_Section):
    task_mtbf: PositiveDuration | None = Field(
        None, description="Mean time between crashes per running task; None = none."
    )
    crashes: list[ExplicitFault] = Field(default_factory=list)
    az_mtbf: PositiveDuration | None = Field(
        None, description="Mean time between random AZ outages (any AZ); None = none."
    )
    az_outage_duration: PositiveDuration = Field(3600.0, description="Length of a random outage.")
    az_outages: list[AzOutage] = Field(default_factory=list)
    spot_interruptions_per_task_hour: float = Field(
        0.0, ge=0, description="Poisson rate per Spot task-hour (AWS publishes none)."
    )
    spot_notice: Duration = Field(
        120.0,
        description="Interruption notice, 2 min (https://docs.aws.amazon.com/AmazonECS/latest/"
        "developerguide/fargate-capacity-providers.html).",
    )
    spot_interruptions: list[ExplicitFault] = Field(default_factory=list)
    spot_unavailable: list[Window] = Field(default_factory=list)


class SloConfig(_Section):
    p99_ms: float = Field(500.0, gt=0, description="p99 latency objective per minute.")
    error_rate: float = Field(0.001, ge=0, le=1, description="Failed share allowed per minute.")


class AutoscalerConfig(BaseModel):
    """``policy`` names a registered policy; every other key is one of its parameters."""

    model_config = ConfigDict(extra="allow")
    policy: str = "static"

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RolloutConfig(BaseModel):
    """``strategy`` names a registered rollout strategy (``fargate-lab rollouts``); every
    other key is one of its parameters. Default ``rolling``, the ECS deployment controller's
    default (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html)."""

    model_config = ConfigDict(extra="allow")
    extra_doc: ClassVar[str] = (
        "any other key is a parameter of the named strategy (fargate-lab rollouts)"
    )
    strategy: str = Field("rolling", description="Rollout strategy for each release.")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


#: What a canary analysis compares the canary with (``[analysis] baseline``).
BASELINES: tuple[str, ...] = ("concurrent", "stable")
#: Methods whose default baseline is ``concurrent``: Kayenta compares the canary with a
#: baseline "deployed at the same time", of the "same size" and the "same type and amount of
#: traffic" (Spinnaker, "Best practices for configuring canary":
#: https://spinnaker.io/guides/user/canary/best-practices). The others read the canary alone
#: or the service (Argo Rollouts/Flagger threshold checks, CloudWatch alarms), so their
#: default is ``stable``, the old revision's whole target group.
CONCURRENT_BY_DEFAULT: tuple[str, ...] = ("kayenta",)


def default_baseline(method: str | None) -> str:
    """``concurrent`` for the methods in :data:`CONCURRENT_BY_DEFAULT`, else ``stable``."""
    return "concurrent" if method in CONCURRENT_BY_DEFAULT else "stable"


class AnalysisConfig(BaseModel):
    """``method`` names a registered analysis method (alarm, threshold, kayenta, anomaly);
    every other key is one of its parameters. None: no analysis (only the strategy's own
    checks, e.g. the circuit breaker, can roll a release back)."""

    model_config = ConfigDict(extra="allow")
    extra_doc: ClassVar[str] = "any other key is a parameter of the named analysis method"
    method: str | None = Field(None, description="Canary analysis method; None: none.")
    baseline: str | None = Field(
        None,
        description="What the canary is compared with: 'concurrent' (a fresh task set of "
        "the old revision, the canary's size and weight, during the canary steps) or "
        "'stable' (the old revision's whole target group); None: the method's default "
        "(concurrent for kayenta, stable for the others).",
    )

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def baseline_for(self, method: str | None) -> str:
        """The baseline of a canary judged by ``method``: ``baseline`` when set, else
        :func:`default_baseline`."""
        return self.baseline if self.baseline is not None else default_baseline(method)


class Scenario(_Section):
    run: RunConfig = Field(default_factory=RunConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    faults: FaultsConfig = Field(default_factory=FaultsConfig)
    slo: SloConfig = Field(default_factory=SloConfig)
    autoscaler: AutoscalerConfig = Field(default_factory=AutoscalerConfig)
    # Releases and rollouts (README "Releases and rollouts"; backends/sim_rollout.py).
    releases: ReleasesConfig = Field(default_factory=ReleasesConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    # Risk-driven orchestration and pipelines (README "Risk-driven orchestration and approvals").
    risk: RiskConfig = Field(default_factory=RiskConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    name: str = "scenario"
    base_dir: str | None = Field(None, description="Folder relative trace paths resolve in.")

    @model_validator(mode="after")
    def _cross(self) -> Scenario:
        for outage in self.faults.az_outages:
            if outage.az not in self.service.azs:
                raise ValueError(
                    f"faults.az_outages: az {outage.az!r} is not one of service.azs "
                    f"{self.service.azs}"
                )
        providers = {p.name for p in self.service.capacity_providers}
        spot_faults = (
            self.faults.spot_interruptions_per_task_hour > 0 or self.faults.spot_interruptions
        )
        if spot_faults and "FARGATE_SPOT" not in providers:
            raise ValueError(
                "faults: Spot interruptions need a FARGATE_SPOT capacity provider in "
                "service.capacity_providers"
            )
        return self

    @property
    def n_ticks(self) -> int:
        return int(math.ceil(self.run.duration / self.run.tick - 1e-9))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's annotation (``X``, ``X | None``, ``list[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _section_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the section at ``loc`` (list indices are stepped over)."""
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid scenario"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            section = ".".join(str(p) for p in err["loc"][:-1])
            allowed = _section_keys(err["loc"][:-1])
            line = f"  {loc}: unknown key{' in [' + section + ']' if section else ''}"
            close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
            if close:
                line += f"; did you mean {close[0]!r}?"
            if allowed:
                line += f" Allowed keys: {', '.join(allowed)}"
            lines.append(line)
            continue
        if err["type"] == "finite_number":
            msg = f"must be a finite number, got {err.get('input')!r}"
        if err["type"] in _BOUNDS:
            (bound,) = err.get("ctx", {"": "?"}).values()
            shown = f"{bound:g}" if isinstance(bound, int | float) else bound
            msg = f"must be {_BOUNDS[err['type']]} {shown}, got {err.get('input')!r}"
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"  {loc or '(scenario)'}: {msg}")
    return "\n".join(lines)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (TOML values; bare words are strings)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ScenarioError(f"--set {item!r}: expected section.key=value")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ScenarioError(f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = _parse_value(value.strip())
    return data


def scenario_from_dict(
    data: dict[str, Any], source: str = "<scenario>", base_dir: str | Path | None = None
) -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML)."""
    data = dict(data)
    if base_dir is not None:
        data.setdefault("base_dir", str(base_dir))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(source, exc)) from None
    _check_autoscaler(scenario, source)
    _check_rollout(scenario, source)
    _check_risk_and_pipeline(scenario, source)
    check_memory(scenario, source)
    return scenario


def _check_autoscaler(scenario: Scenario, source: str) -> None:
    from policies import registry

    name = scenario.autoscaler.policy
    try:
        policy = registry.make(name, **scenario.autoscaler.params)
    except registry.PolicyError as exc:
        if exc.key:
            raise ScenarioError(
                f"{source}: autoscaler.{exc.key}: {exc.problem} (policy {name!r})"
            ) from None
        raise ScenarioError(f"{source}: autoscaler: {exc}") from None
    interval = policy.interval_s
    if not interval >= scenario.run.tick:
        raise ScenarioError(
            f"{source}: autoscaler.interval: {interval:g} s is shorter than run.tick = "
            f"{scenario.run.tick:g} s; a policy decides at most once a tick (policy {name!r})"
        )


def _check_risk_and_pipeline(scenario: Scenario, source: str) -> None:
    """Names in ``[risk]`` and ``[pipeline]`` that belong to the policies (risk model and its
    parameters, strategies, analyses, templates), checked at load (lazy import, like
    :func:`_check_autoscaler`)."""
    if not {"risk", "pipeline"} & scenario.model_fields_set:
        return  # the defaults are valid (tests/policies/rollout/test_orchestration_config.py)
    from policies.rollout.orchestration import check_sections

    try:
        check_sections(scenario.risk, scenario.pipeline)
    except ValueError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def _check_rollout(scenario: Scenario, source: str) -> None:
    """Build the ``[rollout]`` strategy and the ``[analysis]`` method (if any) now, so a bad
    name or parameter is refused when the file loads, naming the key and what is allowed."""
    from policies.rollout.registry import ANALYSES, STRATEGIES

    checks = [("rollout", "strategy", STRATEGIES, scenario.rollout.strategy, scenario.rollout)]
    if scenario.analysis.method is not None:
        checks.append(("analysis", "method", ANALYSES, scenario.analysis.method, scenario.analysis))
    baseline = scenario.analysis.baseline
    if baseline is not None and baseline not in BASELINES:
        raise ScenarioError(
            f"{source}: analysis.baseline: unknown baseline {baseline!r}; allowed: "
            f"{', '.join(BASELINES)}"
        )
    for section, key, registry, name, config in checks:
        if name not in registry.names():
            raise ScenarioError(
                f"{source}: {section}.{key}: unknown {registry.noun} {name!r}; allowed: "
                f"{', '.join(registry.names())}"
            )
        try:
            registry.make(name, **config.params)
        except registry.error as exc:
            raise ScenarioError(f"{source}: {section}: {exc}") from None


def available_memory() -> int | None:
    """Bytes of memory available to a new run: ``MemAvailable`` from /proc/meminfo (Linux),
    else free physical pages from ``os.sysconf``; None when neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def memory_estimate(scenario: Scenario) -> int:
    """Bytes a run of ``scenario`` needs: ``BYTES_PER_TICK`` per tick plus ``BASE_RUN_BYTES``,
    plus ``BYTES_PER_TICK_PER_RELEASE`` per tick for each expected release (the explicit
    ones and ``per_day`` for every started day of the run, an upper bound on the mean; twice
    that with a concurrent baseline, which deploys a target group of its own per release)."""
    rel = scenario.releases
    days = math.ceil(scenario.run.duration / 86400.0)
    releases = len(rel.explicit) + rel.per_day * days
    if scenario.analysis.baseline_for(scenario.analysis.method) == "concurrent":
        releases *= 2  # a baseline target group beside each release's (upper bound)
    per_tick = BYTES_PER_TICK + BYTES_PER_TICK_PER_RELEASE * releases
    return int(BASE_RUN_BYTES + per_tick * scenario.n_ticks)


def check_memory(scenario: Scenario, source: str = "<scenario>") -> None:
    """Refuse, before anything is allocated, a run that would not fit in available memory."""
    need = memory_estimate(scenario)
    per_tick = (need - BASE_RUN_BYTES) / max(1, scenario.n_ticks)
    with_releases = ", with the releases' revisions" if per_tick > BYTES_PER_TICK else ""
    have = available_memory()
    if have is not None and need > have:
        gib = 2**30
        raise ScenarioError(
            f"{source}: run.duration: {scenario.run.duration:g} s at run.tick = "
            f"{scenario.run.tick:g} s is {scenario.n_ticks:,} ticks, which need about "
            f"{need / gib:.1f} GiB ({per_tick:.0f} bytes per tick{with_releases}), more than "
            f"the {have / gib:.1f} GiB of memory available; shorten run.duration or lengthen "
            f"run.tick{' or release less' if with_releases else ''}"
        )


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"{path}: not UTF-8 text (a TOML file must be UTF-8): byte "
            f"0x{raw[exc.start]:02x} on line {line}"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    apply_overrides(data, overrides or [])
    return scenario_from_dict(data, str(path), base_dir=path.resolve().parent)
