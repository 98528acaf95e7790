"""The demonstration behind ``make demo``: one day of the NASA trace under a fixed fleet and
under the reactive rule; a summary table on screen and in ``report.md``, and a figure of load,
capacity and p99 latency over time (``demo.png``)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sim.scenario import load_scenario  # noqa: E402
from sim.simulation import RunResult, run_scenario  # noqa: E402

SCENARIO = Path(__file__).parent / "scenarios" / "nasa-day.toml"

#: The runs the demo compares: label -> scenario overrides.
RUNS: dict[str, list[str]] = {
    "static (30 tasks)": ["autoscaler.policy=static"],
    "reactive (CPU 60%)": ["autoscaler.policy=reactive", "service.initial_tasks=10"],
}


def run_demo(out: Path, mirror: str | None = None) -> pd.DataFrame:
    """Run the comparison, write ``report.md``, ``summary.csv`` and ``demo.png`` to ``out``."""
    if mirror:
        os.environ["FARGATE_LAB_TRACE_MIRROR"] = str(mirror)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, RunResult] = {}
    for label, overrides in RUNS.items():
        print(f"running {label} ...", flush=True)
        results[label] = run_scenario(load_scenario(SCENARIO, overrides))
        results[label].write(out / label.split()[0])
    table = pd.DataFrame({label: r.summary for label, r in results.items()}).T
    table.index.name = "policy"
    table.to_csv(out / "summary.csv")
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
    with pd.option_context("display.width", 140, "display.float_format", "{:.4g}".format):
        print()
        print(shown.to_string())
    figure = out / "demo.png"
    plot(results, figure)
    (out / "report.md").write_text(
        "# fargate-lab demo: one day of NASA-HTTP (1995-07-05), peak 2,000 requests/s\n\n"
        f"Scenario: `{SCENARIO.name}`; runs: "
        + "; ".join(f"{k}: `{' '.join(v)}`" for k, v in RUNS.items())
        + "\n\n"
        + shown.to_markdown(floatfmt=".4g")
        + "\n\n![load, capacity and p99 latency](demo.png)\n"
    )
    print(f"\nwrote {out / 'report.md'} and {figure}")
    return table


def plot(results: dict[str, RunResult], path: Path) -> None:
    """Load and capacity (requests/s) and p99 latency per minute, one line per policy."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    first = next(iter(results.values())).metrics
    hours = first["time_s"] / 3600.0
    ax1.plot(hours, first["rate_rps"], color="black", lw=1, label="offered load")
    for label, r in results.items():
        m = r.metrics
        cap = m["supply_tasks"] * r.scenario.service.capacity_rps
        ax1.step(hours, cap, where="post", lw=1.2, label=f"capacity: {label}")
        ax2.plot(hours, m["TargetResponseTime_p99"] * 1000.0, lw=1, label=label)
    slo = next(iter(results.values())).scenario.slo.p99_ms
    ax2.axhline(slo, color="red", ls="--", lw=1, label=f"SLO p99 {slo:g} ms")
    ax1.set_ylabel("requests/s")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency per minute (ms)")
    ax2.set_xlabel("hour of day")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
