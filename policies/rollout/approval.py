"""Human approvals: how long a release waits for a person, and whether the person stops it.

:class:`ApprovalLatency` models the human gate of a pipeline stage (``gate = "approval"``).
A request made at run time ``t`` is handled in *working time*: the reviewer works on working
days (Monday to Friday) within ``working_hours``, the definition of
:class:`sim.releases.ReleasesConfig` (default 10h-18h, the office hours Claes et al.
measured from commit times, ICSE 2018), on the run's calendar (``calendar_offset``: run time
0 is that long after Monday 00:00). The delay is lognormal in working time, median
``median`` and log-sd ``sigma``, drawn from the generator passed in; a request at 17:00 with
two working hours of delay is approved at 11:00 the next working day, one on Friday evening
on Monday.

Sources and choices:

* ``median`` 4 h. No public figure exists for deployment approvals; the nearest is code
  review: at Google the median latency of the whole review process is under 4 hours (under
  an hour for small changes, about 5 hours for very large ones: Sadowski et al., "Modern
  Code Review: A Case Study at Google", ICSE-SEIP 2018); Rigby and Bird found medians near a
  day across open-source and Microsoft projects ("Convergent Contemporary Software Peer
  Review Practices", ESEC/FSE 2013). Google's figure is wall-clock time; counting it here
  in working time makes the default wait longer than Google's and shorter than a day.
* ``sigma`` 1.0: no public figure; a parameter.
* ``timeout`` 7 days: an AWS CodePipeline manual approval action fails if nobody approves or
  rejects it within seven days (https://docs.aws.amazon.com/codepipeline/latest/userguide/
  approvals.html); the release is then not shipped.
* ``catch_probability`` 0: the chance that the reviewer rejects a bad release. No public
  figure (the DORA reports find no evidence that change approval boards lower change failure
  rates), so by default a human gate only costs time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.base import BasePolicy
from sim.pipeline_config import PipelineConfig
from sim.releases import DAY_S, HOUR_S, ReleasesConfig

__all__ = ["Approval", "ApprovalLatency", "DEFAULT_WORKING_HOURS", "approval_from_pipeline"]

#: The working hours of :class:`sim.releases.ReleasesConfig` (10h-18h).
DEFAULT_WORKING_HOURS: tuple[float, float] = tuple(  # type: ignore[assignment]
    ReleasesConfig.model_fields["working_hours"].default
)


@dataclass(frozen=True)
class Approval:
    """A human gate's result: ``decided_at`` (run seconds), ``approved``, ``waited_s``
    (``decided_at - requested_at``) and why."""

    requested_at: float
    decided_at: float
    approved: bool
    reason: str

    @property
    def waited_s(self) -> float:
        return self.decided_at - self.requested_at


class ApprovalLatency(BasePolicy):
    """Human approval latency in working time (see the module docstring for the defaults)."""

    def __init__(
        self,
        median: float = 4 * HOUR_S,
        sigma: float = 1.0,
        working_hours: tuple[float, float] = DEFAULT_WORKING_HOURS,
        calendar_offset: float = 0.0,
        catch_probability: float = 0.0,
        timeout: float = 7 * DAY_S,
    ) -> None:
        self.median = median
        self.sigma = sigma
        self.working_hours = working_hours
        self.calendar_offset = calendar_offset
        self.catch_probability = catch_probability
        self.timeout = timeout

    @classmethod
    def from_releases(cls, releases: ReleasesConfig, **params: Any) -> ApprovalLatency:
        """Working hours and calendar offset from the run's ``[releases]`` section, so the
        releases and the reviewers keep one calendar; other parameters as given."""
        return cls(
            working_hours=tuple(releases.working_hours),  # type: ignore[arg-type]
            calendar_offset=releases.calendar_offset,
            **params,
        ).validate()  # type: ignore[return-value]

    def _validate(self) -> None:
        if not self.median > 0:
            raise ValueError(f"median must be > 0 seconds, got {self.median!r}")
        if not self.sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma!r}")
        start, end = self.working_hours
        if not 0 <= start < end <= DAY_S:
            raise ValueError(
                f"working_hours must be [start, end] seconds with 0 <= start < end <= 86400, "
                f"got {list(self.working_hours)}"
            )
        if not 0 <= self.calendar_offset < 7 * DAY_S:
            raise ValueError(
                f"calendar_offset must be in [0, 7 days), got {self.calendar_offset!r}"
            )
        if not 0 <= self.catch_probability <= 1:
            raise ValueError(f"catch_probability must be in [0, 1], got {self.catch_probability!r}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout!r}")

    def after_working_time(self, t: float, work_s: float) -> float:
        """The run time at which ``work_s`` seconds of working time have passed since run
        time ``t`` (only working hours of working days count)."""
        self.validate()  # empty working hours would never end the loop below
        if not (math.isfinite(t) and math.isfinite(work_s) and work_s >= 0):
            raise ValueError(f"t and work_s must be finite, work_s >= 0; got {t!r}, {work_s!r}")
        start, end = self.working_hours
        c = t + self.calendar_offset
        remaining = work_s
        day = math.floor(c / DAY_S)
        while True:
            if day % 7 < 5:  # Monday to Friday; calendar day 0 is a Monday
                opens, closes = day * DAY_S + start, day * DAY_S + end
                begin = max(c, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return begin + remaining - self.calendar_offset
                    remaining -= closes - begin
            day += 1

    def approval_time(self, requested_at: float, rng: np.random.Generator) -> float:
        """When (run seconds) a request made at ``requested_at`` is answered: a lognormal
        working-time delay (one normal draw from ``rng``) counted in working hours."""
        delay = self.median * math.exp(self.sigma * float(rng.standard_normal()))
        return self.after_working_time(requested_at, delay)

    def review(self, requested_at: float, bad: bool, rng: np.random.Generator) -> Approval:
        """The gate's result for a release (``bad``: its hidden truth, used only for the
        reviewer's ``catch_probability``). Draws one normal and one uniform from ``rng``
        whatever the outcome, so runs that differ only in truth keep aligned streams."""
        answered = self.approval_time(requested_at, rng)
        caught = float(rng.random()) < self.catch_probability and bad
        if answered - requested_at > self.timeout:
            return Approval(
                requested_at,
                requested_at + self.timeout,
                False,
                f"no answer within timeout {self.timeout:g} s: the approval action fails",
            )
        if caught:
            return Approval(requested_at, answered, False, "the reviewer rejected the release")
        return Approval(requested_at, answered, True, "approved")


def approval_from_pipeline(
    pipeline: PipelineConfig, releases: ReleasesConfig | None = None
) -> ApprovalLatency:
    """The approval model of a ``[pipeline]`` section (``approval_median``,
    ``approval_sigma``, ``approval_catch_probability``, ``approval_timeout``) on the calendar
    of the ``[releases]`` section (its ``working_hours`` and ``calendar_offset``; their
    defaults when None)."""
    return ApprovalLatency.from_releases(
        releases if releases is not None else ReleasesConfig(),
        median=pipeline.approval_median,
        sigma=pipeline.approval_sigma,
        catch_probability=pipeline.approval_catch_probability,
        timeout=pipeline.approval_timeout,
    )
