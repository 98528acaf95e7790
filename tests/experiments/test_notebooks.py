"""The notebooks run, as Jupyter runs them (nbclient, a python3 kernel), on small results:
the autoscaling experiment, the claims table (the tiny demo) and a rollouts results store.
A cell appended by the test prints what the notebook computed, as JSON, to check it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
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


def _rollout_results(root: Path) -> pd.DataFrame:
    """A small rollouts results folder in the results store's format: per seed, a week of
    releases from the release model (sim/releases.py, seeded), and two gates over them:
    "none" (every bad release reaches full rollout) and "risk" (a release is held when its
    risk score is in the riskiest 20%; approvals: the held ones). A stand-in for
    `fargate-lab experiment rollouts` output, whose summary keys it carries."""
    from sim.releases import generate_releases, releases_config, releases_frame

    cfg = releases_config({"per_day": 8.0})
    runs, tables = [], []
    for seed in (1, 2, 3):
        rel = releases_frame(generate_releases(cfg, 7 * 86400.0, np.random.default_rng(seed)))
        cut = rel.p_bad.quantile(0.8)
        for gate in ("none", "risk"):
            held = rel.p_bad > cut if gate == "risk" else np.zeros(len(rel), bool)
            bad = int(rel.bad.sum())
            digest = f"{gate}-{seed}"
            runs.append(
                {
                    "scenario_hash": digest,
                    "trace": "synthetic",
                    "policy": gate,
                    "params": "{}",
                    "seed": seed,
                    "window": None,
                    "releases_total": len(rel),
                    "releases_bad": bad,
                    "bad_stopped_before_full": int((held & rel.bad).sum()),
                    "prevention_rate": float((held & rel.bad).sum() / bad) if bad else np.nan,
                    "false_rollbacks": int((held & ~rel.bad).sum()),
                    "lead_time_p50_s": 1800.0 + 14400.0 * float(held.mean()),
                    "approvals": int(held.sum()),
                    "human_wait_s": 14400.0 * float(held.sum()),
                }
            )
            tables.append(rel.assign(scenario_hash=digest))
    root.mkdir()
    frame = pd.DataFrame(runs)
    frame.to_parquet(root / "runs.parquet", index=False)
    pd.concat(tables).to_parquet(root / "releases.parquet", index=False)
    (root / "sweep.json").write_text(json.dumps({"axes": ["run.seed"]}))
    return frame


def test_rollouts_notebook(tmp_path: Path, monkeypatch) -> None:
    runs = _rollout_results(tmp_path / "rollouts")
    got = run_notebook(
        NOTEBOOKS / "rollouts.ipynb",
        tmp_path / "rollouts",
        '{"configs": list(table.config), "n": list(table.n), '
        '"prevention": list(table.prevention_rate), "releases": int(outcome.sum())}',
        monkeypatch,
    )
    assert got["configs"] == ["none", "risk"] and got["n"] == [3, 3]
    risk = runs[runs.policy == "risk"].prevention_rate.mean()
    assert got["prevention"] == [0.0, risk]
    assert got["releases"] == int(runs.releases_total.sum())
