"""``kayenta``: the judge of Netflix/Spinnaker Kayenta (``NetflixACAJudge-v1.0``), comparing the
canary (experiment) with a concurrent baseline (control) of the same size and traffic.

Followed from the source, Kayenta's ``kayenta-judge`` and ``kayenta-mannwhitney`` modules as
stored in the spinnaker/spinnaker monorepo (Kayenta moved there from spinnaker/kayenta), at
commit a445dab1beeb7b36d2e98d06946c5c98335e12dd unless noted:

- ``kayenta-judge/src/main/scala/com/netflix/kayenta/judge/NetflixACAJudge.scala``: per metric,
  read ``direction`` (default "either"), ``nanStrategy`` (default "none", which parses as
  remove), ``critical`` (false), ``mustHaveData`` (false), ``effectSize.allowedIncrease`` /
  ``allowedDecrease`` (1.0), ``effectSize.criticalIncrease`` / ``criticalDecrease`` (1.0);
  transform (NaN removed or replaced by 0, then outliers removed by ``IQRDetector(factor = 3.0,
  reduceSensitivity = true)``); classify with ``MannWhitneyClassifier(tolerance = 0.25,
  confLevel = 0.98, ...)``; an exception gives the label Error.
- ``.../classifiers/metric/MannWhitneyClassifier.scala``: no data; identical samples (Pass);
  a single distinct value overall (Pass); Gaussian noise (sd = first value x 1e-5) when each
  sample has a single distinct value; the interval of the shift and the Hodges-Lehmann
  estimate; bounds ``+-tolerance x |estimate|``; **High** when the direction allows an increase,
  the interval's lower end is above the upper bound *and* the effect size (mean ratio
  experiment / control, 1.0 when the control mean is 0) is at least ``allowedIncrease``;
  **Low** symmetrically with the upper end below the lower bound and the ratio at most
  ``allowedDecrease``; else Pass. A critical metric is marked critical when High with ratio >=
  ``criticalIncrease``, Low with ratio <= ``criticalDecrease``, or Nodata.
- ``.../classifiers/metric/BaseMetricClassifier.scala``: labels Pass, High, Low,
  NodataFailMetric, Nodata, Error; without data, strategy remove gives Nodata (critical if the
  metric is) or NodataFailMetric when ``mustHaveData`` and not critical; strategy replace gives
  Pass.
- ``.../scorers/WeightedSumScorer.scala``: a group's score is Pass / (Pass + High + Low +
  NodataFailMetric) x 100 (a group with none of these has "no data" and counts as 100 in the
  summary); groups without a weight share ``100 - sum(weights)`` equally; the summary is the
  weighted sum rounded to 2 decimals (half up); any critical metric not Pass, or 50 % or more
  of the metrics Nodata, makes the score 0 ("Canary Failed: ...").
- ``.../scorers/ScoringHelper.scala`` (commit 1b154b06): group weights from the canary
  config, WeightedSumScorer, then ThresholdScoreClassifier(pass, marginal).
- ``.../classifiers/score/ThresholdScoreClassifier.scala`` (commit 5344e21b): Pass when score >= pass
  threshold, Marginal when >= marginal threshold, else Fail.
- ``.../detectors/IQRDetector.scala`` (commit 5344e21b): fences ``p25 - 3 IQR`` and ``p75 + 3
  IQR`` widened to the 1st and 99th percentiles; percentiles are Apache Commons Math's
  ``StatUtils.percentile`` (the legacy estimate: position ``p (n + 1) / 100``).
- ``.../preprocessing/Transforms.scala`` (commit b40ec5a3): removeNaNs, replaceNaNs (by 0.0),
  removeOutliers.
- ``.../stats/EffectSizes.scala`` (commit 3f7ed701): ``meanRatio`` = mean(experiment) / mean(control).
- The interval: :mod:`policies.rollout.mannwhitney`, R's ``wilcox.test(conf.int = TRUE)``
  (as Kayenta's earlier MannWhitneyR.scala called it; Kayenta's own ``kayenta-mannwhitney/.../MannWhitney.scala`` at
  commit acff987c always takes the normal approximation: ``exact=False`` reproduces it).

Deviations, each a parameter or unavoidable: ``exact`` (None: R's choice, see above);
``Transforms.addGaussianNoise`` was not in the stored source: the noise here has sd = |first
value| x 1e-5, nothing is added to a sample whose value is 0, and it is drawn from a numpy
Generator seeded by ``random_state`` *and* a SHA-256 digest of the metric's name and its two
transformed samples (:func:`noise_rng`). Kayenta's noise is unseeded, so there a comparison of
two nearly equal single values is a coin flip; seeding by ``random_state`` alone would give every
such comparison the same draws (with seed 0: +0.126 sd for the canary, -0.132 sd for the
baseline, so the canary always read High), a bias. Seeded by the input as well, the draws differ
between inputs and have no direction, and the judge stays a pure function of its input (the same
samples give the same verdict). The verdict maps Pass -> ``pass``, Marginal ->
``inconclusive``, Fail -> ``fail``; ``running`` while no canary period is published.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from policies.rollout.analysis import (
    AnalysisInput,
    BaseAnalysis,
    MetricDetail,
    Verdict,
    check_choice,
    check_metric_table,
    check_number,
)
from policies.rollout.mannwhitney import wilcox_shift_ci

DIRECTIONS: tuple[str, ...] = ("increase", "decrease", "either")
NAN_STRATEGIES: tuple[str, ...] = ("remove", "replace")
METRIC_KEYS: tuple[str, ...] = (
    "metric",
    "direction",
    "critical",
    "must_have_data",
    "nan_strategy",
    "allowed_increase",
    "allowed_decrease",
    "critical_increase",
    "critical_decrease",
    "groups",
)
NODATA_THRESHOLD = 50.0  # WeightedSumScorer.NODATA_THRESHOLD

#: Default canary configuration: errors (critical) and latency, higher is worse.
DEFAULT_METRICS: tuple[Mapping[str, Any], ...] = (
    {"metric": "ErrorRate", "direction": "increase", "critical": True, "groups": ("errors",)},
    {"metric": "TargetResponseTime_p50", "direction": "increase", "groups": ("latency",)},
    {"metric": "TargetResponseTime_p99", "direction": "increase", "groups": ("latency",)},
)


# ----------------------------------------------------------------------------- transforms
def percentile_legacy(data: np.ndarray, p: float) -> float:
    """Apache Commons Math ``StatUtils.percentile`` (Percentile, EstimationType.LEGACY)."""
    n = len(data)
    if n == 0:
        return math.nan
    if n == 1:
        return float(data[0])
    s = np.sort(data)
    pos = p * (n + 1) / 100.0
    fpos = math.floor(pos)
    dif = pos - fpos
    if pos < 1:
        return float(s[0])
    if pos >= n:
        return float(s[-1])
    lower, upper = float(s[int(fpos) - 1]), float(s[int(fpos)])
    return lower + dif * (upper - lower)


def iqr_outliers(
    data: np.ndarray, factor: float = 3.0, reduce_sensitivity: bool = True
) -> np.ndarray:
    """Kayenta's IQRDetector: True where a value is an outlier."""
    p25, p75 = percentile_legacy(data, 25), percentile_legacy(data, 75)
    iqr = p75 - p25
    lo, hi = p25 - factor * iqr, p75 + factor * iqr
    if reduce_sensitivity:
        lo = min(percentile_legacy(data, 1), lo)
        hi = max(percentile_legacy(data, 99), hi)
    with np.errstate(invalid="ignore"):
        return (data > hi) | (data < lo)


