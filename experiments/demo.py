"""The demonstration behind ``make demo``: one day of the NASA trace under a fixed fleet and
under the reactive rule; a summary table on screen and in ``report.md``, and a figure of load,
capacity and p99 latency over time (``demo.png``).

The output folder is whole or absent: everything is written into a staging folder that is
moved into place only after both runs, the table, the figure and the report are written
(:func:`experiments.outputs.staged_output`); a failed or interrupted demo leaves ``--out``
as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from backends.sim import run_scenario  # noqa: E402
from experiments.outputs import check_out_dir, staged_output  # noqa: E402
from sim.scenario import Scenario, load_scenario  # noqa: E402
from sim.simulation import RunResult  # noqa: E402

SCENARIO = Path(__file__).parent / "scenarios" / "nasa-day.toml"

#: The runs the demo compares: label -> scenario overrides.
RUNS: dict[str, list[str]] = {
    "static (30 tasks)": ["autoscaler.policy=static"],
    "reactive (CPU 60%)": ["autoscaler.policy=reactive", "service.initial_tasks=10"],
}


class _Run(Protocol):
    """What the figure and the report read of a run (a :class:`RunResult`)."""

    scenario: Scenario
    metrics: pd.DataFrame
    events: pd.DataFrame


def figure_title(scenario: Scenario) -> str:
    """The figure's title: the trace, the day replayed and the peak load."""
    traffic = scenario.traffic
    trace = traffic.trace or "synthetic load"
    day = f", {traffic.start:%A %Y-%m-%d}" if traffic.start is not None else ""
    hours = scenario.run.duration / 3600.0
    peak = f", rescaled to a peak of {traffic.peak_rps:,.0f} requests/s" if traffic.peak_rps else ""
    return f"{trace} trace{day} ({hours:g} h){peak}"


def start_to_serving_s(events: pd.DataFrame) -> pd.Series:
    """Seconds from each new task's PROVISIONING to its HEALTHY (serving) event."""
    start = events[events.event == "PROVISIONING"].groupby("task").time_s.min()
    healthy = events[events.event == "HEALTHY"].groupby("task").time_s.min()
    return (healthy - start).dropna()


def explain(label: str, run: _Run) -> str:
    """What "capacity" is, and why ``run`` (a scaling policy) missed the SLO, from its own
    metrics and events: how long a new task took to serve and how often capacity was short."""
    cap = run.scenario.service.capacity_rps
    text = (
        f'"Capacity" in the figure is serving tasks x capacity_rps ({cap:g} requests/s per '
        "task): what the fleet serves at full CPU, counting only tasks that passed the load "
        "balancer's health check."
    )
    m = run.metrics
    missed = ~m["good"].astype(bool)
    if not missed.any():
        return text
    short = missed & (m["supply_tasks"] * cap < m["rate_rps"])
    backlog = missed & ~short & (m["backlog"] > 0)
    lag = start_to_serving_s(run.events)
    lag_text = (
        f"a task it started took {lag.min() / 60:.1f}-{lag.max() / 60:.1f} min to serve "
        "(provisioning, image pull, health checks)"
        if len(lag)
        else "no task it started reached service"
    )
    rest = missed & ~short & ~backlog
    text += (
        f" {label} missed the SLO in {int(missed.sum())} of {len(m)} minutes. It acts only "
        "after CPU has risen (a period is published a minute after it ends), and "
        f"{lag_text}, so when the load rose capacity stayed below it "
        f"({int(short.sum())} missed minutes) and the queue that built up took a while to "
        f"drain ({int(backlog.sum())} more)"
    )
    if rest.any():
        busy = float(m.loc[rest, "utilisation"].median())
        text += (
            f"; in the other {int(rest.sum())} the fleet ran busy enough (median "
            f"utilisation {busy:.0%}) for p99 to exceed the SLO"
        )
    text += "."
    return text


def run_demo(out: Path, mirror: str | None = None) -> pd.DataFrame:
    """Run the comparison, write ``report.md``, ``summary.csv``, ``demo.png`` and each run's
    outputs to ``out``, whole or not at all (see the module docstring)."""
    if mirror:
        os.environ["FARGATE_LAB_TRACE_MIRROR"] = str(mirror)
    check_out_dir(out)
    with staged_output(out) as staging:
        table = _run_demo(staging, out)
    print(f"\nwrote {out / 'report.md'} and {out / 'demo.png'}")
    return table


def _run_demo(staging: Path, out: Path) -> pd.DataFrame:
    results: dict[str, RunResult] = {}
    for label, overrides in RUNS.items():
        print(f"running {label} ...", flush=True)
        results[label] = run_scenario(load_scenario(SCENARIO, overrides))
        results[label].write(staging / label.split()[0])
    table = pd.DataFrame({label: r.summary for label, r in results.items()}).T
    table.index.name = "policy"
    table.to_csv(staging / "summary.csv")
    shown = table[
        [
            "cost_usd",
            "availability",
            "latency_p50_ms",
            "latency_p99_ms",
            "good_minutes_fraction",
            "scaling_actions",
        ]
    ]
    readable = shown.map(_readable)
    with pd.option_context("display.width", 140):
        print()
        print(readable.to_string())
    title = plot(results, staging / "demo.png")
    scaling = [label for label, r in results.items() if r.scenario.autoscaler.policy != "static"]
    notes = explain(scaling[-1], results[scaling[-1]]) if scaling else ""
    (staging / "report.md").write_text(
        f"# fargate-lab demo: {title}\n\n"
        f"Scenario: `{SCENARIO.name}`; runs: "
        + "; ".join(f"{k}: `{' '.join(v)}`" for k, v in RUNS.items())
        + "\n\n"
        + readable.to_markdown(colalign=["left"] + ["right"] * len(readable.columns))
        + ("\n\n" + notes if notes else "")
        + "\n\n![load, capacity and p99 latency](demo.png)\n"
    )
    return table


def _readable(value: object) -> str:
    """A table cell: 4 significant digits, never an exponent (60071, not 6.007e+04)."""
    if isinstance(value, float):
        if not np.isfinite(value):
            return str(value)
        if abs(value) >= 1000:
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value)


def plot(results: dict[str, _Run], path: Path) -> str:
    """Load and capacity (requests/s) and p99 latency per minute, one line per policy,
    under a title naming the trace and the day (:func:`figure_title`); return the title."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    first_run = next(iter(results.values()))
    title = figure_title(first_run.scenario)
    fig.suptitle(title)
    first = first_run.metrics
    hours = first["time_s"] / 3600.0
    ax1.plot(hours, first["rate_rps"], color="black", lw=1, label="offered load")
    for label, r in results.items():
        m = r.metrics
        cap = m["supply_tasks"] * r.scenario.service.capacity_rps
        ax1.step(hours, cap, where="post", lw=1.2, label=f"capacity: {label}")
        ax2.plot(hours, m["TargetResponseTime_p99"] * 1000.0, lw=1, label=label)
    slo = first_run.scenario.slo.p99_ms
    ax2.axhline(slo, color="red", ls="--", lw=1, label=f"SLO p99 {slo:g} ms")
    ax1.set_ylabel("requests/s (capacity: serving tasks x capacity_rps)")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency per minute (ms)")
    ax2.set_xlabel("hour of day")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return title
