"""Several policies on one service (policies.autoscaling.combine), as Application Auto
Scaling combines them: the largest capacity wins for scale-out and scale-in ("Target tracking
scaling policies for Application Auto Scaling"), a step scale-in is not blocked by a target
tracking policy (PutScalingPolicy), and scheduled actions set the range within which the
dynamic policy keeps deciding ("How scheduled scaling for Application Auto Scaling works")."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import history, observation, policy_scenario

from backends.sim import run_simulation
from policies.autoscaling.combine import CombinedPolicy
from policies.autoscaling.step import StepScalingPolicy
from policies.autoscaling.target_tracking import TargetTrackingPolicy
from policies.base import BasePolicy
from policies.contract import Decision, Observation


class Fixed(BasePolicy):
    """A member that always proposes ``desired`` (None: no change), optionally a range."""

    def __init__(
        self,
        desired: int | None = None,
        min_tasks: int | None = None,
        max_tasks: int | None = None,
        interval: float = 60.0,
    ) -> None:
        self.desired = desired
        self.min_tasks = min_tasks
        self.max_tasks = max_tasks
        self.interval = interval

    def decide(self, observation: Observation) -> Decision:
        self.calls_ = getattr(self, "calls_", 0) + 1
        return Decision(
            self.desired,
            f"fixed {self.desired}",
            min_tasks=self.min_tasks,
            max_tasks=self.max_tasks,
        )


class Oracle(Fixed):
    requires_future = True


def obs(
    values=(50.0,),
    desired: int = 10,
    time: float = 1000.0,
    min_tasks: int = 1,
    max_tasks: int = 50,
) -> Observation:
    """An observation at ``time`` whose CPUUtilization periods are ``values``."""
    return observation(
        metrics=history(CPUUtilization=values),
        time=time,
        desired=desired,
        min_tasks=min_tasks,
        max_tasks=max_tasks,
    )


# Current desired count 10 in every row.
@pytest.mark.parametrize(
    "proposals, expected",
    [
        ([12, None], 12),  # one says out: out
        ([12, 15], 15),  # several out: the largest
        ([12, 8], 12),  # out beats in
        ([15, 8, None], 15),
        ([8, 9], 9),  # all in: the largest of the scale-in proposals
        ([8, 9, 7], 9),
        ([8], 8),  # a single member decides alone
        ([8, None], None),  # one "no change" vetoes scale-in
        ([8, 10], None),  # so does an explicit proposal of the current count
        ([None, None], None),
        ([10, 10], None),
        ([60, None], 50),  # clamped to max 50
        ([0, 0], 1),  # clamped to min 1
    ],
)
def test_combination_table(proposals, expected):
    p = CombinedPolicy([Fixed(x) for x in proposals])
    d = p.decide(obs(desired=10))
    assert d.desired == expected
    for i, x in enumerate(proposals):
        assert f"#{i + 1} fixed {x}" in d.reason


def test_reason_explains_the_vote():
    d = CombinedPolicy([Fixed(12), Fixed(15), Fixed(8)]).decide(obs())
    assert "scale out: 2 of 3 say out, largest of [12, 15] = 15" in d.reason
    d = CombinedPolicy([Fixed(8), Fixed(None)]).decide(obs())
    assert "scale in only if all agree" in d.reason
    d = CombinedPolicy([Fixed(8), Fixed(9)]).decide(obs())
    assert "2 say in and none objects, largest of [8, 9] = 9" in d.reason
    d = CombinedPolicy([Fixed(8), Fixed(None), Fixed(None)]).decide(obs())
    assert "#2, #3 object" in d.reason


def test_range_only_members_abstain_and_their_range_passes_through():
    # A member that only changes the range (scheduled scaling) does not veto a scale-in.
    p = CombinedPolicy([Fixed(8), Fixed(None, min_tasks=9, max_tasks=40)])
    d = p.decide(obs(desired=10))
    assert (d.desired, d.min_tasks, d.max_tasks) == (9, 9, 40)  # 8 clamped to the new min 9
    with pytest.raises(ValueError, match="different min_tasks"):
        CombinedPolicy([Fixed(None, min_tasks=2), Fixed(None, min_tasks=3)]).decide(obs())


def test_every_member_decides_at_every_call_and_cadence_is_the_shortest():
    a, b = Fixed(12, interval=60.0), Fixed(None, interval=20.0)
    p = CombinedPolicy([a, b])
    assert p.interval_s == 20.0
    assert CombinedPolicy([a, b], interval=30.0).interval_s == 30.0
    for _ in range(3):
        p.decide(obs())
    assert a.calls_ == b.calls_ == 3


def test_requires_future_if_any_member_does():
    assert CombinedPolicy([Fixed(1)]).requires_future is False
    assert CombinedPolicy([Fixed(1), Oracle(2)]).requires_future is True


@pytest.mark.parametrize(
    "params, match",
    [
        ({"policies": []}, "non-empty"),
        ({"policies": [object()]}, "has no decide"),
        ({"policies": [Fixed(1)], "interval": 0}, "interval"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        CombinedPolicy(**params).decide(obs())


def test_params_pickle_reset_and_clone():
    tt, step = TargetTrackingPolicy(), StepScalingPolicy()
    p = CombinedPolicy([tt, step])
    assert p.get_params() == {"policies": [tt, step], "interval": None}
    assert p.decide(obs([80.0] * 3, desired=10, time=0)).desired == 16  # tt: ceil(10 x 80/50)
    q = pickle.loads(pickle.dumps(p))
    # The members' cooldowns travel with the pickle...
    assert q.decide(obs([80.0] * 4, desired=16, time=60)).desired is None
    # ... a clone starts fresh (ceil(16 x 80 / 50) = 26) and leaves the original alone ...
    c = p.clone()
    assert c.policies[0] is not tt
    assert c.decide(obs([80.0] * 4, desired=16, time=60)).desired == 26
    assert p.decide(obs([80.0] * 4, desired=16, time=60)).desired is None
    # ... and reset clears the members.
    p.reset()
    assert p.decide(obs([80.0] * 4, desired=16, time=60)).desired == 26


def test_a_pair_of_step_policies():
    out = StepScalingPolicy(threshold=70.0)
    in_ = StepScalingPolicy(comparison="less", threshold=30.0)
    p = CombinedPolicy([out, in_])
    d = p.decide(obs([85.0], desired=10, time=0))
    assert d.desired == 12  # out: 10 + 2; in: alarm OK
    assert p.decide(obs([50.0], desired=12, time=600)).desired is None  # neither alarm
    # A quiet scale-out step policy has no say: the scale-in partner acts alone (10 - 2).
    d = p.decide(obs([20.0], desired=12, time=1200))
    assert d.desired == 10 and "none objects" in d.reason


@pytest.mark.parametrize("disable_scale_in, expected", [(False, None), (True, 9)])
def test_target_tracking_vetoes_scale_in_unless_disabled(disable_scale_in, expected):
    # CPU 45.5 % for 15 minutes on 10 tasks: below a step scale-in policy's 50 % threshold
    # (45.5 - 50 = -4.5 in (-10, 0]: 10 - 1 = 9), but not below target tracking's scale-in
    # threshold 0.9 x 50 = 45 %: target tracking is not ready to scale in, and vetoes
    # unless its scale-in is disabled (AWS: "with the scale-in portion enabled").
    tt = TargetTrackingPolicy(disable_scale_in=disable_scale_in)
    step_in = StepScalingPolicy(comparison="less", threshold=50.0)
    d = CombinedPolicy([tt, step_in]).decide(obs([45.5] * 15, desired=10))
    assert d.desired == expected


def test_losing_scale_in_proposal_does_not_leave_a_false_cooldown():
    tt = TargetTrackingPolicy()
    p = CombinedPolicy([tt, Fixed(None)])
    low = [40.0] * 15
    assert p.decide(obs(low, desired=10, time=0)).desired is None  # vetoed
    # desired is still 10, above the 8 target tracking proposed: it is not in cooldown.
    d = tt.decide(obs(low, desired=10, time=60))
    assert d.desired == 8


class Quiet(Fixed):
    """A member that never objects to a scale-in by others."""

    def vetoes_scale_in(self) -> bool:
        return False


@pytest.mark.parametrize(
    "members, expected",
    [
        ([Fixed(8), Quiet(None)], 8),  # a quiet member has no say
        ([Fixed(8), Quiet(None), Fixed(None)], None),  # an ordinary "no change" still vetoes
        ([Quiet(None), Quiet(None)], None),  # nobody says in
        ([Quiet(12), Fixed(8)], 12),
    ],
)
def test_members_may_waive_their_scale_in_veto(members, expected):
    assert CombinedPolicy(members).decide(obs(desired=10)).desired == expected


def test_a_step_policy_in_alarm_but_blocked_vetoes():
    out = StepScalingPolicy(threshold=70.0)
    assert out.decide(obs([85.0], desired=10, time=0)).desired == 12
    in_ = Fixed(9)
    # 60 s later the scale-out alarm still fires but the cooldown holds it: it objects.
    d = CombinedPolicy([out, in_]).decide(obs([85.0], desired=12, time=60))
    assert d.desired is None and "#1 object" in d.reason


def test_combined_pair_in_the_simulator():
    from sim.simulation import Simulation

    sc = policy_scenario("2h", "deterministic")
    rate = np.full(sc.n_ticks, 200.0)
    rate[1800:3600] = 600.0  # half an hour of 3x load, then back
    policy = CombinedPolicy(
        [StepScalingPolicy(threshold=70.0), StepScalingPolicy(comparison="less", threshold=30.0)]
    )
    result = run_simulation(Simulation(sc, rate=rate), policy)
    scale = result.events[result.events.event == "SCALE"]
    ups = scale[scale.reason.str.contains("combined: scale out")]
    downs = scale[scale.reason.str.contains("combined: scale in")]
    assert len(ups) >= 1 and ups.time_s.min() > 1800
    assert len(downs) >= 1 and downs.time_s.min() > 3600


class _Floor:
    """A member that never votes but holds a capacity floor, like predictive scaling."""

    interval_s = 60.0

    def __init__(self, floor):
        self.floor = floor

    def get_params(self):
        return {"floor": self.floor}

    def decide(self, observation):
        return Decision(None, f"floor {self.floor}")

    def vetoes_scale_in(self):
        return False

    def capacity_floor(self):
        return self.floor


class _Wants:
    interval_s = 60.0

    def __init__(self, n):
        self.n = n

    def get_params(self):
        return {"n": self.n}

    def decide(self, observation):
        return Decision(self.n, f"wants {self.n}")


@pytest.mark.parametrize(
    ("desired", "floor", "proposal", "expected"),
    [
        (10, 7, 4, 7),  # scale-in stops at the floor
        (10, 3, 4, 4),  # floor below the proposal: the proposal stands
        (10, 12, 4, None),  # floor above desired: no scale-in (and the floor does not scale out)
        (10, None, 4, 4),  # no forecast yet
    ],
)
def test_scale_in_respects_a_members_capacity_floor(desired, floor, proposal, expected) -> None:
    policy = CombinedPolicy([_Floor(floor), _Wants(proposal)])
    obs = _obs_for_floor(desired)
    assert policy.decide(obs).desired == expected


def _obs_for_floor(desired: int):
    return observation(time=600.0, desired=desired)
