"""The ``fargate-lab`` command (also ``python -m experiments``).

Subcommands: ``simulate`` (run a scenario), ``traces list`` / ``traces fetch`` (the trace
catalog), ``demo`` (the demonstration ``make demo`` runs), ``policies`` (the registry),
``rollouts`` (the rollout strategies), ``experiment autoscaling``, ``claims`` (the claims table,
experiments/claims.py), ``advise`` (the advisor, experiments/advise.py), ``scenario keys``
(every scenario key with its default), ``sweep`` and ``report`` (declarative sweeps and their
reports, experiments/sweep_cli.py).

Errors a user can cause are one line on stderr and exit status 2, never a traceback; Ctrl-C
is one line and exit status 130. Output folders are checked before any work and written
whole or not at all (:mod:`experiments.outputs`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_MIRROR_HELP = (
    "a folder or http(s) URL holding the catalog trace files "
    "(default: $FARGATE_LAB_TRACE_MIRROR, else the public URLs)"
)


def _fmt(value: object) -> str:
    """A summary value as a person reads it: whole numbers without a fraction or exponent
    (``58204800``, not ``5.82048e+07``), others with six significant digits, positional."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    if abs(value) >= 1e-4:
        import numpy as np

        return np.format_float_positional(value, precision=6, fractional=False, trim="-")
    return f"{value:.6g}"


def _use_mirror(mirror: str | None) -> None:
    """Make ``--mirror`` the trace mirror of this process and of the workers it starts."""
    if mirror:
        from sim.traces.fetch import MIRROR_ENV

        os.environ[MIRROR_ENV] = str(mirror)


def print_summary(summary: dict[str, object], out: TextIO | None = None) -> None:
    """Print ``summary`` as aligned ``key  value`` lines (values through :func:`_fmt`)."""
    out = out if out is not None else sys.stdout
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {_fmt(value)}", file=out)


