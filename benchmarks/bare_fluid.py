"""Reference for the simulator's speed (issue 11, "Speed"): the fluid arithmetic of
``bench_sim.py``'s run with nothing around it, a bare numpy loop. 30 days of the NASA trace
rescaled to a peak of 2,000 requests/s, Poisson arrivals per second, 100 requests/s per task,
a 60 s request timeout, the reactive rule (target 70%, band 50-85%) every 60 s, new tasks
serving a fixed 60 s after the decision.

Per 60 s stretch it runs the same recurrence as the model (sim/serving.py, ``stretch``): the
backlog Q_t = max(0, Q_{t-1} + A_t - S_t), reflected at 0 with one cumulative sum, capped at
what the fleet serves within the timeout (excess fails); per-second Python only in a minute
that reaches the cap. What it leaves out is everything else the model does: the task
lifecycle, scheduler, SimPy events, billing, metric periods, the late-request share and the
latency tables. So ``bench_sim.py --process`` divided by this is the cost of the model around
the arithmetic (issue 11's target: within 3x, as whole processes from the shell).

It reads the parsed trace cache (``nasa.npz``, written by any earlier run, e.g. ``make
bench``) with numpy alone, so its import cost is numpy's. Gaps in the trace count as no
requests here (the model interpolates them): the same amount of arithmetic either way.

Usage: python benchmarks/bare_fluid.py [--days 30] [--cache DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

START = time.perf_counter()


def default_cache() -> Path:
    """The trace cache folder, as sim/traces/fetch.py's ``cache_dir`` finds it."""
    explicit = os.environ.get("FARGATE_LAB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fargate-lab" / "traces"


def rate_per_second(cache: Path, days: float, peak: float) -> np.ndarray:
    """The NASA trace's first ``days`` days, per second, rescaled to ``peak`` requests/s."""
    with np.load(cache / "nasa.npz", allow_pickle=False) as z:
        counts = np.asarray(z["counts"], dtype=float)
        interval = float(z["interval"])
    n = int(days * 86400)
    per_s = np.nan_to_num(counts / interval)
    rate = np.repeat(per_s, int(round(interval)))[:n] if interval >= 1 else per_s[:n]
    if len(rate) < n:
        raise SystemExit(f"the trace covers {len(rate)} s, fewer than the {n} s asked for")
    return rate * (peak / rate.max())


def run(
    arrivals: np.ndarray,
    *,
    capacity: float = 100.0,
    timeout: float = 60.0,
    tasks: int = 20,
    interval: int = 60,
    target: float = 70.0,
    low: float = 50.0,
    high: float = 85.0,
    start_delay: int = 60,
    lo: int = 1,
    hi: int = 200,
) -> tuple[float, float, float]:
    """The fluid and the reactive rule; returns (served, failed, task-seconds)."""
    q = 0.0
    served_total = failed_total = task_seconds = 0.0
    pending: list[tuple[int, int]] = []  # (tick from which the count applies, count)
    n = tasks
    for t0 in range(0, len(arrivals), interval):
        while pending and pending[0][0] <= t0:
            n = pending.pop(0)[1]
        a = arrivals[t0 : t0 + interval]
        service = n * capacity
        qmax = timeout * service
        x = np.cumsum(a - service) + q
        path = x - np.minimum(np.minimum.accumulate(x), 0.0)
        if path.max() <= qmax:  # reflected at 0 only: one cumulative sum
            backlog = path
            failed = 0.0
        else:  # the cap binds: second by second
            backlog = np.empty(len(a))
            failed = 0.0
            for i, ai in enumerate(a):
                q = max(0.0, q + ai - service)
                if q > qmax:
                    failed += q - qmax
                    q = qmax
                backlog[i] = q
        served = q + a.sum() - backlog[-1] - failed
        q = float(backlog[-1])
        served_total += served
        failed_total += failed
        task_seconds += n * len(a)
        cpu = 100.0 * served / (service * len(a)) if n else 0.0
        last = pending[-1][1] if pending else n
        want = min(hi, max(lo, math.ceil(n * cpu / target)))
        if (cpu > high and want > last) or (cpu < low and want < last):
            pending.append((t0 + interval + start_delay, want))
    return served_total, failed_total, task_seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--peak", type=float, default=2000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=None, help="trace cache folder")
    args = ap.parse_args(argv)
    rate = rate_per_second(args.cache or default_cache(), args.days, args.peak)
    arrivals = np.random.default_rng(args.seed).poisson(rate).astype(float)
    served, failed, task_seconds = run(arrivals)
    print(
        f"{args.days:g} days: served {served:,.0f}, failed {failed:,.0f}, "
        f"{task_seconds / 3600:,.0f} task-hours; "
        f"{time.perf_counter() - START:.2f} s since start (numpy imported)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
