"""The autoscaling experiment's report: the markdown findings and the cost vs good-minutes
figure, computed from the flat per-run records (experiments/autoscaling.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.autoscaling import (
    BASELINE,
    HISTORY_DAYS,
    NO_RESERVE,
    SLO,
    TABLE_COLUMNS,
    TRACES,
    TUNING,
    TUNING_GOOD_MINUTES,
    floor_violations,
)
from experiments.stats import (
    METHOD,
    ci95,
    equal_quality_costs,
    paired_difference,
    relative_to,
)

#: Columns of the per-trace result tables in report.md (the rest are in table.csv).
REPORT_COLUMNS: tuple[str, ...] = (
    "cost_usd",
    "good_minutes_fraction",
    "availability",
    *(c for c in TABLE_COLUMNS if c not in ("cost_usd", "good_minutes_fraction", "availability")),
)

MARKERS = "osD^vP*Xh<>"


def plot_cost_vs_good(table: pd.DataFrame, path: Path) -> None:
    """Mean cost against mean good minutes per policy and trace, 95% intervals clipped to
    [0, 1] and >= $0, one colour and marker per policy in a shared legend (no labels on the
    points, so none overlap), hollow markers for policies that miss the SLO, and the number
    of windows per trace in the panel titles and the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = list(dict.fromkeys(table.trace))
    policies = list(dict.fromkeys(table.policy))
    colours = plt.get_cmap("tab10")
    width = max(8.0, 4.2 * len(traces))
    fig, axes = plt.subplots(1, len(traces), figsize=(width, 5.2), squeeze=False)
    handles: dict[str, Any] = {}
    for ax, trace in zip(axes[0], traces, strict=True):
        sub = table[table.trace == trace]
        for _, row in sub.iterrows():
            k = policies.index(row.policy)
            x, y = float(row.cost_usd), float(row.good_minutes_fraction)
            hx = float(np.nan_to_num(row.cost_usd_ci95))
            hy = float(np.nan_to_num(row.good_minutes_fraction_ci95))
            xerr = [[min(hx, x)], [hx]]
            yerr = [[min(hy, y)], [min(hy, 1.0 - y)]]
            meets = bool(row.get("meets_slo", True))
            h = ax.errorbar(
                x,
                y,
                xerr=xerr,
                yerr=yerr,
                fmt=MARKERS[k % len(MARKERS)],
                color=colours(k % 10),
                mfc=colours(k % 10) if meets else "none",
                capsize=3,
                label=row.policy,
            )
            handles.setdefault(row.policy, h)
        n = int(sub.n.max()) if len(sub) else 0
        ax.set_title(f"{trace} (n = {n} window{'s' if n != 1 else ''})")
        ax.axhline(TUNING_GOOD_MINUTES, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("cost (USD, billed)")
        ax.set_ylabel("good-minutes fraction")
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        bbox_to_anchor=(0.5, 0.05),
        ncol=min(len(handles), 5),
        fontsize=8,
        frameon=False,
    )
    ns = ", ".join(f"{t} n = {int(table[table.trace == t].n.max())}" for t in traces)
    caption = (
        f"Means over independent windows ({ns}); bars: 95% Student-t intervals, clipped to "
        f"[0, 1] and >= $0; hollow: misses the SLO; dashed: the {TUNING_GOOD_MINUTES} bar."
    )
    fig.text(
        0.5,
        0.01,
        textwrap.fill(caption, int(width * 15)),
        ha="center",
        va="bottom",
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(mean: float, half: float, digits: int = 4) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(half):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {half:.2g}"


def _cell(row: pd.Series, col: str) -> str:
    n_inf = int(row.get(f"{col}_inf", 0))
    if n_inf:
        return f"∞ (no under-provisioning in {n_inf} of {int(row.n)} windows)"
    return _fmt(row[col], row[f"{col}_ci95"])


def _windows_table(config: dict[str, Any]) -> list[str]:
    lines = [
        "| trace | windows asked | evaluation windows (n) | tuning window | history before "
        "each evaluation window (days) |",
        "|---|---|---|---|---|",
    ]
    asked = len(config["seeds"])
    for trace, ws in config["windows"].items():
        tuning, evals = ws[0], ws[1:]
        spans = "; ".join(f"{w['start'][:16]}..{w['end'][:16]}" for w in evals)
        hist = ", ".join(
            f"{(np.datetime64(w['start']) - np.datetime64(w['history_start'])) / np.timedelta64(1, 'D'):.3g}"
            for w in evals
        )
        lines.append(
            f"| {trace} | {asked} | {len(evals)}: {spans} | "
            f"{tuning['start'][:16]}..{tuning['end'][:16]} | {hist} |"
        )
    return lines


def write_files(
    out: Path,
    config: dict[str, Any],
    runs: pd.DataFrame,
    table: pd.DataFrame,
    tuning_runs: pd.DataFrame,
) -> None:
    """Write the experiment's files into ``out`` (a staging folder): config.json,
    tuning.parquet, runs.parquet, table.csv, the figure and report.md."""
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tuning_runs.to_parquet(out / "tuning.parquet", index=False)
    runs.to_parquet(out / "runs.parquet", index=False)
    table.to_csv(out / "table.csv", index=False)
    plot_cost_vs_good(table, out / "cost_vs_good_minutes.png")
    write_report(out, runs, table, tuning_runs, config)


def write_report(
    out: Path,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    tuning_runs: pd.DataFrame,
    config: dict[str, Any],
) -> Path:
    evaluation = runs[runs.kind == "evaluation"]
    budget = 1.0 - SLO["error_rate"]
    lines = [
        "# Autoscaling experiment",
        "",
        f"{config['days']:g} simulated days per window, policies {', '.join(config['policies'])}. "
        f"Service: 1 vCPU / 2 GB tasks, capacity 100 requests/s each (the most one task "
        f"serves; past that, requests queue and time out), SLO p99 {SLO['p99_ms']:g} ms and "
        f"error rate {SLO['error_rate']:g} per minute. A policy *meets the SLO* when its mean "
        f"good-minutes fraction reaches {TUNING_GOOD_MINUTES} and its mean request "
        f"availability reaches {budget:g} (1 - the error budget). Cost is what Fargate bills "
        "(launch to stop, one-minute minimum).",
        "",
        f"Statistics: means over *n* independent windows with 95% intervals ({METHOD}; with "
        "n of 2-5 a bootstrap interval under-covers, Student t does not; n = 1 gives no "
        "interval). Every table states n.",
        "",
        "## Windows",
        "",
        f"Back-to-back windows that never overlap. The tuning window is the last of each "
        f"trace; evaluation windows come before it. Up to {HISTORY_DAYS:g} days before each "
        "window are its history: not simulated, not scored, given to predictive and learned "
        "as warm-start metrics (those of a service kept at its CPU target) and to scheduled "
        "for its hourly floors (70% of each hour's median demand). No policy sees the "
        "window it is evaluated on before it happens.",
        "",
        *_windows_table(config),
        "",
    ]
    short = [t for t, ws in config["windows"].items() if len(ws) - 1 < len(config["seeds"])]
    if short:
        lines += [
            f"Too short for {len(config['seeds'])} windows of {config['days']:g} days: "
            + ", ".join(f"{t} (n = {len(config['windows'][t]) - 1})" for t in short)
            + ".",
            "",
        ]
    if config.get("window_step") == 0:
        lines += [
            "`--window-step 0`: every evaluation run replays the same window with its own "
            "seed, so the intervals measure simulation noise only, not other weeks.",
            "",
        ]
    no_hist = evaluation[(evaluation.policy == "predictive") & (evaluation.history_days < 1.0)]
    if len(no_hist):
        lines += [
            f"Predictive needs 24 h of history before its first forecast: in {len(no_hist)} "
            f"window(s) ({', '.join(f'{r.trace} {r.window}' for r in no_hist.itertuples())}) "
            "it has less, so for its first hours it is target tracking alone (with `--days` "
            "short and no history, the predictive row equals target tracking).",
            "",
        ]
    lines += ["## Tuning", ""]
    if len(tuning_runs):
        lines += [
            f"Every tunable policy gets the same budget, seven settings of its main parameter "
            f"on the tuning window only (one window per trace: n = 1, no interval); the "
            f"cheapest that meets the SLO there (good minutes >= {TUNING_GOOD_MINUTES} and "
            f"availability >= {1.0 - SLO['error_rate']:g}) is kept, else the one with the "
            "highest availability, then the most good minutes.",
            "",
            "| policy | parameter | settings |",
            "|---|---|---|",
            *[
                f"| {p} | {TUNING[p][0]} | {', '.join(f'{v:g}' for v in TUNING[p][1])} |"
                for p in config["tuning_grid"]
            ],
            "",
            tuning_runs[
                ["trace", "policy", "param", "cost_usd", "good_minutes_fraction", "availability"]
            ].to_markdown(index=False, floatfmt=".4g"),
            "",
            "Chosen: "
            + "; ".join(
                f"{t}: " + ", ".join(f"{p} {v:g}" for p, v in d.items())
                for t, d in config["tuned"].items()
            ),
            "",
        ]
    else:
        lines += ["No tunable policy requested: nothing tuned.", ""]
    lines += ["## Results", ""]
    for trace in dict.fromkeys(table.trace):
        sub = table[table.trace == trace]
        shown = pd.DataFrame(
            {
                "policy": sub.policy,
                "n": sub.n,
                "SLO": ["meets" if m else "**misses**" for m in sub.meets_slo],
                **{col: [_cell(r, col) for _, r in sub.iterrows()] for col in REPORT_COLUMNS},
            }
        )
        lines += [
            f"### {trace} (peak {TRACES[trace]['peak_rps']:g} requests/s)",
            "",
            shown.to_markdown(index=False),
            "",
        ]
    lines += [
        "Slack: supply / demand - 1 over the window, with supply the serving tasks "
        "(`slack_serving`) or the billed tasks, starting and draining ones included "
        "(`slack_billed`, the one that costs).",
        "",
        "![cost vs good minutes](cost_vs_good_minutes.png)",
        "",
        "## Findings",
        "",
    ]
    lines += summary_lines(runs, table)
    lines += _equal_quality(runs, table, config)
    lines += _ablation(evaluation, table, config)
    lines += _oracle(evaluation, table, config)
    lines += _floor(runs, table)
    lines += [
        "Why the reactive rule misses the SLO: it adds a task only after CPU has been above "
        "its high threshold, one step at a time, so on every rise of the load the tasks "
        "run at capacity and requests queue past the p99 bound until the new tasks serve.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def summary_lines(runs: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """One compact markdown table: per (trace, policy) n, the SLO verdict, billed cost, good
    minutes, availability, billed slack, cost against the baseline at equal quality and cost
    against the oracle (the last only for policies that meet the SLO)."""
    evaluation = runs[runs.kind == "evaluation"]
    lines = [
        "### Summary",
        "",
        "Means ± 95% half-widths over n independent windows. `vs TT at equal quality`: cost "
        f"relative to {BASELINE}'s Pareto front at the policy's good minutes and availability "
        "(see *Cost at equal quality*). `vs oracle`: "
        "cost relative to the oracle, paired by window, shown only for policies that meet the "
        "SLO.",
        "",
        "| trace | policy | n | SLO | cost (USD) | good minutes | availability | slack billed "
        "| vs TT at equal quality | vs oracle |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    has_sweep = BASELINE in set(runs.policy) and (runs.kind == "sweep").any()
    has_oracle = "oracle" in set(evaluation.policy)
    for r in table.itertuples():
        eq = "-"
        if has_sweep and r.policy != BASELINE:
            d = relative_to(equal_quality_costs(runs[runs.trace == r.trace], r.policy, [BASELINE]))
            d = d[d.reference == BASELINE] if len(d) else d
            if len(d):
                dd = d.iloc[0]
                if dd["n"] == 0:
                    eq = "beyond TT's range"
                else:
                    eq = _pct(dd["mean"], dd["ci95"]) + (
                        f" (n = {int(dd['n'])})" if dd["n"] != r.n else ""
                    )
        orc = "-"
        if has_oracle and r.policy != "oracle":
            if not r.meets_slo:
                orc = "not ranked (misses SLO)"
            else:
                d = paired_difference(evaluation[evaluation.trace == r.trace], r.policy, "oracle")
                if len(d):
                    orc = _pct(d.iloc[0]["mean"], d.iloc[0]["ci95"])
        lines.append(
            f"| {r.trace} | {r.policy} | {r.n} | {'meets' if r.meets_slo else '**misses**'} | "
            f"{_fmt(r.cost_usd, r.cost_usd_ci95, 3)} | "
            f"{_fmt(r.good_minutes_fraction, r.good_minutes_fraction_ci95, 3)} | "
            f"{_fmt(r.availability, r.availability_ci95, 5)} | "
            f"{_fmt(r.slack_billed, r.slack_billed_ci95, 2)} | {eq} | {orc} |"
        )
    return [*lines, ""]


def _pct(mean: float, half: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{100 * mean:+.0f}%" + (f" ± {100 * half:.0f}%" if np.isfinite(half) else "")


def front_policies(runs: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """The baselines whose fronts ran on the evaluation windows (those with ``sweep`` runs),
    in the order of the experiment's policies."""
    swept = set(runs.policy[runs.kind == "sweep"])
    return [p for p in config["policies"] if p in swept]


def _rel_cell(d: pd.DataFrame, reference: str) -> str:
    row = d[d.reference == reference]
    if len(row) == 0:
        return "-"
    r = row.iloc[0]
    beyond = f", {int(r.beyond)} beyond" if r.beyond else ""
    if r.n == 0:
        return f"beyond ({int(r.beyond)})"
    return f"{_pct(r['mean'], r['ci95'])} (n {int(r.n)}{beyond})"


def _equal_quality(runs: pd.DataFrame, table: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    fronts = front_policies(runs, config)
    if not fronts:
        return []
    lines = [
        "### Cost at equal quality",
        "",
        f"Baselines run at every setting of their grid on every evaluation window: "
        f"{', '.join(fronts)}. On each window a baseline's cost at a policy's quality is read "
        "off its Pareto fronts (the cheapest cost of reaching each quality, linearly "
        "interpolated between settings), one front on good minutes and one on request "
        "availability; the larger of the two costs is taken: any setting that matches the "
        "policy on both measures costs at least that much, so it never credits a setting "
        "that matches good minutes while losing more requests, and it errs in the baseline's "
        "favour. `best`: per window, the cheapest of the baselines that reach the policy's "
        "quality. Cells: the policy's cost relative to it, paired by window, mean ± 95% "
        "Student-t half-width, n windows; negative = cheaper at equal quality. `beyond`: "
        "windows where the baseline never reaches the policy's quality in its range on one of "
        "the measures (left out of the mean).",
        "",
        "| trace | policy | " + " | ".join(f"vs {f}" for f in fronts) + " | vs best |",
        "|---|---|" + "---|" * (len(fronts) + 1),
    ]
    for trace in dict.fromkeys(table.trace):
        for policy in config["policies"]:
            refs = [f for f in fronts if f != policy]
            if not refs:
                continue
            costs = equal_quality_costs(runs[runs.trace == trace], policy, refs)
            d = relative_to(costs)
            if len(d) == 0:
                continue
            cells = [_rel_cell(d, f) if f != policy else "-" for f in fronts]
            lines.append(f"| {trace} | {policy} | {' | '.join(cells)} | {_rel_cell(d, 'best')} |")
    return [*lines, ""]


def _ablation(evaluation: pd.DataFrame, table: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """mpc with and without its burst reserve, each tuned with the same rule."""
    if not {"mpc", NO_RESERVE} <= set(evaluation.policy):
        return []
    lines = [
        "### The burst reserve's ablation",
        "",
        f"`{NO_RESERVE}`: mpc with `reserve_days = 0`, tuned with the same seven quantiles and "
        "the same availability-aware rule on the same tuning window, evaluated on the same "
        "windows. Means ± 95% half-widths; `mpc vs it`: paired by window.",
        "",
        "| trace | policy | tuned q | n | SLO | cost (USD) | good minutes | availability | "
        "mpc vs it |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for trace in dict.fromkeys(table.trace):
        diff = paired_difference(evaluation[evaluation.trace == trace], "mpc", NO_RESERVE)
        for policy in (NO_RESERVE, "mpc"):
            row = table[(table.trace == trace) & (table.policy == policy)]
            if len(row) == 0:
                continue
            r = row.iloc[0]
            vs = "-"
            if policy == NO_RESERVE and len(diff):
                vs = _pct(diff.iloc[0]["mean"], diff.iloc[0]["ci95"])
            q = config["tuned"].get(trace, {}).get(policy, float("nan"))
            lines.append(
                f"| {trace} | {policy} | {q:g} | {r.n} | "
                f"{'meets' if r.meets_slo else '**misses**'} | "
                f"{_fmt(r.cost_usd, r.cost_usd_ci95, 3)} | "
                f"{_fmt(r.good_minutes_fraction, r.good_minutes_fraction_ci95, 3)} | "
                f"{_fmt(r.availability, r.availability_ci95, 5)} | {vs} |"
            )
    return [*lines, ""]


def _oracle(evaluation: pd.DataFrame, table: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    if "oracle" not in set(evaluation.policy):
        return []
    lines = [
        "### Distance from the oracle",
        "",
        "Billed cost relative to the oracle, paired by window, ranked, among the policies "
        "that meet the SLO on that trace. Those that miss it are listed apart and not "
        "ranked: being cheap while failing the SLO is not being close to the floor.",
        "",
    ]
    for trace in dict.fromkeys(table.trace):
        sub = table[(table.trace == trace) & (table.policy != "oracle")]
        ok, missed = [], []
        for r in sub.itertuples():
            d = paired_difference(evaluation[evaluation.trace == trace], r.policy, "oracle")
            if len(d) == 0:
                continue
            dd = d.iloc[0]
            (ok if r.meets_slo else missed).append((dd["mean"], dd["ci95"], int(dd["n"]), r))
        lines.append(f"- **{trace}**:")
        if ok:
            ranked = sorted(ok, key=lambda x: x[0])
            lines.append(
                "  meet the SLO, ranked: "
                + "; ".join(
                    f"{i + 1}. {r.policy} {100 * m:+.0f}%"
                    + (f" ± {100 * h:.0f}%" if np.isfinite(h) else "")
                    + f" (n = {n})"
                    for i, (m, h, n, r) in enumerate(ranked)
                )
            )
        else:
            lines.append("  no policy but the oracle meets the SLO.")
        if missed:
            lines.append(
                "  miss the SLO (not ranked): "
                + "; ".join(
                    f"{r.policy} (good minutes {r.good_minutes_fraction:.3f}, availability "
                    f"{r.availability:.4f}, n = {n})"
                    for (_, _, n, r) in missed
                )
            )
    return [*lines, ""]


def _floor(runs: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """The cost floor per trace, each SLO-meeting policy's distance from it, and the check
    that no run covering the demand in at least the bar's share of periods bills less."""
    if "floor_cost_usd" not in runs or runs.floor_cost_usd.notna().sum() == 0:
        return []
    bar = TUNING_GOOD_MINUTES
    lines = [
        "### Distance from the cost floor",
        "",
        f"The floor is the cheapest task schedule that covers the demand in at least {bar:g} "
        "of the minutes, knowing the window's load in advance, with start-up, draining, the "
        "one-minute minimum and the launch limit billed in the floor's favour "
        "(policies/autoscaling/floor.py, an exact dynamic programme). It is a lower bound, "
        "not a policy: no fault-free run that covers as many minutes can bill less. Cost "
        "relative to it, per window, mean and 95% Student-t interval over the windows, for "
        "the policies that meet the SLO:",
        "",
    ]
    evaluation = runs[runs.kind == "evaluation"]
    floors = evaluation.loc[evaluation.floor_cost_usd.notna()]
    floors = floors.drop_duplicates(["trace", "window"])[["trace", "window", "floor_cost_usd"]]
    with_floor = evaluation.drop(columns=["floor_cost_usd"]).merge(floors, on=["trace", "window"])
    meets = {(r.trace, r.policy): bool(r.meets_slo) for r in table.itertuples()}
    for trace, group in with_floor.groupby("trace", sort=False):
        f_mean, f_half = ci95(floors[floors.trace == trace].floor_cost_usd.to_numpy())
        n = int((floors.trace == trace).sum())
        cells = []
        for policy, g in group.groupby("policy", sort=False):
            if not meets.get((trace, policy), False):
                continue
            m, h = ci95((g.cost_usd / g.floor_cost_usd - 1.0).to_numpy())
            cells.append((m, f"{policy} {_pct(m, h)}"))
        cells.sort()
        lines.append(
            f"- **{trace}**: floor ${f_mean:.2f}"
            + (f" ± {f_half:.2f}" if np.isfinite(f_half) else "")
            + f" (n = {n}); "
            + ("; ".join(c for _, c in cells) if cells else "no policy meets the SLO")
        )
    checked = runs.merge(floors[["trace", "window"]], on=["trace", "window"])
    n_checked = int((checked.covered_fraction >= bar).sum())
    bad = floor_violations(runs, bar)
    lines += [
        "",
        f"Check: {n_checked} runs (evaluation and sweep) cover the demand in at least {bar:g} "
        f"of the minutes; {len(bad)} of them bill less than their window's floor"
        + (" (the floor is not a lower bound there: a bug)." if len(bad) else "."),
        "",
    ]
    return lines