def cmd_simulate(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from backends.sim import run_scenario
    from experiments.outputs import check_out_dir, staged_output
    from sim.scenario import load_scenario

    _use_mirror(args.mirror)
    if args.out:
        check_out_dir(args.out)  # before the run: a bad --out costs nothing
    scenario = load_scenario(args.scenario, args.set)
    # With --out the results are written into a staging folder and moved into place only
    # when every file is written: a failed or interrupted run leaves --out as it was.
    with staged_output(args.out) if args.out else nullcontext() as staging:
        result = run_scenario(scenario)
        if staging is not None:
            result.write(staging)
    if args.out:
        print(f"wrote metrics, events and summary to {Path(args.out)}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.summary))
    else:
        print_summary(result.summary)
    return 0


def cmd_traces_list(args: argparse.Namespace) -> int:
    from sim.traces.catalog import catalog_table
    from sim.traces.load import cached_names

    cached = cached_names()
    rows = [{**r, "cached": "yes" if r["name"] in cached else "no"} for r in catalog_table()]
    cols = ["name", "cached", "format", "resolution", "span", "licence"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip())
    if args.verbose:
        from sim.traces.fetch import cache_dir

        print(f"\ncache: {cache_dir()}")
        for r in rows:
            print(f"\n{r['name']}: {r['url']}")
    return 0


def cmd_traces_fetch(args: argparse.Namespace) -> int:
    import numpy as np

    from sim.traces.catalog import catalog_entry
    from sim.traces.load import load_catalog_trace

    for name in args.names:  # every name first: nothing is downloaded if one is unknown
        catalog_entry(name)
    for name in dict.fromkeys(args.names):
        trace = load_catalog_trace(
            name, mirror=args.mirror, progress=not args.quiet and sys.stderr.isatty()
        )
        missing = int(np.isnan(trace.counts).sum())
        print(
            f"{name}: {len(trace)} intervals of {trace.interval_s:g}s from {trace.start} "
            f"to {trace.end}, {missing} missing"
        )
    return 0


def _param_docs(cls: type) -> dict[str, str]:
    """``name -> description`` from the numpydoc "Parameters" section of ``cls``'s docstring."""
    import inspect
    import re

    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    if not match:
        return {}
    docs: dict[str, str] = {}
    name = None
    for line in match.group(1).splitlines():
        head = re.match(r"^(\w+)\s*:", line)
        if head:
            name = head.group(1)
            docs[name] = ""
        elif name is not None and line.strip():
            docs[name] = (docs[name] + " " + line.strip()).strip()
    return docs


def _plain(text: str) -> str:
    """Docstring text without reST markup (``x`` and :role:`x` become x)."""
    import re

    return re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")


#: What None means for a parameter whose docstring does not say it in a "None ..." sentence.
_NONE_MEANS = {
    ("step", "min_adjustment_magnitude"): (
        "None means no minimum: a PercentChangeInCapacity step changes the count by its "
        "percentage as AWS rounds it (at least 1 task), however small "
        "(MinAdjustmentMagnitude unset)."
    ),
}


def none_meaning(name: str, cls: type, param: str) -> str:
    """What ``param=None`` means for the policy ``name`` (class ``cls``): the clause of its
    docstring that starts with "None", else an entry of :data:`_NONE_MEANS`, else the
    parameter's whole description."""
    import re

    text = _plain(_param_docs(cls).get(param, ""))
    # The clause that starts with "None" (at the start, or after ". " or "; ") to the end of
    # its sentence.
    match = re.search(r"(?:^|(?<=[.;] ))(None\b.*?)(?:\.(?=\s|$)|$)", text)
    if match:
        return match.group(1) + "."
    return _NONE_MEANS.get((name, param)) or text or "not set (see the policy's docstring)."


def cmd_policies(args: argparse.Namespace) -> int:
    import inspect

    from policies import registry

    for name in registry.names():
        cls = registry.policy_class(name)
        summary = _plain((inspect.getdoc(cls) or "").split("\n")[0])
        defaults = registry.defaults(name)
        print(f"{name}: {summary}")
        print("    " + ", ".join(f"{k}={v!r}" for k, v in defaults.items()))
        for key, value in defaults.items():
            if value is None:
                print(f"    {key}=None: {none_meaning(name, cls, key)}")
    return 0


def cmd_rollouts(args: argparse.Namespace) -> int:
    from experiments.rollout_list import rollouts_text

    print(rollouts_text(), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments.demo import run_demo

    run_demo(Path(args.out), mirror=args.mirror)
    return 0


# fargate-lab claims (issue 11): the logic is in experiments/claims.py.
def cmd_claims(args: argparse.Namespace) -> int:
    from experiments.claims import run_claims

    _use_mirror(args.mirror)
    run_claims(Path(args.out), args.spec, workers=args.workers, progress=not args.quiet)
    print(f"report: {Path(args.out).absolute() / 'claims.md'}")
    return 0


def add_claims_parser(sub: Any) -> None:
    from experiments.claims import CLAIMS_SPEC

    c = sub.add_parser("claims", help="measure the claims of AI-native orchestration (claims.md)")
    c.add_argument("--out", default="claims-output", help="folder for claims.md and the runs")
    c.add_argument(
        "--spec", default=str(CLAIMS_SPEC), metavar="FILE", help="claims spec (claims.toml)"
    )
    c.add_argument("--workers", type=int, help="processes (default: CPU count)")
    c.add_argument("--mirror", metavar="DIR_OR_URL", help=_MIRROR_HELP)
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_claims)


def cmd_experiment_autoscaling(args: argparse.Namespace) -> int:
    from experiments.autoscaling import POLICIES, TRACES, run_experiment
    from experiments.outputs import check_out_dir

    _use_mirror(args.mirror)
    check_out_dir(args.out)  # before any tuning or run
    run_experiment(
        Path(args.out),
        traces=args.traces or list(TRACES),
        policies=args.policies or list(POLICIES),
        seeds=range(1, args.seeds + 1),
        days=args.days,
        window_step=args.window_step,
        workers=args.workers,
        progress=not args.quiet,
        fronts=args.fronts,
    )
    return 0


def cmd_experiment_equal_quality(args: argparse.Namespace) -> int:
    from experiments.equal_quality import extend

    _use_mirror(args.mirror)
    extend(
        Path(args.dir),
        fronts=args.fronts or [],
        ablation=args.ablation,
        workers=args.workers,
        progress=not args.quiet,
    )
    return 0


def cmd_experiment_rollouts(args: argparse.Namespace) -> int:
    from experiments.outputs import check_out_dir
    from experiments.rollouts import run_experiment

    check_out_dir(args.out)
    measures = run_experiment(
        Path(args.out),
        releases=args.releases,
        seeds=args.seeds,
        workers=args.workers,
        risk_days=args.risk_days,
        progress=not args.quiet,
    )
    print(f"wrote {args.out}/report.md: {measures['claims']}")
    return 0


def cmd_advise(args: argparse.Namespace) -> int:
    from experiments.advise import run_advise_command

    return run_advise_command(args)


def cmd_scenario_keys(args: argparse.Namespace) -> int:
    from experiments.scenario_keys import scenario_keys

    rows = scenario_keys()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        doc = f"  {r['doc']}" if r["doc"] else ""
        default = "required" if r["default"] == "required" else f"default {r['default']}"
        print(f"{r['key']}  ({r['type']}, {default}){doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fargate-lab",
        description="Simulate Amazon ECS services on Fargate and test autoscaling policies "
        "and rollout strategies against synthetic and real request traces.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
    p.add_argument("--mirror", metavar="DIR_OR_URL", help=_MIRROR_HELP)
    p.set_defaults(func=cmd_simulate)

    t = sub.add_parser("traces", help="the catalog of public request traces")
    tsub = t.add_subparsers(dest="traces_command", required=True)
    tl = tsub.add_parser("list", help="list the catalog")
    tl.add_argument("-v", "--verbose", action="store_true", help="also print the URLs")
    tl.set_defaults(func=cmd_traces_list)
    tf = tsub.add_parser("fetch", help="download, verify and parse traces into the cache")
    tf.add_argument("names", nargs="+", metavar="NAME")
    tf.add_argument("--mirror", metavar="DIR_OR_URL", help=_MIRROR_HELP)
    tf.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tf.set_defaults(func=cmd_traces_fetch)

    pol = sub.add_parser("policies", help="list the registered policies and their defaults")
    pol.set_defaults(func=cmd_policies)
    rol = sub.add_parser("rollouts", help="list the rollout strategies and their defaults")
    rol.set_defaults(func=cmd_rollouts)

    e = sub.add_parser("experiment", help="run a named experiment")
    esub = e.add_subparsers(dest="experiment", required=True)
    ea = esub.add_parser(
        "autoscaling", help="every autoscaler on the four catalog traces, several seeds"
    )
    ea.add_argument("--out", default="results/autoscaling", help="output folder")
    ea.add_argument(
        "--days",
        type=float,
        default=3.5,
        help="days per window (3.5: three evaluation windows even on the 14-day AWS ELB trace)",
    )
    ea.add_argument(
        "--seeds",
        type=int,
        default=5,
        help="evaluation windows 1..N, one seed each (5; fewer where the trace is too short)",
    )
    ea.add_argument(
        "--window-step",
        type=float,
        default=1.0,
        metavar="DAYS",
        help="evaluation windows start max(--days, DAYS) apart, never overlapping "
        "(1; 0: every seed replays the latest evaluation window)",
    )
    ea.add_argument("--traces", nargs="+", metavar="NAME", help="subset of the catalog")
    ea.add_argument("--policies", nargs="+", metavar="NAME", help="subset of the policies")
    ea.add_argument("--workers", type=int, help="processes (default: CPU count)")
    ea.add_argument(
        "--fronts",
        nargs="+",
        metavar="POLICY",
        help="baselines run at every setting on every evaluation window, for cost at equal "
        "quality (default target-tracking; 'all': every requested tunable policy but mpc)",
    )
    ea.add_argument("--mirror", metavar="DIR_OR_URL", help=_MIRROR_HELP)
    ea.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ea.set_defaults(func=cmd_experiment_autoscaling)

    # fargate-lab experiment equal-quality DIR (issue 8's fronts); logic: experiments/equal_quality.py
    eq = esub.add_parser(
        "equal-quality",
        help="extend an autoscaling experiment's folder with more baseline fronts and the "
        "reserve ablation, running only the missing runs",
    )
    eq.add_argument("dir", metavar="DIR", help="the --out folder of `experiment autoscaling`")
    eq.add_argument(
        "--fronts",
        nargs="+",
        metavar="POLICY",
        help="baselines to run at every setting on every evaluation window ('all': every "
        "tunable policy of DIR but mpc)",
    )
    eq.add_argument(
        "--ablation",
        action="store_true",
        help="also tune and evaluate mpc without its burst reserve (mpc-no-reserve)",
    )
    eq.add_argument("--workers", type=int, help="processes (default: CPU count)")
    eq.add_argument("--mirror", metavar="DIR_OR_URL", help=_MIRROR_HELP)
    eq.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    eq.set_defaults(func=cmd_experiment_equal_quality)

    # fargate-lab experiment rollouts (issue 10); the logic is experiments/rollouts.py.
    er = esub.add_parser(
        "rollouts", help="strategies, analyses, risk orchestration and pipelines over seeds"
    )
    er.add_argument(
        "--releases", type=int, default=30, help="releases per run (30), each run 5 simulated days"
    )
    er.add_argument("--seeds", type=int, default=4, help="independent runs per configuration (4)")
    er.add_argument("--out", default="results/rollouts", help="output folder")
    er.add_argument("--workers", type=int, help="processes (default: up to 2)")
    er.add_argument(
        "--risk-days", type=float, default=365, help="days of releases per seed for the risk models"
    )
    er.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    er.set_defaults(func=cmd_experiment_rollouts)

    d = sub.add_parser("demo", help="the claims table on a reduced grid, run by `make demo`")
    d.add_argument("--out", default="demo-output", help="folder for claims.md and the runs")
    d.add_argument("--mirror", metavar="DIR_OR_URL", help=_MIRROR_HELP)
    d.set_defaults(func=cmd_demo)
    add_claims_parser(sub)

    # fargate-lab advise (issue 11); defaults live in experiments/advise.py (None: its default).
    ad = sub.add_parser(
        "advise", help="the cheapest task size, Spot share and autoscaler meeting a p99 SLO"
    )
    ad.add_argument("--trace", required=True, metavar="FILE", help="CSV trace (or catalog name)")
    ad.add_argument("--slo-p99-ms", type=float, required=True, metavar="X", help="p99 SLO, ms")
    ad.add_argument("--spot-ok", action="store_true", help="also search a Fargate Spot share")
    ad.add_argument("--trials", type=int, help="Optuna trials (default 30)")
    ad.add_argument("--seed", type=int, help="sampler and simulation seed (default 0)")
    ad.add_argument(
        "--duration",
        metavar="DURATION",
        help="length of the tuning part and of the confirmation part after it "
        "(default 1d, or half the trace when shorter)",
    )
    ad.add_argument(
        "--out",
        default="advice.toml",
        help="scenario file (.toml), or a folder to write advice.toml in (default advice.toml)",
    )
    ad.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ad.set_defaults(func=cmd_advise)

    sc = sub.add_parser("scenario", help="about scenario files")
    scsub = sc.add_subparsers(dest="scenario_command", required=True)
    sk = scsub.add_parser(
        "keys", help="every scenario key (section.key) with its type, default and documentation"
    )
    sk.add_argument("--json", action="store_true", help="print a JSON list of the keys")
    sk.set_defaults(func=cmd_scenario_keys)

    from experiments.sweep_cli import add_sweep_parsers  # sweep, report (issue 11)

    add_sweep_parsers(sub, _MIRROR_HELP)

    from experiments.ecs_cli import add_ecs_parser  # fargate-lab ecs ... (issue 7)

    add_ecs_parser(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fargate-lab")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _command_name(args: argparse.Namespace) -> str:
    words = ["fargate-lab", args.command]
    for attr in ("traces_command", "experiment", "scenario_command"):
        if getattr(args, attr, None):
            words.append(getattr(args, attr))
    return " ".join(words)


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0, 2 for bad input, 130 for Ctrl-C).

    Errors a user can cause (a bad scenario, trace, option or output folder: ValueError and
    its subclasses, and OSError) print one line on stderr naming the problem, with no
    traceback. Ctrl-C prints what was kept (nothing, unless the command says otherwise).
    """
    from experiments.outputs import Interrupted

    args = build_parser().parse_args(argv)
    name = _command_name(args)
    try:
        return int(args.func(args))
    except Interrupted as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
        return int(getattr(exc, "exit_status", EXIT_INTERRUPTED))
    except KeyboardInterrupt:
        print(f"{name}: interrupted (Ctrl-C), nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
