"""``threshold``: Argo Rollouts / Flagger style metric checks: a measurement every
``interval``, each compared with a success and/or failure condition, a limit on failed,
inconclusive and erroneous measurements, and an explicit policy for a measurement with no
data.

Sources:

- [ARGO] Argo Rollouts, ``analysis/analysis.go`` (argoproj/argo-rollouts at commit
  c9dd7ea02f9d): the first measurement is taken when the run starts (after
  ``initialDelay``), then every ``interval``; after an Error the measurement is retried after
  ``DefaultErrorRetryInterval`` = 10 s; Successful, Failed and Inconclusive measurements count
  toward ``count`` and reset the consecutive-error counter, Errors do not count;
  ``assessMetricFailureInconclusiveOrError``: Failed when ``failed > failureLimit`` (default
  0), Inconclusive when ``inconclusive > inconclusiveLimit`` (default 0), Error when
  ``consecutiveErrors > consecutiveErrorLimit`` (default 4; later tests override earlier
  ones); Successful when ``count`` is reached; a Failed, Error or Inconclusive metric
  terminates the run (``utils/analysis/helpers.go``: ``IsTerminating``), whose phase is the
  worst of its metrics, ordered Successful < Inconclusive < Error < Failed (``IsWorse``).
  Measurement phase (``utils/evaluate``): with only a success condition, not meeting it is
  Failed; with only a failure condition, not meeting it is Successful; with both, failure wins,
  and meeting neither is Inconclusive. Docs: https://argo-rollouts.readthedocs.io/en/stable/features/analysis/
- [FLAGGER] Flagger docs, "How it works" / "Metrics Analysis"
  (https://docs.flagger.app/usage/metrics): ``interval``, ``threshold`` ("number of failed
  checks before rollback", counted over the whole analysis), ``thresholdRange`` min/max;
  builtin checks request-success-rate >= 99% and request-duration P99 <= 500 ms. Source
  (fluxcd/flagger ``pkg/controller/scheduler_metrics.go``): a query with no values ("Halt
  advancement no values found ...") makes the check fail, and one failed metric fails the
  whole check of that interval.

Rules here:

* Measurement ``k`` is taken at ``canary_start + initial_delay + k * interval`` (Argo: the
  first at the start), and 10 s after an Error. It reads the periods published by then whose
  end lies within the last ``window`` seconds of published data (default: ``interval``),
  aggregated by :func:`policies.rollout.analysis.window_value` (counts summed, ErrorRate =
  5XX / requests, latency percentiles: the worst period).
* A check is ``{"metric": name, "max": x, "min": y}`` (success condition ``min <= value <=
  max``, Flagger's ``thresholdRange``) and/or ``{"fail_above": x, "fail_below": y}`` (failure
  condition, Argo's ``failureCondition``).
* ``no_data``: what a measurement without data is: ``"fail"`` (Flagger, the default),
  ``"error"`` (Argo: the provider returns no result, the measurement errors),
  ``"inconclusive"`` or ``"pass"``.
* ``counting``: ``"per-metric"`` (Argo: each check has its own counters and limits) or
  ``"per-check"`` (Flagger: one failed check per interval in which any metric failed; roll
  back when the failed checks exceed ``failure_limit``, i.e. Flagger's ``threshold`` =
  ``failure_limit + 1``).
* Verdict: Failed or Error -> ``fail`` (both abort an Argo rollout); Inconclusive ->
  ``inconclusive``; Successful (every check reached ``count``) -> ``pass``; else ``running``.
  With ``count`` None the run never succeeds by itself (Argo's indefinite background
  analysis; Flagger's analysis lasts as long as its steps): the strategy decides when to
  promote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from policies.rollout.analysis import (
    COUNT_METRICS,
    DERIVED,
    AnalysisInput,
    BaseAnalysis,
    MetricDetail,
    Verdict,
    check_choice,
    check_metric_table,
    check_number,
    window_value,
)

ERROR_RETRY_S = 10.0  # Argo Rollouts DefaultErrorRetryInterval
NO_DATA: tuple[str, ...] = ("fail", "error", "inconclusive", "pass")
COUNTING: tuple[str, ...] = ("per-metric", "per-check")
CHECK_KEYS: tuple[str, ...] = ("metric", "min", "max", "fail_below", "fail_above")
THRESHOLD_TARGETS: tuple[str, ...] = ("canary", "baseline", "total")
_ORDER = {"Successful": 0, "Inconclusive": 1, "Error": 2, "Failed": 3}

#: Flagger's builtin checks on ALB metrics: success rate >= 99 %, p99 <= 500 ms.
DEFAULT_CHECKS: tuple[Mapping[str, Any], ...] = (
    {"metric": "ErrorRate", "max": 0.01},
    {"metric": "TargetResponseTime_p99", "max": 0.5},
)


def measure_phase(value: float, check: Mapping[str, Any], no_data: str) -> str:
    """One measurement's phase: Successful, Failed, Inconclusive or Error (Argo's rules)."""
    if math.isnan(value):
        return {
            "fail": "Failed",
            "error": "Error",
            "inconclusive": "Inconclusive",
            "pass": "Successful",
        }[no_data]
    has_success = "min" in check or "max" in check
    has_failure = "fail_below" in check or "fail_above" in check
    ok = (check.get("min") is None or value >= check["min"]) and (
        check.get("max") is None or value <= check["max"]
    )
    bad = (check.get("fail_below") is not None and value < check["fail_below"]) or (
        check.get("fail_above") is not None and value > check["fail_above"]
    )
    if has_success and not has_failure:
        bad = not ok
    elif has_failure and not has_success:
        ok = not bad
    if bad:
        return "Failed"
    if not ok:
        return "Inconclusive"
    return "Successful"


class ThresholdAnalysis(BaseAnalysis):
    """Metric checks with an interval, limits and a no-data policy (Argo Rollouts, Flagger).

    Parameters
    ----------
    checks: sequence of check mappings (keys :data:`CHECK_KEYS`); default Flagger's builtins.
    interval: seconds between measurements.
    count: measurements per check before the run succeeds; None: unbounded.
    initial_delay: seconds after ``canary_start`` before the first measurement.
    window: seconds of published data each measurement reads; None: ``interval``.
    failure_limit, inconclusive_limit, consecutive_error_limit: Argo's limits (0, 0, 4).
    no_data: one of :data:`NO_DATA`.
    counting: one of :data:`COUNTING`.
    target_group: "canary" (default), "baseline" or "total".
    """

    method = "threshold"

    def __init__(
        self,
        checks: Sequence[Mapping[str, Any]] = DEFAULT_CHECKS,
        interval: float = 60.0,
        count: int | None = None,
        initial_delay: float = 0.0,
        window: float | None = None,
        failure_limit: int = 0,
        inconclusive_limit: int = 0,
        consecutive_error_limit: int = 4,
        no_data: str = "fail",
        counting: str = "per-metric",
        target_group: str = "canary",
    ) -> None:
        self.checks = checks
        self.interval = interval
        self.count = count
        self.initial_delay = initial_delay
        self.window = window
        self.failure_limit = failure_limit
        self.inconclusive_limit = inconclusive_limit
        self.consecutive_error_limit = consecutive_error_limit
        self.no_data = no_data
        self.counting = counting
        self.target_group = target_group

    def _validate(self) -> None:
        if isinstance(self.checks, Mapping | str) or not isinstance(self.checks, Sequence):
            raise ValueError(
                "checks must be a list of tables such as {metric='ErrorRate', max=0.01}"
            )
        if not self.checks:
            raise ValueError("checks must hold at least one check")
        for i, c in enumerate(self.checks):
            check_metric_table("checks", i, c, CHECK_KEYS)
            bounds = [k for k in CHECK_KEYS[1:] if c.get(k) is not None]
            if not bounds:
                raise ValueError(f"checks[{i}] needs a bound: one of {', '.join(CHECK_KEYS[1:])}")
            for k in bounds:
                check_number(f"checks[{i}].{k}", c[k])
            if self.target_group == "total" and c["metric"] not in COUNT_METRICS + DERIVED:
                raise ValueError(
                    f"checks[{i}].metric {c['metric']!r}: target_group 'total' allows only "
                    f"{', '.join(COUNT_METRICS + DERIVED)}"
                )
        check_number("interval", self.interval, lo=0, lo_open=True)
        if self.count is not None:
            check_number("count", self.count, lo=1, integer=True)
        check_number("initial_delay", self.initial_delay, lo=0)
        if self.window is not None:
            check_number("window", self.window, lo=0, lo_open=True)
        check_number("failure_limit", self.failure_limit, lo=0, integer=True)
        check_number("inconclusive_limit", self.inconclusive_limit, lo=0, integer=True)
        check_number("consecutive_error_limit", self.consecutive_error_limit, lo=0, integer=True)
        check_choice("no_data", self.no_data, NO_DATA)
        check_choice("counting", self.counting, COUNTING)
        check_choice("target_group", self.target_group, THRESHOLD_TARGETS)

    def _measure(self, data: AnalysisInput, check: Mapping[str, Any], t: float) -> float:
        latest_end = t - data.publication_delay_s
        span = float(self.window if self.window is not None else self.interval)
        end = data.start + data.period_s
        mask = data.analysis_mask(t) & (end > latest_end - span) & (end <= latest_end)
        return window_value(data, self.target_group, check["metric"], mask)

    def _evaluate(self, data: AnalysisInput) -> Verdict:
        checks = list(self.checks)
        names = [c["metric"] for c in checks]
        n = len(checks)
        count = None if self.count is None else int(self.count)
        failed = [0] * n
        inconc = [0] * n
        errors = [0] * n
        consec = [0] * n
        measured = [0] * n
        last = [math.nan] * n
        next_t = [data.canary_start + float(self.initial_delay)] * n
        phase = [""] * n  # "", or the completed phase of the check
        failed_checks = 0  # per-check counting (Flagger)
        history: list[str] = []
        terminal_t = None
        while True:
            pending = [i for i in range(n) if not phase[i]]
            if not pending:
                break
            t = min(next_t[i] for i in pending)
            if t > data.time:
                break
            due = [i for i in pending if next_t[i] == t]
            any_failed = False
            for i in due:
                value = self._measure(data, checks[i], t)
                last[i] = value
                ph = measure_phase(value, checks[i], self.no_data)
                history.append(f"{t:g}s {names[i]}={_fmt(value)} {ph}")
                if ph == "Error":
                    errors[i] += 1
                    consec[i] += 1
                    next_t[i] = t + ERROR_RETRY_S
                else:
                    measured[i] += 1
                    consec[i] = 0
                    failed[i] += ph == "Failed"
                    inconc[i] += ph == "Inconclusive"
                    any_failed |= ph == "Failed"
                    next_t[i] = t + float(self.interval)
                if self.counting == "per-metric" and failed[i] > self.failure_limit:
                    phase[i] = "Failed"
                if inconc[i] > self.inconclusive_limit:
                    phase[i] = "Inconclusive"
                if consec[i] > self.consecutive_error_limit:
                    phase[i] = "Error"
                if not phase[i] and count is not None and measured[i] >= count:
                    phase[i] = "Successful"
            if self.counting == "per-check" and any_failed:
                failed_checks += 1
                if failed_checks > self.failure_limit:
                    for i in range(n):
                        if failed[i]:
                            phase[i] = "Failed"
            if any(p in ("Failed", "Error", "Inconclusive") for p in phase):
                terminal_t = t
                break  # Argo: a failing metric terminates the run

        details = tuple(
            MetricDetail(
                names[i],
                (phase[i] or "Running").lower(),
                f"{measured[i]} measured, {failed[i]} failed, {inconc[i]} inconclusive, "
                f"{errors[i]} errors ({consec[i]} consecutive)",
                value=last[i],
                data={
                    "failed": failed[i],
                    "inconclusive": inconc[i],
                    "errors": errors[i],
                    "count": measured[i],
                },
            )
            for i in range(n)
        )
        done = [p for p in phase if p]
        worst = max(done, key=_ORDER.__getitem__) if done else ""
        tail = "; ".join(history[-4:]) or "no measurement yet"
        if worst in ("Failed", "Error"):
            i = next(k for k in range(n) if phase[k] == worst)
            if worst == "Failed" and self.counting == "per-check":
                why = f"failed checks ({failed_checks}) > failure_limit ({self.failure_limit})"
            elif worst == "Failed":
                why = f"failed ({failed[i]}) > failure_limit ({self.failure_limit})"
            else:
                why = f"consecutive errors ({consec[i]}) > consecutive_error_limit ({self.consecutive_error_limit})"
            return Verdict(
                "fail",
                f"{names[i]} {worst} at {terminal_t:g}s: {why}; {tail}",
                self.method,
                None,
                details,
            )
        if worst == "Inconclusive":
            i = next(k for k in range(n) if phase[k] == worst)
            why = f"inconclusive ({inconc[i]}) > inconclusive_limit ({self.inconclusive_limit})"
            return Verdict(
                "inconclusive",
                f"{names[i]} Inconclusive at {terminal_t:g}s: {why}; {tail}",
                self.method,
                None,
                details,
            )
        if done and len(done) == n:
            return Verdict(
                "pass", f"every check reached count {count}; {tail}", self.method, None, details
            )
        return Verdict(
            "running",
            f"{sum(measured)} measurements, within limits; {tail}",
            self.method,
            None,
            details,
        )


def _fmt(v: float) -> str:
    return "no data" if math.isnan(v) else f"{v:.4g}"
