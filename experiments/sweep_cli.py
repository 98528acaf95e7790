"""The ``fargate-lab sweep`` and ``fargate-lab report`` subcommands (README, "Sweeps and
reports"); the work is in experiments/sweep.py, sweep_run.py, store.py and sweep_report.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_sweep(args: argparse.Namespace) -> int:
    from experiments.outputs import check_out_dir
    from experiments.sweep import load_spec
    from experiments.sweep_run import run_sweep

    if args.mirror:
        import os

        from sim.traces.fetch import MIRROR_ENV

        os.environ[MIRROR_ENV] = str(args.mirror)
    spec = load_spec(args.spec)  # every grid point validated before anything runs
    out = args.out or str(Path("results") / spec.name)
    check_out_dir(out)
    frame, executed = run_sweep(
        spec,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        tables=args.tables,
        progress=not args.quiet,
    )
    print(
        f"{len(frame)} of {len(spec.points)} runs in {Path(out) / 'runs.parquet'} "
        f"({executed} run now, {len(frame) - executed} already stored)",
        file=sys.stderr,
    )
    note = mixed_versions_note(frame, out)
    if note:
        print(note, file=sys.stderr)
    return 0


def mixed_versions_note(frame: Any, out: str | Path) -> str | None:
    """A note when the stored runs of ``out`` were made by more than one code version: the
    store reuses a run by its scenario's hash, not by the code that ran it, so a sweep resumed
    after a change to the model mixes results (README, "Results store")."""
    if "code_version" not in getattr(frame, "columns", ()) or not len(frame):
        return None
    counts = frame["code_version"].value_counts(sort=False)
    if len(counts) < 2:
        return None
    listed = ", ".join(f"{n} by {v}" for v, n in counts.items())
    return (
        f"note: the runs in {out} come from {len(counts)} code versions ({listed}); stored "
        "runs are reused by scenario, not by code: if the model changed between them, run the "
        "sweep again with a new --out"
    )


def cmd_report(args: argparse.Namespace) -> int:
    from experiments.sweep_report import write_report

    path = write_report(args.dir, baseline=args.baseline, run=args.run, method=args.ci)
    print(f"wrote {path}")
    return 0


def add_sweep_parsers(sub: argparse._SubParsersAction, mirror_help: str) -> None:
    """Add ``sweep`` and ``report`` to the ``fargate-lab`` subcommands."""
    s = sub.add_parser("sweep", help="run a declarative sweep (a spec TOML) into a results store")
    s.add_argument("spec", metavar="SPEC.toml", help="sweep spec: scenario, [set], [axes]")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="local processes (default: cores)")
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on this Dask distributed scheduler (needs the fargate-lab[dask] extra)",
    )
    s.add_argument("--out", metavar="DIR", help="results folder (default: results/<spec name>)")
    s.add_argument(
        "--tables", action="store_true", help="also keep each run's metrics and decisions tables"
    )
    s.add_argument("--mirror", metavar="DIR_OR_URL", help=mirror_help)
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)

    r = sub.add_parser("report", help="report.md and figures from a sweep's results folder")
    r.add_argument("dir", metavar="DIR", help="the --out folder of a sweep")
    r.add_argument(
        "--baseline",
        metavar="NAME",
        help="policy to pair against (default: target-tracking if swept, else the first)",
    )
    r.add_argument(
        "--run", metavar="HASH", help="scenario_hash prefix of the run to plot over time"
    )
    r.add_argument(
        "--ci",
        choices=("t", "bootstrap"),
        default="t",
        help="95%% CI method: Student t (default) or scipy's BCa bootstrap",
    )
    r.set_defaults(func=cmd_report)
