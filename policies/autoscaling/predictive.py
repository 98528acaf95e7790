"""AWS predictive scaling for ECS services (Application Auto Scaling), as AWS documents it.

Every documented number comes from AWS's pages "How Application Auto Scaling predictive
scaling works"
(https://docs.aws.amazon.com/autoscaling/application/userguide/aas-predictive-scaling-how-it-works.html)
and the API reference's PredictiveScalingPolicyConfiguration
(https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PredictiveScalingPolicyConfiguration.html):
at least 24 h of metric history, up to 14 days
used, hourly forecasts for the next 48 h refreshed every 6 h, modes ForecastOnly (AWS's
default) and ForecastAndScale, SchedulingBufferTime (default 300 s, < 3600), never scaling in
on its own, MaxCapacityBreachBehavior HonorMaxCapacity (default) or IncreaseMaxCapacity with
MaxCapacityBuffer (% of the forecast), and metric pairs (a load metric and a scaling metric
with a target; capacity = forecast load / load one task carries at target).

What AWS does not publish, and what this module does instead (all transparent):

* **The forecaster.** The load metric is averaged per complete clock hour over the last
  ``history_window``. The forecast for hour ``H`` is ``profile[H mod 24] x level`` (``daily``
  seasonality): ``profile`` is the mean of the same hour of day over every available day, and
  ``level`` = (load of the last 24 complete hours) / (profile over those same hours), so a
  trend or a quiet day shifts the whole forecast. With ``seasonality="weekly"`` and at least
  one complete hour on each weekday, a day-of-week factor multiplies the profile (factor =
  total load on that weekday / profile total on those hours), and the level is computed on
  the profile x factor fit. Days and weekdays are counted from time 0 (the run start in
  simulation, the Unix epoch, i.e. UTC, against real ECS).
* **The load one task carries at target.** From the same history: per period, load per
  task = load / tasks (RunningTaskCount; HealthyHostCount for RequestCountPerTarget) and
  ratio = load per task / scaling metric; the median ratio over the window (a robust
  estimate) times ``target``. Periods where the scaling metric is missing, zero, or CPU /
  memory is saturated (>= 99 %, the load then is not what the tasks carried) are left out.
  This assumes the scaling metric is proportional to load per task, which is how AWS pairs
  them (e.g. ALBRequestCount with ALBRequestCountPerTarget).
* **The load metric's units.** ``RequestCount`` (a per-period sum; CloudWatch publishes no
  datapoint for a period without requests, so NaN counts as 0) is converted to requests/s.
  ``CPUUtilization`` / ``MemoryUtilization`` as load metrics are the service totals
  (average x RunningTaskCount, AWS's ECSServiceTotalCPUUtilization); NaN is missing data.

Scale-out timing: at time ``t`` the policy wants the larger of the forecast capacity of the
hour containing ``t`` and of the hour containing ``t + scheduling_buffer``, so capacity for an
hour starting at ``H`` is requested from ``H - scheduling_buffer`` on.

Warm start: :meth:`PredictiveScalingPolicy.warm_start` gives the policy metrics from before
time 0 (a service that ran before the policy was attached has CloudWatch history); decisions
then see them in front of the observation's own metrics, so the first forecast can come at
the first decision (policies/autoscaling/forecast.py :func:`with_warm_history`).
"""

from __future__ import annotations

import math

import numpy as np

from policies.autoscaling.forecast import with_warm_history
from policies.base import BasePolicy, clamp
from policies.contract import Decision, MetricHistory, Observation

HOUR_S = 3600.0
DAY_HOURS = 24
WEEK_DAYS = 7

MODES = ("ForecastOnly", "ForecastAndScale")
BREACH_BEHAVIORS = ("HonorMaxCapacity", "IncreaseMaxCapacity")
LOAD_METRICS = ("RequestCount", "CPUUtilization", "MemoryUtilization")
SCALING_METRICS = ("CPUUtilization", "MemoryUtilization", "RequestCountPerTarget")
SEASONALITIES = ("daily", "weekly")

#: A utilisation metric at or above this (%) is saturated: the load then exceeds what the
#: tasks carried, so the period says nothing about the load one task carries at target.
SATURATED_PERCENT = 99.0


