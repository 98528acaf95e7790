"""The demo (``make demo``): a whole output folder, a titled figure, a report that explains."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments import demo
from sim.scenario import load_scenario, scenario_from_dict


def _fake_run(scenario, supply: list[int], rate: list[float], good: list[bool]):
    n = len(rate)
    metrics = pd.DataFrame(
        {
            "time_s": np.arange(n) * 60.0,
            "rate_rps": rate,
            "supply_tasks": supply,
            "TargetResponseTime_p99": np.full(n, 0.1),
            "good": good,
            "backlog": np.zeros(n),
            "utilisation": np.full(n, 0.5),
        }
    )
    events = pd.DataFrame(
        {
            "time_s": [0.0, 200.0],
            "task": [7, 7],
            "event": ["PROVISIONING", "HEALTHY"],
        }
    )
    return SimpleNamespace(scenario=scenario, metrics=metrics, events=events)


def test_figure_title_names_trace_and_day(tmp_path: Path) -> None:
    scenario = load_scenario(demo.SCENARIO)
    run = _fake_run(scenario, [3, 3], [100.0, 200.0], [True, True])
    title = demo.plot({"static": run}, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert title == demo.figure_title(scenario)
    assert scenario.traffic.trace in title
    assert f"{scenario.traffic.start:%Y-%m-%d}" in title


def test_explain_counts_what_the_run_shows() -> None:
    scenario = scenario_from_dict({"service": {"capacity_rps": 50}}, "test")
    run = _fake_run(scenario, [2, 2, 4], [80.0, 150.0, 150.0], [True, False, True])
    text = demo.explain("reactive", run)
    assert "serving tasks x capacity_rps (50 requests/s per task)" in text
    assert "missed the SLO in 1 of 3 minutes" in text
    assert "3.3-3.3 min to serve" in text  # 200 s from PROVISIONING to HEALTHY
    assert "(1 missed minutes)" in text  # 2 x 50 < 150 in the missed minute


def test_explain_without_misses_only_defines_capacity() -> None:
    scenario = scenario_from_dict({}, "test")
    text = demo.explain("static", _fake_run(scenario, [2], [10.0], [True]))
    assert "capacity_rps" in text and "missed" not in text


@pytest.mark.parametrize(
    ("value", "text"),
    [(60071.25, "60071"), (0.974807, "0.9748"), (35.5512, "35.55"), (211.0, "211"), (1, "1")],
)
def test_table_cells_have_no_exponent(value: object, text: str) -> None:
    assert demo._readable(value) == text


def test_demo_writes_a_whole_folder(tmp_path: Path) -> None:
    if not os.environ.get("FARGATE_LAB_TRACE_MIRROR"):
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    out = tmp_path / "demo-output"
    demo.run_demo(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "demo.png",
        "reactive",
        "report.md",
        "static",
        "summary.csv",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["demo-output"]  # no staging left
    report = (out / "report.md").read_text()
    title = demo.figure_title(load_scenario(demo.SCENARIO))
    assert report.startswith(f"# fargate-lab demo: {title}\n")
    assert "serving tasks x capacity_rps" in report
    table = pd.read_csv(out / "summary.csv", index_col="policy")
    reactive = table.loc[[i for i in table.index if i.startswith("reactive")][0]]
    assert ("missed the SLO in" in report) == (reactive["good_minutes_fraction"] < 1)
