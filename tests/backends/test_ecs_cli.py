"""``fargate-lab ecs ...`` against moto's server: dry runs send nothing, --apply acts, bad
input is refused before any request, export round-trips, traces import."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from test_ecs_backend import SERVICE_DIMS, Counter, clients_for, make_backend, seed

from backends.aws import AwsClients
from backends.ecs_checks import VirtualTime, create_service
from experiments.cli import main

WRITES = {
    "UpdateService",
    "RegisterTaskDefinition",
    "RegisterScalableTarget",
    "PutScalingPolicy",
    "PutScheduledAction",
    "PutMetricAlarm",
}


@pytest.fixture
def counter(monkeypatch) -> Counter:
    c = Counter()
    monkeypatch.setattr(AwsClients, "default_hooks", [("before-send", c)])
    return c


@pytest.fixture
def svc(moto):
    clients = clients_for(moto)
    create_service(clients, "c1", "web", desired=3)
    return clients


@pytest.fixture
def svc_lb(moto):
    clients = clients_for(moto)
    create_service(clients, "c1", "web", desired=3, load_balancer=True)
    return clients


def ecs(moto: str, command: str, *args: str) -> int:
    common = ["--cluster", "c1", "--service", "web", "--region", "us-east-1"]
    return main(["ecs", command, *common, "--endpoint-url", moto, "--max-attempts", "1", *args])


def write_scenario(tmp_path: Path, autoscaler: str, extra: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        f"""[run]
duration = "30m"
{extra}
[service]
cpu = 256
memory = 512
min_tasks = 2
max_tasks = 12
initial_tasks = 3

