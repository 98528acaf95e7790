"""Record a service's load from CloudWatch as a trace file that ``fargate-lab simulate``
replays (``[traffic] trace = "FILE.csv"``).

The load is the target group's ALB ``RequestCount`` (Sum per period), or the service's ECS
``CPUUtilization`` (Average) when it has no load balancer, read with GetMetricData
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
CloudWatch keeps 60-second datapoints for 15 days
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#metrics-retention),
so ``--since`` is at most 15 days at a 60 s period. A period without a datapoint is left out
of the file: the trace reader treats it as missing data (its gap policy), never as zero.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from backends.aws import AwsClients, InputError
from backends.ecs import (
    ServiceRef,
    describe_service,
    fetch_metrics,
    metric_queries,
    target_group_dims,
)

RETENTION_S = {60: 15 * 86400, 300: 63 * 86400, 3600: 455 * 86400}


@dataclass
class TraceImport:
    metric: str
    column: str
    rows: int
    missing: int
    start: float
    end: float


def import_trace(
    clients: AwsClients,
    ref: ServiceRef,
    since_s: float,
    out: str | Path,
    now: float,
    period: int = 60,
) -> TraceImport:
    """Write ``timestamp,<column>`` rows (ISO 8601, UTC) for the last ``since_s`` seconds."""
    if period not in RETENTION_S:
        raise InputError(f"period must be one of {sorted(RETENTION_S)} s, got {period}")
    if not 0 < since_s <= RETENTION_S[period]:
        raise InputError(
            f"--since must be > 0 and at most {RETENTION_S[period] // 86400} days at a {period} s "
            f"period (CloudWatch retention), got {since_s:g} s"
        )
    end = math.floor(now / period) * period
    start = end - math.floor(since_s / period) * period
    tg = target_group_dims(clients, describe_service(clients, ref))
    name, column = ("RequestCount", "requests") if tg else ("CPUUtilization", "value")
    queries = [q for q in metric_queries([name], ref, tg, period) if q["Label"] == name]
    values = fetch_metrics(clients, queries, start, end, period)[name]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", column])
        for i, v in enumerate(values):
            if np.isnan(v):
                continue
            t = datetime.fromtimestamp(start + i * period, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            w.writerow([t, repr(float(v))])
            n += 1
    return TraceImport(name, column, n, int(np.isnan(values).sum()), start, end)
