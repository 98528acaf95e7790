"""``mpc``: forecast-driven, start-up-aware capacity planning (model-predictive control).

The best policy that can be built without seeing the future: it forecasts the *request rate*
(not CPU) over the stretch a decision taken now can still affect, takes a calibrated upper
quantile of that forecast, and plans the tasks the SLO's p99 needs at that load with the
simulator's own queueing model. Every number is a named parameter of :class:`MpcPolicy`.

**Two forecasts, two windows** (the oracle's rules, :mod:`policies.autoscaling.oracle`, with
the future replaced by a forecast). With ``S`` = ``startup``, ``I`` = ``interval``, ``M`` =
``margin``:

* *launch*: the peak request rate over ``[now + S, now + S + I + M]``. A task launched now
  serves from ``now + S`` at the latest; the next decision's launches serve from
  ``now + I + S``. The count set now must cover that stretch.
* *keep*: the peak over ``[now, now + S + I + M + hold]``. A task stopped now drains at once
  and a replacement could serve only after ``S``; a task that will be needed again before
  then is kept. ``hold`` (default 300 s, the ALB deregistration delay) extends the window:
  a stopped task is billed for its 300 s drain anyway ("Target groups for your Application
  Load Balancers", deregistration delay, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay),
  and a relaunch is billed from its image pull with Fargate's one-minute minimum (AWS Fargate
  pricing, https://aws.amazon.com/fargate/pricing/), so stopping a task needed again within
  about ``hold + S`` costs more than keeping it.

``desired = max(need_launch, min(current desired, need_keep), safety net)``, clamped to
``[min_tasks, max_tasks]``; one decision adds at most ``max_launch_per_minute x interval /
60`` tasks (the ECS quota of 500 tasks launched per service per minute on Fargate, "Amazon
ECS service quotas", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html).

**Forecast.** Only the visible history (``observation.metrics``: the ALB ``RequestCount``
per period, NaN counted as 0); :meth:`MpcPolicy.decide` refuses metrics that end after the
observation time. Label of the row of period ``i``: the peak load over the window above, as
seen from the decision that would have period ``i`` as its last visible one (the publication
delay is derived from the observation: ``time`` minus the last period's start). Labels are in
the past: the last window's worth of history has none. Features: those of the learned policy
(:func:`policies.autoscaling.forecast.features`: loads relative to a 5-minute base level at
lags, rolling means, time of day and week, the same label a day and a week ago), plus three
*burst* features computed from the same visible loads: the log change over the last one and
three periods, and the log of the periods since the last burst (a period whose load exceeds
``burst_ratio`` x the mean of the hour before it; capped at a day). A burst's first visible
minutes move these at once, so the forecast rises with them instead of waiting for CPU.

The model is scikit-learn's HistGradientBoostingRegressor (squared error on the log ratio
label / base level, so its prediction is a central forecast of that ratio), trained on the
history before the last ``calibration`` seconds. Its q-quantile comes from **split conformal
prediction** (Vovk, Gammerman and Shafer, *Algorithmic Learning in a Random World*, Springer
2005; Angelopoulos and Bates, "A Gentle Introduction to Conformal Prediction",
arXiv:2107.07511, section 1): the residuals of the held-out last ``calibration`` seconds,
then of every new labelled period as it becomes visible (scored in batches of
:data:`RESIDUAL_BATCH`; out of sample for the model in use), kept for the last
``calibration`` seconds; the forecast adds the ``ceil((n + 1) q) / n`` empirical quantile of
those residuals to the central forecast. So the q-quantile is calibrated on the trace where
the policy runs, on recent data, whatever the model's own bias. *Choice*: the squared-error
fit rather than scikit-learn's quantile loss, because the conformal step supplies the
quantile and the quantile loss's per-leaf quantile updates made each fit about 1.4x slower
in profiles of this policy. Retraining every ``retrain_every`` seconds (6 h) on at most
``max_train_rows`` rows keeps a 7-day run's cost bounded (README, "mpc": measured figure and
``benchmarks/bench_mpc.py``).

**Burst reserve.** A forecast learned from features cannot see a burst that has not been
published yet (on Twitter AAPL bursts rise 3x within a minute and end in about 5, inside the
180 s publication delay plus the start-up). So each window's forecast is floored by a reserve
learned from the bursts the trace has *shown*: for every row of the last ``reserve_days``
whose window is visible, the burst ratio ``(peak load over the row's window + c) / (mean load
of the hour up to the row + c)`` (``c`` the log offset); the reserve is the visible hour's
mean now times the ``quantile`` of those ratios (the same split-conformal rank as the
residuals'): :func:`burst_reserve`. A trace whose bursts reached 3x keeps about 3x its level;
a smooth trace keeps its ramp (about 1.3x on a daily cycle). The forecast used is the larger
of the two. The same ``quantile`` sets both, so the one knob stays one knob; ``reserve_days``
0 turns the reserve off (the policy before it). *Choice*: the hour as the level, as in the
burst feature; the default 7 days so a week's every day is seen (no public source sizes it).

**Capacity per task** is the load at which one task's M/M/k p99 meets ``slo_p99_ms``
(:func:`sim.metrics.max_utilisation_for_p99`, the simulator's own serving model: ``workers``
servers per task, each at ``capacity_rps / workers``): parameters the operator knows (the SLO,
the task size through ``observation.cpu``, and ``observation.capacity_rps``), not the oracle's
``future_load``.

**Safety net**: never below what target tracking on ALBRequestCountPerTarget would ask for
now, ``ceil(healthy x RequestCountPerTarget / target) = ceil(RequestCount / target)`` from
the last published period, with the target ``safety_target`` requests per target per
period (None: the SLO load of one task over one period). Before the model has history
(``min_history``) only the safety net and the burst reserve act, and the safety net scales in
only to the highest of its proposals over the keep window's length.

**The one tuning parameter** is ``quantile`` (of the forecast and of the burst ratios):
higher buys good minutes and availability with tasks.
"""

