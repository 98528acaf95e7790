"""Helpers shared by the tests (tests/ is on sys.path via pytest's ``pythonpath``)."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from policies.contract import METRIC_NAMES, DeploymentState, FutureLoad, MetricHistory, Observation
from sim.scenario import Scenario, scenario_from_dict

#: Start latency made exact for event-trace tests: 10 s provisioning, an 88 MB image at
#: 8.8 MB/s (10 s pull), 2 s container start, health check 5 s x 2.
FAST_START = {
    "provisioning": ["10s", "10s"],
    "image_size_mb": 88.0,
    "pull_jitter": 0.0,
    "health_check_interval": "5s",
    "healthy_threshold": 2,
}


#: The idealised CloudWatch timing the model had before its reaction time was calibrated
#: against AWS's benchmark: controller rounds at 0, interval, 2 x interval, ..., a decision
#: reaching the service at once, a period visible 60 s after it ends at either resolution.
#: The lifecycle, billing, scheduler and policy-arithmetic tests keep their exact times with
#: it (``build`` and ``policy_scenario`` use it unless a test overrides a key); the calibrated
#: defaults are tested in tests/backends/test_reaction_time.py.
IDEAL_TIMING: dict = {"publication_delay": "60s", "alarm_evaluation_phase": 0, "actuation_delay": 0}


def exact_health_checks(sim):
    """Make the time from RUNNING to healthy exactly interval x healthy threshold (the worst
    case, no random phase), so that an event trace has round times. Returns ``sim``."""
    t = sim.times
    sim.times = dataclasses.replace(t, health_check_min=t.health_check, health_check_phase=0.0)
    return sim


def build(**sections: dict) -> Scenario:
    """A scenario from section dicts, on defaults otherwise (deterministic arrivals, the
    idealised CloudWatch timing :data:`IDEAL_TIMING`)."""
    data: dict = {
        "run": {"duration": "30m", **IDEAL_TIMING},
        "traffic": {"arrivals": "deterministic"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return scenario_from_dict(data)


def constant_rate(scenario: Scenario, rps: float) -> np.ndarray:
    return np.full(scenario.n_ticks, float(rps))


def history(period_s: float = 60.0, start: float = 0.0, **columns: ArrayLike) -> MetricHistory:
    """A MetricHistory as a CloudWatch reader would hold it, built from a few columns.

    Every name in ``METRIC_NAMES`` is present: the ``columns`` given (array-likes of one length
    ``n``, stored as float copies) and NaN for the rest. Period ``i`` starts at
    ``start + i * period_s``; no columns make an empty history. All arrays are read-only, as
    the simulator's are. An unknown column name or unequal lengths raise ValueError.
    """
    unknown = sorted(set(columns) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric columns {unknown}; known: {list(METRIC_NAMES)}")
    values = {name: np.array(v, dtype=float) for name, v in columns.items()}
    not_1d = sorted(name for name, v in values.items() if v.ndim != 1)
    if not_1d:
        raise ValueError(f"metric columns must be one-dimensional: {not_1d}")
    lengths = {name: len(v) for name, v in values.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"metric columns differ in length: {lengths}")
    n = next(iter(lengths.values()), 0)
    starts = start + np.arange(n) * period_s
    cols = {name: values.get(name, np.full(n, np.nan)) for name in METRIC_NAMES}
    for a in (starts, *cols.values()):
        a.flags.writeable = False
    return MetricHistory(period_s, starts, cols)


def observation(
    *,
    metrics: MetricHistory | None = None,
    time: float | None = None,
    desired: int = 10,
    running: int | None = None,
    pending: int = 0,
    healthy: int | None = None,
    min_tasks: int = 1,
    max_tasks: int = 50,
    cpu: int = 1024,
    memory: int = 2048,
    capacity_rps: float = 100.0,
    deployment: DeploymentState | None = None,
    future_load: FutureLoad | None = None,
) -> Observation:
    """An Observation with test defaults: a steady service of ``desired`` tasks.

    ``running`` and ``healthy`` default to ``desired``; ``metrics`` to an empty history;
    ``time`` to one publication delay (60 s) after the last period, ``metrics.end + 60``;
    ``deployment`` to none in progress.
    """
    metrics = MetricHistory.empty() if metrics is None else metrics
    return Observation(
        time=metrics.end + 60.0 if time is None else time,
        desired=desired,
        running=desired if running is None else running,
        pending=pending,
        healthy=desired if healthy is None else healthy,
        min_tasks=min_tasks,
        max_tasks=max_tasks,
        cpu=cpu,
        memory=memory,
        capacity_rps=capacity_rps,
        metrics=metrics,
        deployment=DeploymentState() if deployment is None else deployment,
        future_load=future_load,
    )


def policy_scenario(
    duration: str = "2h", arrivals: str = "deterministic", initial_tasks: int = 4, **run: object
) -> Scenario:
    """The small service the policy tests run in the simulator: 1-50 tasks of 100 req/s,
    ``initial_tasks`` at the start, exact 10 s provisioning and no pull jitter (seed 1), the
    idealised CloudWatch timing :data:`IDEAL_TIMING`; ``run`` adds keys to the [run] section
    (e.g. ``metrics_period=20``)."""
    return scenario_from_dict(
        {
            "run": {"seed": 1, "duration": duration, "tick": "1s", **IDEAL_TIMING, **run},
            "service": {
                "min_tasks": 1,
                "max_tasks": 50,
                "initial_tasks": initial_tasks,
                "capacity_rps": 100,
                "provisioning": ["10s", "10s"],
                "pull_jitter": 0,
            },
            "traffic": {"arrivals": arrivals},
        }
    )
