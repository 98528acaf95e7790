"""The experiments' process pool (experiments/pool.py): every item once, results by index,
an error in a worker propagates and stops the pool."""

from __future__ import annotations

import os
import time

import pytest

from experiments.pool import in_pool, run_each


def square(x: int) -> int:
    return x * x


def square_or_fail(x: int) -> int:
    if x == 3:
        raise RuntimeError(f"run {x} failed")
    time.sleep(0.01 * x)
    return x * x


def pid_of(_: int) -> int:
    return os.getpid()


def test_serial_runs_in_order_in_this_process() -> None:
    assert list(run_each(square, [3, 1, 2], 1)) == [(0, 9), (1, 1), (2, 4)]
    assert {pid for _, pid in run_each(pid_of, [0, 1], 1)} == {os.getpid()}


def test_pool_runs_every_item_once_in_worker_processes() -> None:
    items = list(range(12))
    got = list(run_each(square, items, 2))
    assert sorted(i for i, _ in got) == items  # each index exactly once
    assert all(value == items[i] ** 2 for i, value in got)
    assert os.getpid() not in {pid for _, pid in in_pool(pid_of, [0, 1, 2], 2)}


def test_an_error_in_a_worker_propagates() -> None:
    with pytest.raises(RuntimeError, match="run 3 failed"):
        list(in_pool(square_or_fail, list(range(8)), 2))


def test_bad_worker_count_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(in_pool(square, [1], 0))
