"""The README's examples are checked against the code (DESIGN.md: examples run as tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sim.scenario import scenario_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_scenario_is_valid() -> None:
    import tomllib

    (toml,) = blocks("toml")
    scenario = scenario_from_dict(tomllib.loads(toml), "README.md")
    assert scenario.traffic.trace == "nasa"
    assert scenario.service.vcpu_quota == 400
    assert scenario.faults.az_outages[0].az == "us-east-1b"
    assert [p.name for p in scenario.service.capacity_providers] == ["FARGATE", "FARGATE_SPOT"]


def test_readme_commands_exist() -> None:
    """Every ``fargate-lab SUBCOMMAND`` the README shows is accepted by the parser."""
    from experiments.cli import build_parser

    parser = build_parser()
    shell = "\n".join(blocks("sh"))
    lines = re.findall(r"^fargate-lab ([a-z][^\n]*)$", shell, flags=re.M)
    assert len(lines) >= 6
    for line in lines:
        words = [w for w in line.split() if not w.startswith(("[", "-"))]
        # subcommand names may hold hyphens (experiment equal-quality)
        command = [
            w for w in words if w.replace("-", "_").isidentifier() or w in ("list", "fetch")
        ][:2]
        proc = subprocess.run(
            [sys.executable, "-m", "experiments", *command, "--help"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (line, proc.stderr)
    assert parser.prog == "fargate-lab"
