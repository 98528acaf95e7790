"""Releases: when they arrive, what they look like, and whether they are secretly bad.

A scenario's ``[releases]`` section (:class:`ReleasesConfig`) lists explicit releases
(``explicit = [{ at = "2h", kind = "crash-loop" }]``) and/or a rate per working day
(``per_day``). :func:`generate_releases` turns it into a list of frozen :class:`Release`
records, sorted by time, using only the generator it is given (the simulator passes its
``releases`` stream); :func:`releases_frame` makes the ``releases`` table from them.

Generative model (every number is a named field of :class:`ReleasesConfig`; its default and
source are documented there and in the README section "Releases and risk"):

* **Schedule.** Day ``d`` of the run is a calendar day; the run's time 0 is
  ``calendar_offset`` after Monday 00:00. A working day (Monday to Friday) gets
  Poisson(``per_day``) releases, a weekend day Poisson(``per_day x weekend_factor``)
  (default 0: no weekend releases). A release falls in working hours (default 10h-18h, the
  office hours Claes et al. measured for two thirds of developers, ICSE 2018) with
  probability ``1 - off_hours_share``; within them by the hourly profile
  :func:`hour_profile` (flat, halved over the lunch hour 12-13 and in the last working
  hour), otherwise uniformly in the rest of the day. Releases outside ``[0, duration)`` are
  dropped, so a partial first or last day keeps the rate of the hours it covers.
* **Metadata.** Lines changed: ``ceil`` of a lognormal with median ``lines_median`` (24) and
  log-sd ``lines_sigma`` (2.48), so that the median change modifies 24 lines and over 10%
  modify one line, as Sadowski et al. measured over 9 million changes at Google (ICSE-SEIP
  2018). Files touched: ``ceil`` of a lognormal whose log is correlated
  (``size_files_correlation``, 0.7) with the log of lines, with ``files_log_mean`` and
  ``files_sigma`` set so that 35% of changes touch one file and 90% fewer than 10 (same
  paper). A change is configuration only with probability ``config_share`` (0.2); a code
  change updates a dependency with probability ``dependency_share`` (0.1). Authors: a pool
  of ``authors`` (20), each with a latent skill ``s ~ N(0, author_sd)`` in log-odds;
  releases are assigned to authors uniformly. An author's recent failure rate (the
  metadata a risk model sees) is their failure share over their last ``author_history``
  (20) releases before the run, Binomial(``author_history``, sigmoid(logit(cfr) + s)) /
  ``author_history``: a noisy view of the skill, fixed during the run, so no release's
  metadata depends on another release's hidden truth.
* **Being bad.** ``logit P(bad) = b0 + x.beta + s + eps``, ``eps ~ N(0, noise_sd)`` per
  release, with ``x.beta = coef_size log(lines) + coef_files log(files)`` for code changes
  and ``coef_config`` instead for configuration-only ones (their risk does not grow with
  size), ``+ coef_dependency`` for a dependency change, ``+ coef_off_hours`` outside working
  hours, ``+ coef_friday`` on Fridays and ``+ coef_weekend`` on weekends. The intercept
  ``b0`` is solved numerically (Newton, on a fixed calibration sample of
  :data:`CALIBRATION_SIZE` draws of the schedule's metadata with the run's author pool) so
  that the mean bad probability equals ``change_failure_rate``.
  ``p_bad`` stored on a release is ``E_eps[sigmoid(...)]`` (Gauss-Hermite): the probability
  a forecaster who knew the metadata *and every author's skill* would give, i.e. the
  Bayes-optimal score (``eps`` is independent of everything, so it only flattens the link
  and ranking by ``p_bad`` is ranking by ``b0 + x.beta + s``); :func:`expected_bayes_auc`
  turns it into the best ROC-AUC any risk model reading the metadata can expect.
* **Kind of bad.** Drawn from ``kind_mix``; each kind's parameter from its own range:
  ``errors`` a failing share (log-uniform in ``error_share``), ``latency`` a service-time
  factor k (log-uniform in ``latency_factor``), ``late-failure`` a delay (log-uniform in
  ``failure_delay``) after which it crashes (probability ``late_crash_share``) or starts
  failing a drawn error share, ``partial`` the share of traffic (request types) that fails
  (log-uniform in ``affected_share``).

Explicit releases keep their ``at`` and ``kind`` exactly; their metadata is drawn from the
model like any other (their ``p_bad`` is the model's, their truth the one given), and any
kind parameter they name overrides the drawn one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.traffic.config import Duration as _Duration

__all__ = [
    "BAD_KINDS",
    "DAY_S",
    "HOUR_S",
    "HIDDEN_COLUMNS",
    "KINDS",
    "METADATA_COLUMNS",
    "ExplicitRelease",
    "Release",
    "ReleasesConfig",
    "ReleasesConfigError",
    "expected_bayes_auc",
    "generate_releases",
    "hour_profile",
    "intercept",
    "releases_config",
    "releases_frame",
    "weighted_auc",
]

Duration = Annotated[_Duration, Field(ge=0)]


def expit(x: Any) -> Any:
    """``scipy.special.expit`` (the logistic sigmoid), imported on first use: scipy.special
    costs about half a second to import, and a scenario without releases draws none."""
    from scipy.special import expit as _expit

    return _expit(x)


def logit(p: Any) -> Any:
    """``scipy.special.logit``, imported on first use (see :func:`expit`)."""
    from scipy.special import logit as _logit

    return _logit(p)


DAY_S = 86400.0
HOUR_S = 3600.0

#: A release's hidden truth: good, or bad of one kind.
KINDS: tuple[str, ...] = ("good", "crash-loop", "errors", "latency", "late-failure", "partial")
BAD_KINDS: tuple[str, ...] = KINDS[1:]
Kind = Literal["good", "crash-loop", "errors", "latency", "late-failure", "partial"]

#: What a risk model may read about a release before it ships.
METADATA_COLUMNS: tuple[str, ...] = (
    "author",
    "lines_changed",
    "files_touched",
    "config_only",
    "dependency_change",
    "author_failure_rate",
    "hour_of_day",
    "day_of_week",
    "off_hours",
)
#: The ground truth and what it implies; never an input to a risk model.
HIDDEN_COLUMNS: tuple[str, ...] = (
    "truth",
    "bad",
    "p_bad",
    "error_share",
    "latency_factor",
    "failure_delay_s",
    "late_mode",
    "affected_share",
)

#: Fixed seed of the calibration sample used to solve the intercept (a local generator, so
#: the intercept is a deterministic function of the parameters and the author pool).
CALIBRATION_SEED = 20_240_101
CALIBRATION_SIZE = 20_000
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(12)
_GH_W = _GH_W / math.sqrt(2.0 * math.pi)

#: Which kind parameter each explicit-release key belongs to.
_KIND_PARAMS: dict[str, tuple[str, ...]] = {
    "error_share": ("errors", "late-failure"),
    "latency_factor": ("latency",),
    "failure_delay": ("late-failure",),
    "late_mode": ("late-failure",),
    "affected_share": ("partial",),
}


class ReleasesConfigError(ValueError):
    """A ``[releases]`` section that cannot be used; the message names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExplicitRelease(_Model):
    """One release at a given time with a given truth (``kind``); kind parameters optional."""

    at: Duration = Field(description="Seconds from the run start (duration string allowed).")
    kind: Kind = Field(description="The hidden truth: 'good' or one of the bad kinds.")
    error_share: float | None = Field(
        None, gt=0, le=1, description="errors / late-failure: share of requests that fail."
    )
    latency_factor: float | None = Field(
        None, gt=1, description="latency: service time multiplied by this factor k."
    )
    failure_delay: Duration | None = Field(
        None, gt=0, description="late-failure: healthy this long after it starts serving."
    )
    late_mode: Literal["crash", "errors"] | None = Field(
        None, description="late-failure: crash, or start failing error_share of requests."
    )
    affected_share: float | None = Field(
        None, gt=0, le=1, description="partial: share of traffic (request types) that fails."
    )

    @model_validator(mode="after")
    def _params_match_kind(self) -> ExplicitRelease:
        for key, kinds in _KIND_PARAMS.items():
            if getattr(self, key) is not None and self.kind not in kinds:
                raise ValueError(
                    f"{key} applies only to kind {' or '.join(map(repr, kinds))}, not {self.kind!r}"
                )
        if self.late_mode == "crash" and self.error_share is not None:
            raise ValueError("error_share applies to late_mode 'errors', not 'crash'")
        return self


