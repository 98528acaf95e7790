"""The oracle: knows the future load and the start-up latency, provisions just enough in time.

It is the cost floor for a given SLO that no real policy can beat, so every other policy is
scored against it. It runs only where the future is known: the simulator's backend fills
``observation.future_load`` (a :class:`policies.contract.FutureLoad`) for a policy that declares
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

**Following the cost floor** (``good_bar`` set): at its first decision the oracle computes,
from the future load it is shown, the cheapest serving schedule with at least ``good_bar`` of
the periods covered (:func:`policies.autoscaling.floor.cost_floor`: per period of the metric
history's length, the demand ``ceil(mean rate / max_rps_per_task)`` as in
:mod:`sim.metrics`; launch cost ``startup_s``, stop cost ``drain``, warm start the tasks
serving now) and then uses the plan's serving counts in place of ``need(t)`` in the two rules
above. The plan holds tasks through dips where a stop and relaunch would cost more, and leaves
short of the demand the periods whose covering costs most, up to ``1 - good_bar`` of them: the
floor at the experiment's good-minutes bar, selectable like any parameter.
"""

from __future__ import annotations

import math

import numpy as np

from policies.autoscaling.floor import cost_floor
from policies.base import BasePolicy, clamp
from policies.contract import Decision, FutureLoad, Observation

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
        bucket, burst 100 then 20 per second: "AWS Fargate throttling quotas",
        https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html) and
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
    good_bar : float or None, default None
        None: the "just enough" rule above (every period covered). A number in (0, 1]: follow
        the cost floor's plan with at least that fraction of periods covered (see the module
        docstring; 0.99 is the experiment's tuning bar). The plan is computed once, at the
        first decision, over the whole known future (seconds for a week of minutes).
    drain : float, default 307
        Billed seconds after a task stops serving, the plan's cost of a stop: the ALB's
        default deregistration delay, 300 s (Elastic Load Balancing, "Target groups for your
        Application Load Balancers", https://docs.aws.amazon.com/elasticloadbalancing/latest/
        application/load-balancer-target-groups.html#deregistration-delay), plus the simulator's SIGTERM-to-
        exit (2 s) and deprovisioning (5 s). Used only with ``good_bar``. Must be >= 0.
    """

    requires_future = True

    def __init__(
        self,
        headroom: float = 1.0,
        interval: float = 60.0,
        lead: float = 0.0,
        hold: float = 0.0,
        good_bar: float | None = None,
        drain: float = 307.0,
    ) -> None:
        self.headroom = headroom
        self.interval = interval
        self.lead = lead
        self.hold = hold
        self.good_bar = good_bar
        self.drain = drain

    def _validate(self) -> None:
        if not (isinstance(self.headroom, int | float) and self.headroom > 0):
            raise ValueError(f"oracle: headroom must be a number > 0, got {self.headroom!r}")
        if not (isinstance(self.interval, int | float) and self.interval > 0):
            raise ValueError(f"oracle: interval must be a number > 0 (s), got {self.interval!r}")
        bar = self.good_bar
        if bar is not None and not (isinstance(bar, int | float) and 0 < bar <= 1):
            raise ValueError(f"oracle: good_bar must be None or in (0, 1], got {bar!r}")
        for name in ("lead", "hold", "drain"):
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

    def _plan(self, observation: Observation, future: FutureLoad) -> None:
        """Compute the floor's plan over the known future (learned state ``plan_``, its start
        time ``plan_start_`` and period ``plan_period_``)."""
        period = float(observation.metrics.period_s) or 60.0
        per = max(1, int(round(period / future.tick_s)))
        rate = np.asarray(future.rate, dtype=float)
        n = len(rate) // per
        start = float(observation.time)
        if n == 0:
            self.plan_, self.plan_start_, self.plan_period_ = np.zeros(0, int), start, period
            return
        mean = rate[: n * per].reshape(n, per).mean(axis=1)
        demand = np.maximum(np.ceil(self.headroom * mean / future.max_rps_per_task - _EPS), 0)
        top = observation.max_tasks
        initial = int(min(max(observation.healthy, observation.min_tasks), top))
        plan = cost_floor(
            demand,
            period,
            price_per_task_s=1.0,  # the plan does not depend on the price
            startup_s=float(future.startup_s),
            drain_s=float(self.drain),
            good_bar=float(self.good_bar),
            min_tasks=min(observation.min_tasks, initial),
            max_tasks=top,
            initial_tasks=initial,
            startup_periods=int(math.ceil(future.startup_s / period - _EPS)),
        )
        assert plan.serving is not None
        self.plan_, self.plan_start_, self.plan_period_ = plan.serving, start, period

    def _planned(self, now: float, start_s: float, end_s: float) -> int:
        """Most tasks the plan serves over [now + start_s, now + end_s] (0 past its end)."""
        plan, p = self.plan_, self.plan_period_
        i0 = max(0, int(math.floor((now + start_s - self.plan_start_) / p + _EPS)))
        i1 = min(len(plan), int(math.ceil((now + end_s - self.plan_start_) / p - _EPS)) + 1)
        return int(np.max(plan[i0:i1])) if i1 > i0 else 0

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
        if self.good_bar is None:
            need_launch = self._need(future, s, launch_end)
            need_keep = self._need(future, 0.0, launch_end + self.hold)
            source = (
                f"peak rate / {future.max_rps_per_task:.1f} rps per task x headroom "
                f"{self.headroom:g}"
            )
        else:
            if getattr(self, "plan_", None) is None:
                self._plan(observation, future)
            now = float(observation.time)
            need_launch = self._planned(now, s, launch_end)
            need_keep = self._planned(now, 0.0, launch_end + self.hold)
            source = f"cost floor plan at good_bar {self.good_bar:g}"
        current = observation.desired
        want = max(need_launch, min(current, need_keep))
        desired = clamp(want, lo, hi)
        why = (
            f"need {need_launch} serving over [+{s:.0f}s, +{launch_end:.0f}s] (startup + "
            f"interval + lead), keep up to {need_keep} needed before +{launch_end + self.hold:.0f}s"
            f" ({source})"
        )
        if desired != want:
            why += f"; clamped to [{lo}, {hi}]"
        if desired == current:
            return Decision(None, f"oracle: stay at {current}: {why}")
        verb = "scale out" if desired > current else "scale in"
        return Decision(desired, f"oracle: {verb} {current} -> {desired}: {why}")
