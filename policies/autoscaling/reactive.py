"""A simple reactive rule on average CPU: the plainest autoscaler that works.

Not an AWS policy (``target-tracking`` reproduces that): it reads the last published minute
of ECS ``CPUUtilization`` and, when it leaves the band [``low``, ``high``], sets the desired
count to ``ceil(running x cpu / target)``, the proportional rule every target-tracking
scaler uses.
"""

from __future__ import annotations

import math

from policies.base import BasePolicy, clamp
from policies.contract import Decision, Observation


class ReactivePolicy(BasePolicy):
    """Proportional scaling on CPU outside a dead band.

    Parameters
    ----------
    target : float, default 60
        CPU utilisation (%) the fleet is steered to.
    high : float, default 75
        Scale out when the last published minute's average CPU is above this.
    low : float, default 40
        Scale in when it is below this (and no task is still starting).
    cooldown : float, default 300
        Seconds after an action during which no other action is taken, so that new tasks can
        start (300 s is Application Auto Scaling's default cooldown for ECS services:
        StepScalingPolicyConfiguration, "Cooldown", https://docs.aws.amazon.com/autoscaling/
        application/APIReference/API_StepScalingPolicyConfiguration.html).
    interval : float, default 60
        Seconds between decisions.
    """

    percent_params = {"target": None, "high": None, "low": None}  # utilisation % (policies/base.py)

    @property
    def scale_in_limits(self) -> str:
        """The scale-in limits this rule applies (for reports). Not an AWS policy: its own."""
        return (
            f"scale in only below {self.low:g}% CPU with no task pending, to the proportional "
            f"count; {float(self.cooldown):g} s cooldown after any action (this project's rule, "
            "not an owner's)"
        )

    def __init__(
        self,
        target: float = 60.0,
        high: float = 75.0,
        low: float = 40.0,
        cooldown: float = 300.0,
        interval: float = 60.0,
    ) -> None:
        self.target = target
        self.high = high
        self.low = low
        self.cooldown = cooldown
        self.interval = interval

    def _validate(self) -> None:
        if not (0 < self.low <= self.target <= self.high):
            raise ValueError(
                f"reactive: need 0 < low <= target <= high, got low={self.low}, "
                f"target={self.target}, high={self.high}"
            )
        if self.cooldown < 0 or self.interval <= 0:
            raise ValueError(
                f"reactive: need cooldown >= 0 and interval > 0, got cooldown={self.cooldown}, "
                f"interval={self.interval}"
            )

    def decide(self, observation: Observation) -> Decision:
        self._validate()
        lo, hi = observation.min_tasks, observation.max_tasks
        cpu_series = observation.metrics.last("CPUUtilization", 1)
        if observation.running == 0:
            want = clamp(max(observation.desired, lo, 1), lo, hi)
            if want != observation.desired:
                return Decision(want, "reactive: no running task")
            return Decision(None, "reactive: no running task yet")
        if len(cpu_series) == 0 or math.isnan(cpu_series[-1]):
            return Decision(None, "reactive: no CPU datapoint published yet")
        cpu = float(cpu_series[-1])
        last = getattr(self, "last_action_", None)
        if last is not None and observation.time - last < self.cooldown:
            return Decision(
                None, f"reactive: cooldown ({observation.time - last:.0f}s since action)"
            )
        proposal = clamp(math.ceil(observation.running * cpu / self.target), lo, hi)
        if cpu > self.high and proposal > observation.desired:
            self.last_action_ = observation.time
            return Decision(
                proposal, f"reactive: CPU {cpu:.1f}% > {self.high}%, scale out to {proposal}"
            )
        if cpu < self.low and proposal < observation.desired and observation.pending == 0:
            self.last_action_ = observation.time
            return Decision(
                proposal, f"reactive: CPU {cpu:.1f}% < {self.low}%, scale in to {proposal}"
            )
        return Decision(None, f"reactive: CPU {cpu:.1f}% within band or change pending")