from __future__ import annotations

import math

import numpy as np

# Imported at module level, not inside a method: a module imported while a caller has
# patched the clock (policies/checks.py's purity check) would keep the patched function.
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from policies.autoscaling.forecast import (
    GBR_SETTINGS,
    LOG_OFFSET_TASKS,
    FeatureSpec,
    features,
    flatten_trees,
    labels,
    load_series,
    predict_rows,
    predict_trees,
    with_warm_history,
)
from policies.base import BasePolicy, clamp
from policies.contract import Decision, MetricHistory, Observation
from sim.metrics import ServingModel, max_utilisation_for_p99

#: The learned policy's lags (s) and rolling windows (s); the first window is the base level.
LAGS: tuple[float, ...] = (0.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
WINDOWS: tuple[float, ...] = (300.0, 900.0, 3600.0, 21600.0)

#: Hour of history a burst is measured against, in seconds.
BURST_BASE_S = 3600.0
#: Cap on "periods since the last burst": a day.
BURST_CAP_S = 86400.0

#: New labelled periods scored at once for the conformal residuals (a batch of 15 costs
#: about what one costs: the features are computed in one vectorised call).
RESIDUAL_BATCH = 15

#: Utilisation cap of the stationary latency formulas (the simulator's RHO_CAP).
RHO_CAP = 0.99

_EPS = 1e-9


def burst_features(
    y: np.ndarray, rows: np.ndarray, period_s: float, ratio: float, c: float
) -> np.ndarray:
    """Burst features of each row from ``y[: row + 1]`` only: log change over 1 and 3 periods,
    and log1p of the periods since the last burst (load above ``ratio`` x the mean of the
    previous hour), capped at a day."""
    w = max(1, int(round(BURST_BASE_S / period_s)))
    cap = int(round(BURST_CAP_S / period_s))
    # Only the stretch the rows can reach back to (the cap plus the base hour).
    a = max(0, int(rows.min()) - cap - w - 1) if len(rows) else 0
    ys = y[a : int(rows.max()) + 1] if len(rows) else y[:0]
    r = rows - a
    ly = np.log(ys + c)
    d1 = np.where(rows >= 1, ly[r] - ly[np.maximum(r - 1, 0)], 0.0)
    d3 = np.where(rows >= 3, ly[r] - ly[np.maximum(r - 3, 0)], 0.0)
    cs = np.concatenate(([0.0], np.cumsum(ys)))
    idx = np.arange(len(ys))
    lo = np.maximum(idx - w, 0)
    prev = np.where(idx > 0, (cs[idx] - cs[lo]) / np.maximum(idx - lo, 1), np.inf)
    burst = ys > ratio * prev + c
    last = np.maximum.accumulate(np.where(burst, idx, -(10**12)))
    since = np.minimum(r - last[r], cap)
    return np.column_stack([d1, d3, np.log1p(since)])


def burst_reserve(
    y: np.ndarray, spec: FeatureSpec, periods: int, quantile: float, c: float
) -> tuple[float, float, int] | None:
    """The burst reserve of a forecast window from ``y`` (the visible loads) only.

    For each of the last ``periods`` rows whose label is visible (``row + lead1`` is in
    ``y``), the burst ratio ``(peak load over the row's window + c) / (mean load of the hour
    up to the row + c)``; the reserve is the hour's mean now times the split-conformal
    ``ceil((n + 1) q) / n`` empirical quantile of those ratios (the same rule as the
    residuals'). Returns ``(reserve req/s, ratio, n rows)``, or None without a full hour and
    one labelled row."""
    w = max(1, int(round(BURST_BASE_S / spec.period_s)))
    last_row = len(y) - 1 - spec.lead1
    first = max(w - 1, last_row - int(periods) + 1)
    if last_row < first or len(y) < w:
        return None
    n = last_row - first + 1
    cs = np.concatenate(([0.0], np.cumsum(y[first - w + 1 : last_row + 1])))
    level = (cs[w:] - cs[:-w]) / w  # the hour up to each row
    # The peak over each row's window: labels() with slices, not a rows x window index.
    peak = y[first + spec.lead0 : first + spec.lead0 + n].copy()
    for lead in range(spec.lead0 + 1, spec.lead1 + 1):
        np.maximum(peak, y[first + lead : first + lead + n], out=peak)
    ratio = (peak + c) / (level + c)
    at = min(1.0, math.ceil((n + 1) * float(quantile) - _EPS) / n)
    r = float(np.quantile(ratio, at, method="higher"))
    now = float(np.mean(y[-w:]))
    return max(0.0, (now + c) * r - c), r, n


class _Window:
    """One forecast window in periods from the last visible period (plain data)."""

    def __init__(self, spec: FeatureSpec, ratio: float) -> None:
        self.spec = spec
        self.ratio = ratio

    def matrix(self, y: np.ndarray, start: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Features of ``rows``; reads ``y[: row + 1]`` for each row, and only the stretch
        a row's features reach back to (:attr:`FeatureSpec.tail`)."""
        s = self.spec
        a = max(0, int(rows.min()) - s.tail) if len(rows) else 0
        b = int(rows.max()) + 1 if len(rows) else 0
        base = features(y[a:b], start[a:b], rows - a, s)
        extra = burst_features(y, rows, s.period_s, self.ratio, s.offset)
        return np.hstack([base, extra])


class MpcPolicy(BasePolicy):
    """Calibrated quantile forecasts of the request rate -> tasks for the SLO, start-up aware.

    See the module docstring for the method and the sources.

    Parameters
    ----------
    quantile : float, default 0.9
        The forecast quantile planned for (in (0, 1)): the one parameter that trades cost for
        good minutes, swept by the experiment's tuning grid.
    slo_p99_ms : float, default 500
        The p99 latency objective (ms) each task is sized for (the simulator's default SLO).
    workers : int or None, default None
        Requests one task serves at once (M/M/k servers); None: one per vCPU of
        ``observation.cpu`` (at least 1), the simulator's default.
    startup : float, default 250
        Seconds from a decision to a new task serving. 250: the simulator's defaults
        (actuation 23 s, provisioning up to 15 s, a 413 MB image pull at 8.8 MB/s, 47 s mean,
        container start 2 s, five ALB health checks 30 s apart); a parameter because AWS
        publishes no figure for the whole.
    margin : float, default 60
        Seconds added to the launch window beyond ``startup + interval``.
    hold : float, default 300
        Seconds beyond the launch window for which capacity that will be needed again is
        kept (the keep window). Default: the ALB deregistration delay (module docstring).
    safety_target : float or None, default None
        The safety net's target, requests per target per period (ALBRequestCountPerTarget);
        None: the load one task carries at the SLO's p99 times the period.
    burst_ratio : float, default 1.5
        A period is a burst when its load exceeds this multiple of the previous hour's mean.
    calibration : float, default 86400
        Seconds of recent residuals the conformal quantile uses (and held out of training).
    retrain_every : float, default 21600
        Seconds between trainings (6 h), slots aligned to time 0.
    min_history : float, default 43200
        Seconds of history before training is first tried. Training also needs
        ``calibration`` plus 100 labelled periods (about 26 h with the defaults); until a
        model exists only the safety net and the burst reserve act.
    max_history : float, default 1209600
        Seconds of history used (14 days, as AWS predictive scaling reads).
    max_train_rows : int, default 4320
        Training rows at most per model; more are thinned by a stride (newest kept).
    max_iter : int, default 30
        Boosting iterations.
    max_launch_per_minute : int, default 500
        Tasks one decision may add per minute of ``interval`` (the Fargate quota per service).
    random_state : int, default 0
        Seed of the gradient-boosting model (no global randomness).
    interval : float, default 60
        Seconds between decisions.
    reserve_days : float, default 7
        Days of burst ratios the burst reserve learns from (module docstring), within
        ``max_history``; 0: no reserve.
    """

    def __init__(
        self,
        quantile: float = 0.9,
        slo_p99_ms: float = 500.0,
        workers: int | None = None,
        startup: float = 250.0,
        margin: float = 60.0,
        hold: float = 300.0,
        safety_target: float | None = None,
        burst_ratio: float = 1.5,
        calibration: float = 86400.0,
        retrain_every: float = 21600.0,
        min_history: float = 43200.0,
        max_history: float = 14 * 86400.0,
        max_train_rows: int = 4320,
        max_iter: int = 30,
        max_launch_per_minute: int = 500,
        random_state: int = 0,
        interval: float = 60.0,
        reserve_days: float = 7.0,
    ) -> None:
        self.quantile = quantile
        self.slo_p99_ms = slo_p99_ms
        self.workers = workers
        self.startup = startup
        self.margin = margin
        self.hold = hold
        self.safety_target = safety_target
        self.burst_ratio = burst_ratio
        self.calibration = calibration
        self.retrain_every = retrain_every
        self.min_history = min_history
        self.max_history = max_history
        self.max_train_rows = max_train_rows
        self.max_iter = max_iter
        self.max_launch_per_minute = max_launch_per_minute
        self.random_state = random_state
        self.interval = interval
        self.reserve_days = reserve_days

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        if not 0 < self.quantile < 1:
            raise ValueError(f"mpc: quantile must be in (0, 1), got {self.quantile!r}")
        positive = ("slo_p99_ms", "calibration", "retrain_every", "max_history", "interval")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"mpc: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("startup", "margin", "hold", "min_history"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"mpc: {name} must be >= 0 s, got {getattr(self, name)!r}")
        if self.max_history < self.min_history:
            raise ValueError(
                f"mpc: max_history ({self.max_history!r}) must be >= min_history "
                f"({self.min_history!r})"
            )
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"mpc: workers must be None or an integer >= 1, got {self.workers!r}")
        if self.safety_target is not None and not self.safety_target > 0:
            raise ValueError(f"mpc: safety_target must be None or > 0, got {self.safety_target!r}")
        if not 0 <= self.reserve_days <= self.max_history / 86400.0:
            raise ValueError(
                f"mpc: reserve_days must be >= 0 (0: no burst reserve) and <= max_history "
                f"({self.max_history / 86400.0:g} days), got {self.reserve_days!r}"
            )
        if not self.burst_ratio > 1:
            raise ValueError(f"mpc: burst_ratio must be > 1, got {self.burst_ratio!r}")
        for name, least in (("max_train_rows", 100), ("max_iter", 1), ("max_launch_per_minute", 1)):
            if getattr(self, name) < least:
                raise ValueError(
                    f"mpc: {name} must be an integer >= {least}, got {getattr(self, name)!r}"
                )

    # -- capacity ---------------------------------------------------------------------------
    def per_task_rps(self, obs: Observation) -> float:
        """Requests/s one task carries with its M/M/k p99 at ``slo_p99_ms`` (cached)."""
        workers = self.workers if self.workers is not None else max(1, int(obs.cpu) // 1024)
        key = (float(obs.capacity_rps), int(workers))
        cache = getattr(self, "per_task_cache_", None)
        if cache is None or cache[0] != key:
            model = ServingModel(float(obs.capacity_rps), int(workers), 1.0, 0.0, 0.0, 0.0)
            rho = max_utilisation_for_p99(model, float(self.slo_p99_ms) / 1000.0, RHO_CAP)
            self.per_task_cache_ = (key, float(obs.capacity_rps) * rho)
        return self.per_task_cache_[1]

    # -- forecast windows -------------------------------------------------------------------
    def _windows(self, obs: Observation) -> dict[str, _Window]:
        m = obs.metrics
        p = float(m.period_s)
        last_start = float(m.start[-1])
        now = float(obs.time)
        launch_end = float(self.startup) + float(self.interval) + float(self.margin)

        def lead(seconds: float, up: bool) -> int:
            x = (now + seconds - last_start) / p
            return max(1, math.ceil(x - _EPS) if up else math.floor(x + _EPS))

        common = {
            "period_s": p,
            "lags": tuple(sorted({int(round(s / p)) for s in LAGS})),
            "windows": tuple(max(1, int(round(s / p))) for s in WINDOWS),
            "label": "peak",
            "offset": LOG_OFFSET_TASKS * float(obs.capacity_rps),
        }
        out = {}
        for name, a, b in (
            ("launch", float(self.startup), launch_end),
            ("keep", 0.0, launch_end + float(self.hold)),
        ):
            # The periods whose load lands in [now + a, now + b]: from the one containing
            # now + a to the one starting before now + b.
            lead0 = max(1, lead(a, False))
            lead1 = max(lead0, lead(b, False))
            out[name] = _Window(
                FeatureSpec(lead0=lead0, lead1=lead1, **common), float(self.burst_ratio)
            )
        return out

    @staticmethod
    def _check_no_future(obs: Observation) -> None:
        end = obs.metrics.end
        if end > obs.time + 1e-9:
            raise ValueError(
                f"mpc was given metrics after the observation time (metrics end at {end:.3f}s "
                f"> time {obs.time:.3f}s): it must only see published history"
            )

    def _series(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        m = obs.metrics
        lo = int(np.searchsorted(m.start, m.end - self.max_history - 1e-9))
        y = load_series(m["RequestCount"][lo:], m.period_s)
        return y, np.asarray(m.start[lo:], dtype=float)

    def _train(self, name: str, win: _Window, y: np.ndarray, start: np.ndarray) -> str | None:
        """Fit one window's median model on the rows before the calibration stretch and
        score the calibration rows (out of sample); return why not, or None."""
        s = win.spec
        last_row = len(y) - 1 - s.lead1  # the last row whose label is visible
        cal_rows = max(1, int(round(self.calibration / s.period_s)))
        fit_end = last_row - cal_rows
        if fit_end < 100:
            return f"{max(0, last_row + 1)} labelled periods, need {cal_rows + 100}"
        stride = max(1, math.ceil((fit_end + 1) / self.max_train_rows))
        rows = np.arange(fit_end, -1, -stride)[::-1]
        X = win.matrix(y, start, rows)
        z = self._log_ratio(labels(y, rows, s), X, s)
        X[:, np.isnan(X).all(axis=0)] = 0.0  # a never-seen feature (week ago, early on)
        est = HistGradientBoostingRegressor(
            loss="squared_error",
            max_iter=int(self.max_iter),
            random_state=int(self.random_state),
            **GBR_SETTINGS,
        )
        with threadpool_limits(limits=1):
            est.fit(X, z)
            crow = np.arange(fit_end + 1, last_row + 1)
            Xc = win.matrix(y, start, crow)
            zc = self._log_ratio(labels(y, crow, s), Xc, s)
            resid = zc - est.predict(Xc)
        state = {
            "trees": flatten_trees(est),
            "key": s.key(),
            "resid": resid,
            "scored_until": float(start[last_row]),
            "cal_rows": cal_rows,
        }
        models = dict(getattr(self, "models_", {}))
        models[name] = state
        self.models_ = models
        return None

    @staticmethod
    def _log_ratio(label: np.ndarray, X: np.ndarray, s: FeatureSpec) -> np.ndarray:
        c = s.offset
        base = np.exp(X[:, 0]) - c
        return np.log(label + c) - np.log(base + c)

    def _update_residuals(self, state: dict, win: _Window, y: np.ndarray, start: np.ndarray):
        """Score the rows whose labels became visible since the last call (out of sample for
        the model in use) and keep the last ``cal_rows`` residuals."""
        s = win.spec
        last_row = len(y) - 1 - s.lead1
        if last_row < 0:
            return
        first = int(np.searchsorted(start, state["scored_until"] + 1e-9))
        if last_row - first + 1 < RESIDUAL_BATCH:
            return
        rows = np.arange(first, last_row + 1)
        X = win.matrix(y, start, rows)
        z = self._log_ratio(labels(y, rows, s), X, s)
        pred = predict_rows(state["trees"], X)
        resid = np.concatenate([state["resid"], z - pred])[-state["cal_rows"] :]
        state["resid"] = resid
        state["scored_until"] = float(start[last_row])

    def _offset(self, resid: np.ndarray) -> float:
        """The split-conformal ``ceil((n + 1) q) / n`` empirical quantile of the residuals."""
        n = len(resid)
        level = min(1.0, math.ceil((n + 1) * float(self.quantile) - _EPS) / n)
        return float(np.quantile(resid, level, method="higher"))

    def forecast(self, observation: Observation) -> dict[str, float] | None:
        """The calibrated q-quantile of the peak load (requests/s) over the launch and keep
        windows, training when due, floored by the burst reserve (``reserve_``, which is set
        from the first labelled hour on, with or without a model); None before
        ``min_history`` of visible history or before the first training succeeds. Updates
        the policy's learned state."""
        obs = with_warm_history(observation, getattr(self, "warm_history_", None))
        self._check_no_future(obs)
        m = obs.metrics
        self.reserve_ = {}
        if len(m) and self.reserve_days > 0:
            self._reserve(obs)
        span = m.end - float(m.start[0]) if len(m) else 0.0
        if span < self.min_history or len(m) == 0:
            self.why_ = (
                f"{span / 3600:.1f} h of history < min_history {self.min_history / 3600:.1f} h"
            )
            return None
        t = float(obs.time)
        y, start = self._series(obs)
        wins = self._windows(obs)
        models = getattr(self, "models_", {})
        due = any(
            name not in models or models[name]["key"] != w.spec.key() for name, w in wins.items()
        )
        trained = getattr(self, "trained_at_", None)
        if trained is None or math.floor(t / self.retrain_every + _EPS) > math.floor(
            trained / self.retrain_every + _EPS
        ):
            due = True
        if due:
            self.models_ = {}
            for name, w in wins.items():
                why = self._train(name, w, y, start)
                if why is not None:
                    self.models_ = {}
                    self.why_ = f"no model yet ({why})"
                    return None
            self.trained_at_ = t
        out = {}
        for name, w in wins.items():
            state = self.models_[name]
            self._update_residuals(state, w, y, start)
            s = w.spec
            x = w.matrix(y, start, np.array([len(y) - 1]))[0]
            z = predict_trees(state["trees"], x) + self._offset(state["resid"])
            out[name] = max(0.0, float(np.exp(x[0] + z) - s.offset))
            if name in self.reserve_:
                out[name] = max(out[name], self.reserve_[name][0])
        return out

    def _reserve(self, obs: Observation) -> None:
        """Set ``reserve_`` per window: (reserve req/s, ratio, n). The ratio quantile is
        recomputed when the window changes or :data:`RESIDUAL_BATCH` new periods have been
        published since (it moves little in a few minutes; a decision costs about 2 ms a
        window); the hour's mean is today's at every decision."""
        y, start = self._series(obs)
        p = float(obs.metrics.period_s)
        periods = int(round(float(self.reserve_days) * 86400.0 / p))
        w = max(1, int(round(BURST_BASE_S / p)))
        cache = dict(getattr(self, "reserve_cache_", {}))
        last = float(start[-1])
        for name, win in self._windows(obs).items():
            s = win.spec
            key = (s.key(), periods, float(self.quantile))
            old = cache.get(name)
            if old is None or old[0] != key or last - old[1] >= RESIDUAL_BATCH * p - _EPS:
                res = burst_reserve(y, s, periods, self.quantile, s.offset)
                if res is None:
                    cache.pop(name, None)
                    continue
                cache[name] = (key, last, res[1], res[2])
            _, _, ratio, n = cache[name]
            now = float(np.mean(y[-w:]))
            self.reserve_[name] = (max(0.0, (now + s.offset) * ratio - s.offset), ratio, n)
        self.reserve_cache_ = cache

    def warm_start(self, history: MetricHistory) -> BasePolicy:
        """Per-period metrics from before time 0 (``start`` < 0), seen in front of every later
        observation's metrics, as CloudWatch keeps a service's history. Returns the policy."""
        self.warm_history_ = history
        return self

    # -- the decision -----------------------------------------------------------------------
    def decide(self, observation: Observation) -> Decision:
        self._validate()
        obs = observation
        self._check_no_future(obs)
        lo, hi = obs.min_tasks, obs.max_tasks
        desired = int(obs.desired)
        t = float(obs.time)
        per_task = self.per_task_rps(obs)
        if per_task <= 0:
            want = clamp(hi, lo, hi)
            why = f"mpc: no task meets p99 {self.slo_p99_ms:g} ms at any load; run at max"
            return Decision(None if want == desired else want, why)

        # Safety net: target tracking on ALBRequestCountPerTarget, now.
        m = obs.metrics
        period = float(m.period_s)
        target = float(self.safety_target) if self.safety_target is not None else per_task * period
        count = m.last("RequestCount", 1)
        if len(count) and math.isfinite(count[-1]):
            safety = math.ceil(float(count[-1]) / target - _EPS)
            safety_why = f"ceil(RequestCount {float(count[-1]):.0f} / {target:.0f}) = {safety}"
        else:
            safety = 0
            safety_why = "no RequestCount datapoint"
        if obs.running == 0 and obs.healthy == 0 and safety == 0 and len(count):
            safety_why += "; no running task"

        fc = self.forecast(obs)
        keep_s = self.startup + self.interval + self.margin + self.hold
        res = getattr(self, "reserve_", {})  # PerfectForecastMpc sets none
        reserve_why = "".join(
            f"; burst reserve {k} {v[0]:.1f} req/s ({v[1]:.2f}x the hour's mean, n {v[2]})"
            for k, v in res.items()
        )
        if fc is None:
            # The safety net (scale out now, scale in to the highest recent proposal) and the
            # burst reserve (launch for its launch window, keep for its keep window).
            recent = [(s, n) for s, n in getattr(self, "recent_", ()) if t - s < keep_s]
            recent.append((t, safety))
            self.recent_ = recent
            stable = max(n for _, n in recent)
            want = safety if safety > desired else min(desired, stable)
            # Either window's reserve may be missing (too few labelled rows for it yet).
            r_launch, r_keep = (
                math.ceil(res[k][0] / per_task - _EPS) if k in res else 0
                for k in ("launch", "keep")
            )
            want = max(want, r_launch, min(desired, r_keep))
            new = self._limit(clamp(want, lo, hi), desired)
            why = f"mpc: {self.why_}; safety net {safety_why}; highest over {keep_s:.0f}s {stable}"
            return self._answer(new, desired, why + reserve_why)

        need_launch = math.ceil(fc["launch"] / per_task - _EPS)
        need_keep = math.ceil(fc["keep"] / per_task - _EPS)
        want = max(need_launch, min(desired, need_keep), safety)
        new = self._limit(clamp(want, lo, hi), desired)
        why = (
            f"mpc: q{self.quantile:g} peak load {fc['launch']:.1f} req/s over "
            f"[+{self.startup:.0f}s, +{self.startup + self.interval + self.margin:.0f}s] / "
            f"{per_task:.1f} per task = {need_launch} to launch; {fc['keep']:.1f} req/s before "
            f"+{keep_s:.0f}s = {need_keep} to keep{reserve_why}; safety net {safety_why}"
        )
        return self._answer(new, desired, why)

    def _limit(self, new: int, desired: int) -> int:
        most = max(1, int(self.max_launch_per_minute * self.interval / 60.0))
        return min(new, desired + most) if new > desired else new

    @staticmethod
    def _answer(new: int, desired: int, why: str) -> Decision:
        if new == desired:
            return Decision(None, f"{why}; keep {desired}")
        verb = "scale out" if new > desired else "scale in"
        return Decision(new, f"{why}; {verb} {desired} -> {new}")