def _log_uniform_range(name: str, lo_min: float, value: tuple[float, float]) -> None:
    lo, hi = value
    if not (lo > lo_min and hi >= lo and math.isfinite(hi)):
        raise ValueError(f"{name} = {list(value)} must be [low, high] with {lo_min} < low <= high")


class ReleasesConfig(_Model):
    """The ``[releases]`` section. Defaults are sourced on each field (README "Releases and
    risk"); fields without a public figure say so and are model parameters."""

    explicit: list[ExplicitRelease] = Field(default_factory=list)
    per_day: float = Field(
        0.0, ge=0, description="Mean releases per working day (Poisson). Default 0: none."
    )
    change_failure_rate: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="Marginal share of bad releases. DORA's 2024 Accelerate State of DevOps "
        "report puts change failure rates at 5% (elite), 10% (medium), 20% (high) and 40% "
        "(low performers); 15% sits in the middle of that range.",
    )
    # -- schedule --------------------------------------------------------------------------
    calendar_offset: Duration = Field(
        0.0, lt=7 * DAY_S, description="Run time 0 is this long after Monday 00:00 (local)."
    )
    working_hours: tuple[Duration, Duration] = Field(
        (10 * HOUR_S, 18 * HOUR_S),
        description="Office hours [start, end) within a day. Default 10h-18h, the typical "
        "office hours Claes et al. measured from commit times (ICSE 2018).",
    )
    off_hours_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of releases outside working hours (model parameter: no public "
        "figure for deployments; Claes et al. found a third of developers often commit "
        "outside office hours).",
    )
    weekend_factor: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Weekend-day rate as a fraction of per_day. Default 0: no scheduled "
        "weekend releases (a choice: many teams freeze weekends; Meta gates risky diffs at "
        "weekends, Abreu et al. 2024). Explicit releases may still fall on weekends.",
    )
    # -- metadata --------------------------------------------------------------------------
    lines_median: float = Field(
        24.0, gt=0, description="Median lines changed (Sadowski et al., ICSE-SEIP 2018)."
    )
    lines_sigma: float = Field(
        2.48,
        gt=0,
        description="Log-sd of lines changed: P(1 line) = 10% with median 24 (ibid.: 'over "
        "10% of changes modify only a single line').",
    )
    files_log_mean: float = Field(
        0.508, description="Log-median of files touched: P(1 file) = 35% (ibid.)."
    )
    files_sigma: float = Field(
        1.318, gt=0, description="Log-sd of files touched: P(< 10 files) = 90% (ibid.)."
    )
    size_files_correlation: float = Field(
        0.7, ge=-1, le=1, description="Correlation of log lines and log files (parameter)."
    )
    config_share: float = Field(
        0.2, ge=0, le=1, description="Share of configuration-only releases (parameter)."
    )
    dependency_share: float = Field(
        0.1, ge=0, le=1, description="Share of code releases changing a dependency (parameter)."
    )
    authors: int = Field(20, ge=1, description="Size of the author pool (parameter).")
    author_sd: float = Field(
        0.8, ge=0, description="Sd of an author's latent skill, in log-odds (parameter)."
    )
    author_history: int = Field(
        20, ge=1, description="Releases behind an author's recent failure rate (parameter)."
    )
    # -- logistic link ---------------------------------------------------------------------
    coef_size: float = Field(
        0.4,
        description="Log-odds per unit log(lines). Size and diffusion raise defect-proneness "
        "(Kamei et al., IEEE TSE 2013, just-in-time defect prediction); value a parameter.",
    )
    coef_files: float = Field(0.2, description="Log-odds per unit log(files) (Kamei et al.).")
    coef_config: float = Field(
        1.4,
        description="Log-odds of a configuration-only change, replacing the size terms: about "
        "a median code change's (0.4 ln 24 + 0.2 ln 2). Configuration pushes trigger 31% of "
        "Google's outages against 37% for binary pushes (Site Reliability Workbook, "
        "'Postmortem analysis'), so they are not treated as safe.",
    )
    coef_dependency: float = Field(0.7, description="Log-odds of a dependency change (parameter).")
    coef_off_hours: float = Field(
        0.6,
        description="Log-odds outside working hours: late-night commits are buggier (Eyolfson, "
        "Tan and Lam, MSR 2011); value a parameter.",
    )
    coef_friday: float = Field(
        0.25,
        description="Log-odds on Fridays: Friday changes most often induce fixes (Sliwerski, "
        "Zimmermann and Zeller, MSR 2005); value a parameter.",
    )
    coef_weekend: float = Field(0.5, description="Log-odds on weekends (parameter).")
    noise_sd: float = Field(
        0.5, ge=0, description="Sd of the per-release log-odds noise eps (parameter)."
    )
    # -- kinds of bad ----------------------------------------------------------------------
    kind_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "crash-loop": 0.2,
            "errors": 0.3,
            "latency": 0.2,
            "late-failure": 0.15,
            "partial": 0.15,
        },
        description="Relative weight of each bad kind (parameter; normalised; missing = 0).",
    )
    error_share: tuple[float, float] = Field(
        (0.01, 0.5), description="errors: failing share, log-uniform range (parameter)."
    )
    latency_factor: tuple[float, float] = Field(
        (1.5, 5.0), description="latency: service-time factor k, log-uniform (parameter)."
    )
    failure_delay: tuple[Duration, Duration] = Field(
        (600.0, 4 * HOUR_S), description="late-failure: delay, log-uniform (parameter)."
    )
    late_crash_share: float = Field(
        0.5, ge=0, le=1, description="late-failure: share that crash rather than degrade."
    )
    affected_share: tuple[float, float] = Field(
        (0.02, 0.3), description="partial: failing share of traffic, log-uniform (parameter)."
    )

    @field_validator("kind_mix")
    @classmethod
    def _kind_mix(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(BAD_KINDS))
        if unknown:
            raise ValueError(
                f"unknown kind {', '.join(map(repr, unknown))}; allowed: {', '.join(BAD_KINDS)}"
            )
        if any(not (w >= 0 and math.isfinite(w)) for w in v.values()):
            raise ValueError(f"weights must be finite and >= 0, got {v}")
        if sum(v.values()) <= 0:
            raise ValueError(f"at least one weight must be > 0; allowed kinds: {BAD_KINDS}")
        return {k: float(v.get(k, 0.0)) for k in BAD_KINDS}

    @model_validator(mode="after")
    def _ranges(self) -> ReleasesConfig:
        start, end = self.working_hours
        if not 0 <= start < end <= DAY_S:
            raise ValueError(
                f"working_hours = [{start}, {end}] s must satisfy 0 <= start < end <= 24h"
            )
        _log_uniform_range("error_share", 0.0, self.error_share)
        if self.error_share[1] > 1:
            raise ValueError(f"error_share = {list(self.error_share)}: high must be <= 1")
        _log_uniform_range("latency_factor", 1.0, self.latency_factor)
        _log_uniform_range("failure_delay", 0.0, self.failure_delay)
        _log_uniform_range("affected_share", 0.0, self.affected_share)
        if self.affected_share[1] > 1:
            raise ValueError(f"affected_share = {list(self.affected_share)}: high must be <= 1")
        return self

    def mix(self) -> np.ndarray:
        """Normalised kind probabilities in :data:`BAD_KINDS` order."""
        w = np.array([self.kind_mix.get(k, 0.0) for k in BAD_KINDS], dtype=float)
        return w / w.sum()


