"""``fargate-lab report DIR``: report.md and figures from a sweep's ``runs.parquet``.

* **Configurations and samples.** The axes ``run.seed`` and ``traffic.start`` (windows) index
  independent samples (:data:`experiments.sweep.SAMPLE_AXES`); an axis of whole ``traffic``
  tables is read as trace and window. Every other axis, with the trace, the policy and its
  parameters, names a configuration. Each table row is one configuration with ``n``
  samples (its runs' distinct seeds and windows).
* **Intervals.** 95% confidence intervals of the mean over the ``n`` samples: Student t by
  default (``scipy.stats.t``; sweeps usually have 2-10 seeds or windows, where a bootstrap of
  so few values under-covers, see experiments/stats.py), or ``--ci bootstrap``:
  ``scipy.stats.bootstrap`` with the BCa method, 9,999 resamples and a fixed generator (seed
  0), so the report is the same every time. n = 1 has no interval.
* **Paired comparisons.** Against the baseline policy (``--baseline``, default
  ``target-tracking`` when the sweep has it, else the first policy): each configuration's
  cost relative to the baseline's and its good-minutes fraction minus the baseline's, paired
  by trace, sample and every other non-policy axis; mean and 95% CI of the differences. A
  baseline swept at several settings is compared at its first setting in grid order.
* **Figures.** Cost against good-minutes fraction (one point per configuration, the Pareto
  front drawn), and load, capacity and latency over time for one run (``--run``, a scenario
  hash prefix; default the baseline's first run). Its metrics come from ``tables/`` when the
  sweep kept them (``--tables``), else the run is re-run from its stored scenario: the result
  is the same, bit for bit, as the run was deterministic.
* **Rollouts.** When the runs have ``releases_total``, a table of the rollout outcome keys.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from backends.sim_rollout import SUMMARY_KEYS
from experiments.outputs import atomic_file, write_text_atomic
from experiments.store import StoreError, read_runs
from experiments.sweep import SAMPLE_AXES

METRICS: tuple[str, ...] = (
    "cost_usd",
    "good_minutes_fraction",
    "availability",
    "latency_p99_ms",
    "task_hours",
    "scaling_actions",
)
#: Rollout outcome keys (issue 10, section 6), reported when present: the driver's summary keys.
ROLLOUT_KEYS: tuple[str, ...] = SUMMARY_KEYS
CI_METHODS = ("t", "bootstrap")


def mean_ci(values: Any, method: str = "t") -> tuple[float, float, float, int]:
    """Mean, 95% CI low and high, and n of the finite ``values``. ``method``: "t" (Student
    t) or "bootstrap" (scipy's BCa bootstrap, 9,999 resamples, generator seeded 0). n < 2, or
    all values equal: the interval is the mean itself for equal values, NaN for n < 2."""
    if method not in CI_METHODS:
        raise ValueError(f"--ci {method!r}: allowed values are {', '.join(CI_METHODS)}")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    if np.all(v == v[0]):
        return mean, mean, mean, n
    if method == "t":
        low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=stats.sem(v))
    else:
        res = stats.bootstrap(
            (v,),
            np.mean,
            confidence_level=0.95,
            n_resamples=9999,
            method="BCa",
            random_state=np.random.default_rng(0),
        )
        low, high = res.confidence_interval
    return mean, float(low), float(high), n


def _config_columns(axes: list[str]) -> list[str]:
    """Columns naming a configuration: trace, policy, params and every axis that is not a
    sample axis or already one of those (``autoscaler...``, ``traffic.trace``, a whole
    ``traffic`` table, which is read as a trace and a window)."""
    skip = ("autoscaler", "traffic", "traffic.trace", *SAMPLE_AXES)
    rest = [a for a in axes if a not in skip and not a.startswith("autoscaler.")]
    return ["trace", "policy", "params", *rest]


#: Columns of every row that identify a sample (derived from the resolved scenario).
SAMPLE_COLUMNS = ("seed", "window")


def _label(row: pd.Series | dict[str, Any], cols: list[str]) -> str:
    params = json.loads(row["params"]) if row.get("params") else {}
    text = str(row["policy"]) + (
        "(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""
    )
    extra = [f"{c}={row[c]}" for c in cols[3:]]
    return " ".join([text, *extra])


def summary_table(
    runs: pd.DataFrame, axes: list[str], method: str = "t", metrics: tuple[str, ...] = METRICS
) -> pd.DataFrame:
    """One row per configuration: n and mean, CI low, CI high of each of ``metrics``."""
    cols = _config_columns(axes)
    rows = []
    for _, group in runs.groupby(cols, sort=False, dropna=False):
        first = group.iloc[0]
        row: dict[str, Any] = {c: first[c] for c in cols}
        row["config"] = _label(first, cols)
        row["n"] = len(group)
        for m in metrics:
            if m not in group:
                continue
            mean, low, high, _ = mean_ci(group[m], method)
            row[m], row[f"{m}_low"], row[f"{m}_high"] = mean, low, high
        rows.append(row)
    return pd.DataFrame(rows)


def default_baseline(runs: pd.DataFrame) -> str:
    policies = list(dict.fromkeys(runs["policy"]))
    return "target-tracking" if "target-tracking" in policies else policies[0]


def paired_table(
    runs: pd.DataFrame, axes: list[str], baseline: str, method: str = "t"
) -> pd.DataFrame:
    """Each configuration against the baseline policy's first setting, paired by trace,
    sample and the other non-policy axes: relative cost and good-minutes difference."""
    policies = set(runs["policy"])
    if baseline not in policies:
        raise ValueError(
            f"--baseline {baseline!r}: not a policy of this sweep; allowed: "
            f"{', '.join(sorted(policies))}"
        )
    cols = _config_columns(axes)
    pair = ["trace", *cols[3:], *SAMPLE_COLUMNS]
    runs = runs.assign(window=runs["window"].fillna("(trace start)"))
    base_rows = runs[runs.policy == baseline]
    base_params = base_rows.sort_values("grid_index")["params"].iloc[0]
    base = base_rows[base_rows.params == base_params].set_index(pair)
    rows = []
    for _, group in runs.groupby(cols, sort=False, dropna=False):
        first = group.iloc[0]
        if first["policy"] == baseline and first["params"] == base_params:
            continue
        g = group.set_index(pair)
        common = g.index.intersection(base.index)
        if len(common) == 0:
            continue
        rel_cost = (g.loc[common, "cost_usd"] / base.loc[common, "cost_usd"] - 1.0).to_numpy()
        d_good = (
            g.loc[common, "good_minutes_fraction"] - base.loc[common, "good_minutes_fraction"]
        ).to_numpy()
        c_mean, c_low, c_high, n = mean_ci(rel_cost, method)
        q_mean, q_low, q_high, _ = mean_ci(d_good, method)
        rows.append(
            {
                "config": _label(first, cols),
                "trace": first["trace"],
                "n": n,
                "cost_rel": c_mean,
                "cost_rel_low": c_low,
                "cost_rel_high": c_high,
                "good_diff": q_mean,
                "good_diff_low": q_low,
                "good_diff_high": q_high,
            }
        )
    return pd.DataFrame(rows)


def pareto_front(cost: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (cheaper or equal and at least as good,
    strictly better in one), by increasing cost."""
    order = np.lexsort((-good, cost))
    front, best = [], -math.inf
    for i in order:
        if good[i] > best:
            front.append(i)
            best = good[i]
    return np.array(front, dtype=int)


def plot_pareto(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = list(dict.fromkeys(table["trace"]))
    fig, axs = plt.subplots(1, len(traces), figsize=(6 * len(traces), 4.5), squeeze=False)
    for ax, trace in zip(axs[0], traces, strict=True):
        t = table[table.trace == trace].reset_index(drop=True)
        cost, good = t.cost_usd.to_numpy(float), t.good_minutes_fraction.to_numpy(float)
        for policy, g in t.groupby("policy", sort=False):
            ax.scatter(g.good_minutes_fraction, g.cost_usd, label=str(policy))
        front = pareto_front(cost, good)
        ax.plot(good[front], cost[front], "k--", lw=1, label="Pareto front")
        ax.set_title(f"trace {Path(str(trace)).name}")
        ax.set_xlabel("good-minutes fraction (mean over samples)")
        ax.set_ylabel("cost, USD (mean over samples)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_metrics(root: Path, row: pd.Series) -> tuple[pd.DataFrame, str]:
    """The chosen run's per-period metrics: from ``tables/`` if kept, else re-run."""
    stored = root / "tables" / str(row["scenario_hash"]) / "metrics.parquet"
    if stored.is_file():
        return pd.read_parquet(stored), "stored with the run (--tables)"
    from backends.sim import run_scenario
    from sim.scenario import scenario_from_dict

    scen = scenario_from_dict(json.loads(row["scenario_json"]), f"run {row['scenario_hash']}")
    return run_scenario(scen).metrics, "re-run from its stored scenario (deterministic)"


def plot_timeseries(metrics: pd.DataFrame, capacity_rps: float, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = metrics["time_s"].to_numpy(float) / 3600.0
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    a1.plot(hours, metrics["rate_rps"], label="load (req/s)")
    a1.plot(
        hours,
        metrics["supply_tasks"] * capacity_rps,
        label="serving capacity (serving tasks x capacity_rps)",
    )
    a1.set_ylabel("requests/s")
    a1.legend(fontsize=8)
    a1.set_title(title, fontsize=9)
    a2.plot(hours, metrics["TargetResponseTime_p99"] * 1000.0, color="C3")
    a2.set_ylabel("p99 latency (ms)")
    a2.set_xlabel("hours")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def _ci(row: dict[str, Any] | pd.Series, col: str) -> str:
    low, high = row.get(f"{col}_low", math.nan), row.get(f"{col}_high", math.nan)
    if isinstance(low, float) and math.isnan(low):
        return f"{_fmt(row[col])} (no CI)"
    return f"{_fmt(row[col])} [{_fmt(low)}, {_fmt(high)}]"


def write_report(
    root: str | Path,
    *,
    baseline: str | None = None,
    run: str | None = None,
    method: str = "t",
) -> Path:
    """Write report.md, cost_vs_good_minutes.png and timeseries.png into ``root``; return
    the report's path. Each file is written to a temporary file beside it and moved into
    place (:func:`experiments.outputs.atomic_file`), the figures before the report: a failed
    or interrupted report leaves every file whole, the previous report's or the new one's."""
    root = Path(root)
    if method not in CI_METHODS:
        raise ValueError(f"--ci {method!r}: allowed values are {', '.join(CI_METHODS)}")
    runs, meta = read_runs(root)
    if len(runs) == 0:
        raise StoreError(f"{root / 'runs.parquet'}: no runs stored yet")
    axes = list(meta.get("axes", []))
    baseline = baseline or default_baseline(runs)
    table = summary_table(runs, axes, method)
    paired = paired_table(runs, axes, baseline, method)
    base_first = runs[runs.policy == baseline].sort_values("grid_index").iloc[0]
    if run is None:
        chosen = runs[runs.policy == baseline].sort_values("grid_index").iloc[0]
    else:
        match = runs[runs.scenario_hash.str.startswith(run)]
        if len(match) != 1:
            raise ValueError(
                f"--run {run!r}: matches {len(match)} runs; give a longer prefix of a "
                "scenario_hash from runs.parquet"
            )
        chosen = match.iloc[0]
    metrics, source = run_metrics(root, chosen)
    scen = json.loads(chosen["scenario_json"])
    with atomic_file(root / "cost_vs_good_minutes.png") as tmp:
        plot_pareto(table, tmp)
    title = f"{_label(chosen, [])} on {Path(str(chosen['trace'])).name}, seed {chosen['seed']}"
    with atomic_file(root / "timeseries.png") as tmp:
        plot_timeseries(metrics, float(scen["service"]["capacity_rps"]), title, tmp)

    how = (
        "Student t (scipy.stats.t)"
        if method == "t"
        else "BCa bootstrap (scipy.stats.bootstrap, 9,999 resamples, seed 0)"
    )
    versions = sorted(set(runs["code_version"].astype(str)))
    lines = [
        f"# Sweep report: {meta.get('name', root.name)}",
        "",
        f"{len(runs)} of {meta.get('grid_size', len(runs))} grid points stored; spec "
        f"`{Path(str(meta.get('spec', '?'))).name}`; axes: {', '.join(axes) or '(none)'}; "
        f"code version(s): {', '.join(versions)}.",
        "",
        "## Means with 95% confidence intervals",
        "",
        f"Over independent samples (the axes {', '.join(SAMPLE_AXES)}: seeds and windows); n "
        f"per row. Interval: {how}. n = 1 has no interval.",
        "",
    ]
    head = ["trace", "configuration", "n", *[m for m in METRICS if m in table]]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [Path(str(r["trace"])).name, r["config"], str(r["n"])]
        cells += [_ci(r, m) for m in METRICS if m in table]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Paired against the baseline `{baseline}`",
        "",
        f"Baseline setting: {_label(base_first, [])} (its first setting in grid order).",
        "",
        "Cost relative to the baseline (-0.1: 10% cheaper) and good-minutes fraction minus the "
        "baseline's, paired by trace, seed/window and the other non-policy axes; mean [95% CI].",
        "",
    ]
    if len(paired):
        lines += [
            "| trace | configuration | n | cost vs baseline | good minutes vs baseline |",
            "|---|---|---|---|---|",
        ]
        for _, r in paired.iterrows():
            lines.append(
                f"| {Path(str(r['trace'])).name} | {r['config']} | {r['n']} | "
                f"{_ci(r, 'cost_rel')} | {_ci(r, 'good_diff')} |"
            )
    else:
        lines.append("No configuration shares samples with the baseline.")
    if "releases_total" in runs:
        keys = [k for k in ROLLOUT_KEYS if k in runs]
        rt = summary_table(runs, axes, method, tuple(keys))
        lines += ["", "## Rollout outcomes", "", "| configuration | n | " + " | ".join(keys) + " |"]
        lines.append("|" + "---|" * (len(keys) + 2))
        for _, r in rt.iterrows():
            lines.append(
                f"| {r['config']} | {r['n']} | " + " | ".join(_ci(r, k) for k in keys) + " |"
            )
    lines += [
        "",
        "## Figures",
        "",
        "![cost against good minutes](cost_vs_good_minutes.png)",
        "",
        f"Load, capacity and latency of run `{chosen['scenario_hash'][:12]}` ({title}); its "
        f"metrics were {source}.",
        "",
        "![load, capacity and latency](timeseries.png)",
        "",
    ]
    out = root / "report.md"
    write_text_atomic(out, "\n".join(lines))
    return out
