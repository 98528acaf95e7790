"""Every registered backend passes the backend conformance suite; the suite catches a broken
backend."""

from __future__ import annotations

import pytest

from backends.checks import BACKENDS, CHECK_NAMES, KNOWN_EXCEPTIONS, check_backend, sim_factory
from policies.contract import Decision


@pytest.mark.parametrize("check_name", CHECK_NAMES)
@pytest.mark.parametrize("backend_name", sorted(BACKENDS))
def test_backend_conformance(backend_name: str, check_name: str) -> None:
    reason = KNOWN_EXCEPTIONS.get((backend_name, check_name))
    if reason:
        pytest.skip(reason)
    checks = dict(check_backend(BACKENDS[backend_name]))
    checks[check_name]()


def test_the_suite_catches_a_backend_that_ignores_max() -> None:
    make = sim_factory()

    def broken():
        backend, advance = make()
        real_apply = backend.apply

        def apply(decision: Decision) -> None:  # forgets the clamp by widening max first
            backend.sim.max_tasks = 10**6
            real_apply(decision)

        backend.apply = apply
        return backend, advance

    checks = dict(check_backend(broken))
    with pytest.raises(AssertionError, match="after asking for"):
        checks["apply_clamps_to_range"]()


def test_the_suite_catches_a_backend_that_leaks_the_future() -> None:
    make = sim_factory()

    def leaky():
        backend, advance = make()
        backend.wants_future = True
        return backend, advance

    with pytest.raises(AssertionError, match="future load"):
        dict(check_backend(leaky))["no_future_for_ordinary_policies"]()


def test_the_suite_catches_a_deployer_that_skips_validation(moto: str) -> None:
    from backends.ecs_checks import ecs_factory

    make = ecs_factory(moto)

    def careless():
        backend, advance = make()
        backend.deploy = lambda request: []  # ships nothing, refuses nothing
        return backend, advance

    with pytest.raises(AssertionError, match="accepted a linear step of 2%"):
        dict(check_backend(careless))["deploy_validates_then_ships"]()
