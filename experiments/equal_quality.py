"""Extend an autoscaling experiment's output folder with more baseline fronts and mpc's
reserve ablation, without re-running what it holds (issue 8's report at equal quality).

``fargate-lab experiment equal-quality DIR [--fronts POLICY ...] [--ablation] [--workers N]``
reads ``DIR`` (the ``--out`` of ``fargate-lab experiment autoscaling``: config.json with its
windows and tuned settings, runs.parquet, tuning.parquet) and runs only what is missing:

* for each baseline named in ``--fronts`` (each a tunable policy of the experiment, or
  ``all``: :func:`experiments.autoscaling.resolve_fronts`), the ``sweep`` runs of its grid's
  other settings on every evaluation window, so that its Pareto front is measured on the
  windows the policies are evaluated on (the tuned setting is its evaluation run);
* with ``--ablation``, :data:`experiments.autoscaling.NO_RESERVE` (mpc without its burst
  reserve) tuned with mpc's seven quantiles and the same rule on the same tuning windows,
  then evaluated on the same windows.

Runs already in ``DIR`` are never run again; the new ones are kept in ``DIR/extend-runs`` as
each finishes (:class:`experiments.store.RunStore`, keyed by the run and the code version), so
an interrupted extension resumes where it stopped when the same command is run again. At the
end config.json, tuning.parquet, runs.parquet, table.csv, the figure and report.md are
rewritten, each replaced atomically (:func:`experiments.outputs.staged_output`), with every
stored row kept as it was.

Safety: new runs must come from the code that made ``DIR``, or stale and new runs would be
compared. Before running anything, one stored evaluation run per trace is run again (each
checked policy on a different trace: the fronts asked for, and mpc for the ablation, so every
policy whose code the new runs use is checked at least once); if its record differs from the
stored one in any column by more than :data:`RTOL` (relative), the extension is refused
(:class:`StaleOutput`) and nothing is written. A run is deterministic given its spec (same
seed, same bits), so a difference means the model or a policy changed. Why a tolerance and not
bit equality: a refactor that only reorders a floating-point sum changes a summary in its last
bit (measured: ``requests_failed`` by 2e-16 relative, every other column identical, between
the folder issue 8's report extends and this code), while any changed decision moves the cost
by at least one task-minute (about 1e-4 of a 3.5-day run) and the request counts by far more
than 1e-9; the largest relative difference found is logged.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.autoscaling import (
    NO_RESERVE,
    TUNING,
    RunSpec,
    RunsStopped,
    Window,
    choose,
    evaluation_table,
    resolve_fronts,
    run_all,
    sweep_specs,
)
from experiments.outputs import Interrupted, staged_output

#: Largest relative difference between a stored run's value and the same run now that still
#: counts as reproduced (module docstring: rounding, not a changed decision).
RTOL = 1e-9

#: The folder inside DIR that keeps the extension's runs as they finish.
STORE_DIR = "extend-runs"


class StaleOutput(ValueError):
    """DIR's stored runs do not reproduce with this code: the message names the run and the
    first differing column."""


def load(out: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """config.json, runs.parquet and tuning.parquet of an experiment's output folder
    (ValueError naming the missing or unreadable file)."""
    for name in ("config.json", "runs.parquet", "tuning.parquet"):
        if not (out / name).is_file():
            raise ValueError(
                f"{out / name}: no such file; is {out} the --out folder of "
                "`fargate-lab experiment autoscaling`?"
            )
    try:
        config = json.loads((out / "config.json").read_text())
        runs = pd.read_parquet(out / "runs.parquet")
        tuning = pd.read_parquet(out / "tuning.parquet")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{out}: unreadable experiment output ({exc})") from None
    for key in ("windows", "tuned", "policies", "tuning_grid"):
        if key not in config:
            raise ValueError(f"{out / 'config.json'}: no {key!r}; not an autoscaling experiment")
    return config, runs, tuning


def windows_of(config: dict[str, Any]) -> dict[str, list[Window]]:
    """Per trace, the tuning window then the evaluation windows, as config.json holds them."""
    return {
        t: [Window(**{k: v for k, v in w.items() if k != "end"}) for w in ws]
        for t, ws in config["windows"].items()
    }


def _identity(trace: str, start: str, policy: str, kind: str, param: Any) -> tuple:
    p = None if param is None or (isinstance(param, float) and math.isnan(param)) else param
    return (trace, start, policy, kind, None if p is None else float(p))


def _stored(frame: pd.DataFrame) -> set[tuple]:
    return {
        _identity(r.trace, r.window_start, r.policy, r.kind, r.param) for r in frame.itertuples()
    }


def _todo(specs: list[RunSpec], have: set[tuple]) -> list[RunSpec]:
    return [
        s
        for s in specs
        if _identity(s.window.trace, s.window.start, s.policy, s.kind, s.param) not in have
    ]


def _difference(a: Any, b: Any) -> float:
    """Relative difference of two stored values: 0 when equal (NaN equals NaN, None equals
    NaN), |a - b| / max(|a|, |b|) for numbers, inf for other values that differ."""
    if a is None or b is None:
        same = (a is None or _isnan(a)) and (b is None or _isnan(b))
        return 0.0 if same else math.inf
    if isinstance(a, _NUMBER) and isinstance(b, _NUMBER):
        a, b = float(a), float(b)
        if (math.isnan(a) and math.isnan(b)) or a == b:
            return 0.0
        if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
            return math.inf
        return abs(a - b) / max(abs(a), abs(b))
    return 0.0 if bool(a == b) else math.inf


_NUMBER = (int, float, np.number)


def _isnan(x: Any) -> bool:
    return isinstance(x, (float, np.floating)) and math.isnan(x)


def check_reproduces(
    config: dict[str, Any],
    runs: pd.DataFrame,
    policies: list[str],
    workers: int = 1,
    progress: bool = False,
) -> list[str]:
    """Run again one stored evaluation run per trace, rotating over ``policies`` so each is
    checked at least once; raise :class:`StaleOutput` when a record differs from the stored
    one in any column by more than :data:`RTOL`. Returns one line per checked run, with its
    largest relative difference."""
    windows = windows_of(config)
    traces = list(windows)
    pairs = [
        (traces[i % len(traces)], policies[i % len(policies)])
        for i in range(max(len(traces), len(policies)))
    ]
    specs, stored = [], []
    for trace, policy in pairs:
        rows = runs[(runs.trace == trace) & (runs.policy == policy) & (runs.kind == "evaluation")]
        if len(rows) == 0:
            raise StaleOutput(f"no stored evaluation run of {policy!r} on {trace!r} to check")
        row = rows.sort_values("window").iloc[0]
        window = next(w for w in windows[trace][1:] if w.start == row.window_start)
        param = None if _isnan(float(row.param)) else float(row.param)
        specs.append(RunSpec(window, policy, param, "evaluation"))
        stored.append(row.to_dict())
    records = run_all(specs, workers, progress, desc="check")
    lines = []
    for spec, old, new in zip(specs, stored, records, strict=True):
        largest = 0.0
        for key, value in new.items():
            diff = _difference(old[key], value) if key in old else 0.0
            largest = max(largest, diff)
            if diff > RTOL:
                raise StaleOutput(
                    f"the stored run {spec.policy} on {spec.window.trace} window "
                    f"{spec.window.index} does not reproduce: {key} stored {old[key]!r}, "
                    f"now {value!r}. The code changed since this folder was written; run "
                    "the whole experiment again into a new folder instead of extending it"
                )
        lines.append(
            f"{spec.policy} on {spec.window.trace} window {spec.window.index} (largest "
            f"relative difference {largest:.2g})"
        )
    return lines


def extend(
    out: Path,
    fronts: Iterable[str] = (),
    ablation: bool = False,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run the missing sweep runs of ``fronts`` and, with ``ablation``, mpc without its
    reserve in ``out``; rewrite its files and report (module docstring). Returns the table."""
    from experiments.store import RunStore

    out = Path(out)
    config, runs, tuning = load(out)
    policies = list(config["policies"])
    fronts = list(fronts)
    fronts = resolve_fronts(fronts, policies) if fronts else []
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    workers = workers or os.cpu_count() or 1
    windows = windows_of(config)
    tuned: dict[str, dict[str, float]] = {t: dict(d) for t, d in config["tuned"].items()}
    have = _stored(runs) | _stored(tuning)
    sweeps = _todo(sweep_specs(windows, fronts, tuned), have)
    abl_tuning = []
    if ablation:
        abl_tuning = _todo(
            [
                RunSpec(ws[0], NO_RESERVE, v, "tuning")
                for ws in windows.values()
                for v in TUNING[NO_RESERVE][1]
            ],
            have,
        )
    needs_eval = ablation and not (runs.policy == NO_RESERVE).any()
    new_tuning: list[dict[str, Any]] = []
    new_runs: list[dict[str, Any]] = []
    version = None
    try:
        if sweeps or abl_tuning or needs_eval:
            checked = [p for p in fronts if _todo(sweep_specs(windows, [p], tuned), have)]
            checked += ["mpc"] if ablation else []
            for line in check_reproduces(config, runs, checked, workers, progress):
                log(f"reproduced: {line}")
        store = RunStore(out / STORE_DIR)
        version = store.version
        first = run_all(abl_tuning + sweeps, workers, progress, desc="extend", store=store)
        new_tuning, new_runs = first[: len(abl_tuning)], first[len(abl_tuning) :]
        tuning = pd.concat([tuning, pd.DataFrame(new_tuning)], ignore_index=True)
        if ablation:
            for t, group in tuning[tuning.policy == NO_RESERVE].groupby("trace", sort=False):
                tuned[str(t)][NO_RESERVE] = choose(group)
            evals = [
                RunSpec(w, NO_RESERVE, tuned[t][NO_RESERVE], "evaluation")
                for t, ws in windows.items()
                for w in ws[1:]
            ]
            new_runs += run_all(_todo(evals, have), workers, progress, desc="ablation", store=store)
    except RunsStopped as stop:
        raise Interrupted(
            f"interrupted: {out / STORE_DIR} keeps every finished run; run the same "
            f"command again to resume ({len(stop.records)} of {stop.total} in this stage)"
        ) from None
    runs = pd.concat([runs, pd.DataFrame(new_runs)], ignore_index=True)
    if ablation and NO_RESERVE not in policies:
        policies.append(NO_RESERVE)
    config = config | {
        "policies": policies,
        "tuned": tuned,
        "fronts": [p for p in policies if p in set(runs.policy[runs.kind == "sweep"])],
        "tuning_grid": {p: list(TUNING[p][1]) for p in policies if p in TUNING},
        "extensions": [
            *config.get("extensions", []),
            {
                "fronts": fronts,
                "ablation": ablation,
                "runs": len(new_tuning) + len(new_runs),
                "code_version": version,
            },
        ],
    }
    return write(out, config, runs, tuning, log)


def write(
    out: Path,
    config: dict[str, Any],
    runs: pd.DataFrame,
    tuning: pd.DataFrame,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Rewrite the experiment's files in ``out`` from its runs (each file replaced
    atomically; other files kept). Returns the table."""
    from experiments.autoscaling_report import write_files

    table = evaluation_table(runs)
    with staged_output(out) as tmp:
        write_files(tmp, config, runs, table, tuning)
    log(f"rewrote report.md, table.csv, runs.parquet, tuning.parquet and config.json in {out}")
    return table
