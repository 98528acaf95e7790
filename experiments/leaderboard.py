"""Policy benchmarks in CI: a fixed small suite compared with a committed leaderboard.

``make bench-policies`` (``python -m experiments.leaderboard``) runs every policy of
:data:`SUITES` on every catalog trace, each on one fixed window with a fixed seed, configured
exactly as the autoscaling experiment configures it (experiments/autoscaling.py
``run_one``: the experiment's service, the trace rescaled to its ``peak_rps``, the policy at
its untuned default setting, CPU target 50%, started at the first minute's load). The window
is the trace's latest evaluation window of the experiment's layout (the one just before the
tuning window), ``days`` long; its seed is 1.

Each run's cost and good-minutes fraction are compared with the row of the same suite, trace
and policy in :data:`LEADERBOARD` (benchmarks/leaderboard.csv). The run fails, with a table
of what regressed, when a policy's cost rises by more than :data:`COST_TOLERANCE` (relative)
or its good-minutes fraction falls by more than :data:`GOOD_MINUTES_TOLERANCE` (absolute), or
when a run has no row. A run is deterministic (same seed, same result), so on one machine any
change is a change of the code; the tolerances absorb floating-point differences between
platforms and library versions, and small intended changes of the model. Improvements beyond
the tolerances are listed and pass; ``--update`` rewrites the suite's rows with the new
figures (the change is then reviewed as a diff of the CSV).

Suites: ``full`` (``make bench-policies``) and ``quick`` (``.ci/run``, after ``make test``:
fewer policies and shorter windows, to fit CI's time).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
LEADERBOARD = ROOT / "benchmarks" / "leaderboard.csv"

#: A cost rise beyond 1% of the leaderboard's cost fails.
COST_TOLERANCE = 0.01
#: A good-minutes fraction falling by more than 0.002 (about 3 minutes of a day) fails.
GOOD_MINUTES_TOLERANCE = 0.002

#: The suites: policies (the experiment's names), catalog traces, days per window.
SUITES: dict[str, dict[str, Any]] = {
    "full": {
        "policies": ("static", "reactive", "target-tracking", "step", "hpa"),
        "traces": ("nasa", "worldcup98", "aws-elb", "twitter-aapl"),
        "days": 1.0,
    },
    "quick": {
        "policies": ("reactive", "target-tracking", "step"),
        "traces": ("nasa", "worldcup98", "aws-elb", "twitter-aapl"),
        "days": 0.25,
    },
}

KEY = ["suite", "trace", "policy"]
COLUMNS = [
    *KEY,
    "window_start",
    "days",
    "seed",
    "cost_usd",
    "good_minutes_fraction",
    "latency_p99_ms",
    "availability",
]


class LeaderboardError(ValueError):
    """A bad suite, trace or policy name, or an unreadable leaderboard file."""


def suite_specs(
    suite: str, traces: Sequence[str] | None = None, policies: Sequence[str] | None = None
) -> list[Any]:
    """The suite's runs (experiments.autoscaling.RunSpec), optionally a subset of it."""
    from experiments.autoscaling import RunSpec
    from experiments.autoscaling_windows import layout

    if suite not in SUITES:
        raise LeaderboardError(f"unknown suite {suite!r}; valid: {list(SUITES)}")
    cfg = SUITES[suite]
    for what, given, allowed in (
        ("trace", traces, cfg["traces"]),
        ("policy", policies, cfg["policies"]),
    ):
        bad = sorted(set(given or ()) - set(allowed))
        if bad:
            raise LeaderboardError(f"{what}(s) {bad} not in suite {suite!r}: {list(allowed)}")
    specs = []
    for trace in traces or cfg["traces"]:
        window = layout(trace, cfg["days"], 1)[1]
        specs.extend(RunSpec(window, p, None, "evaluation") for p in policies or cfg["policies"])
    return specs