def releases_config(data: dict[str, Any] | None, source: str = "releases") -> ReleasesConfig:
    """Validate a ``[releases]`` section; errors name ``releases.<key>`` and what is allowed."""
    try:
        return ReleasesConfig.model_validate(data or {})
    except ValidationError as exc:
        lines = [f"{source}: invalid [releases] section"]
        for err in exc.errors():
            loc = ".".join(["releases", *(str(p) for p in err["loc"])])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"  {loc}: {msg}")
        raise ReleasesConfigError("\n".join(lines)) from None


@dataclass(frozen=True)
class Release:
    """One release. Metadata (:data:`METADATA_COLUMNS`) is what a risk model may read;
    ``truth`` and the kind parameters (:data:`HIDDEN_COLUMNS`) are the hidden ground truth.

    Kind parameters are None when they do not apply: ``error_share`` for ``errors`` (and
    ``late-failure`` with ``late_mode = 'errors'``), ``latency_factor`` for ``latency``,
    ``failure_delay_s`` and ``late_mode`` for ``late-failure``, ``affected_share`` for
    ``partial``. ``hour_of_day`` is in [0, 24); ``day_of_week`` 0 = Monday.
    """

    id: int
    at_s: float
    explicit: bool
    author: str
    lines_changed: int
    files_touched: int
    config_only: bool
    dependency_change: bool
    author_failure_rate: float
    hour_of_day: float
    day_of_week: int
    off_hours: bool
    truth: str
    p_bad: float
    error_share: float | None = None
    latency_factor: float | None = None
    failure_delay_s: float | None = None
    late_mode: str | None = None
    affected_share: float | None = None

    @property
    def bad(self) -> bool:
        return self.truth != "good"