def load_rate(metrics: MetricHistory, name: str) -> np.ndarray:
    """The load metric per period in its forecast unit (see the module docstring)."""
    if name == "RequestCount":
        return np.nan_to_num(np.asarray(metrics[name], dtype=float), nan=0.0) / metrics.period_s
    return np.asarray(metrics[name], dtype=float) * np.asarray(
        metrics["RunningTaskCount"], dtype=float
    )


def hourly_means(
    start: np.ndarray, values: np.ndarray, period_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` per complete clock hour.

    Returns ``(hours, means)``: absolute hour indices (``floor(start / 3600)``) of the hours
    whose every period is present and at least one value is finite, and their means.
    """
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    hour = np.floor(start / HOUR_S + 1e-9).astype(np.int64)
    h0 = int(hour[0])
    idx = hour - h0
    finite = np.isfinite(values)
    n_all = np.bincount(idx)
    n_fin = np.bincount(idx, weights=finite.astype(float), minlength=len(n_all))
    sums = np.bincount(idx, weights=np.where(finite, values, 0.0), minlength=len(n_all))
    expected = int(round(HOUR_S / period_s))
    ok = (n_all >= expected) & (n_fin > 0)
    hours = np.nonzero(ok)[0]
    return hours + h0, sums[ok] / n_fin[ok]


def seasonal_forecast(
    hours: np.ndarray, means: np.ndarray, future_hours: np.ndarray, seasonality: str = "daily"
) -> tuple[np.ndarray, str]:
    """Forecast the hourly load at ``future_hours`` from history ``(hours, means)``.

    Hour-of-day average with a level adjustment over the last 24 complete hours (and a
    day-of-week factor for ``"weekly"``), as described in the module docstring. Returns the
    forecasts and a short description of the fit for reasons.
    """
    hod = hours % DAY_HOURS
    counts = np.bincount(hod, minlength=DAY_HOURS)
    sums = np.bincount(hod, weights=means, minlength=DAY_HOURS)
    overall = float(means.mean())
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
    factor = np.ones(WEEK_DAYS)
    weekly = False
    if seasonality == "weekly":
        dow = (hours // DAY_HOURS) % WEEK_DAYS
        fit = profile[hod]
        num = np.bincount(dow, weights=means, minlength=WEEK_DAYS)
        den = np.bincount(dow, weights=fit, minlength=WEEK_DAYS)
        if np.all(np.bincount(dow, minlength=WEEK_DAYS) > 0) and np.all(den > 0):
            factor = num / den
            weekly = True

    def fitted(h: np.ndarray) -> np.ndarray:
        return profile[h % DAY_HOURS] * factor[(h // DAY_HOURS) % WEEK_DAYS]

    last = slice(max(0, len(hours) - DAY_HOURS), None)
    den = float(fitted(hours[last]).sum())
    level = float(means[last].sum()) / den if den > 0 else 1.0
    days = len(hours) / DAY_HOURS
    how = (
        f"hour-of-day mean over {days:.1f} days"
        + (" x day-of-week factor" if weekly else "")
        + f" x level {level:.3f}"
    )
    return fitted(future_hours) * level, how


class PredictiveScalingPolicy(BasePolicy):
    """AWS predictive scaling: hourly load forecast -> capacity, scale out ahead, never in.

    Parameters
    ----------
    mode : {"ForecastAndScale", "ForecastOnly"}, default "ForecastAndScale"
        ForecastOnly computes and reports the forecast but never changes capacity.
        AWS's own default is ForecastOnly; this default is ForecastAndScale so that
        ``make("predictive")`` acts.
    load_metric : {"RequestCount", "CPUUtilization", "MemoryUtilization"}, default
        "RequestCount"
        The metric forecast. RequestCount is the per-period sum, converted to requests/s.
    scaling_metric : {"CPUUtilization", "MemoryUtilization", "RequestCountPerTarget"},
        default "CPUUtilization"
        The per-task metric ``target`` refers to.
    target : float, default 50
        Target value of the scaling metric (AWS's example: CPU 50 %).
    scheduling_buffer : float, default 300
        SchedulingBufferTime, seconds (AWS default 300, must be < 3600): capacity for an hour
        is requested this long before the hour starts.
    max_capacity_breach_behavior : {"HonorMaxCapacity", "IncreaseMaxCapacity"}, default
        "HonorMaxCapacity"
        HonorMaxCapacity clamps to the maximum capacity; IncreaseMaxCapacity lets capacity
        exceed it up to forecast capacity x (1 + max_capacity_buffer / 100), returning the
        raised maximum in the Decision (and restoring the configured maximum, never below the
        current desired count, once the forecast no longer needs it).
    max_capacity_buffer : float, default 10
        MaxCapacityBuffer, percent of the forecast capacity, 0-100. AWS has no default (it is
        required with IncreaseMaxCapacity); 10 is AWS's documentation example. Ignored with
        HonorMaxCapacity.
    min_history : float, default 86400
        Seconds of complete hourly history needed before the first forecast (AWS: 24 h).
    history_window : float, default 1209600
        Seconds of history used (AWS: up to 14 days).
    forecast_horizon : float, default 172800
        Seconds forecast, hourly (AWS: the next 48 h).
    refresh : float, default 21600
        Seconds between forecasts (AWS: every 6 h); forecasts are made at the first decision
        of each ``refresh`` slot (slots aligned to time 0), or as soon as history suffices.
    seasonality : {"daily", "weekly"}, default "daily"
        The forecaster's seasonal model (AWS publishes none; see the module docstring).
    interval : float, default 60
        Seconds between decisions.

    Attributes
    ----------
    forecast_ : ndarray
        Forecast load per hour (load-metric units), hour ``i`` starting at
        ``forecast_start_ + 3600 i``.
    forecast_capacity_ : ndarray of int
        Tasks needed per forecast hour (unclamped).
    forecast_made_at_ : float
        Observation time of the last forecast.
    forecasts_ : tuple of (made_at, start, forecast)
        Every forecast made, in order: its observation time, the start of its first hour and
        the hourly forecast (``forecast_`` of that time). Read after a run to score the
        forecaster against the load that came (experiments/forecast_accuracy.py).
    load_per_task_ : float
        Load one task carries at ``target``, from the history.
    configured_max_ : int or None
        The maximum capacity before IncreaseMaxCapacity raised it (None when not raised).
    holds_ : bool
        Whether the last decision found the desired count at or below the forecast capacity
        (see :meth:`vetoes_scale_in`).

    Notes
    -----
    Combined with a dynamic policy (:class:`policies.autoscaling.combine.CombinedPolicy`),
    the predictive policy does not block the dynamic policy's scale-in while the desired count
    is above the forecast capacity, and blocks it while it is at or below (AWS: the capacity
    is the higher of the two).
    """

    percent_params = {"target": "scaling_metric"}  # utilisation % (policies/base.py)

    def __init__(
        self,
        mode: str = "ForecastAndScale",
        load_metric: str = "RequestCount",
        scaling_metric: str = "CPUUtilization",
        target: float = 50.0,
        scheduling_buffer: float = 300.0,
        max_capacity_breach_behavior: str = "HonorMaxCapacity",
        max_capacity_buffer: float = 10.0,
        min_history: float = 86400.0,
        history_window: float = 14 * 86400.0,
        forecast_horizon: float = 48 * 3600.0,
        refresh: float = 6 * 3600.0,
        seasonality: str = "daily",
        interval: float = 60.0,
    ) -> None:
        self.mode = mode
        self.load_metric = load_metric
        self.scaling_metric = scaling_metric
        self.target = target
        self.scheduling_buffer = scheduling_buffer
        self.max_capacity_breach_behavior = max_capacity_breach_behavior
        self.max_capacity_buffer = max_capacity_buffer
        self.min_history = min_history
        self.history_window = history_window
        self.forecast_horizon = forecast_horizon
        self.refresh = refresh
        self.seasonality = seasonality
        self.interval = interval

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        choices = {
            "mode": MODES,
            "load_metric": LOAD_METRICS,
            "scaling_metric": SCALING_METRICS,
            "max_capacity_breach_behavior": BREACH_BEHAVIORS,
            "seasonality": SEASONALITIES,
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"predictive: {name} must be one of {', '.join(valid)}; "
                    f"got {getattr(self, name)!r}"
                )
        if not self.target > 0:
            raise ValueError(f"predictive: target must be > 0, got {self.target}")
        if not 0 <= self.scheduling_buffer < HOUR_S:
            raise ValueError(
                f"predictive: scheduling_buffer must be in [0, 3600) s, got {self.scheduling_buffer}"
            )
        if not 0 <= self.max_capacity_buffer <= 100:
            raise ValueError(
                f"predictive: max_capacity_buffer must be in [0, 100] %, "
                f"got {self.max_capacity_buffer}"
            )
        for name in ("min_history", "history_window", "forecast_horizon", "refresh", "interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"predictive: {name} must be > 0 s, got {getattr(self, name)}")
        if self.history_window < self.min_history:
            raise ValueError(
                f"predictive: history_window ({self.history_window}) must be >= min_history "
                f"({self.min_history})"
            )

    # -- forecasting ------------------------------------------------------------------------
    def _load_per_task(self, metrics: MetricHistory, lo: int) -> float | None:
        """Load one task carries at ``target``: median (load/task)/metric x target."""
        load = load_rate(metrics, self.load_metric)[lo:]
        metric = np.asarray(metrics[self.scaling_metric], dtype=float)[lo:]
        per_target = self.scaling_metric == "RequestCountPerTarget"
        count = "HealthyHostCount" if per_target else "RunningTaskCount"
        tasks = np.asarray(metrics[count], dtype=float)[lo:]
        ok = np.isfinite(load) & np.isfinite(metric) & np.isfinite(tasks)
        ok &= (tasks > 0) & (metric > 0) & (load > 0)
        if not per_target:
            ok &= metric < SATURATED_PERCENT
        if not ok.any():
            return None
        ratio = load[ok] / tasks[ok] / metric[ok]
        return float(np.median(ratio)) * float(self.target)

    def _forecast(self, obs: Observation) -> str | None:
        """Make a forecast from the visible history; return why not, or None on success."""
        m = obs.metrics
        if len(m) == 0 or m.end - float(m.start[0]) < self.min_history:
            span = m.end - float(m.start[0]) if len(m) else 0.0
            return f"{span / 3600:.1f} h of history < min_history {self.min_history / 3600:.1f} h"
        lo = int(np.searchsorted(m.start, m.end - self.history_window - 1e-9))
        hours, means = hourly_means(m.start[lo:], load_rate(m, self.load_metric)[lo:], m.period_s)
        if len(hours) * HOUR_S < self.min_history:
            return (
                f"{len(hours)} complete hours of {self.load_metric} < min_history "
                f"{self.min_history / 3600:.1f} h"
            )
        lpt = self._load_per_task(m, lo)
        if lpt is None or not lpt > 0:
            return (
                f"cannot derive the load one task carries: no period with both "
                f"{self.load_metric} and {self.scaling_metric}"
            )
        first = int(math.floor(obs.time / HOUR_S + 1e-9))
        n = int(math.ceil(self.forecast_horizon / HOUR_S)) + 1
        future = np.arange(first, first + n, dtype=np.int64)
        forecast, how = seasonal_forecast(hours, means, future, self.seasonality)
        forecast = np.maximum(forecast, 0.0)
        self.forecast_ = forecast
        self.forecast_start_ = first * HOUR_S
        self.forecast_capacity_ = np.ceil(forecast / lpt - 1e-9).astype(np.int64)
        self.forecast_made_at_ = float(obs.time)
        self.forecasts_ = (
            *getattr(self, "forecasts_", ()),
            (float(obs.time), first * HOUR_S, forecast),
        )
        self.load_per_task_ = lpt
        self.forecast_how_ = how
        return None

    def _refresh_due(self, t: float) -> bool:
        made = getattr(self, "forecast_made_at_", None)
        if made is None:
            return True
        return math.floor(t / self.refresh + 1e-9) > math.floor(made / self.refresh + 1e-9)

    def _hour_index(self, t: float) -> int | None:
        i = int(math.floor((t - self.forecast_start_) / HOUR_S + 1e-9))
        return i if 0 <= i < len(self.forecast_) else None

    # -- combination -------------------------------------------------------------------------
    def vetoes_scale_in(self) -> bool:
        """Whether this policy, when it does not scale out, blocks a scale-in by a dynamic
        policy combined with it (:mod:`policies.autoscaling.combine`): only while the desired
        count is at or below the forecast capacity (of the current hour, or of the next one
        within the scheduling buffer; AWS: capacity is the higher of the forecast and the
        dynamic policy's), never in ForecastOnly."""
        return bool(getattr(self, "holds_", False))

    def capacity_floor(self) -> int | None:
        """The forecast capacity of the last decision (None before the first forecast or in
        ForecastOnly): a combined dynamic policy may scale in, but not below it (AWS: the
        capacity is the higher of the forecast and the dynamic policy's)."""
        return getattr(self, "floor_", None)

    # -- the decision -----------------------------------------------------------------------
    def warm_start(self, history: MetricHistory) -> BasePolicy:
        """Give the policy per-period metrics from before time 0 (``start`` < 0, the same
        period as the service's metrics); every later decision sees them in front of the
        observation's own metrics, as a service that ran before the policy was attached has
        CloudWatch history. Returns the policy. The history is state (``warm_history_``),
        not a parameter."""
        self.warm_history_ = history
        return self

    def decide(self, observation: Observation) -> Decision:
        self._validate()
        observation = with_warm_history(observation, getattr(self, "warm_history_", None))
        obs = observation
        t = float(obs.time)
        self.holds_ = False
        self.floor_ = None
        why_not = None
        if self._refresh_due(t):
            why_not = self._forecast(obs)
        if getattr(self, "forecast_", None) is None:
            return Decision(None, f"predictive: no forecast yet ({why_not}); no action")
        i_now = self._hour_index(t)
        i_buf = self._hour_index(t + self.scheduling_buffer)
        candidates = [i for i in (i_now, i_buf) if i is not None]
        if not candidates:
            return Decision(
                None,
                f"predictive: forecast made at {self.forecast_made_at_:.0f}s does not cover "
                f"{t:.0f}s ({why_not}); no action",
            )
        i = max(candidates, key=lambda k: (self.forecast_capacity_[k], k))
        cap = int(self.forecast_capacity_[i])
        hour_start = self.forecast_start_ + i * HOUR_S
        unit = "req/s" if self.load_metric == "RequestCount" else "%-tasks"
        arithmetic = (
            f"forecast {self.forecast_[i]:.1f} {unit} for the hour from {hour_start:.0f}s "
            f"(buffer {self.scheduling_buffer:.0f}s; {self.forecast_how_}, made at "
            f"{self.forecast_made_at_:.0f}s) / {self.load_per_task_:.2f} {unit} per task at "
            f"{self.scaling_metric} {self.target:g} = {cap} tasks"
        )
        if self.mode == "ForecastOnly":
            return Decision(None, f"predictive (ForecastOnly): {arithmetic}; capacity unchanged")
        return self._scale(obs, cap, arithmetic)

    def _scale(self, obs: Observation, cap: int, arithmetic: str) -> Decision:
        lo, hi = obs.min_tasks, obs.max_tasks
        new_max: int | None = None
        note = ""
        if self.max_capacity_breach_behavior == "IncreaseMaxCapacity":
            configured = getattr(self, "configured_max_", None)
            base_max = hi if configured is None else configured
            need = math.ceil(cap * (1.0 + self.max_capacity_buffer / 100.0) - 1e-9)
            effective = max(base_max, need)
            if effective > hi:
                if configured is None:
                    self.configured_max_ = hi
                new_max = effective
                note = (
                    f"; IncreaseMaxCapacity: max {hi} -> {effective} "
                    f"(ceil({cap} x (1 + {self.max_capacity_buffer:g}%)))"
                )
            elif configured is not None and effective < hi:
                restored = max(effective, obs.desired)
                if restored < hi:
                    new_max = restored
                    note = (
                        f"; max {hi} -> {restored} (configured {configured}, never below desired)"
                    )
                if restored <= configured:
                    self.configured_max_ = None
            if new_max is not None:
                hi = new_max
        want = clamp(cap, lo, hi)
        clamped = f", clamped to [{lo}, {hi}] = {want}" if want != cap else ""
        self.holds_ = want >= obs.desired
        self.floor_ = want
        if want > obs.desired:
            return Decision(
                want,
                f"predictive: {arithmetic}{clamped}; scale out {obs.desired} -> {want}{note}",
                max_tasks=new_max,
            )
        return Decision(
            None,
            f"predictive: {arithmetic}{clamped} <= desired {obs.desired}; predictive scaling "
            f"never scales in{note}",
            max_tasks=new_max,
        )