def run_suite(
    suite: str,
    traces: Sequence[str] | None = None,
    policies: Sequence[str] | None = None,
    workers: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Run the suite (or the given subset of it) and return one row per run (``COLUMNS``).
    With ``workers`` 1 every run is in this process (a monkeypatched policy takes part)."""
    from experiments.autoscaling import run_all

    specs = suite_specs(suite, traces, policies)
    records = run_all(specs, workers, progress, desc=f"bench-policies {suite}")
    rows = pd.DataFrame(records)
    rows.insert(0, "suite", suite)
    rows = rows[COLUMNS]
    return rows.reset_index(drop=True)


def read_leaderboard(path: Path = LEADERBOARD) -> pd.DataFrame:
    """The committed leaderboard; a missing or malformed file is a :class:`LeaderboardError`."""
    try:
        board = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LeaderboardError(f"{path}: cannot read the leaderboard: {exc}") from None
    missing = [c for c in COLUMNS if c not in board.columns]
    if missing:
        raise LeaderboardError(f"{path}: missing column(s) {missing}; expected {COLUMNS}")
    return board


#: Columns of :func:`compare`'s table of failures.
FAILURE_COLUMNS = [*KEY, "metric", "leaderboard", "now", "change", "allowed"]


def compare(
    runs: pd.DataFrame,
    board: pd.DataFrame,
    cost_tolerance: float = COST_TOLERANCE,
    good_tolerance: float = GOOD_MINUTES_TOLERANCE,
) -> pd.DataFrame:
    """One row per check of ``runs`` against ``board`` that fails: a cost rise beyond
    ``cost_tolerance`` (relative), a good-minutes fall beyond ``good_tolerance`` (absolute),
    a run without a leaderboard row (columns :data:`FAILURE_COLUMNS`)."""
    merged = runs.merge(board, on=KEY, how="left", suffixes=("", "_board"), indicator="found")
    bad: list[tuple[Any, ...]] = []
    for r in merged.itertuples(index=False):
        key = (r.suite, r.trace, r.policy)
        if r.found != "both":
            bad.append((*key, "(no leaderboard row)", math.nan, math.nan, "", "run --update"))
            continue
        if r.cost_usd > r.cost_usd_board * (1 + cost_tolerance) + 1e-12:
            change = f"{r.cost_usd / r.cost_usd_board - 1:+.2%}"
            bad.append(
                (*key, "cost_usd", r.cost_usd_board, r.cost_usd, change, f"+{cost_tolerance:.0%}")
            )
        fall = r.good_minutes_fraction_board - r.good_minutes_fraction
        if fall > good_tolerance + 1e-12:
            bad.append(
                (*key, "good_minutes_fraction", r.good_minutes_fraction_board)
                + (r.good_minutes_fraction, f"{-fall:+.4f}", f"-{good_tolerance:g}")
            )
    return pd.DataFrame(bad, columns=FAILURE_COLUMNS)


def improvements(runs: pd.DataFrame, board: pd.DataFrame) -> pd.DataFrame:
    """The runs better than their leaderboard row beyond the tolerances (cheaper, or more
    good minutes), for the log: they pass, and ``--update`` records them."""
    m = runs.merge(board, on=KEY, suffixes=("", "_board"))
    better = (m.cost_usd < m.cost_usd_board * (1 - COST_TOLERANCE)) | (
        m.good_minutes_fraction > m.good_minutes_fraction_board + GOOD_MINUTES_TOLERANCE
    )
    return m.loc[better, [*KEY, "cost_usd_board", "cost_usd"]]


def update(runs: pd.DataFrame, path: Path = LEADERBOARD) -> pd.DataFrame:
    """Replace the rows of the runs' suite (and traces, policies) in the leaderboard at
    ``path`` (created if absent), keeping every other row; write it sorted by suite,
    trace and policy."""
    old = read_leaderboard(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
    keep = old.merge(runs[KEY], on=KEY, how="left", indicator=True)
    keep = keep[keep._merge == "left_only"].drop(columns="_merge")
    frames = [f for f in (keep, runs) if len(f)]
    new = pd.concat(frames, ignore_index=True)[COLUMNS].sort_values(KEY, ignore_index=True)
    from experiments.outputs import atomic_file

    with atomic_file(path) as tmp:
        new.to_csv(tmp, index=False, float_format="%.10g")
    return new


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0 when nothing regressed (or after ``--update``), 1 when something did,
    2 for bad input."""
    from tabulate import tabulate

    ap = argparse.ArgumentParser(
        prog="make bench-policies", description=__doc__.splitlines()[0] if __doc__ else None
    )
    ap.add_argument(
        "--suite", default="full", help=f"one of {list(SUITES)}, or all of them: all (full)"
    )
    ap.add_argument("--update", action="store_true", help="rewrite the suite's leaderboard rows")
    ap.add_argument("--leaderboard", type=Path, default=LEADERBOARD, help="the CSV file")
    ap.add_argument("--workers", type=int, default=2, help="processes (2)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        if args.workers < 1:
            raise LeaderboardError(f"--workers must be >= 1, got {args.workers}")
        board = None if args.update else read_leaderboard(args.leaderboard)
        names = list(SUITES) if args.suite == "all" else [args.suite]
        runs = pd.concat(
            [run_suite(n, workers=args.workers, progress=not args.quiet) for n in names],
            ignore_index=True,
        )
    except ValueError as exc:
        print(f"bench-policies: {exc}", file=sys.stderr)
        return 2
    if args.update:
        update(runs, args.leaderboard)
        print(
            f"bench-policies: wrote {len(runs)} rows of suite {args.suite!r} to {args.leaderboard}"
        )
        return 0
    assert board is not None
    shown = runs[
        ["suite", "trace", "policy", "cost_usd", "good_minutes_fraction", "latency_p99_ms"]
    ]
    print(tabulate(shown, headers="keys", showindex=False, floatfmt=".4f"))
    better = improvements(runs, board)
    if len(better):
        print(f"\n{len(better)} run(s) improved beyond the tolerances (run --update to record):")
        print(tabulate(better, headers="keys", showindex=False, floatfmt=".4f"))
    failed = compare(runs, board)
    if len(failed):
        print(
            f"\nbench-policies: {len(failed)} regression(s) against {args.leaderboard} "
            f"(cost +{COST_TOLERANCE:.0%}, good minutes -{GOOD_MINUTES_TOLERANCE:g} allowed):"
        )
        print(tabulate(failed, headers="keys", showindex=False, floatfmt=".4f"))
        return 1
    print(f"\nbench-policies: suite {args.suite!r}: {len(runs)} runs, no regression")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
