"""A fixed task count: the baseline every other autoscaler is compared with."""

from __future__ import annotations

from policies.base import BasePolicy, clamp
from policies.contract import Decision, Observation


class StaticPolicy(BasePolicy):
    """Keep ``count`` tasks (None: keep the service's initial count, i.e. never act).

    Parameters
    ----------
    count : int or None, default None
        The fixed desired count; None leaves the desired count as it is.
    interval : float, default 60
        Seconds between decisions.
    """

    def __init__(self, count: int | None = None, interval: float = 60.0) -> None:
        self.count = count
        self.interval = interval

    #: A fixed count never scales in by itself.
    scale_in_limits = "never scales in (a fixed count)"

    def _validate(self) -> None:
        if self.count is not None and (int(self.count) != self.count or self.count < 0):
            raise ValueError(f"static: count must be a whole number >= 0, got {self.count!r}")
        if self.interval <= 0:
            raise ValueError(f"static: interval must be > 0 s, got {self.interval}")

    def decide(self, observation: Observation) -> Decision:
        self._validate()
        if self.count is None:
            return Decision(None, "static: keep the current count")
        n = clamp(int(self.count), observation.min_tasks, observation.max_tasks)
        if n == observation.desired:
            return Decision(None, f"static: already at {n}")
        return Decision(n, f"static: fixed count {n}")
