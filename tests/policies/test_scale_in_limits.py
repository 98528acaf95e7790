"""Every autoscaler in this package states the scale-in limits it applies, and where they come
from, in a ``scale_in_limits`` string the experiment report lists."""

from __future__ import annotations

import pytest

from policies import registry

#: The policies whose scale-in limits are described here (the others' modules add theirs).
DESCRIBED = ("static", "reactive", "target-tracking", "step", "scheduled", "hpa", "combined")


@pytest.mark.parametrize("name", DESCRIBED)
def test_scale_in_limits_are_a_sentence(name: str) -> None:
    policy = registry.make(name)
    text = policy.scale_in_limits
    assert isinstance(text, str) and len(text) > 10
    assert "shared/" + "reference" not in text


def test_limits_follow_the_parameters() -> None:
    tt = registry.make("target-tracking", scale_in_cooldown=120)
    assert "scale-in cooldown 120 s" in tt.scale_in_limits
    assert "no cap on one scale-in" in tt.scale_in_limits
    hpa = registry.make("hpa", scale_down_stabilization=60, scale_down_percent=10)
    assert "window 60 s" in hpa.scale_in_limits and "at most 10% removed" in hpa.scale_in_limits


def test_combined_lists_each_member() -> None:
    text = registry.make(
        "combined", policies=[{"policy": "scheduled"}, {"policy": "target-tracking"}]
    ).scale_in_limits
    assert "#1 ScheduledPolicy: none of its own" in text
    assert "#2 TargetTrackingPolicy: scale-in alarm 15 datapoints" in text
