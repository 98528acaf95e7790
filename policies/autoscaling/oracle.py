"""The oracle: knows the future load and the start-up latency, provisions just enough in time.

It is the cost floor for a given SLO that no real policy can beat, so every other policy is
scored against it. It runs only where the future is known: the simulator's backend fills
``observation.future_load`` (a :class:`policies.base.FutureLoad`) for a policy that declares
``requires_future = True``.

The arithmetic, with ``S`` = ``future_load.startup_s`` (the longest launch-to-serving time),
``I`` = ``interval`` and ``L`` = ``lead``, and ``need(t) = ceil(headroom x rate(t) /
max_rps_per_task)`` the tasks that must be serving at ``t`` for the SLO's p99 to hold:

* **Launch for** ``need_launch = max need over [now + S, now + S + I + L]``. A task launched
  now serves from ``now + S`` at the latest; the next decision's launches serve from
  ``now + I + S``. So the count set now must cover that stretch; ``L`` extends it as a margin.
* **Keep for** ``need_keep = max need over [now, now + S + I + L + hold]``. Scale-in takes
  effect at once (the task is deregistered and drains), while a replacement launched at the
  next decision serves only at ``now + I + S``. So a task still needed before then is kept.
* ``desired = max(need_launch, min(current desired, need_keep))``, clamped to
  ``[min_tasks, max_tasks]``. The oracle never launches a task that cannot be ready in time
  (the need before ``now + S`` does not raise the count), and it never stops a task that is
  needed again before a replacement could be serving.

The rate is the simulator's per-tick arrival rate (smooth per minute); Poisson noise around it
is absorbed by ``max_rps_per_task``, which the simulator derives from the SLO's p99 (the
utilisation at which the M/M/k p99 of one task meets the objective).
"""

from __future__ import annotations

import math

import numpy as np

from policies.base import BasePolicy, Decision, FutureLoad, Observation, clamp

#: Tolerance for ceil() on rate / capacity, so that a rate of exactly n x capacity needs n.
_EPS = 1e-9


class OraclePolicy(BasePolicy):
    """Provision exactly the tasks the known future load needs, exactly in time.

    Parameters
    ----------
    headroom : float, default 1.0
        Multiplier on the needed tasks (1.0: just enough for the SLO). Must be > 0.
    interval : float, default 60
        Seconds between decisions (the cadence of the other policies' default).
    lead : float, default 0
        Extra seconds of look-ahead beyond ``startup_s + interval``. Zero is enough in the
        simulator: ``startup_s`` is already the longest start (maximum provisioning time and
        a pull three standard deviations slow), so a task launched for the window starts in
        time; a positive lead buys a margin against launch throttling (the account token
        bucket, burst 100 then 20 per second, shared/reference/fargate-and-ecs.md) and
        against a start slower than that bound, at the price of capacity that arrives up to
        ``lead`` seconds early on every ramp. Must be >= 0.
    hold : float, default 0
        Extra seconds for which capacity that will be needed again is kept rather than
        stopped. Stopping a serving task still bills its draining (the deregistration delay,
        ALB default 300 s) and a relaunch bills its image pull and health checks (about
        200 s with the default start) before it serves, so a task needed again within about
        500 s costs less kept than stopped and relaunched; ``hold`` of that size makes the
        oracle cheaper on load that dips and returns. The default 0 keeps the pure
        "just enough" rule; on smooth load the difference is small. Must be >= 0.
    """

    requires_future = True

    def __init__(
        self,
        headroom: float = 1.0,
        interval: float = 60.0,
        lead: float = 0.0,
        hold: float = 0.0,
    ) -> None:
        self.headroom = headroom
        self.interval = interval
        self.lead = lead
        self.hold = hold

    def _validate(self) -> None:
        if not (isinstance(self.headroom, int | float) and self.headroom > 0):
            raise ValueError(f"oracle: headroom must be a number > 0, got {self.headroom!r}")
        if not (isinstance(self.interval, int | float) and self.interval > 0):
            raise ValueError(f"oracle: interval must be a number > 0 (s), got {self.interval!r}")
        for name in ("lead", "hold"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"oracle: {name} must be a number >= 0 (s), got {value!r}")

    def _need(self, future: FutureLoad, start_s: float, end_s: float) -> int:
        """Most tasks needed over [now + start_s, now + end_s] (0 past the known horizon).

        ``rate[0]`` is the tick containing now, so tick ``i`` starts at most ``i x tick_s``
        after now; the window is widened to whole ticks.
        """
        rate = future.rate
        i0 = max(0, int(math.floor(start_s / future.tick_s + _EPS)))
        i1 = min(len(rate), int(math.ceil(end_s / future.tick_s - _EPS)) + 1)
        if i1 <= i0:
            return 0
        peak = float(np.max(rate[i0:i1]))
        if peak <= 0:
            return 0
        return math.ceil(self.headroom * peak / future.max_rps_per_task - _EPS)

    def decide(self, observation: Observation) -> Decision:
        self._validate()
        future = observation.future_load
        if future is None:
            raise ValueError(
                "oracle: observation.future_load is None; the oracle only runs where the future "
                "load is known (the simulator fills it for policies with requires_future = True)"
            )
        lo, hi = observation.min_tasks, observation.max_tasks
        if future.max_rps_per_task <= 0:
            want = clamp(hi, lo, hi)
            reason = "oracle: no task count meets the SLO p99 (max_rps_per_task = 0); run at max"
            return Decision(None if want == observation.desired else want, reason)
        s, i = float(future.startup_s), float(self.interval)
        launch_end = s + i + self.lead
        need_launch = self._need(future, s, launch_end)
        need_keep = self._need(future, 0.0, launch_end + self.hold)
        current = observation.desired
        want = max(need_launch, min(current, need_keep))
        desired = clamp(want, lo, hi)
        why = (
            f"need {need_launch} serving over [+{s:.0f}s, +{launch_end:.0f}s] (startup + "
            f"interval + lead), keep up to {need_keep} needed before +{launch_end + self.hold:.0f}s"
            f" (peak rate / {future.max_rps_per_task:.1f} rps per task x headroom "
            f"{self.headroom:g})"
        )
        if desired != want:
            why += f"; clamped to [{lo}, {hi}]"
        if desired == current:
            return Decision(None, f"oracle: stay at {current}: {why}")
        verb = "scale out" if desired > current else "scale in"
        return Decision(desired, f"oracle: {verb} {current} -> {desired}: {why}")
