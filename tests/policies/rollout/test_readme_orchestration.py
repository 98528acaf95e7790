"""The README's "Risk-driven orchestration and approvals" section: its example runs and its
scenario sections load (DESIGN.md: examples run as tests)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from policies.rollout.orchestration import orchestrator_from_risk, plan_from_pipeline, template
from sim.scenario import scenario_from_dict

README = Path(__file__).resolve().parents[3] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text.split("## Risk-driven orchestration and approvals", 1)[1].split("\n## ", 1)[0]


def test_orchestration_example_runs(capsys) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", _section(), flags=re.S)
    exec(compile(code, "README.md", "exec"), {})
    assert "approval_threshold" in capsys.readouterr().out


def test_the_sections_shown_load() -> None:
    (toml,) = re.findall(r"```\n(\[risk\].*?)```", _section(), flags=re.S)
    scenario = scenario_from_dict(tomllib.loads(toml), "README.md")
    assert plan_from_pipeline(scenario.pipeline) == template("staging-canary-full")
    assert orchestrator_from_risk(scenario.risk).plan(0.95).stages[0].analysis == "kayenta"
