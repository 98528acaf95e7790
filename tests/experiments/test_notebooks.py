"""The notebooks run: their code cells are executed, in order, on a small experiment."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from experiments import autoscaling as exp

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(path: Path) -> dict:
    namespace: dict = {}
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    return namespace


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
    monkeypatch.setenv("FARGATE_LAB_RESULTS", str(out))
    ns = run_notebook(NOTEBOOKS / "autoscaling_results.ipynb")
    summary: pd.DataFrame = ns["summary"]
    assert set(summary.policy) == {"static", "oracle"}
    assert list(ns["distance"].policy) == ["static"]