def releases_frame(releases: Iterable[Release]) -> pd.DataFrame:
    """The ``releases`` table: one row per release, the dataclass fields plus ``bad``.
    Missing kind parameters are NaN (``late_mode`` None)."""
    columns = [f.name for f in fields(Release)]
    frame = pd.DataFrame([[getattr(r, c) for c in columns] for r in releases], columns=columns)
    frame["bad"] = frame["truth"] != "good"
    for col in ("error_share", "latency_factor", "failure_delay_s", "affected_share"):
        frame[col] = frame[col].astype(float)
    for col in ("explicit", "config_only", "dependency_change", "off_hours", "bad"):
        frame[col] = frame[col].astype(bool)
    return frame


# ---------------------------------------------------------------------------------------------
# The generative model
# ---------------------------------------------------------------------------------------------


def hour_profile(cfg: ReleasesConfig) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant release intensity within working hours: ``(edges_s, weights)``.

    Flat, with weight 1/2 in the hour starting at 12:00 (lunch) and in the last working
    hour (a choice: no public per-hour deployment profile; teams avoid shipping just before
    leaving). Edges are seconds of the day; ``weights`` are probabilities per segment.
    """
    start, end = cfg.working_hours
    cuts = {start, end}
    for t in (12 * HOUR_S, 13 * HOUR_S, end - HOUR_S):
        if start < t < end:
            cuts.add(t)
    edges = np.array(sorted(cuts))
    mids = (edges[:-1] + edges[1:]) / 2
    half = ((mids >= 12 * HOUR_S) & (mids < 13 * HOUR_S)) | (
        (mids >= end - HOUR_S) & (end - start > HOUR_S)
    )
    w = np.diff(edges) * np.where(half, 0.5, 1.0)
    return edges, w / w.sum()


def _draw_time_of_day(cfg: ReleasesConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """Seconds since midnight for ``n`` releases (working-hours profile, or off hours)."""
    edges, w = hour_profile(cfg)
    start, end = cfg.working_hours
    seg = rng.choice(len(w), size=n, p=w)
    u = rng.random(n)
    inside = edges[seg] + u * (edges[seg + 1] - edges[seg])
    off_len = DAY_S - (end - start)
    off = rng.random(n) < (cfg.off_hours_share if off_len > 0 else 0.0)
    v = rng.random(n) * off_len
    outside = np.where(v < start, v, v + (end - start))
    return np.where(off, outside, inside)


def _in_working_hours(cfg: ReleasesConfig, tod: np.ndarray) -> np.ndarray:
    start, end = cfg.working_hours
    return (tod >= start) & (tod < end)


@dataclass(frozen=True)
class _Authors:
    skill: np.ndarray
    recent_rate: np.ndarray


def _draw_authors(cfg: ReleasesConfig, rng: np.random.Generator) -> _Authors:
    skill = rng.normal(0.0, cfg.author_sd, cfg.authors)
    p_hist = expit(logit(cfg.change_failure_rate) + skill)
    fails = rng.binomial(cfg.author_history, p_hist)
    return _Authors(skill, fails / cfg.author_history)


def _draw_metadata(
    cfg: ReleasesConfig, n: int, rng: np.random.Generator, n_authors: int
) -> dict[str, np.ndarray]:
    z1 = rng.standard_normal(n)
    z2 = rng.standard_normal(n)
    rho = cfg.size_files_correlation
    lines = np.ceil(np.exp(math.log(cfg.lines_median) + cfg.lines_sigma * z1))
    zf = rho * z1 + math.sqrt(max(0.0, 1.0 - rho * rho)) * z2
    files = np.ceil(np.exp(cfg.files_log_mean + cfg.files_sigma * zf))
    config = rng.random(n) < cfg.config_share
    dep = (rng.random(n) < cfg.dependency_share) & ~config
    author = rng.integers(0, n_authors, n)
    return {
        "lines": np.maximum(lines, 1).astype(np.int64),
        "files": np.maximum(files, 1).astype(np.int64),
        "config": config,
        "dep": dep,
        "author": author,
    }


def _linear(
    cfg: ReleasesConfig, meta: dict[str, np.ndarray], off: np.ndarray, dow: np.ndarray
) -> np.ndarray:
    """``x.beta`` without the intercept and the author skill."""
    size = cfg.coef_size * np.log(meta["lines"]) + cfg.coef_files * np.log(meta["files"])
    x = np.where(meta["config"], cfg.coef_config, size)
    x = x + cfg.coef_dependency * meta["dep"] + cfg.coef_off_hours * off
    return x + cfg.coef_friday * (dow == 4) + cfg.coef_weekend * (dow >= 5)


def _mean_p(z: np.ndarray, noise_sd: float) -> np.ndarray:
    """``E[sigmoid(z + eps)]``, ``eps ~ N(0, noise_sd)``, by Gauss-Hermite quadrature."""
    if noise_sd == 0:
        return expit(z)
    return expit(z[:, None] + noise_sd * _GH_X[None, :]) @ _GH_W


def _calibration_sample(cfg: ReleasesConfig, skill: np.ndarray) -> np.ndarray:
    """``x.beta + skill`` over the schedule's metadata distribution (fixed local seed)."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    n = CALIBRATION_SIZE
    day_w = np.array([1.0] * 5 + [cfg.weekend_factor] * 2)
    dow = rng.choice(7, size=n, p=day_w / day_w.sum())
    tod = _draw_time_of_day(cfg, n, rng)
    meta = _draw_metadata(cfg, n, rng, len(skill))
    return _linear(cfg, meta, ~_in_working_hours(cfg, tod), dow) + skill[meta["author"]]