def transform(values: np.ndarray, nan_strategy: str, remove_outliers: bool = True) -> np.ndarray:
    """NetflixACAJudge.transformMetric: NaN removed (or replaced by 0), then outliers removed."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)] if nan_strategy == "remove" else np.nan_to_num(v, nan=0.0)
    if remove_outliers and len(v):
        v = v[~iqr_outliers(v)]
    return v


def round_half_up(x: float, places: int = 2) -> float:
    """Commons Math ``MathUtils.round(x, 2)``: BigDecimal of the decimal string, HALF_UP."""
    q = Decimal(1).scaleb(-places)
    return float(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))


# ----------------------------------------------------------------------------- classifier
def noise_rng(
    random_state: int, name: str, control: np.ndarray, experiment: np.ndarray
) -> np.random.Generator:
    """The generator of the noise added to a degenerate comparison: seeded by ``random_state``
    and a SHA-256 digest of the metric name and the two samples' float64 bytes (lengths
    included), so the draws are reproducible for the same input and differ between inputs."""
    h = hashlib.sha256()
    for part in (
        name.encode("utf-8"),
        np.ascontiguousarray(control, dtype="<f8").tobytes(),
        np.ascontiguousarray(experiment, dtype="<f8").tobytes(),
    ):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return np.random.default_rng([int(random_state), int.from_bytes(h.digest(), "little")])


def classify_metric(
    name: str,
    control: np.ndarray,
    experiment: np.ndarray,
    *,
    direction: str = "either",
    nan_strategy: str = "remove",
    critical: bool = False,
    must_have_data: bool = False,
    effect_size: tuple[float, float] = (1.0, 1.0),
    critical_effect: tuple[float, float] = (1.0, 1.0),
    tolerance: float = 0.25,
    conf_level: float = 0.98,
    exact: bool | None = None,
    rng: np.random.Generator | None = None,
    random_state: int = 0,
) -> dict[str, Any]:
    """MannWhitneyClassifier.classify on transformed samples. Returns label, reason,
    deviation (mean ratio), critical flag and the interval figures.

    The noise of a degenerate comparison (each sample a single distinct value) is drawn from
    ``rng`` if given, else from :func:`noise_rng` (``random_state``, ``name``, the samples)."""
    out: dict[str, Any] = {"deviation": 1.0, "critical": False, "reason": ""}
    if len(experiment) == 0 or len(control) == 0:
        if nan_strategy == "remove":
            reason = f"Missing data for {name}"
            if must_have_data and not critical:
                return {**out, "label": "NodataFailMetric", "reason": reason}
            return {**out, "label": "Nodata", "reason": reason, "critical": critical}
        return {**out, "label": "Pass", "reason": f"{name}: no data, NaN replaced by 0"}
    if len(experiment) == len(control) and np.array_equal(np.sort(experiment), np.sort(control)):
        return {**out, "label": "Pass", "reason": "The Canary and Baseline data are identical"}
    if len(np.unique(np.concatenate([experiment, control]))) == 1:
        return {**out, "label": "Pass", "reason": f"{name}: a single value in both samples"}

    x, y = experiment, control
    if len(np.unique(x)) == 1 and len(np.unique(y)) == 1:  # degenerate: add Gaussian noise
        g = rng if rng is not None else noise_rng(random_state, name, control, experiment)
        x = x + g.normal(0.0, abs(float(x[0])) * 1e-5, len(x))
        y = y + g.normal(0.0, abs(float(y[0])) * 1e-5, len(y))
    ci = wilcox_shift_ci(x, y, conf_level, exact=exact)
    deviation = 1.0 if float(np.mean(y)) == 0.0 else float(np.mean(x) / np.mean(y))
    bound = tolerance * abs(ci.estimate)
    figures = {
        "estimate": ci.estimate,
        "lower": ci.lower,
        "upper": ci.upper,
        "bound": bound,
        "exact": ci.exact,
        "deviation": deviation,
        "n_experiment": len(x),
        "n_control": len(y),
    }
    high = direction in ("increase", "either") and ci.lower > bound and deviation >= effect_size[1]
    low = direction in ("decrease", "either") and ci.upper < -bound and deviation <= effect_size[0]
    span = f"shift {ci.estimate:.4g} in [{ci.lower:.4g}, {ci.upper:.4g}], ratio {deviation:.4g}"
    if high:
        label, reason = "High", f"{name} was classified as High ({span})"
    elif low:
        label, reason = "Low", f"{name} was classified as Low ({span})"
    else:
        label, reason = "Pass", f"{name} Pass ({span}, tolerance +-{bound:.4g})"
    crit = False
    if critical and label == "High" and deviation >= critical_effect[1]:
        reason, crit = f"The metric {name} was classified as High (Critical) ({span})", True
    elif critical and label == "Low" and deviation <= critical_effect[0]:
        reason, crit = f"The metric {name} was classified as Low (Critical) ({span})", True
    return {**figures, "label": label, "reason": reason, "critical": crit}


# ----------------------------------------------------------------------------- scorer
def score_results(
    results: Sequence[Mapping[str, Any]], group_weights: Mapping[str, float]
) -> tuple[float, dict[str, float | None], str]:
    """WeightedSumScorer.score: (summary score, group scores (None: no data), failure reason)."""
    groups: dict[str, list[str]] = {}
    for r in results:
        for g in r["groups"]:
            groups.setdefault(g, []).append(r["label"])
    group_scores: dict[str, float | None] = {}
    for g, labels in groups.items():
        total = sum(labels.count(k) for k in ("Pass", "High", "Low", "NodataFailMetric"))
        group_scores[g] = None if total == 0 else labels.count("Pass") / total * 100
    failures = [r for r in results if r["critical"] and r["label"] != "Pass"]
    if failures:
        return 0.0, group_scores, f"Canary Failed: {failures[0]['reason']}"
    nodata = sum(r["label"] == "Nodata" for r in results)
    if results and nodata / len(results) * 100 >= NODATA_THRESHOLD:
        return (
            0.0,
            group_scores,
            f"Canary Failed: {NODATA_THRESHOLD:g}% or more metrics returned NODATA",
        )
    weight_sum = sum(float(w) for w in group_weights.values())
    unweighted = set(group_scores) - set(group_weights)
    calculated = (100 - weight_sum) / len(unweighted) if unweighted else 0.0
    summary = 0.0
    for g, s in group_scores.items():
        effective = 100.0 if s is None else s
        summary += effective * (float(group_weights.get(g, calculated)) / 100)
    return round_half_up(summary, 2), group_scores, ""


class KayentaAnalysis(BaseAnalysis):
    """NetflixACAJudge over the analysis periods: canary vs baseline, per metric.

    Parameters
    ----------
    metrics: sequence of metric tables (keys :data:`METRIC_KEYS`; ``groups`` default: the
        metric's own name); default :data:`DEFAULT_METRICS`.
    group_weights: weight (percent) per group; groups left out share the rest equally.
    pass_threshold, marginal_threshold: score thresholds (Spinnaker's recommended 95, 75).
    tolerance, conf_level: the classifier's (0.25, 0.98, as NetflixACAJudge fixes them).
    exact: Mann-Whitney interval method; None: R's choice (exact for n < 50 without ties).
    remove_outliers: the judge's IQR outlier removal (always on in Kayenta).
    random_state: seed of the noise added to degenerate samples, combined per metric with a
        digest of the metric's name and samples (:func:`noise_rng`): the same input gives the
        same draws, different inputs independent ones.
    """

    method = "kayenta"

    def __init__(
        self,
        metrics: Sequence[Mapping[str, Any]] = DEFAULT_METRICS,
        group_weights: Mapping[str, float] | None = None,
        pass_threshold: float = 95.0,
        marginal_threshold: float = 75.0,
        tolerance: float = 0.25,
        conf_level: float = 0.98,
        exact: bool | None = None,
        remove_outliers: bool = True,
        random_state: int = 0,
    ) -> None:
        self.metrics = metrics
        self.group_weights = group_weights
        self.pass_threshold = pass_threshold
        self.marginal_threshold = marginal_threshold
        self.tolerance = tolerance
        self.conf_level = conf_level
        self.exact = exact
        self.remove_outliers = remove_outliers
        self.random_state = random_state

    def _configs(self) -> list[dict[str, Any]]:
        out = []
        for m in self.metrics:
            c = {
                "direction": "either",
                "critical": False,
                "must_have_data": False,
                "nan_strategy": "remove",
                "allowed_increase": 1.0,
                "allowed_decrease": 1.0,
                "critical_increase": 1.0,
                "critical_decrease": 1.0,
                **m,
            }
            groups = c.get("groups")
            c["groups"] = (c["metric"],) if groups is None else tuple(groups)
            out.append(c)
        return out

    def _validate(self) -> None:
        if (
            isinstance(self.metrics, Mapping | str)
            or not isinstance(self.metrics, Sequence)
            or not self.metrics
        ):
            raise ValueError(
                "metrics must be a non-empty list of tables such as {metric='ErrorRate'}"
            )
        seen = set()
        for i, m in enumerate(self.metrics):
            check_metric_table("metrics", i, m, METRIC_KEYS)
            if m["metric"] in seen:
                raise ValueError(f"metrics[{i}].metric {m['metric']!r} is listed twice")
            seen.add(m["metric"])
        for i, c in enumerate(self._configs()):
            check_choice(f"metrics[{i}].direction", c["direction"], DIRECTIONS)
            check_choice(f"metrics[{i}].nan_strategy", c["nan_strategy"], NAN_STRATEGIES)
            check_choice(f"metrics[{i}].critical", c["critical"], (True, False))
            check_choice(f"metrics[{i}].must_have_data", c["must_have_data"], (True, False))
            for k in (
                "allowed_increase",
                "allowed_decrease",
                "critical_increase",
                "critical_decrease",
            ):
                check_number(f"metrics[{i}].{k}", c[k], lo=0)
            if not c["groups"] or not all(isinstance(g, str) and g for g in c["groups"]):
                raise ValueError(f"metrics[{i}].groups must be a non-empty list of group names")
        if self.group_weights is not None:
            if not isinstance(self.group_weights, Mapping):
                raise ValueError("group_weights must be a table of group name -> weight (percent)")
            for g, w in self.group_weights.items():
                check_number(f"group_weights.{g}", w, lo=0, hi=100)
            if sum(self.group_weights.values()) > 100:
                raise ValueError("group_weights must sum to at most 100")
        check_number("pass_threshold", self.pass_threshold, lo=0, hi=100)
        check_number("marginal_threshold", self.marginal_threshold, lo=0, hi=self.pass_threshold)
        check_number("tolerance", self.tolerance, lo=0)
        check_number("conf_level", self.conf_level, lo=0, hi=1, lo_open=True)
        if self.conf_level >= 1:
            raise ValueError(f"conf_level must be < 1, got {self.conf_level}")
        check_choice("exact", self.exact, (None, True, False))
        check_choice("remove_outliers", self.remove_outliers, (True, False))
        check_number("random_state", self.random_state, lo=0, integer=True)

    def judge(
        self, control: Mapping[str, np.ndarray], experiment: Mapping[str, np.ndarray]
    ) -> Verdict:
        """The judgment on raw per-metric samples (NaN for missing), as Kayenta receives a
        MetricSetPair per metric: control = baseline, experiment = canary."""
        results = []
        for c in self._configs():
            name = c["metric"]
            ctl = transform(
                np.asarray(control[name], float), c["nan_strategy"], self.remove_outliers
            )
            exp = transform(
                np.asarray(experiment[name], float), c["nan_strategy"], self.remove_outliers
            )
            try:
                r = classify_metric(
                    name, ctl, exp,
                    direction=c["direction"], nan_strategy=c["nan_strategy"],
                    critical=bool(c["critical"]), must_have_data=bool(c["must_have_data"]),
                    effect_size=(float(c["allowed_decrease"]), float(c["allowed_increase"])),
                    critical_effect=(float(c["critical_decrease"]), float(c["critical_increase"])),
                    tolerance=float(self.tolerance), conf_level=float(self.conf_level),
                    exact=self.exact, random_state=int(self.random_state),
                )  # fmt: skip
            except ValueError as exc:  # NetflixACAJudge: any RuntimeException -> Error
                r = {
                    "label": "Error",
                    "reason": f"Metric Classification Failed: {exc}",
                    "critical": False,
                    "deviation": math.nan,
                }
            r["groups"] = c["groups"]
            r["metric"] = name
            r["n_control_raw"] = int(np.sum(~np.isnan(np.asarray(control[name], float))))
            results.append(r)
        weights = dict(self.group_weights or {})
        score, groups, failure = score_results(results, weights)
        if score >= self.pass_threshold:
            cls_, status = "Pass", "pass"
        elif score >= self.marginal_threshold:
            cls_, status = "Marginal", "inconclusive"
        else:
            cls_, status = "Fail", "fail"
        details = tuple(
            MetricDetail(
                r["metric"],
                r["label"],
                r["reason"],
                value=float(r.get("deviation", math.nan)),
                data={k: v for k, v in r.items() if k not in ("label", "reason", "metric")},
            )
            for r in results
        )
        shown = ", ".join(
            f"{g} {'no data' if s is None else f'{s:.0f}'}" for g, s in sorted(groups.items())
        )
        labels = ", ".join(f"{r['metric']} {r['label']}" for r in results)
        why = f"{failure}; " if failure else ""
        reason = (
            f"Kayenta score {score:g} ({cls_}: pass >= {self.pass_threshold:g}, marginal >= "
            f"{self.marginal_threshold:g}); {why}groups: {shown}; metrics: {labels}"
        )
        return Verdict(status, reason, self.method, float(score), details)

    def _evaluate(self, data: AnalysisInput) -> Verdict:
        mask = data.analysis_mask()
        if not np.any(mask):
            return Verdict("running", "no canary period published yet", self.method)
        control: dict[str, np.ndarray] = {}
        experiment: dict[str, np.ndarray] = {}
        for c in self._configs():
            name = c["metric"]
            control[name] = data.series("baseline", name)[mask]
            experiment[name] = data.series("canary", name)[mask]
        v = self.judge(control, experiment)
        return Verdict(
            v.status, f"{int(mask.sum())} periods; {v.reason}", v.method, v.score, v.details
        )
