"""Rollout strategies as Amazon ECS's native deployment configuration, and back.

One mapping, used by three paths: :meth:`backends.ecs.EcsBackend.deploy` (a
:class:`~backends.base.DeployRequest` naming a strategy of the rollout registry,
policies/rollout/registry.py), ``fargate-lab ecs export`` (a scenario's ``[rollout]``) and
``fargate-lab ecs deploy --scenario`` (the same). :func:`strategy_spec` turns a registry name and
its parameters into the :class:`~backends.ecs_ops.DeploySpec` that ``ecs deploy``'s flags also
fill, and :func:`backends.ecs_ops.deployment_configuration` turns either into the
``deploymentConfiguration`` of UpdateService (field names from botocore's ECS service model;
AWS API reference,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html):

=============================  ================================================================
registry name                  deploymentConfiguration
=============================  ================================================================
``rolling``                    ``strategy`` ROLLING, ``minimumHealthyPercent``,
                               ``maximumPercent`` (integers in the API)
``blue-green``                 BLUE_GREEN, ``bakeTimeInMinutes`` = ``bake_time``
``all-at-once``,               BLUE_GREEN (all traffic at once once green is healthy),
``CodeDeployDefault.ECSAll…``  ``bakeTimeInMinutes`` = ``bake_time``
``canary`` and its presets     CANARY, ``canaryConfiguration`` {``canaryPercent`` = ``percent``,
                               ``canaryBakeTimeInMinutes`` = ``bake_time``},
                               ``bakeTimeInMinutes`` = ``final_bake_time``
``linear`` and its presets     LINEAR, ``linearConfiguration`` {``stepPercent`` =
                               ``step_percent``, ``stepBakeTimeInMinutes`` = ``step_bake_time``},
                               ``bakeTimeInMinutes`` = ``final_bake_time``
=============================  ================================================================

Every strategy also sets ``deploymentCircuitBreaker`` {``enable``, ``rollback``} from its
``circuit_breaker``, and, when given, ``alarms`` (CloudWatch alarm names, with rollback). The
simulator's times are seconds, ECS's whole minutes: a time that is not a whole number of minutes
is refused rather than rounded. ``interval`` (the simulated deployment controller's cadence)
describes the model, not a setting: it is not exported. A rolling ``bake_time`` has no ECS field
(ECS picks the bake time of a rolling update's alarms itself) and is refused unless 0.

:func:`rollout_of_configuration` is the inverse, for ``ecs import-policy``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from backends.aws import AwsClients, InputError, Request
from backends.base import DeployRequest
from backends.ecs_ops import DeploySpec, deploy_plan, deployment_configuration

#: The strategy parameters that describe the simulated controller, not ECS: never exported.
MODEL_PARAMS: tuple[str, ...] = ("interval",)

#: ECS's defaults for a service created without a deployment configuration (API reference
#: above: minimumHealthyPercent 100, maximumPercent 200, circuit breaker off): a service that
#: shows only these has no rollout to import.
AWS_DEFAULTS = {"minimumHealthyPercent": 100, "maximumPercent": 200}

#: CANARY and LINEAR read back: registry name, configuration field, (percent parameter, API
#: field), (bake parameter, API field in minutes).
SHIFTS = {
    "CANARY": (
        "canary",
        "canaryConfiguration",
        ("percent", "canaryPercent"),
        ("bake_time", "canaryBakeTimeInMinutes"),
    ),
    "LINEAR": (
        "linear",
        "linearConfiguration",
        ("step_percent", "stepPercent"),
        ("step_bake_time", "stepBakeTimeInMinutes"),
    ),
}
#: ECS's defaults when a field is absent (API reference: CanaryConfiguration,
#: LinearConfiguration; the same as policies/rollout/strategies.py's).
ECS_SHIFT_DEFAULTS = {
    "canaryPercent": 5.0,
    "canaryBakeTimeInMinutes": 10,
    "stepPercent": 10.0,
    "stepBakeTimeInMinutes": 6,
}


def _minutes(name: str, key: str, seconds: float, field: str) -> int:
    minutes = float(seconds) / 60.0
    if not math.isfinite(minutes) or minutes != round(minutes):
        raise InputError(
            f"rollout {name!r}: {key} = {seconds!r} s is not a whole number of minutes; ECS's "
            f"{field} takes whole minutes (use a multiple of 60 s)"
        )
    return int(round(minutes))


def _whole_percent(name: str, key: str, value: float, field: str) -> int:
    if float(value) != round(float(value)):
        raise InputError(
            f"rollout {name!r}: {key} = {value!r} is not a whole percent; ECS's {field} is an "
            "integer"
        )
    return int(round(float(value)))


def strategy_spec(
    name: str,
    params: Mapping[str, Any],
    *,
    image: str = "",
    container: str | None = None,
    alarms: Sequence[str] = (),
) -> tuple[DeploySpec, list[str]]:
    """The :class:`DeploySpec` (``ecs deploy``'s flags) for the rollout strategy ``name``
    with ``params``, validated against ECS's limits, and notes on what was not exported.

    Raises :class:`~backends.aws.InputError` naming the key for an unknown strategy, a bad
    parameter, or a value ECS cannot take."""
    from policies.rollout.registry import STRATEGIES
    from policies.rollout.strategies import (
        AllAtOnceStrategy,
        CanaryStrategy,
        LinearStrategy,
        RollingStrategy,
    )

    if name not in STRATEGIES.names():
        raise InputError(
            f"rollout strategy {name!r} is unknown; allowed: {', '.join(STRATEGIES.names())}"
        )
    try:
        strategy = STRATEGIES.make(name, **dict(params))
    except STRATEGIES.error as exc:
        raise InputError(str(exc)) from None
    p = strategy.get_params()
    defaults = STRATEGIES.defaults(name)
    notes = [
        f"rollout.{key} = {p[key]!r} describes the simulated deployment controller, not a "
        "setting ECS takes: not exported"
        for key in MODEL_PARAMS
        if key in p and p[key] != defaults.get(key)
    ]
    spec = DeploySpec(
        image=image,
        container=container,
        circuit_breaker=bool(p["circuit_breaker"]),
        alarm=list(alarms),
    )
    if isinstance(strategy, RollingStrategy):
        if p["bake_time"] != 0:
            raise InputError(
                f"rollout {name!r}: bake_time = {p['bake_time']!r} s has no ECS setting for a "
                "rolling update (ECS chooses the bake time of a rolling update's alarms); set "
                "it to 0 to export"
            )
        spec.strategy = "ROLLING"
        spec.minimum_healthy_percent = _whole_percent(
            name, "minimum_healthy_percent", p["minimum_healthy_percent"], "minimumHealthyPercent"
        )
        spec.maximum_percent = _whole_percent(
            name, "maximum_percent", p["maximum_percent"], "maximumPercent"
        )
    elif isinstance(strategy, CanaryStrategy):
        spec.strategy = "CANARY"
        spec.canary_percent = float(p["percent"])
        spec.canary_bake_time = _minutes(
            name, "bake_time", p["bake_time"], "canaryBakeTimeInMinutes"
        )
    elif isinstance(strategy, LinearStrategy):
        spec.strategy = "LINEAR"
        spec.linear_step = float(p["step_percent"])
        spec.linear_bake_time = _minutes(
            name, "step_bake_time", p["step_bake_time"], "stepBakeTimeInMinutes"
        )
    elif isinstance(strategy, AllAtOnceStrategy):  # blue-green, all-at-once and its preset
        spec.strategy = "BLUE_GREEN"
        spec.bake_time = _minutes(name, "bake_time", p["bake_time"], "bakeTimeInMinutes")
    else:
        raise InputError(
            f"rollout strategy {name!r} has no native ECS deployment strategy; natively: "
            "rolling, blue-green, all-at-once, canary, linear and the CodeDeploy presets"
        )
    if "final_bake_time" in p:  # canary and linear: the bake after all traffic has shifted
        spec.bake_time = _minutes(
            name, "final_bake_time", p["final_bake_time"], "bakeTimeInMinutes"
        )
    try:
        deployment_configuration(spec)  # ECS's limits (backends/ecs_validate.py)
    except InputError as exc:
        raise InputError(f"rollout {name!r}: {exc}") from None
    return spec, notes


def native_configuration(
    name: str, params: Mapping[str, Any], alarms: Sequence[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The ``deploymentConfiguration`` for a rollout strategy, and the notes."""
    spec, notes = strategy_spec(name, params, alarms=alarms)
    return deployment_configuration(spec), notes


def deploy_requests(clients: AwsClients, ref: Any, request: DeployRequest) -> list[Request]:
    """RegisterTaskDefinition (the service's current revision with ``request.image``) and
    UpdateService (that revision and the strategy's deploymentConfiguration). Everything is
    validated before the first request; only reads (DescribeServices,
    DescribeTaskDefinition) are sent."""
    if not request.image:
        raise InputError("a deployment needs an image (DeployRequest.image)")
    spec, _ = strategy_spec(
        request.strategy,
        request.params,
        image=request.image,
        container=request.container,
        alarms=request.alarms,
    )
    return deploy_plan(clients, ref, spec)


def rollout_of_configuration(
    cfg: Mapping[str, Any] | None, notes: list[str] | None = None
) -> dict[str, Any] | None:
    """A scenario's ``[rollout]`` for a service's ``deploymentConfiguration`` (the inverse of
    :func:`native_configuration`); None when it shows only ECS's defaults. What a scenario
    cannot hold (deployment alarms, lifecycle hooks) is left out and said in ``notes``."""
    if not cfg:
        return None
    notes = notes if notes is not None else []
    strategy = cfg.get("strategy", "ROLLING")
    breaker = cfg.get("deploymentCircuitBreaker") or {}
    on = bool(breaker.get("enable", False))
    alarms = cfg.get("alarms") or {}
    if alarms.get("enable") and alarms.get("alarmNames"):
        notes.append(
            f"deployment alarms {', '.join(alarms['alarmNames'])} are not part of a scenario: "
            "left out (pass them to `fargate-lab ecs deploy --alarm`)"
        )
    if cfg.get("lifecycleHooks"):
        notes.append("deployment lifecycle hooks are not part of a scenario: left out")
    bake = 60.0 * float(cfg.get("bakeTimeInMinutes", 0) or 0)
    if strategy == "ROLLING":
        lo = int(cfg.get("minimumHealthyPercent", AWS_DEFAULTS["minimumHealthyPercent"]))
        hi = int(cfg.get("maximumPercent", AWS_DEFAULTS["maximumPercent"]))
        if (lo, hi, on) == (100, 200, False):
            return None
        return {
            "strategy": "rolling",
            "minimum_healthy_percent": float(lo),
            "maximum_percent": float(hi),
            "circuit_breaker": on,
        }
    if strategy == "BLUE_GREEN":
        return {"strategy": "blue-green", "bake_time": bake, "circuit_breaker": on}
    if strategy in SHIFTS:
        name, section, (percent_key, percent_field), (bake_key, bake_field) = SHIFTS[strategy]
        c = cfg.get(section) or {}
        return {
            "strategy": name,
            percent_key: float(c.get(percent_field, ECS_SHIFT_DEFAULTS[percent_field])),
            bake_key: 60.0 * float(c.get(bake_field, ECS_SHIFT_DEFAULTS[bake_field])),
            "final_bake_time": bake,
            "circuit_breaker": on,
        }
    notes.append(f"deployment strategy {strategy!r} has no scenario equivalent: left out")
    return None
