"""``make validate`` (benchmarks/validate_fluid.py) is reproducible: its ciw column is seeded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "validate_fluid.py"


def _module():
    spec = importlib.util.spec_from_file_location("validate_fluid", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_request_level_column_is_identical_across_runs() -> None:
    vf = _module()
    rates = np.array([5.0, 9.0, 12.0])  # three minutes at low load: quick
    first = vf.request_level(rates, reps=2, seed=1)
    np.random.default_rng(99).random(10)  # other randomness in between changes nothing
    second = vf.request_level(rates, reps=2, seed=1)
    assert np.array_equal(first, second)
    assert np.all(first > 0)
    other = vf.request_level(rates, reps=2, seed=2)
    assert not np.array_equal(first, other)
