"""The decisions table: one row per controller round, kept as typed columns.

A round is recorded every policy interval (a year at 60 s: 525,600 rows). Kept as a list of
Python tuples for the whole run, each row cost about 300 bytes (a tuple, a float object per
float, the reason string), and the table was built from them at the end through object
columns. Here rows are still appended as tuples (the cheapest append: a round's recording
stays cheap), but every :data:`CHUNK_ROWS` rows they are converted to numpy columns (8 bytes
a number). The policy name and the reason, which repeat (a reactive rule's "cooldown" and
"within band" reasons), are kept as codes into their distinct strings: the table's
``policy`` and ``reason`` columns are pandas Categoricals. The values are those of the
tuple-built table (tests/sim/test_decisions_table.py).
"""

from __future__ import annotations

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

#: Rounds kept as Python tuples (the cheapest append) before they are converted to typed
#: columns: a bounded number of rows (a year at 60 s is 525,600) ever exists as tuples.
CHUNK_ROWS = 4096

_INTS = ("desired_before", "running", "pending", "healthy", "min_tasks", "max_tasks")
_FLOATS = ("time_s", "CPUUtilization", "RequestCount")


class DecisionLog:
    """The rows of the decisions table as they are recorded (:meth:`append`), and the table
    (:meth:`frame`): ``time_s``, ``CPUUtilization`` and ``RequestCount`` float64, the counts
    int64, ``desired`` nullable Int64 (missing: the policy asked for no change), ``policy``
    and ``reason`` Categorical (categories in order of first appearance).

    Rows arrive as tuples and are converted :data:`CHUNK_ROWS` at a time into numpy columns
    (8 bytes a number, 4 bytes a string code).
    """

    def __init__(self) -> None:
        self._rows: list[tuple] = []
        self._parts: list[dict[str, np.ndarray]] = []
        self._codes: dict[str, dict[str, int]] = {"policy": {}, "reason": {}}

    def __len__(self) -> int:
        return len(self._rows) + sum(len(p["time_s"]) for p in self._parts)

    def append(self, record: Any) -> None:
        """Keep one controller round (backends.base.DecisionRecord)."""
        seen = record.observed
        self._rows.append(
            (
                float(record.time),
                record.policy,
                record.desired_before,
                seen["running"],
                seen["pending"],
                seen["healthy"],
                seen["min_tasks"],
                seen["max_tasks"],
                seen["CPUUtilization"],
                seen["RequestCount"],
                record.desired,
                record.reason,
            )
        )
        if len(self._rows) >= CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Convert the pending tuples to typed columns."""
        if not self._rows:
            return
        columns = dict(zip(DECISION_COLUMNS, zip(*self._rows, strict=True), strict=True))
        self._rows = []
        part = {name: np.array(columns[name], dtype=np.float64) for name in _FLOATS}
        part.update({name: np.array(columns[name], dtype=np.int64) for name in _INTS})
        part["desired"] = np.array(
            [np.nan if d is None else d for d in columns["desired"]], dtype=np.float64
        )
        for name, index in self._codes.items():
            part[name] = np.array(
                [index.setdefault(s, len(index)) for s in columns[name]], dtype=np.int32
            )
        self._parts.append(part)

    def frame(self) -> pd.DataFrame:
        """The table, columns in :data:`DECISION_COLUMNS` order."""
        self._flush()

        def column(name: str, dtype: type) -> np.ndarray:
            parts = [p[name] for p in self._parts]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        data: dict[str, Any] = {name: column(name, np.float64) for name in _FLOATS}
        data.update({name: column(name, np.int64) for name in _INTS})
        data["desired"] = pd.array(column("desired", np.float64), dtype="Int64")
        for name, index in self._codes.items():
            categories = pd.Index(list(index), dtype=str)
            data[name] = pd.Categorical.from_codes(column(name, np.int32), categories)
        return pd.DataFrame(data, columns=list(DECISION_COLUMNS), copy=False)
