"""The autoscaling experiment's windows: where each trace is cut into a tuning window and
independent evaluation windows, the history before each, and what that history gives the
policies (experiments/autoscaling.py describes the design as a whole).

* :data:`TRACES`: the usable spans of each catalog trace and the peak each window is rescaled
  to; :func:`layout`: the tuning window and the evaluation windows of a trace.
* :func:`window_rate`: the offered load of a window and of its history, on one scale.
* :func:`history_metrics`: the history as the CloudWatch metrics the predictive and learned
  policies are warm-started with; :func:`hourly_floor`: scheduled's floors from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.contract import METRIC_NAMES, MetricHistory

#: Usable spans of each trace (ISO, UTC; no missing data inside) and the peak each window is
#: rescaled to (requests/s). NASA: the gap (Jul 28 13:32 to Aug 1) and the hurricane outage
#: (Aug 1 14:52 to Aug 3 04:36) are missing data, so its spans stop before and start after
#: them. WorldCup98 stops at the final (Jul 12): after it the site serves another workload.
TRACES: dict[str, dict[str, Any]] = {
    "nasa": {
        "segments": [
            ("1995-07-02T00:00:00", "1995-07-28T00:00:00"),
            ("1995-08-04T00:00:00", "1995-09-01T00:00:00"),
        ],
        "peak_rps": 2000.0,
    },
    "worldcup98": {
        "segments": [("1998-05-01T00:00:00", "1998-07-13T00:00:00")],
        "peak_rps": 5000.0,
    },
    "aws-elb": {
        "segments": [("2014-04-10T00:04:00", "2014-04-24T00:04:00")],
        "peak_rps": 1000.0,
    },
    "twitter-aapl": {
        "segments": [("2015-02-27T00:00:00", "2015-04-23T00:00:00")],
        "peak_rps": 3000.0,
    },
}

#: The service every policy scales: 1 vCPU / 2 GB tasks serving 100 requests/s each.
SERVICE: dict[str, Any] = {
    "cpu": 1024,
    "memory": 2048,
    "min_tasks": 2,
    "max_tasks": 300,
    "capacity_rps": 100.0,
}

#: Days of history before each window (AWS predictive scaling reads up to 14 days).
HISTORY_DAYS = 14.0
#: Fraction of the median demand of each hour of day that scheduled's floors keep.
SCHEDULED_FRACTION = 0.7
#: Kept for the command line's ``--window-step``: windows are spaced ``max(days,
#: window_step)`` days apart (never overlapping); 0 replays the latest evaluation window for
#: every seed (simulation noise only, not independent windows).
WINDOW_STEP_DAYS = 1.0
DAY_S = 86400.0


@dataclass(frozen=True)
class Window:
    """One stretch of a trace: ``start`` (ISO), ``days`` long, with history from
    ``history_start`` (ISO, == start when there is none); ``role`` "tuning" or "evaluation",
    ``index`` 1.. for evaluation windows (0 for tuning), which is also the run's seed."""

    trace: str
    role: str
    index: int
    start: str
    days: float
    history_start: str

    @property
    def end(self) -> str:
        return to_iso(to_seconds(self.start) + self.days * DAY_S)

    @property
    def history_days(self) -> float:
        return (to_seconds(self.start) - to_seconds(self.history_start)) / DAY_S


def to_seconds(iso: str) -> float:
    """Seconds since the Unix epoch of an ISO time (UTC)."""
    return float(np.datetime64(iso, "s").astype("int64"))


def to_iso(seconds: float) -> str:
    """The ISO time (UTC, whole seconds) of seconds since the Unix epoch."""
    return str(np.datetime64(int(round(seconds)), "s"))


def layout(trace: str, days: float, n: int, window_step: float = WINDOW_STEP_DAYS) -> list[Window]:
    """The tuning window and up to ``n`` evaluation windows of ``trace`` (module docstring).

    Returns the tuning window first, then the evaluation windows in time order (index 1 is
    the earliest). With ``window_step == 0`` every evaluation window is the latest one.
    """
    segments = [(to_seconds(a), to_seconds(b)) for a, b in TRACES[trace]["segments"]]
    step = max(days, window_step) * DAY_S
    length = days * DAY_S

    def make(role: str, index: int, start: float, seg0: float) -> Window:
        hist = max(seg0, start - HISTORY_DAYS * DAY_S)
        return Window(trace, role, index, to_iso(start), days, to_iso(hist))

    seg0, seg1 = segments[-1]
    tune_start = seg1 - length
    if tune_start < seg0:
        return []
    tuning = make("tuning", 0, tune_start, seg0)
    found: list[tuple[float, float]] = []
    end = tune_start
    for i in range(len(segments) - 1, -1, -1):
        s0, s1 = segments[i]
        if i < len(segments) - 1:
            end = s1
        start = end - step if i == len(segments) - 1 else end - length
        while start >= s0 - 1e-6 and len(found) < n:
            found.append((start, s0))
            start -= step
        if len(found) >= n:
            break
    if window_step == 0 and found:
        found = [found[0]] * n
    found.sort()
    evals = [make("evaluation", k + 1, s, s0) for k, (s, s0) in enumerate(found)]
    return [tuning, *evals]