_CALIBRATION_FIELDS = (
    "working_hours off_hours_share weekend_factor lines_median lines_sigma files_log_mean "
    "files_sigma size_files_correlation config_share dependency_share coef_size coef_files "
    "coef_config coef_dependency coef_off_hours coef_friday coef_weekend noise_sd"
).split()


@functools.lru_cache(maxsize=64)
def _intercept_cached(key: tuple, skill: tuple[float, ...], cfr: float) -> float:
    cfg = ReleasesConfig(**dict(zip(_CALIBRATION_FIELDS, key, strict=True)))
    z = _calibration_sample(cfg, np.array(skill))
    nodes = cfg.noise_sd * _GH_X if cfg.noise_sd > 0 else np.zeros(1)
    weights = _GH_W if cfg.noise_sd > 0 else np.ones(1)
    b0 = float(logit(cfr) - np.median(z))
    for _ in range(100):  # Newton on a monotone function, one pass per step
        s = expit(b0 + z[:, None] + nodes[None, :])
        gap = float((s @ weights).mean()) - cfr
        slope = float(((s * (1 - s)) @ weights).mean())
        step = gap / slope
        b0 -= float(np.clip(step, -2.0, 2.0))
        if abs(step) < 1e-10:
            return b0
    raise RuntimeError(f"intercept did not converge for change_failure_rate={cfr}")


