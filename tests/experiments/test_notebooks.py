"""The notebooks run, as Jupyter runs them (nbclient, a python3 kernel), on small results:
the autoscaling experiment, the claims table (the tiny demo) and the rollouts experiment.
A cell appended by the test prints what the notebook computed, as JSON, to check it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient

from experiments import autoscaling as exp

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def run_notebook(path: Path, results: Path, report: str, monkeypatch) -> dict:
    """Execute ``path`` on ``results`` (``FARGATE_LAB_RESULTS``) with a last cell printing
    ``report`` (a Python expression of the notebook's names) as JSON; return it."""
    monkeypatch.setenv("FARGATE_LAB_RESULTS", str(results))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"import json\nprint(json.dumps({report}))"))
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    out = nb.cells[-1].outputs
    return json.loads("".join(o.get("text", "") for o in out if o.output_type == "stream"))


def test_autoscaling_results_notebook(mirror: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "results"
    exp.run_experiment(
        out,
        traces=["aws-elb"],
        policies=["static", "oracle"],
        seeds=[1, 2],
        days=0.1,
        workers=1,
        progress=False,
        log=lambda _: None,
    )
    got = run_notebook(
        NOTEBOOKS / "autoscaling_results.ipynb",
        out,
        '{"policies": sorted(summary.policy), "distance": list(distance.policy)}',
        monkeypatch,
    )
    assert got == {"policies": ["oracle", "static"], "distance": ["static"]}


def test_claims_notebook(tiny_demo, monkeypatch) -> None:
    out, rows, _ = tiny_demo
    got = run_notebook(
        NOTEBOOKS / "claims.ipynb",
        out,
        '{"verdicts": list(verdicts.claim_verdict), "comparisons": '
        "sorted(set(savings.comparison)), "
        '"forecast_windows": len(forecast), "fault_policies": list(availability.columns)}',
        monkeypatch,
    )
    assert got["verdicts"] == [r.verdict for r in rows]
    assert got["comparisons"] == ["predictive vs static", "predictive vs target-tracking"]
    assert got["forecast_windows"] == 2
    assert sorted(got["fault_policies"]) == ["predictive", "target-tracking"]


def test_rollouts_notebook(tmp_path: Path, monkeypatch) -> None:
    # a claims output's rollouts/ folder, real runs: the rows' three configurations, 2 seeds
    from experiments.claims_rollouts import NEEDED, run_rollouts

    out = tmp_path / "rollouts"
    runs = run_rollouts(out, seeds=2, releases=8, days=1.0, workers=1)
    got = run_notebook(
        NOTEBOOKS / "rollouts.ipynb",
        out,
        '{"configs": list(table.config), "n": [int(x) for x in table.n], '
        '"approvals": [float(x) for x in table.approvals], '
        '"releases": int(outcome.to_numpy().sum())}',
        monkeypatch,
    )
    assert sorted(got["configs"]) == sorted(NEEDED) and got["n"] == [2, 2, 2]
    written = pd.read_csv(out / "table.csv").set_index("config")
    assert got["approvals"] == [written.at[c, "approvals"] for c in got["configs"]]
    assert got["releases"] == int(runs.releases_total.sum())
