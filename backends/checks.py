"""The backend conformance suite, shipped as library code (DESIGN.md convention 6).

Like :mod:`policies.checks` for policies: :func:`check_backend` yields named checks, each a
callable that raises :class:`AssertionError` with a clear message when a backend breaks the
contract of :mod:`backends.base`: ``observe()`` is the only read and returns a consistent
:class:`~policies.contract.Observation` that shows only published metrics, ``apply()`` is the only
write and respects the scalable range, the clock drives a controller at the policy's cadence,
(where the world allows it) the same inputs give the same observations, and a
:class:`~backends.base.Deployer` refuses a deployment ECS cannot take without changing the
service, then ships a valid one as a new revision. A check that does
not apply to a backend is declared in :data:`KNOWN_EXCEPTIONS` with the reason.

A backend is given as a *factory*: a callable returning a fresh ``(backend, advance)`` pair,
where ``advance(seconds)`` lets the backend's world move on (a SimPy ``env.run`` for the
simulator; for a real service, waiting). Factories are registered in :data:`BACKENDS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from backends.base import Backend, Clock, Controller, Deployer, DeployRequest
from backends.base import run as run_controller
from backends.ecs_checks import ecs_factory
from policies.contract import Decision, Observation

#: A factory returns a fresh backend and a function that advances its world by some seconds.
Factory = Callable[[], tuple[Any, Callable[[float], None]]]

#: (backend name, check name) -> why the check does not apply to that backend.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("ecs", "deterministic"): "a real ECS service is not deterministic: task starts, metrics "
    "and other writers (deployments, people, other scalers) change it between two runs",
    ("sim", "deploy_validates_then_ships"): "SimBackend has no deploy(): the simulator's "
    "releases are deployed by the rollout driver (backends/sim_rollout.py) from the scenario's "
    "[releases] and [rollout]",
}

CHECK_NAMES: tuple[str, ...] = (
    "protocol",
    "observation_consistent",
    "published_metrics_only",
    "no_future_for_ordinary_policies",
    "apply_clamps_to_range",
    "apply_range_pushes_desired",
    "clock_drives_at_cadence",
    "deterministic",
    "deploy_validates_then_ships",
)


def sim_factory(seed: int = 1) -> Factory:
    """A small simulated service (30 minutes of steady load, deterministic start times)."""

    def make() -> tuple[Any, Callable[[float], None]]:
        from backends.sim import SimBackend
        from sim.scenario import scenario_from_dict
        from sim.simulation import Simulation

        sc = scenario_from_dict(
            {
                # The alarm phase fixed at 0: the cadence check expects rounds at 0, 45, ...
                "run": {"seed": seed, "duration": "30m", "alarm_evaluation_phase": 0},
                "service": {
                    "initial_tasks": 3,
                    "min_tasks": 1,
                    "max_tasks": 8,
                    "provisioning": ["10s", "10s"],
                    "pull_jitter": 0.0,
                },
                "traffic": {"synthetic": {"base_rps": 150, "noise_cv": 0.1}},
            }
        )
        sim = Simulation(sc)
        return SimBackend(sim), lambda dt: sim.env.run(until=sim.env.now + dt)

    return make


#: Backends by name; each entry is a factory.
BACKENDS: dict[str, Factory] = {"sim": sim_factory(), "ecs": ecs_factory()}


def _check_protocol(factory: Factory) -> None:
    backend, _ = factory()
    assert isinstance(backend, Backend), f"{type(backend).__name__} is not a Backend"
    assert isinstance(backend.clock, Clock), "backend.clock is not a Clock"


def _check_observation_consistent(factory: Factory) -> None:
    backend, advance = factory()
    for _ in range(5):
        obs = backend.observe()
        assert isinstance(obs, Observation), f"observe() returned {type(obs).__name__}"
        for name in ("desired", "running", "pending", "healthy"):
            assert getattr(obs, name) >= 0, f"{name} = {getattr(obs, name)} < 0"
        assert obs.healthy <= obs.running, f"healthy {obs.healthy} > running {obs.running}"
        assert obs.min_tasks <= obs.desired <= obs.max_tasks, (
            f"desired {obs.desired} outside [{obs.min_tasks}, {obs.max_tasks}]"
        )
        assert math.isfinite(obs.time)
        advance(120.0)


def _check_published_metrics_only(factory: Factory) -> None:
    backend, advance = factory()
    for _ in range(6):
        obs = backend.observe()
        m = obs.metrics
        assert m.end <= obs.time + 1e-9, (
            f"metrics run to {m.end}s, after the observation time {obs.time}s"
        )
        for name in m.columns:
            values = m[name]
            assert len(values) == len(m), f"{name} has {len(values)} values, history {len(m)}"
            assert not values.flags.writeable, f"metric {name} is writeable"
        advance(90.0)


def _check_no_future(factory: Factory) -> None:
    backend, advance = factory()
    advance(60.0)
    obs = backend.observe()
    assert obs.future_load is None, "an ordinary policy was shown the future load"


def _check_apply_clamps(factory: Factory) -> None:
    backend, advance = factory()
    obs = backend.observe()
    backend.apply(Decision(obs.max_tasks + 10, "check: above max"))
    advance(1.0)
    after = backend.observe()
    assert after.desired == obs.max_tasks, (
        f"desired {after.desired} after asking for {obs.max_tasks + 10} with max {obs.max_tasks}"
    )
    backend.apply(Decision(0, "check: below min"))
    advance(1.0)
    after = backend.observe()
    assert after.desired == obs.min_tasks, f"desired {after.desired} below min {obs.min_tasks}"


def _check_apply_range(factory: Factory) -> None:
    backend, advance = factory()
    obs = backend.observe()
    floor = min(obs.max_tasks, obs.desired + 2)
    backend.apply(Decision(None, "check: raise min", min_tasks=floor))
    advance(1.0)
    after = backend.observe()
    assert after.min_tasks == floor, f"min_tasks {after.min_tasks}, asked {floor}"
    assert after.desired >= floor, f"desired {after.desired} not pushed up to min {floor}"


class _Counter:
    interval_s = 45.0

    def __init__(self) -> None:
        self.times: list[float] = []

    def get_params(self) -> dict[str, Any]:
        return {}

    def decide(self, observation: Observation) -> Decision:
        self.times.append(observation.time)
        return Decision(None, "check: count the rounds")


def _check_clock(factory: Factory) -> None:
    backend, advance = factory()
    policy = _Counter()
    run_controller(Controller(policy, backend), until=200.0)
    advance(300.0)
    gaps = np.diff(policy.times)
    # rounds at 0, 45, 90, 135, 180 s; none at or after 200 s
    assert len(policy.times) == 5, f"{len(policy.times)} rounds in 200 s at 45 s, expected 5"
    assert np.allclose(gaps, 45.0), f"rounds {gaps} s apart, expected 45 s"


def _observations(factory: Factory) -> list[tuple]:
    backend, advance = factory()
    out = []
    for step in range(4):
        obs = backend.observe()
        out.append(
            (obs.time, obs.desired, obs.running, obs.healthy, tuple(obs.metrics["RequestCount"]))
        )
        backend.apply(Decision(3 + step, "check: a fixed sequence"))
        advance(150.0)
    return out


def _check_deterministic(factory: Factory) -> None:
    a, b = _observations(factory), _observations(factory)
    assert a == b, "the same decisions gave different observations"


def _check_deploy(factory: Factory) -> None:
    backend, advance = factory()
    assert isinstance(backend, Deployer), f"{type(backend).__name__} has no deploy()"
    before = backend.observe()
    bad = DeployRequest("check/app:2", "linear", {"step_percent": 2.0}, reason="check: bad step")
    try:
        backend.deploy(bad)
    except ValueError:
        pass
    else:
        raise AssertionError("deploy() accepted a linear step of 2%, below ECS's 3%")
    advance(1.0)
    after = backend.observe()
    assert after.deployment.revision == before.deployment.revision, (
        f"a refused deploy changed the revision {before.deployment.revision} -> "
        f"{after.deployment.revision}"
    )
    good = DeployRequest("check/app:2", "canary", {"bake_time": 300.0}, reason="check: ship")
    backend.deploy(good)
    advance(1.0)
    shipped = backend.observe()
    assert shipped.deployment.revision != before.deployment.revision, (
        f"revision still {shipped.deployment.revision} after a deploy"
    )


_CHECKS: dict[str, Callable[[Factory], None]] = {
    "protocol": _check_protocol,
    "observation_consistent": _check_observation_consistent,
    "published_metrics_only": _check_published_metrics_only,
    "no_future_for_ordinary_policies": _check_no_future,
    "apply_clamps_to_range": _check_apply_clamps,
    "apply_range_pushes_desired": _check_apply_range,
    "clock_drives_at_cadence": _check_clock,
    "deterministic": _check_deterministic,
    "deploy_validates_then_ships": _check_deploy,
}


def check_backend(factory: Factory) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(check name, check)`` pairs; each check raises AssertionError on failure."""
    for name in CHECK_NAMES:
        check = _CHECKS[name]
        yield name, (lambda c=check: c(factory))
