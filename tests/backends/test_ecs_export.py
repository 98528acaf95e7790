"""The scenario -> AWS configuration mapping, without an emulator: what moto cannot store
(predictive scaling) round-trips here through the same import code."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from backends.aws_export import ExportError, export_requests, needs_load_balancer
from backends.aws_import import _member_of_policy, to_toml
from backends.ecs import ServiceRef
from sim.scenario import scenario_from_dict

REF = ServiceRef("c1", "web")
LABEL = "app/lb/123/targetgroup/tg/456"


def scenario(autoscaler: dict[str, Any], **run: Any):
    return scenario_from_dict(
        {
            "run": {"duration": "1h", **run},
            "service": {"min_tasks": 1, "max_tasks": 9, "initial_tasks": 2},
            "autoscaler": autoscaler,
        }
    )


def as_policy(request) -> dict[str, Any]:
    """What DescribeScalingPolicies returns for a PutScalingPolicy request."""
    return {**request.params, "PolicyARN": f"arn:policy/{request.params['PolicyName']}"}


@pytest.mark.parametrize(
    "params, pair, separate",
    [
        ({"load_metric": "CPUUtilization"}, "ECSServiceCPUUtilization", None),
        ({"scaling_metric": "RequestCountPerTarget"}, "ALBRequestCount", None),
        ({}, None, ("TotalALBRequestCount", "ECSServiceAverageCPUUtilization")),
        (
            {"load_metric": "MemoryUtilization", "scaling_metric": "CPUUtilization"},
            None,
            ("ECSServiceTotalMemoryUtilization", "ECSServiceAverageCPUUtilization"),
        ),
    ],
)
def test_predictive_exports_and_imports_back(params, pair, separate) -> None:
    sc = scenario({"policy": "predictive", "target": 40.0, **params})
    label = LABEL if needs_load_balancer(sc) else None
    assert (label is not None) == (params.get("load_metric", "RequestCount") == "RequestCount")
    reqs, _ = export_requests(sc, REF, label)
    spec = reqs[1].params["PredictiveScalingPolicyConfiguration"]["MetricSpecifications"][0]
    if pair:
        assert spec["PredefinedMetricPairSpecification"]["PredefinedMetricType"] == pair
    else:
        assert (
            spec["PredefinedLoadMetricSpecification"]["PredefinedMetricType"],
            spec["PredefinedScalingMetricSpecification"]["PredefinedMetricType"],
        ) == separate
    member, period = _member_of_policy(as_policy(reqs[1]), clients=None)
    again, _ = export_requests(scenario(member), REF, label)
    assert [r.to_json() for r in again] == [r.to_json() for r in reqs]


def test_alb_request_count_per_target_needs_the_target_group() -> None:
    sc = scenario({"policy": "target-tracking", "metric": "RequestCountPerTarget", "target": 500})
    assert needs_load_balancer(sc)
    with pytest.raises(ExportError, match="ResourceLabel"):
        export_requests(sc, REF, None)
    reqs, _ = export_requests(sc, REF, LABEL)
    spec = reqs[1].params["TargetTrackingScalingPolicyConfiguration"]
    assert spec["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ALBRequestCountPerTarget",
        "ResourceLabel": LABEL,
    }
    assert spec["TargetValue"] == 500.0


@pytest.mark.parametrize(
    "autoscaler, run, message",
    [
        (
            {"policy": "target-tracking", "metric": "RequestCountPerTarget", "target": 5},
            {"metrics_period": 20},
            "has no AWS predefined metric",
        ),
        (
            {"policy": "target-tracking", "scale_in_max_fraction": 0.5},
            {},
            "scale_in_max_fraction is not an AWS setting",
        ),
        (
            {"policy": "step", "metric": "RequestCount", "threshold": 1000.0},
            {},
            "exporting an alarm on 'RequestCount' is not supported",
        ),
        ({"policy": "learned"}, {}, "fargate-lab ecs run"),
        (
            {"policy": "combined", "policies": [{"policy": "target-tracking"}, {"policy": "hpa"}]},
            {},
            "policy 'hpa' has no native AWS equivalent",
        ),
    ],
)
def test_what_aws_cannot_run_is_refused(autoscaler, run, message) -> None:
    with pytest.raises(ExportError, match=message):
        export_requests(scenario(autoscaler, **run), REF, LABEL)


def test_model_parameters_are_noted_not_sent() -> None:
    sc = scenario({"policy": "target-tracking", "scale_in_datapoints": 5, "interval": 20.0})
    reqs, notes = export_requests(sc, REF)
    assert len(notes) == 2 and all("not exported" in n for n in notes)
    assert "scale_in_datapoints" not in str(reqs[1].params)


def test_scheduled_times_are_utc_and_round_trip_through_toml() -> None:
    sc = scenario(
        {
            "policy": "scheduled",
            "actions": [
                {
                    "schedule": "at(2026-12-24T18:00:00)",
                    "max_tasks": 3,
                    "timezone": "Europe/Paris",
                    "start": "2026-12-01T00:00:00+01:00",
                }
            ],
        }
    )
    (_, action), _ = export_requests(sc, REF)
    assert action.params["StartTime"] == "2026-11-30T23:00:00Z"
    assert action.params["ScalableTargetAction"] == {"MaxCapacity": 3}
    data = {
        "service": {"min_tasks": 1},
        "autoscaler": {
            "policy": "scheduled",
            "actions": [
                {
                    "schedule": "at(2026-12-24T18:00:00)",
                    "max_tasks": 3,
                    "start": "2026-11-30T23:00:00Z",
                }
            ],
        },
    }
    assert tomllib.loads(to_toml(data, header="a\nb")) == data
