"""``fargate-lab rollouts``: the registered rollout strategies with their defaults.

Like ``fargate-lab policies``: one paragraph per strategy, its docstring's first sentence and
its parameters with their defaults; a CodeDeploy preset also names the class it
parameterises and the values it fixes (policies/rollout/registry.py).
"""

from __future__ import annotations

import inspect
import re

__all__ = ["rollouts_text"]


def _summary(cls: type) -> str:
    doc = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
    doc = re.sub(r":\w+:`~?([^`]+)`", r"\1", doc).replace("``", "")
    first = re.split(r"(?<=[.:])\s", doc, maxsplit=1)[0]
    return first.rstrip(":.")


def rollouts_text() -> str:
    """The listing ``fargate-lab rollouts`` prints."""
    from policies.rollout.registry import ANALYSES, STRATEGIES

    lines = []
    for name in STRATEGIES.names():
        cls = STRATEGIES.cls(name)
        fixed = STRATEGIES.fixed(name)
        defaults = STRATEGIES.defaults(name)
        if fixed:
            base = next(n for n in STRATEGIES.entry_points if STRATEGIES.cls(n) is cls)
            shown = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
            lines.append(f"{name}: preset of {base} ({shown})")
        else:
            lines.append(f"{name}: {_summary(cls)}")
        free = {k: v for k, v in defaults.items() if k not in fixed}
        lines.append("    " + ", ".join(f"{k}={v!r}" for k, v in free.items()))
    lines.append(f"analysis methods ([analysis] method): {', '.join(ANALYSES.names())}")
    return "\n".join(lines) + "\n"