def window_rate(window: Window, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """Offered load (requests/s per tick) of the window's history and of the window itself,
    cut from one series and rescaled by one factor, so that the window's peak is the trace's
    ``peak_rps`` and the history is on the same scale."""
    from sim.scenario import scenario_from_dict
    from sim.traffic.rates import build_rate

    hist_s = to_seconds(window.start) - to_seconds(window.history_start)
    data = {
        "name": "rate",
        "run": {"seed": 0, "duration": hist_s + window.days * DAY_S, "tick": tick},
        "service": dict(SERVICE),
        "traffic": {"trace": window.trace, "start": window.history_start, "scale": 1.0},
    }
    sc = scenario_from_dict(data)
    raw = build_rate(sc.traffic, sc.run.duration, tick, np.random.default_rng(0))
    n_hist = int(round(hist_s / tick))
    peak = float(raw[n_hist:].max())
    factor = TRACES[window.trace]["peak_rps"] / peak if peak > 0 else 1.0
    rate = raw * factor
    return rate[:n_hist], rate[n_hist:]


def history_metrics(
    rate: np.ndarray, tick: float, target: float, idle_cpu: float, period_s: float = 60.0
) -> MetricHistory | None:
    """Per-period CloudWatch metrics of the history, as a service kept at ``target`` % CPU
    would have published them (periods end at time 0; None without history).

    RequestCount is the offered load; RunningTaskCount and HealthyHostCount the tasks that
    carry it at ``target`` (at least ``min_tasks``); CPUUtilization the simulator's CPU
    model for that load on those tasks (``100 x load / (tasks x capacity_rps) + idle_cpu``).
    Other metrics are missing (NaN). An approximation: the real history would include the
    old policy's own lag, which the warm start does not try to reproduce.
    """
    per = int(round(period_s / tick))
    n = len(rate) // per
    if n == 0:
        return None
    load = rate[len(rate) - n * per :].reshape(n, per).mean(axis=1)
    cap = SERVICE["capacity_rps"]
    tasks = np.maximum(SERVICE["min_tasks"], np.ceil(load / (cap * target / 100.0) - 1e-9))
    cpu = np.minimum(100.0, 100.0 * load / (tasks * cap) + idle_cpu)
    nan = np.full(n, np.nan)
    cols = {name: nan for name in METRIC_NAMES}
    count = load * period_s
    cols.update(
        {
            "CPUUtilization": cpu,
            "CPUUtilization_Minimum": cpu,
            "CPUUtilization_Maximum": cpu,
            "RequestCount": np.where(count > 0, count, np.nan),
            "RequestCountPerTarget": np.where(count > 0, count / tasks, np.nan),
            "RunningTaskCount": tasks,
            "HealthyHostCount": tasks,
        }
    )
    for v in cols.values():
        v.flags.writeable = False
    start = (np.arange(n) - n) * period_s
    start.flags.writeable = False
    return MetricHistory(period_s, start, cols)


def hourly_floor(
    demand_by_tick: np.ndarray, tick: float, fraction: float = SCHEDULED_FRACTION
) -> list[int]:
    """Per hour of day, ``fraction`` of the median demand in that hour over ``demand_by_tick``
    (the history before the window, whose length is whole days): the schedule an operator
    would draw from past dashboards."""
    per_hour = int(round(3600 / tick))
    hours = len(demand_by_tick) // per_hour
    if hours == 0:
        return [SERVICE["min_tasks"]] * 24
    skip = len(demand_by_tick) - hours * per_hour
    by_hour = demand_by_tick[skip:].reshape(hours, per_hour).mean(axis=1)
    # hour index h of the history counts back from the window start (hour of day 0)
    hod = (np.arange(hours) - hours) % 24
    floors = []
    for h in range(24):
        values = by_hour[hod == h]
        level = float(np.median(values)) if len(values) else 0.0
        floors.append(max(SERVICE["min_tasks"], int(fraction * level)))
    return floors
