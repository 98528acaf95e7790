"""Several scaling policies on one service, combined the AWS way.

Sources:

- [TT] "Target tracking scaling policies for Application Auto Scaling",
  https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html:
  "Application Auto Scaling scales based on the policy that provides the largest capacity for
  both scale in and scale out".
- [PSP] PutScalingPolicy,
  https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html:
  "if the step scaling policy initiates a scale-in activity before the target tracking policy
  is ready to scale in, the scale-in activity will not be blocked".
- [SCH] "How scheduled scaling for Application Auto Scaling works",
  https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-policy-overview.html:
  a scheduled action sets MinCapacity and MaxCapacity; "After a scheduled action runs, the
  scaling policy can continue to make decisions about whether to further scale capacity ...
  current capacity must fall within the minimum and maximum capacity that was set by your
  scheduled action."

The usual uses are a pair of step policies (one scale-out, one scale-in), target tracking
beside step scaling, predictive beside target tracking, and scheduled actions beside a
dynamic policy.

Registered as ``combined``: built in code from member policy objects, or from a scenario's
member specs (``policies = [{ policy = "predictive" }, { policy = "target-tracking" }]``).

Rules (each member decides on the same observation, in order):

* A member *votes* with its decision's ``desired``: above the current desired count is "out",
  below is "in", None or equal is "no change". A decision that changes the scalable range
  (``min_tasks`` or ``max_tasks`` set, a scheduled action) does not vote: its push of the
  desired count into the new range is the clamp below [SCH].
* If any member votes out, the result is the largest proposal (the largest capacity wins).
* Otherwise, if at least one member votes in and no member vetoes, the result is the largest
  of the scale-in proposals (the smallest scale-in). A "no change" is a veto unless the member
  says otherwise through an optional method ``vetoes_scale_in() -> bool`` (asked after its
  ``decide``). That is how AWS's rule reads for mixed policies: target tracking scales in
  "only if all target tracking policies *with the scale-in portion enabled* are ready to scale
  in" (so :class:`~policies.autoscaling.target_tracking.TargetTrackingPolicy` vetoes unless
  ``disable_scale_in``), while a step scaling policy acts only when its own alarm fires (so
  :class:`~policies.autoscaling.step.StepScalingPolicy` vetoes only while its alarm is in
  ALARM without it scaling in). A quiet scale-out step policy therefore does not block its
  scale-in partner, the usual step pair. Scheduled scaling never vetoes: its actions set the
  range and the dynamic policy "can continue to make decisions" within it [SCH], so a
  scale-in above the scheduled minimum goes ahead and the clamp stops it at the minimum.
  Members without the method veto (a policy that computes a capacity and says "no change"
  provides the largest capacity [TT]).
* A scale-in never goes below a member's capacity floor, reported through an optional method
  ``capacity_floor() -> int | None`` (asked after its ``decide``): predictive scaling reports
  its forecast capacity, so predictive + target tracking runs at the higher of the two, as AWS
  combines them.
* The result is clamped to [min, max] (the range a member sets, if any, else the
  observation's), and so is the current desired count when nobody scales: a new scheduled
  range always applies [SCH]. Range changes from members pass through; two members setting different
  values for the same bound is an error.
* *Choice*: the cadence is ``interval`` if given, else the shortest member interval, and every
  member decides at every call (members are not run at their own cadences). Members keep their
  own state (cooldowns), each assuming its proposal took effect; the policies here read the
  desired count back from the next observation, so a proposal that lost the vote does not leave
  them in a false cooldown.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from policies.base import BasePolicy, clamp
from policies.contract import Decision, Observation

#: AWS's canonical pair: predictive scaling for the forecast, target tracking for the rest.
DEFAULT_MEMBERS: tuple[dict[str, Any], ...] = (
    {"policy": "predictive"},
    {"policy": "target-tracking"},
)


class CombinedPolicy(BasePolicy):
    """Members decide; scale out if any says so, scale in only if all agree, largest wins.

    ``scale_in_limits`` lists each member's.

    Parameters
    ----------
    policies : list of policies or of specs, default predictive + target tracking
        The members, in order: policy objects (each with ``decide`` and ``interval_s``), or
        specs ``{"policy": registered name, **parameters}`` as a scenario file gives them::

            [autoscaler]
            policy = "combined"
            policies = [{ policy = "predictive" }, { policy = "target-tracking", target = 60 }]
    interval : float or None, default None
        Seconds between decisions; None means the shortest member interval.
    """

    def __init__(
        self,
        policies: Sequence[Any] = DEFAULT_MEMBERS,
        interval: float | None = None,
    ) -> None:
        self.policies = policies
        self.interval = interval

    @property
    def requires_future(self) -> bool:  # type: ignore[override]
        """True if any member is an oracle that needs the future load."""
        return any(getattr(p, "requires_future", False) for p in self._members())

    def _members(self) -> list[Any]:
        """The member policy objects. Members given as specs (``{"policy": name, ...}``, as in
        a scenario file) are built from the registry on first use and kept in ``members_``,
        so :meth:`reset` rebuilds them fresh."""
        members = self.policies
        if isinstance(members, str | bytes) or not hasattr(members, "__iter__"):
            return []
        members = list(members)
        if not any(isinstance(m, Mapping) for m in members):
            return members
        built = getattr(self, "members_", None)
        if built is None:
            built = [_build(i, m) if isinstance(m, Mapping) else m for i, m in enumerate(members)]
            self.members_ = built
        return built

    @property
    def scale_in_limits(self) -> str:
        """The members' scale-in limits, and the combining rule's (for reports)."""
        parts = []
        for i, p in enumerate(self._members()):
            limits = getattr(p, "scale_in_limits", None)
            name = type(p).__name__
            parts.append(f"#{i + 1} {name}: {limits if limits else 'none stated'}")
        return (
            "scale in only if every member that vetoes agrees, never below a member's capacity "
            "floor (AWS: the largest capacity wins); " + "; ".join(parts)
        )

    @property
    def interval_s(self) -> float:
        if self.interval is not None:
            return float(self.interval)
        members = self._members()
        if not members:
            return 60.0
        return min(float(p.interval_s) for p in members)

    def _validate(self) -> list[Any]:
        members = self._members()
        if not members:
            raise ValueError(
                f"combined: policies must be a non-empty list of policies, got {self.policies!r}"
            )
        for i, p in enumerate(members):
            if not callable(getattr(p, "decide", None)):
                raise ValueError(f"combined: policies[{i}] has no decide(observation): {p!r}")
        if self.interval is not None:
            value = self.interval
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"combined: interval must be None or > 0 seconds, got {value!r}")
        return members

    def reset(self) -> None:
        """Forget this combinator's and every member's learned state."""
        super().reset()
        for p in self._members():
            if hasattr(p, "reset"):
                p.reset()

    def clone(self) -> CombinedPolicy:
        """A fresh copy: members cloned (not copied with their state)."""
        if any(isinstance(m, Mapping) for m in self.policies):
            return type(self)(copy.deepcopy(self.policies), interval=copy.deepcopy(self.interval))
        members = [p.clone() if hasattr(p, "clone") else copy.deepcopy(p) for p in self._members()]
        return type(self)(members, interval=copy.deepcopy(self.interval))

    def decide(self, observation: Observation) -> Decision:
        members = self._validate()
        desired = int(observation.desired)
        decisions = [p.decide(observation) for p in members]
        for i, dec in enumerate(decisions):
            if not isinstance(dec, Decision):
                raise TypeError(f"combined: policies[{i}].decide returned {type(dec).__name__}")

        lo = _agree(decisions, "min_tasks")
        hi = _agree(decisions, "max_tasks")
        eff_lo = observation.min_tasks if lo is None else lo
        eff_hi = observation.max_tasks if hi is None else hi

        outs, ins, holds = [], [], []
        for i, dec in enumerate(decisions):
            if dec.min_tasks is not None or dec.max_tasks is not None:
                continue  # changes the range (a scheduled action): the clamp applies it
            if dec.desired is not None and dec.desired > desired:
                outs.append(i)
            elif dec.desired is not None and dec.desired < desired:
                ins.append(i)
            elif _vetoes(members[i]):
                holds.append(i)

        members_text = " | ".join(f"#{i + 1} {dec.reason}" for i, dec in enumerate(decisions))
        if outs:
            proposals = [decisions[i].desired for i in outs]
            want = max(proposals)
            verdict = (
                f"scale out: {len(outs)} of {len(decisions)} say out, largest of "
                f"{proposals} = {want}"
            )
        elif ins and not holds:
            proposals = [decisions[i].desired for i in ins]
            want = max(proposals)
            verdict = (
                f"scale in: {len(ins)} say in and none objects, largest of {proposals} = {want}"
            )
            floors = [f for f in (_floor(m) for m in members) if f is not None]
            if floors and max(floors) > want:
                want = min(desired, max(floors))
                verdict += f", held at the members' capacity floor {max(floors)} -> {want}"
        else:
            want = None
            if ins:
                vetoes = ", ".join(f"#{i + 1}" for i in holds)
                verdict = (
                    f"no change: {len(ins)} say in but {vetoes} object (scale in only if all agree)"
                )
            else:
                verdict = "no change: no member scales"
        new = None
        if want is None and not eff_lo <= desired <= eff_hi:
            want = desired
            verdict += f"; desired {desired} outside the range [{eff_lo}, {eff_hi}]"
        if want is not None:
            new = clamp(int(want), eff_lo, eff_hi)
            if new != want:
                verdict += f", clamped to [{eff_lo}, {eff_hi}] = {new}"
            if new == desired:
                new = None
                verdict += f" (already {desired})"
        return Decision(new, f"combined: {verdict} || {members_text}", min_tasks=lo, max_tasks=hi)


def _build(index: int, spec: Mapping[str, Any]) -> Any:
    from policies import registry

    params = dict(spec)
    name = params.pop("policy", None)
    if not isinstance(name, str):
        raise ValueError(
            f"combined: policies[{index}] needs a 'policy' key naming a registered policy "
            f"({', '.join(registry.names())}), got {dict(spec)!r}"
        )
    if name == "combined":
        raise ValueError(f"combined: policies[{index}] cannot itself be 'combined'")
    try:
        return registry.make(name, **params)
    except registry.PolicyError as exc:
        raise ValueError(f"combined: policies[{index}]: {exc}") from None


def _vetoes(member: Any) -> bool:
    """Whether a member that did not propose a scale-in objects to one (default: yes; a
    member declares otherwise with ``vetoes_scale_in() -> bool``)."""
    method = getattr(member, "vetoes_scale_in", None)
    return bool(method()) if callable(method) else True


def _floor(member: Any) -> int | None:
    """A member's capacity floor (predictive scaling's forecast capacity), if it has one."""
    method = getattr(member, "capacity_floor", None)
    return method() if callable(method) else None


def _agree(decisions: list[Decision], attr: str) -> int | None:
    values = {getattr(d, attr) for d in decisions} - {None}
    if len(values) > 1:
        raise ValueError(f"combined: members set different {attr}: {sorted(values)}")
    return values.pop() if values else None