def intercept(cfg: ReleasesConfig, skill: Sequence[float]) -> float:
    """The intercept ``b0`` making the mean bad probability equal ``change_failure_rate``,
    for this author pool, over :data:`CALIBRATION_SIZE` draws of the schedule's metadata."""
    key = tuple(getattr(cfg, f) for f in _CALIBRATION_FIELDS)
    return _intercept_cached(key, tuple(float(s) for s in skill), cfg.change_failure_rate)


def expected_bayes_auc(cfg: ReleasesConfig, rng: np.random.Generator, pools: int = 20) -> float:
    """The population ROC-AUC of the Bayes-optimal score ``p_bad`` (what a forecaster who
    knew every author's skill would say), averaged over ``pools`` author pools drawn from
    ``rng``. No risk model reading the metadata can expect more.

    For one pool: P(p_bad of a bad release > p_bad of a good one) with bad and good drawn
    from the calibration sample weighted by p and 1 - p (ties count one half).
    """
    aucs = []
    for _ in range(pools):
        authors = _draw_authors(cfg, rng)
        z = _calibration_sample(cfg, authors.skill)
        p = _mean_p(intercept(cfg, authors.skill) + z, cfg.noise_sd)
        aucs.append(weighted_auc(p))
    return float(np.mean(aucs))


