"""The autoscaling experiment's report: the markdown findings and the cost vs good-minutes
figure, computed from the flat per-run records (experiments/autoscaling.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.autoscaling import (
    SLO,
    TABLE_COLUMNS,
    TRACES,
    TUNING_GOOD_MINUTES,
    TUNING_SEED,
    TUNING_TARGETS,
)
from experiments.stats import paired_difference


def plot_cost_vs_good(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = list(dict.fromkeys(table.trace))
    fig, axes = plt.subplots(1, len(traces), figsize=(4.2 * len(traces), 4.2), squeeze=False)
    for ax, trace in zip(axes[0], traces, strict=True):
        sub = table[table.trace == trace]
        for _, row in sub.iterrows():
            ax.errorbar(
                row.cost_usd,
                row.good_minutes_fraction,
                xerr=np.nan_to_num(row.cost_usd_ci95),
                yerr=np.nan_to_num(row.good_minutes_fraction_ci95),
                fmt="o",
                capsize=3,
                label=row.policy,
            )
            ax.annotate(
                row.policy,
                (row.cost_usd, row.good_minutes_fraction),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_title(trace)
        ax.set_xlabel("cost (USD)")
        ax.set_ylabel("good-minutes fraction")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(mean: float, half: float, digits: int = 4) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(half):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {half:.2g}"


def write_report(
    out: Path,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    tuning: dict[str, float],
    tuning_runs: pd.DataFrame,
    config: dict[str, Any],
) -> Path:
    lines = [
        "# Autoscaling experiment",
        "",
        f"{config['days']:g} simulated days per run, seeds {config['seeds']}, policies "
        f"{', '.join(config['policies'])}. Service: 1 vCPU / 2 GB tasks, 100 requests/s each, "
        f"SLO p99 {SLO['p99_ms']:g} ms and error rate {SLO['error_rate']:g} per minute. "
        "Means over seeds with 95% confidence intervals (Student t). "
        + (
            f"Seed k replays the window shifted by k x {config['window_step']:g} days and draws "
            "its own arrivals and start latencies, so the intervals cover different days of "
            "each trace (overlapping windows: not independent weeks)."
            if config["window_step"]
            else "Every seed replays the same window: the intervals measure simulation noise "
            "(arrivals, start latencies), not how the policies would fare on another week."
        ),
        "",
        "## Tuning target tracking",
        "",
        f"CPU targets {list(TUNING_TARGETS)} on seed {TUNING_SEED} (not an evaluation seed); "
        f"the cheapest with good minutes >= {TUNING_GOOD_MINUTES} is kept.",
        "",
        tuning_runs[
            ["trace", "target", "cost_usd", "good_minutes_fraction", "availability"]
        ].to_markdown(index=False, floatfmt=".4g"),
        "",
        "Chosen: " + ", ".join(f"{k}: {v:g}%" for k, v in tuning.items()),
        "",
        "## Results",
        "",
    ]
    for trace in dict.fromkeys(table.trace):
        sub = table[table.trace == trace]
        shown = pd.DataFrame(
            {
                "policy": sub.policy,
                **{
                    col: [_fmt(m, h) for m, h in zip(sub[col], sub[f"{col}_ci95"], strict=True)]
                    for col in TABLE_COLUMNS
                },
            }
        )
        lines += [
            f"### {trace} (peak {TRACES[trace]['peak_rps']:g} requests/s)",
            "",
            shown.to_markdown(index=False),
            "",
        ]
    lines += ["![cost vs good minutes](cost_vs_good_minutes.png)", "", "## Findings", ""]
    if {"learned", "target-tracking"} <= set(runs.policy):
        diff = paired_difference(runs, "learned", "target-tracking")
        good = paired_difference(runs, "learned", "target-tracking", "good_minutes_fraction")
        lines.append(
            "Learned vs well-tuned target tracking (cost, paired by seed; negative = "
            "learned is cheaper), and the change in good-minutes fraction:"
        )
        lines.append("")
        for (_, d), (_, g) in zip(diff.iterrows(), good.iterrows(), strict=True):
            verdict = _verdict(d["mean"], d["ci95"])
            lines.append(
                f"- {d.trace}: cost {100 * d['mean']:+.1f}% ± {100 * np.nan_to_num(d.ci95):.1f}% "
                f"({verdict}); good minutes {100 * g['mean']:+.2f}% ± "
                f"{100 * np.nan_to_num(g.ci95):.2f}%"
            )
        lines.append("")
    if "oracle" in set(runs.policy):
        lines.append(
            "Distance from the oracle (the cost floor for the SLO): cost relative to "
            "the oracle, paired by seed."
        )
        lines.append("")
        for policy in config["policies"]:
            if policy == "oracle":
                continue
            d = paired_difference(runs, policy, "oracle")
            parts = ", ".join(f"{r.trace} {100 * r['mean']:+.0f}%" for _, r in d.iterrows())
            lines.append(f"- {policy}: {parts}")
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _verdict(mean: float, half: float) -> str:
    if not np.isfinite(half):
        return "one seed: no interval"
    if mean + half < 0:
        return "saves, significant at 95%"
    if mean - half > 0:
        return "costs more, significant at 95%"
    return "no significant difference"
