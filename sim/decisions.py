"""The decisions table: one row per controller round, kept as growing typed columns.

A round is recorded every policy interval (a year at 60 s: 525,600 rows). Kept as a list of
Python tuples, each row cost about 300 bytes during the run (a tuple, a float object per
float, the reason string) and the table was built from them at the end through object
columns. Here each column is an ``array.array`` of machine values (8 bytes per value) that
numpy reads without a copy at the end, and the policy name and the reason, which repeat
(a reactive rule's "cooldown" and "in band" reasons), are kept as codes into their distinct
strings: the table's ``policy`` and ``reason`` columns are pandas Categoricals.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
import pandas as pd

#: What a policy saw, from backends.base.observed_summary: the counts, the scalable range,
#: and the latest visible period's CPUUtilization and RequestCount (NaN when none is visible).
OBSERVED_COLUMNS = (
    "desired_before",
    "running",
    "pending",
    "healthy",
    "min_tasks",
    "max_tasks",
    "CPUUtilization",
    "RequestCount",
)
#: Columns of the decisions table: one row per controller round: its time, the policy (class
#: name), what it observed (OBSERVED_COLUMNS; ``desired_before`` is the desired count the
#: round started from), the decided count (missing: no change) and the policy's reason.
DECISION_COLUMNS = ("time_s", "policy", *OBSERVED_COLUMNS, "desired", "reason")

#: The integer columns (int64) and the keys of ``DecisionRecord.observed`` they come from.
_COUNTS = ("running", "pending", "healthy", "min_tasks", "max_tasks")
_FLOATS = ("CPUUtilization", "RequestCount")


class _Codes:
    """Strings as int32 codes into their distinct values, in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.codes = array("i")

    def append(self, value: str) -> None:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.index)
        self.codes.append(code)

    def categorical(self) -> pd.Categorical:
        categories = pd.Index(list(self.index), dtype=str)
        return pd.Categorical.from_codes(np.frombuffer(self.codes, dtype=np.int32), categories)


class DecisionLog:
    """The rows of the decisions table as they are recorded (:meth:`append`), and the table
    (:meth:`frame`): ``time_s``, ``CPUUtilization`` and ``RequestCount`` float64, the counts
    int64, ``desired`` nullable Int64 (missing: the policy asked for no change), ``policy``
    and ``reason`` Categorical."""

    def __init__(self) -> None:
        self.time_s = array("d")
        self.desired_before = array("q")
        self.counts = {name: array("q") for name in _COUNTS}
        self.floats = {name: array("d") for name in _FLOATS}
        self.desired = array("d")  # NaN: no change
        self.policy = _Codes()
        self.reason = _Codes()

    def __len__(self) -> int:
        return len(self.time_s)

    def append(self, record: Any) -> None:
        """Keep one controller round (backends.base.DecisionRecord)."""
        seen = record.observed
        self.time_s.append(float(record.time))
        self.policy.append(record.policy)
        self.desired_before.append(record.desired_before)
        for name, column in self.counts.items():
            column.append(seen[name])
        for name, column in self.floats.items():
            column.append(seen[name])
        self.desired.append(np.nan if record.desired is None else record.desired)
        self.reason.append(record.reason)

    def frame(self) -> pd.DataFrame:
        """The table, columns in :data:`DECISION_COLUMNS` order."""

        def floats(a: array) -> np.ndarray:
            return np.frombuffer(a, dtype=np.float64) if len(a) else np.zeros(0)

        def ints(a: array) -> np.ndarray:
            return np.frombuffer(a, dtype=np.int64) if len(a) else np.zeros(0, dtype=np.int64)

        data = {
            "time_s": floats(self.time_s),
            "policy": self.policy.categorical(),
            "desired_before": ints(self.desired_before),
            **{name: ints(column) for name, column in self.counts.items()},
            **{name: floats(column) for name, column in self.floats.items()},
            "desired": pd.array(floats(self.desired), dtype="Int64"),
            "reason": self.reason.categorical(),
        }
        return pd.DataFrame(data, columns=list(DECISION_COLUMNS))
