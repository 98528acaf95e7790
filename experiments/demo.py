"""The demonstration behind ``make demo``: the claims table (experiments/claims.py) on a
reduced grid, ``experiments/specs/claims-demo.toml`` (two traces, 1-day windows, three windows
each), then its report. The table is printed; the last line says where the report is.

Through :func:`experiments.claims.run_claims`: the tables and reports in the output folder are
whole or absent (:func:`experiments.outputs.staged_output`), and the runs are kept in
``--out/runs`` as they finish, so a failed or interrupted demo resumes when run again with the
same ``--out``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experiments.claims import DEMO_SPEC, ClaimRow, run_claims


def run_demo(
    out: Path,
    mirror: str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> list[ClaimRow]:
    """Run the reduced claims sweep into ``out`` and print its table; the last line printed
    names the report (``out/claims.md``). ``overrides`` change the demo spec's keys (the
    tests shrink ``run.days``). Progress is a line per stage on stdout (``progress``: also
    progress bars on stderr, which is otherwise left to one line on an error)."""
    if mirror:
        os.environ["FARGATE_LAB_TRACE_MIRROR"] = str(mirror)
    rows = run_claims(out, DEMO_SPEC, overrides=overrides, workers=workers, progress=progress)
    print()
    for row in rows:
        print(f"{row.claim}: {row.verdict}")
        for m in row.measures:
            digits = 3 if row.key == "uptime" else 1
            print(f"    {m.text(clip=row.key != 'cost', digits=digits)}")
    print(f"\nreport: {Path(out).absolute() / 'claims.md'}")
    return rows
