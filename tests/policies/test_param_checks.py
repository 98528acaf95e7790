"""Every registered policy's parameters are type-checked, finite and range-checked generically
(policies/base.py, BasePolicy.validate), with errors naming the parameter."""

from __future__ import annotations

import math

import pytest

from policies import registry
from policies.base import conforms, describe_type


def _numeric_params() -> list[tuple[str, str]]:
    out = []
    for name in registry.names():
        for param, hint in registry.policy_class(name).param_types().items():
            if conforms(1.5, hint) and not conforms("abc", hint):
                out.append((name, param))
    return out


NUMERIC = _numeric_params()


def test_every_policy_declares_numeric_parameters() -> None:
    policies = {name for name, _ in NUMERIC}
    assert policies == set(registry.names())  # each has at least `interval`


@pytest.mark.parametrize(("name", "param"), NUMERIC)
def test_a_string_for_a_number_names_the_key_and_the_type(name: str, param: str) -> None:
    with pytest.raises(registry.PolicyError) as err:
        registry.make(name, **{param: "abc"})
    assert err.value.key == param
    assert err.value.problem.startswith("expected a number")
    assert "'abc' (str)" in err.value.problem


@pytest.mark.parametrize(("name", "param"), NUMERIC)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused(name: str, param: str, value: float) -> None:
    with pytest.raises(registry.PolicyError) as err:
        registry.make(name, **{param: value})
    assert err.value.key == param
    assert "must be finite" in err.value.problem


@pytest.mark.parametrize(
    ("name", "param", "metric"),
    [
        ("target-tracking", "target", {}),
        ("hpa", "target", {"metric": "MemoryUtilization"}),
        ("predictive", "target", {}),
        ("reactive", "high", {}),
    ],
)
@pytest.mark.parametrize("value", [100.5, 0, -10])
def test_utilisation_targets_lie_in_0_100(name, param, metric, value) -> None:
    with pytest.raises(registry.PolicyError) as err:
        registry.make(name, **metric, **{param: value})
    assert err.value.key == param
    assert "(0, 100]" in err.value.problem


def test_a_target_on_a_count_metric_may_exceed_100() -> None:
    policy = registry.make("target-tracking", metric="RequestCountPerTarget", target=800.0)
    assert policy.get_params()["target"] == 800.0
    registry.make("predictive", scaling_metric="RequestCountPerTarget", target=800.0)


def test_every_default_configuration_passes_the_checks() -> None:
    for name in registry.names():
        registry.make(name)


@pytest.mark.parametrize(
    ("value", "hint", "ok"),
    [
        (3, float, True),
        (True, float, False),
        (3.0, int, False),
        ([1, 2.5], tuple[float, ...], True),
        ([1, "x"], tuple[float, ...], False),
        ((0, None, 1), tuple[float | None, float | None, int], True),
        ((0, None), tuple[float | None, float | None, int], False),
        ({"a": 1}, dict[str, int], True),
        ("abc", float | None, False),
        (None, float | None, True),
    ],
)
def test_conforms(value, hint, ok: bool) -> None:
    assert conforms(value, hint) is ok
    assert describe_type(hint)
