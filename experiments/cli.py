"""The ``fargate-lab`` command (also ``python -m experiments``).

Subcommands: ``simulate`` (run a scenario), ``traces list`` / ``traces fetch`` (the trace
catalog), ``demo`` (the demonstration ``make demo`` runs), ``policies`` (the registry).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_BAD_INPUT = 2


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def print_summary(summary: dict, out=sys.stdout) -> None:
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {_fmt(value)}", file=out)


def cmd_simulate(args: argparse.Namespace) -> int:
    from sim.scenario import ScenarioError, load_scenario
    from sim.simulation import run_scenario
    from sim.traces import TraceError

    try:
        scenario = load_scenario(args.scenario, args.set)
        result = run_scenario(scenario)
    except (ScenarioError, TraceError, ValueError) as exc:
        print(f"fargate-lab simulate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.out:
        out = result.write(args.out)
        print(f"wrote metrics, events and summary to {out}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.summary))
    else:
        print_summary(result.summary)
    return 0


def cmd_traces_list(args: argparse.Namespace) -> int:
    from sim.traces import catalog_table

    rows = catalog_table()
    cols = ["name", "format", "resolution", "span", "licence"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    if args.verbose:
        for r in rows:
            print(f"\n{r['name']}: {r['url']}")
    return 0


def cmd_traces_fetch(args: argparse.Namespace) -> int:
    import numpy as np

    from sim.traces import TraceError, load_catalog_trace

    status = 0
    for name in args.names:
        try:
            trace = load_catalog_trace(
                name, mirror=args.mirror, progress=not args.quiet and sys.stderr.isatty()
            )
        except TraceError as exc:
            print(f"fargate-lab traces fetch: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        missing = int(np.isnan(trace.counts).sum())
        print(
            f"{name}: {len(trace)} intervals of {trace.interval_s:g}s from {trace.start} "
            f"to {trace.end}, {missing} missing"
        )
    return status


def cmd_policies(args: argparse.Namespace) -> int:
    from policies import registry

    for name in registry.names():
        params = ", ".join(f"{k}={v!r}" for k, v in registry.defaults(name).items())
        print(f"{name}: {params}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments.demo import run_demo

    try:
        run_demo(Path(args.out), mirror=args.mirror)
    except ValueError as exc:
        print(f"fargate-lab demo: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_experiment_autoscaling(args: argparse.Namespace) -> int:
    from experiments.autoscaling import POLICIES, TRACES, run_experiment
    from experiments.outputs import Interrupted

    try:
        run_experiment(
            Path(args.out),
            traces=args.traces or list(TRACES),
            policies=args.policies or list(POLICIES),
            seeds=range(1, args.seeds + 1),
            days=args.days,
            window_step=args.window_step,
            workers=args.workers,
            progress=not args.quiet,
        )
    except ValueError as exc:
        print(f"fargate-lab experiment autoscaling: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Interrupted as exc:
        print(exc, file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fargate-lab",
        description="Simulate ECS services on Fargate and test scaling and rollout policies.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="run one scenario and print its summary")
    p.add_argument("scenario", help="scenario TOML file")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a scenario value (TOML syntax; repeatable)",
    )
    p.add_argument("--out", help="write metrics.parquet, events.parquet, summary.json here")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_simulate)

    t = sub.add_parser("traces", help="the catalog of public request traces")
    tsub = t.add_subparsers(dest="traces_command", required=True)
    tl = tsub.add_parser("list", help="list the catalog")
    tl.add_argument("-v", "--verbose", action="store_true", help="also print the URLs")
    tl.set_defaults(func=cmd_traces_list)
    tf = tsub.add_parser("fetch", help="download, verify and parse traces into the cache")
    tf.add_argument("names", nargs="+", metavar="NAME")
    tf.add_argument(
        "--mirror",
        help="a folder or http(s) URL holding the catalog files "
        "(default: $FARGATE_LAB_TRACE_MIRROR, else the public URLs)",
    )
    tf.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tf.set_defaults(func=cmd_traces_fetch)

    pol = sub.add_parser("policies", help="list the registered policies and their defaults")
    pol.set_defaults(func=cmd_policies)

    e = sub.add_parser("experiment", help="run a named experiment")
    esub = e.add_subparsers(dest="experiment", required=True)
    ea = esub.add_parser(
        "autoscaling", help="every autoscaler on the four catalog traces, several seeds"
    )
    ea.add_argument("--out", default="results/autoscaling", help="output folder")
    ea.add_argument("--days", type=float, default=7.0, help="simulated days per run (7)")
    ea.add_argument("--seeds", type=int, default=5, help="seeds 1..N (5)")
    ea.add_argument(
        "--window-step",
        type=float,
        default=1.0,
        metavar="DAYS",
        help="seed k replays the window shifted by k x DAYS (1; 0: one window for all seeds)",
    )
    ea.add_argument("--traces", nargs="+", metavar="NAME", help="subset of the catalog")
    ea.add_argument("--policies", nargs="+", metavar="NAME", help="subset of the policies")
    ea.add_argument("--workers", type=int, help="processes (default: CPU count)")
    ea.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ea.set_defaults(func=cmd_experiment_autoscaling)

    d = sub.add_parser("demo", help="the demonstration run by `make demo`")
    d.add_argument("--out", default="demo-output", help="folder for the report and figure")
    d.add_argument("--mirror", help="trace mirror (default: $FARGATE_LAB_TRACE_MIRROR)")
    d.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
