"""Helpers shared by the tests (tests/ is on sys.path via pytest's ``pythonpath``)."""

from __future__ import annotations

import numpy as np

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


def build(**sections: dict) -> Scenario:
    """A scenario from section dicts, on defaults otherwise (deterministic arrivals)."""
    data: dict = {"run": {"duration": "30m"}, "traffic": {"arrivals": "deterministic"}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return scenario_from_dict(data)


def constant_rate(scenario: Scenario, rps: float) -> np.ndarray:
    return np.full(scenario.n_ticks, float(rps))
