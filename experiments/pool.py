"""Runs on a local process pool, yielded as each finishes: the one executor of the
experiments (``experiment autoscaling`` and ``rollouts``, ``claims``, ``bench-policies``) and
of ``sweep``'s default pool (experiments/sweep_run.py).

On an error or Ctrl-C in the parent, the workers are terminated (none keeps running a
simulation nobody waits for) and the exception propagates; workers ignore Ctrl-C
(:func:`ignore_sigint`) and leave it to the parent, which stops them."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")


def ignore_sigint() -> None:
    """Pool initializer: workers leave Ctrl-C to the parent, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def in_pool(
    fn: Callable[[T], Any],
    items: Sequence[T],
    workers: int,
    initializer: Callable[[], None] = ignore_sigint,
) -> Iterator[tuple[int, Any]]:
    """``(i, fn(items[i]))`` for every item, on a pool of ``workers`` processes (even one),
    in the order they finish. ``fn`` and the items must pickle."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    pool = ProcessPoolExecutor(max_workers=workers, initializer=initializer)
    try:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield futures[f], f.result()
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_each(fn: Callable[[T], Any], items: Sequence[T], workers: int) -> Iterator[tuple[int, Any]]:
    """``(i, fn(items[i]))`` for every item: in this process, in order, when ``workers <= 1``;
    else on a pool (:func:`in_pool`), in the order they finish."""
    if workers <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
    else:
        yield from in_pool(fn, items, workers)
