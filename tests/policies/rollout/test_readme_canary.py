"""The README's "Canary analysis" example runs (DESIGN.md: examples run as tests)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def test_canary_analysis_example_runs(capsys):
    text = README.read_text()
    section = text.split("## Canary analysis", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(code, "README.md", "exec"), {})
    assert "ALARM at the period starting" in capsys.readouterr().out
