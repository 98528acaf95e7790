"""A staging stage with synthetic traffic: which bad releases it shows, and when.

A pipeline stage with ``traffic = "synthetic"`` (policies/rollout/orchestration.py) deploys the
release into a staging environment that receives only generated requests (a load generator
or smoke tests at ``synthetic_rps``). The staging environment is not the production service,
so it is modelled here in closed form rather than as a second fleet: which kinds of bad
release the synthetic traffic exposes, and how long the stage takes. It reads the release's
hidden truth, as every part of the model does, and is called by the rollout driver
(backends/sim_pipeline.py); no policy sees it.

The rules (each a choice; no public figure gives how much staging catches):

* The stage takes ``deploy_s`` (its tasks start and pass their health checks; default 120 s,
  a parameter, about the model's Fargate start-up with its defaults), then holds ``bake_s``
  with synthetic traffic, the analysis watching. It passes at ``deploy_s + bake_s``.
* ``crash-loop``: the tasks never become healthy, so the stage fails at ``deploy_s`` whatever
  its analysis (the staging deployment never completes).
* ``errors`` and ``latency``: every synthetic request sees them, so the stage fails if it
  has an analysis, at the first published period: ``deploy_s + detect_s`` (``detect_s`` = one
  metrics period plus CloudWatch's publication delay), provided the bake lasts that long.
* ``partial``: only some request types fail; the synthetic traffic exercises a share
  ``coverage`` of the request types (default 0.5, a parameter), so the stage catches it with
  probability ``coverage`` (one uniform draw), at the same time as ``errors``.
* ``late-failure``: it shows only if its delay plus ``detect_s`` falls within the bake, and
  only to an analysis (the circuit breaker sees tasks failing to start, not tasks failing
  later).
* Without an analysis only ``crash-loop`` is caught; a good release always passes (false
  alarms in staging are not modelled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.releases import Release

__all__ = ["STAGING_COVERAGE", "STAGING_DEPLOY_S", "StagingResult", "staging_result"]

#: Seconds for the staging tasks to start and pass health checks (a parameter).
STAGING_DEPLOY_S = 120.0
#: Share of request types the synthetic traffic exercises (a parameter, no public figure).
STAGING_COVERAGE = 0.5


@dataclass(frozen=True)
class StagingResult:
    """A staging stage's result: ``failed``, after ``duration_s`` from its start, and why."""

    failed: bool
    duration_s: float
    reason: str


def staging_result(
    release: Release,
    *,
    analysis: bool,
    bake_s: float,
    detect_s: float,
    rng: np.random.Generator,
    deploy_s: float = STAGING_DEPLOY_S,
    coverage: float = STAGING_COVERAGE,
) -> StagingResult:
    """What a staging stage shows of ``release`` (see the module docstring). Draws one
    uniform from ``rng`` whatever the release, so runs that differ only in truth keep their
    streams aligned."""
    if not (0 <= coverage <= 1):
        raise ValueError(f"coverage must be in [0, 1], got {coverage!r}")
    if not (deploy_s >= 0 and bake_s >= 0 and detect_s >= 0):
        raise ValueError(
            f"deploy_s, bake_s and detect_s must be >= 0, got {deploy_s}, {bake_s}, {detect_s}"
        )
    covered = float(rng.random()) < coverage
    passed = StagingResult(False, deploy_s + bake_s, "passed staging")
    kind = release.truth
    if kind == "crash-loop":
        return StagingResult(True, deploy_s, "staging tasks never became healthy")
    if not analysis:
        return passed
    shows_at = math.inf
    if kind in ("errors", "latency") or (kind == "partial" and covered):
        shows_at = detect_s
    elif kind == "late-failure":
        shows_at = float(release.failure_delay_s or 0.0) + detect_s
    if shows_at <= bake_s:
        return StagingResult(True, deploy_s + shows_at, f"staging analysis failed ({kind} shows)")
    return passed