[autoscaler]
{autoscaler}
"""
    )
    return path


COMBINED = """policy = "combined"
policies = [
  { policy = "target-tracking", metric = "CPUUtilization", target = 55.0, scale_in_cooldown = 120.0 },
  { policy = "step", metric = "CPUUtilization", threshold = 80.0, datapoints = 2, cooldown = 60.0 },
  { policy = "scheduled", actions = [
      { schedule = "cron(0 8 * * ? *)", min_tasks = 4, timezone = "Europe/Paris" },
      { schedule = "cron(0 20 * * ? *)", min_tasks = 2 } ] },
]
"""


def plan_of(out: str) -> list[dict]:
    doc = json.loads(out)
    return doc["requests"]


# -- export -----------------------------------------------------------------------------
def test_export_dry_run_prints_requests_and_sends_nothing(svc, moto, tmp_path, capsys, counter):
    path = write_scenario(tmp_path, COMBINED)
    assert ecs(moto, "export", str(path)) == 0
    reqs = plan_of(capsys.readouterr().out)
    ops = [r["operation"] for r in reqs]
    assert ops == [
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "PutScalingPolicy",
        "PutMetricAlarm",
        "PutScheduledAction",
        "PutScheduledAction",
    ]
    assert reqs[0]["params"]["MinCapacity"] == 2 and reqs[0]["params"]["MaxCapacity"] == 12
    tt = reqs[1]["params"]["TargetTrackingScalingPolicyConfiguration"]
    assert tt["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )
    assert counter.operations == []  # not a single request


def test_export_apply_is_stored_and_reads_back_identical(svc, moto, tmp_path, capsys, counter):
    path = write_scenario(tmp_path, COMBINED)
    assert ecs(moto, "export", str(path), "--apply") == 0
    reqs = plan_of(capsys.readouterr().out)
    assert [op for op in counter.operations if op in WRITES] == [r["operation"] for r in reqs]
    aas = svc.client("application-autoscaling")
    stored = {
        p["PolicyName"]: p
        for p in aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    }
    for r in reqs:
        if r["operation"] != "PutScalingPolicy":
            continue
        p = r["params"]
        key = (
            "TargetTrackingScalingPolicyConfiguration"
            if p["PolicyType"] == "TargetTrackingScaling"
            else "StepScalingPolicyConfiguration"
        )
        assert stored[p["PolicyName"]][key] == p[key]
    (alarm,) = svc.client("cloudwatch").describe_alarms(AlarmNames=["fargate-lab-02-step-c1-web"])[
        "MetricAlarms"
    ]
    assert alarm["AlarmActions"] == [stored["fargate-lab-02-step"]["PolicyARN"]]
    assert alarm["Threshold"] == 80.0 and alarm["EvaluationPeriods"] == 2
    actions = aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"]
    assert sorted(a["Schedule"] for a in actions) == ["cron(0 20 * * ? *)", "cron(0 8 * * ? *)"]


def test_export_import_export_round_trips(svc, moto, tmp_path, capsys):
    path = write_scenario(tmp_path, COMBINED)
    assert ecs(moto, "export", str(path), "--apply") == 0
    first = plan_of(capsys.readouterr().out)
    out = tmp_path / "imported.toml"
    assert ecs(moto, "import-policy", "--out", str(out)) == 0
    capsys.readouterr()
    from sim.scenario import load_scenario

    imported = load_scenario(out)  # `simulate` accepts it
    assert imported.service.min_tasks == 2 and imported.autoscaler.policy == "combined"
    assert ecs(moto, "export", str(out)) == 0
    again = plan_of(capsys.readouterr().out)
    assert again == first


def test_high_resolution_target_tracking_exports_its_metric(svc, moto, tmp_path, capsys):
    path = write_scenario(
        tmp_path,
        'policy = "target-tracking"\ntarget = 60.0',
        extra='metrics_period = 20\ntick = "1s"',
    )
    assert ecs(moto, "export", str(path)) == 0
    reqs = plan_of(capsys.readouterr().out)
    spec = reqs[1]["params"]["TargetTrackingScalingPolicyConfiguration"]
    assert spec["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilizationHighResolution"
    )


@pytest.mark.xfail(
    reason="moto rejects PutScalingPolicy with PolicyType PredictiveScaling (ValidationException "
    "listing PredictiveScaling among the allowed values); AWS accepts it",
    strict=True,
)
def test_predictive_export_is_stored(svc, moto, tmp_path, capsys):
    path = write_scenario(tmp_path, 'policy = "predictive"\nload_metric = "CPUUtilization"')
    assert ecs(moto, "export", str(path), "--apply") == 0
    pol = svc.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")[
        "ScalingPolicies"
    ]
    assert pol[0]["PolicyType"] == "PredictiveScaling"


def test_predictive_export_plan(svc, moto, tmp_path, capsys, counter):
    path = write_scenario(tmp_path, 'policy = "predictive"\nload_metric = "CPUUtilization"')
    assert ecs(moto, "export", str(path)) == 0
    cfg = plan_of(capsys.readouterr().out)[1]["params"]["PredictiveScalingPolicyConfiguration"]
    assert cfg["MetricSpecifications"][0]["PredefinedMetricPairSpecification"] == {
        "PredefinedMetricType": "ECSServiceCPUUtilization"
    }
    assert cfg["Mode"] == "ForecastAndScale" and counter.operations == []


@pytest.mark.parametrize("policy", ["learned", "oracle", "hpa", "reactive"])
def test_export_refuses_what_aws_cannot_run(svc, moto, tmp_path, capsys, counter, policy):
    path = write_scenario(tmp_path, f'policy = "{policy}"')
    assert ecs(moto, "export", str(path), "--apply") == 2
    err = capsys.readouterr().err
    assert "fargate-lab ecs run" in err and policy in err
    assert counter.operations == []


# -- scale, deploy, rollback --------------------------------------------------------------
def test_scale_dry_run_then_apply(svc, moto, capsys, counter):
    assert ecs(moto, "scale", "5") == 0
    assert plan_of(capsys.readouterr().out)[0]["params"]["desiredCount"] == 5
    assert "UpdateService" not in counter.operations
    assert ecs(moto, "scale", "5", "--apply") == 0
    d = svc.call("ecs", "DescribeServices", cluster="c1", services=["web"])["services"][0]
    assert d["desiredCount"] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["scale", "--min", "5", "--max", "2", "--", "3"], "min 5 is above max 2"),
        (["scale", "--", "-1"], "desired count must be a whole number >= 0"),
        (
            ["deploy", "--image", "x:2", "--cpu", "256", "--memory", "4096"],
            "memory=4096 MiB is not valid with cpu=256",
        ),
        (
            ["deploy", "--image", "x:2", "--cpu", "300", "--memory", "512"],
            "cpu=300 is not a Fargate CPU value",
        ),
        (
            ["deploy", "--image", "x:2", "--capacity-provider", "FARGATE:1001"],
            "weight must be 0-1000",
        ),
        (
            [
                "deploy",
                "--image",
                "x:2",
                "--capacity-provider",
                "FARGATE:1:2",
                "--capacity-provider",
                "FARGATE_SPOT:1:1",
            ],
            "only one provider may set a base",
        ),
        (["deploy", "--image", "x:2", "--capacity-provider", "EC2:1"], "not a Fargate provider"),
        (
            ["deploy", "--image", "x:2", "--strategy", "CANARY", "--canary-percent", "0"],
            "canary percent must be a number in",
        ),
        (
            ["deploy", "--image", "x:2", "--strategy", "LINEAR", "--linear-step", "200"],
            "linear step percent",
        ),
        (["deploy", "--image", "x:2", "--bake-time", "5000"], "bake time"),
        (["deploy", "--image", "x:2", "--canary-percent", "5"], "need strategy CANARY"),
    ],
)
def test_bad_input_is_refused_before_any_request(svc, moto, capsys, counter, args, message):
    assert ecs(moto, args[0], "--apply", *args[1:]) == 2
    assert message in capsys.readouterr().err
    assert counter.operations == []


def test_bad_strategy_is_refused_by_the_parser(moto, counter):
    with pytest.raises(SystemExit) as info:
        ecs(moto, "deploy", "--image", "x:2", "--strategy", "RANDOM")
    assert info.value.code == 2 and counter.operations == []


def test_scale_beyond_max_step_writes_nothing(svc, moto, capsys, counter):
    assert ecs(moto, "scale", "40", "--apply") == 2
    assert "--max-step 10" in capsys.readouterr().err
    assert not WRITES & set(counter.operations)


def test_deploy_then_rollback(svc, moto, capsys):
    assert (
        ecs(
            moto,
            "deploy",
            "--image",
            "nginx:2",
            "--strategy",
            "CANARY",
            "--canary-percent",
            "10",
            "--bake-time",
            "15",
            "--apply",
        )
        == 0
    )
    plan = plan_of(capsys.readouterr().out)
    assert plan[1]["params"]["taskDefinition"].startswith("${register.")
    d = svc.call("ecs", "DescribeServices", cluster="c1", services=["web"])["services"][0]
    assert d["taskDefinition"].endswith("web:2")
    cfg = d["deploymentConfiguration"]
    assert cfg["strategy"] == "CANARY" and cfg["bakeTimeInMinutes"] == 15
    assert cfg["canaryConfiguration"]["canaryPercent"] == 10.0
    td = svc.call("ecs", "DescribeTaskDefinition", taskDefinition="web:2")["taskDefinition"]
    assert td["containerDefinitions"][0]["image"] == "nginx:2"
    assert ecs(moto, "rollback", "--apply") == 0
    capsys.readouterr()
    d = svc.call("ecs", "DescribeServices", cluster="c1", services=["web"])["services"][0]
    assert d["taskDefinition"].endswith("web:1")


def test_partial_failure_says_what_was_and_was_not_done(svc, moto, capsys, monkeypatch):
    def fail_update(request, **kwargs):
        target = request.headers.get("X-Amz-Target", b"")
        if b"UpdateService" in (target if isinstance(target, bytes) else target.encode()):
            from botocore.awsrequest import AWSResponse

            class Raw:
                def stream(self, **kw):
                    yield b""

            r = AWSResponse(request.url, 400, {}, Raw())
            r._content = b'{"__type":"InvalidParameterException","message":"no"}'
            return r
        return None

    monkeypatch.setattr(AwsClients, "default_hooks", [("before-send", fail_update)])
    assert ecs(moto, "deploy", "--image", "nginx:3", "--apply") == 1
    err = capsys.readouterr().err
    assert "done: RegisterTaskDefinition(web)" in err and "not done: UpdateService" in err


def test_status_reports_the_service(svc, moto, capsys):
    assert ecs(moto, "status", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["desired"] == 3 and doc["service"] == "web"
    assert "CPUUtilization" in doc["recent_metrics"]
    assert ecs(moto, "status") == 0
    assert "desired 3" in capsys.readouterr().out


# -- import-trace -------------------------------------------------------------------------
def test_import_trace_returns_what_was_seeded(svc_lb, moto, tmp_path, capsys):
    clients = svc_lb
    d = clients.call("ecs", "DescribeServices", cluster="c1", services=["web"])["services"][0]
    tg_arn = d["loadBalancers"][0]["targetGroupArn"]
    lb_arn = clients.call("elbv2", "DescribeTargetGroups", TargetGroupArns=[tg_arn])[
        "TargetGroups"
    ][0]["LoadBalancerArns"][0]
    dims = {
        "TargetGroup": "targetgroup/" + tg_arn.split(":targetgroup/")[1],
        "LoadBalancer": lb_arn.split(":loadbalancer/")[1],
    }
    end = math.floor(time.time() / 60) * 60
    seeded = {end - 60 * k: float(100 * k) for k in range(2, 40)}
    seed(clients, "AWS/ApplicationELB", "RequestCount", dims, list(seeded.items()))
    out = tmp_path / "trace.csv"
    assert ecs(moto, "import-trace", "--since", "1h", "--out", str(out)) == 0
    from sim.traces.parse import read_csv_trace

    trace = read_csv_trace(out)
    assert trace.interval_s == 60
    t0 = int(trace.start.astype("datetime64[s]").astype(int))
    got = {t0 + 60 * i: float(v) for i, v in enumerate(trace.counts) if v == v}
    assert got == seeded
    from backends.sim import run_scenario
    from sim.scenario import scenario_from_dict

    sc = scenario_from_dict(
        {
            "run": {"duration": "10m"},
            "service": {"initial_tasks": 3},
            "traffic": {"trace": str(out), "peak_rps": 100},
        }
    )
    assert run_scenario(sc).summary["requests_total"] > 0


# -- run ----------------------------------------------------------------------------------
def test_run_logs_each_decision_on_a_virtual_clock(svc, tmp_path):
    from backends.ecs_ops import run_live
    from sim.scenario import scenario_from_dict

    now = math.floor(time.time() / 60) * 60 + 10.0
    starts = [now - 10 - 60 * k for k in range(6, 1, -1)]
    seed(svc, "AWS/ECS", "CPUUtilization", SERVICE_DIMS, [(t + 1, 90.0) for t in starts])
    sc = scenario_from_dict(
        {
            "service": {"min_tasks": 1, "max_tasks": 10, "initial_tasks": 3},
            "autoscaler": {"policy": "target-tracking", "target": 60.0},
        }
    )
    backend = make_backend(svc, VirtualTime(now), min_tasks=1, max_tasks=10, max_step=None)
    lines: list[str] = []
    out = tmp_path / "decisions.parquet"
    rows = run_live(sc, backend, until=150.0, out=out, emit=lines.append)
    assert len(rows) == len(lines) == 3  # at 0, 60 and 120 s
    first = json.loads(lines[0])
    assert first["observed"] == 3 and first["decided"] == 5 and first["sent"] == 5
    frame = pd.read_parquet(out)
    assert list(frame["observed"]) == [r["observed"] for r in rows]
    assert {"time", "observed", "decided", "reason"} <= set(frame.columns)


def test_run_command_for_a_few_seconds(svc, moto, tmp_path, capsys, counter):
    path = write_scenario(tmp_path, 'policy = "static"\ncount = 4\ninterval = 1.0')
    out = tmp_path / "d.parquet"
    assert ecs(moto, "run", "--scenario", str(path), "--for", "2s", "--out", str(out)) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    # rounds at 0 s and (if the first round took under 1 s) at 1 s: wall time decides
    assert lines and all(x["decided"] == 4 and x["dry_run"] is True for x in lines)
    assert "UpdateService" not in counter.operations  # dry run
    assert len(pd.read_parquet(out)) == len(lines)


# -- credentials --------------------------------------------------------------------------
def test_no_credentials_in_output_or_logs(svc, moto, tmp_path, capsys, caplog):
    """Nothing we print or log shows a credential. (botocore's own DEBUG request dump shows
    the key id and session token headers: never turn it on where logs are shared.)"""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="fargate_lab")
    path = write_scenario(tmp_path, COMBINED)
    assert ecs(moto, "export", str(path)) == 0
    assert ecs(moto, "scale", "4") == 0
    assert ecs(moto, "status", "--json") == 0
    assert ecs(moto, "deploy", "--image", "nginx:9") == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    key_id, secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    token = os.environ["AWS_SESSION_TOKEN"]
    for secret in (secret_key, token, key_id):
        assert secret not in text
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert secret_key not in logs and token not in logs
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("fargate_lab"))
    assert key_id not in ours


# -- IAM ----------------------------------------------------------------------------------
IAM_PREFIX = {
    "ecs": "ecs",
    "application-auto-scaling": "application-autoscaling",
    "cloudwatch": "cloudwatch",
    "elastic-load-balancing-v2": "elasticloadbalancing",
}
IAM_DIR = Path(__file__).resolve().parents[2] / "iam"


def test_iam_policies_allow_what_each_command_calls(svc, moto, tmp_path, capsys, monkeypatch):
    calls: list[str] = []

    def record(event_name: str, **kwargs) -> None:
        _, service, operation = event_name.split(".")
        calls.append(f"{IAM_PREFIX[service]}:{operation}")

    monkeypatch.setattr(AwsClients, "default_hooks", [("before-call", record)])
    scenario = write_scenario(tmp_path, COMBINED)
    static = tmp_path / "static.toml"
    static.write_text(
        '[service]\nmin_tasks = 1\n[autoscaler]\npolicy = "static"\ncount = 4\ninterval = 1.0\n'
    )
    rollout = tmp_path / "rollout.toml"
    rollout.write_text(scenario.read_text() + '\n[rollout]\nstrategy = "linear"\n')
    runs = [
        ("export", [str(scenario), "--apply"]),
        ("export", [str(rollout), "--apply"]),
        ("deploy", ["--image", "nginx:3", "--scenario", str(rollout), "--apply"]),
        ("import-policy", ["--out", str(tmp_path / "i.toml")]),
        ("status", ["--json"]),
        ("scale", ["4", "--apply"]),
        ("deploy", ["--image", "nginx:2", "--apply"]),
        ("rollback", ["--apply"]),
        ("import-trace", ["--since", "1h", "--out", str(tmp_path / "t.csv")]),
        (
            "run",
            [
                "--scenario",
                str(static),
                "--for",
                "1s",
                "--apply",
                "--out",
                str(tmp_path / "d.parquet"),
            ],
        ),
    ]
    for command, args in runs:
        calls.clear()
        assert ecs(moto, command, *args) == 0, command
        doc = json.loads((IAM_DIR / f"ecs-{command}.json").read_text())
        allowed = set()
        for statement in doc["Statement"]:
            action = statement["Action"]
            allowed |= {action} if isinstance(action, str) else set(action)
        assert calls, command
        assert set(calls) <= allowed, (command, sorted(set(calls) - allowed))
    capsys.readouterr()


def test_write_rate_guardrail_refuses_a_plan_before_any_request(
    svc, moto, tmp_path, capsys, counter
):
    path = write_scenario(tmp_path, COMBINED)  # six writes
    assert ecs(moto, "export", str(path), "--apply", "--max-writes-per-minute", "5") == 2
    assert "write-rate guardrail" in capsys.readouterr().err
    assert not WRITES & set(counter.operations)


def test_run_refuses_a_policy_that_needs_the_future(svc, moto, tmp_path, capsys, counter):
    path = write_scenario(tmp_path, 'policy = "oracle"')
    assert ecs(moto, "run", "--scenario", str(path), "--for", "1s") == 2
    assert "needs the future load" in capsys.readouterr().err
    assert counter.operations == []