def weighted_auc(p: np.ndarray) -> float:
    """Expected AUC of the score ``p`` when each item is bad with probability ``p``."""
    p = np.asarray(p, dtype=float)
    uniq, inv = np.unique(p, return_inverse=True)
    bad_w = np.bincount(inv, weights=p)
    good_w = np.bincount(inv, weights=1 - p)
    below = np.concatenate([[0.0], np.cumsum(good_w)[:-1]])
    num = np.sum(bad_w * (below + 0.5 * good_w))
    return float(num / (bad_w.sum() * good_w.sum()))


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float], n: int) -> np.ndarray:
    lo, hi = lo_hi
    return np.exp(math.log(lo) + rng.random(n) * (math.log(hi) - math.log(lo)))


def _schedule(cfg: ReleasesConfig, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Times (s from run start) of the scheduled releases, sorted."""
    if cfg.per_day <= 0 or duration_s <= 0:
        return np.zeros(0)
    first = math.floor(cfg.calendar_offset / DAY_S)
    last = math.floor((cfg.calendar_offset + duration_s) / DAY_S)
    days = np.arange(first, last + 1)
    rate = np.where(days % 7 < 5, cfg.per_day, cfg.per_day * cfg.weekend_factor)
    counts = rng.poisson(rate)
    day_of = np.repeat(days, counts)
    tod = _draw_time_of_day(cfg, len(day_of), rng)
    at = day_of * DAY_S + tod - cfg.calendar_offset
    at = at[(at >= 0) & (at < duration_s)]
    return np.sort(at, kind="stable")


def generate_releases(
    cfg: ReleasesConfig, duration_s: float, rng: np.random.Generator
) -> list[Release]:
    """The run's releases, sorted by time, ids 0, 1, ... in that order.

    Every random draw comes from ``rng`` (the simulator's ``releases`` stream), in a fixed
    order: author pool, schedule, metadata, noise, truth, kind, kind parameters. Explicit
    releases at or after ``duration_s`` are kept (the caller decides what to do with them).
    """
    authors = _draw_authors(cfg, rng)
    scheduled = _schedule(cfg, duration_s, rng)
    explicit_at = np.array([e.at for e in cfg.explicit], dtype=float)
    at = np.concatenate([explicit_at, scheduled])
    is_explicit = np.arange(len(at)) < len(explicit_at)
    order = np.argsort(at, kind="stable")  # an explicit release comes first on a tie
    at, is_explicit = at[order], is_explicit[order]
    spec = [cfg.explicit[i] if i < len(cfg.explicit) else None for i in order]
    n = len(at)

    abs_t = at + cfg.calendar_offset
    tod = np.mod(abs_t, DAY_S)
    dow = (np.floor(abs_t / DAY_S).astype(np.int64)) % 7
    off = ~_in_working_hours(cfg, tod)
    meta = _draw_metadata(cfg, n, rng, cfg.authors)
    skill = authors.skill[meta["author"]]
    z = intercept(cfg, authors.skill) + _linear(cfg, meta, off, dow) + skill
    eps = rng.normal(0.0, cfg.noise_sd, n)
    bad = rng.random(n) < expit(z + eps)
    p_bad = _mean_p(z, cfg.noise_sd)
    kind_idx = rng.choice(len(BAD_KINDS), size=n, p=cfg.mix())
    err = _log_uniform(rng, cfg.error_share, n)
    lat = _log_uniform(rng, cfg.latency_factor, n)
    delay = _log_uniform(rng, cfg.failure_delay, n)
    crash = rng.random(n) < cfg.late_crash_share
    aff = _log_uniform(rng, cfg.affected_share, n)

    out: list[Release] = []
    for i in range(n):
        e = spec[i]
        truth = e.kind if e is not None else (BAD_KINDS[kind_idx[i]] if bad[i] else "good")
        params: dict[str, Any] = {}
        if truth == "errors":
            params["error_share"] = float(err[i])
        elif truth == "latency":
            params["latency_factor"] = float(lat[i])
        elif truth == "late-failure":
            params["failure_delay_s"] = float(delay[i])
            params["late_mode"] = "crash" if crash[i] else "errors"
        elif truth == "partial":
            params["affected_share"] = float(aff[i])
        if e is not None:
            if e.late_mode is not None:
                params["late_mode"] = e.late_mode
            if e.failure_delay is not None:
                params["failure_delay_s"] = float(e.failure_delay)
            for key in ("error_share", "latency_factor", "affected_share"):
                if getattr(e, key) is not None:
                    params[key] = float(getattr(e, key))
        if truth == "late-failure":
            if params["late_mode"] == "errors":
                params.setdefault("error_share", float(err[i]))
            else:
                params.pop("error_share", None)
        out.append(
            Release(
                id=i,
                at_s=float(at[i]),
                explicit=bool(is_explicit[i]),
                author=f"author-{int(meta['author'][i]):02d}",
                lines_changed=int(meta["lines"][i]),
                files_touched=int(meta["files"][i]),
                config_only=bool(meta["config"][i]),
                dependency_change=bool(meta["dep"][i]),
                author_failure_rate=float(authors.recent_rate[meta["author"][i]]),
                hour_of_day=float(tod[i] / HOUR_S),
                day_of_week=int(dow[i]),
                off_hours=bool(off[i]),
                truth=truth,
                p_bad=float(p_bad[i]),
                **params,
            )
        )
    return out
