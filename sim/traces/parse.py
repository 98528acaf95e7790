"""Parsers from trace files to :class:`Trace`, and the cache of parsed arrays.

:func:`read_csv_trace` reads any user CSV with a timestamp column and a count column.
:func:`parse_catalog_file` parses a downloaded catalog file by its :attr:`CatalogEntry.format`:
the NASA archive with its own parser, the CSV formats with the CSV reader (the entry's
columns, each row snapped to its nearest slot). :func:`load_parsed` and :func:`save_parsed`
keep the parsed arrays as an ``.npz`` keyed by the file's SHA-256 and the parser version.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.traces.base import Trace, TraceError
from sim.traces.catalog import CatalogEntry

__all__ = ["load_parsed", "parse_catalog_file", "read_csv_trace", "save_parsed"]

# Bump when the parsed-cache layout or any parser's output changes.
_PARSED_CACHE_VERSION = 1
# Refuse to build grids longer than this from a CSV (a typo in a year would allocate GBs).
_MAX_SLOTS = 50_000_000


# ---------------------------------------------------------------------------------------
# Catalog parsers
# ---------------------------------------------------------------------------------------

# NASA-HTTP facts. The Internet Traffic Archive's page for the logs
# (https://ita.ee.lbl.gov/html/contrib/NASA-HTTP.html) gives the two logs (July and August
# 1995, local time -0400) and the outage below. The per-second file, workload.txt in
# reconfigurable-ml-pipeline/web-service-datasets at the commit pinned in the catalog, holds
# the two logs' seconds joined without a gap: _NASA_TOTAL values, the first _NASA_JULY_N of
# them from July (counted in that file; the parser refuses any other length).
_NASA_TOTAL = 5_059_950
_NASA_JULY_N = 2_381_546
_NASA_JULY_START = np.datetime64("1995-07-01T00:00:01", "s")
_NASA_AUG_START = np.datetime64("1995-08-01T00:00:01", "s")
# Hurricane Erin: "from 01/Aug/1995:14:52:01 until 03/Aug/1995:04:36:13 there are no
# accesses recorded, as the Web server was shut down" (the ITA page above); the seconds read
# 0 but are missing data. [start, end), both ends rounded down to the minute.
_NASA_OUTAGE = (
    np.datetime64("1995-08-01T14:52:00", "s"),
    np.datetime64("1995-08-03T04:36:00", "s"),
)


def _parse_nasa(path: Path, source: str) -> Trace:
    try:
        with tarfile.open(path, "r:bz2") as tf:
            members = [m for m in tf.getmembers() if m.isfile()]
            member = next((m for m in members if Path(m.name).name == "workload.txt"), None)
            if member is None:
                names = ", ".join(m.name for m in members) or "nothing"
                raise TraceError(f"{path}: no workload.txt in the archive (found {names})")
            f = tf.extractfile(member)
            assert f is not None
            raw = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise TraceError(f"{path}: not a readable bzip2 tar archive: {exc}") from exc
    try:
        values = np.fromstring(raw, dtype=np.int64, sep=" ")
    except ValueError as exc:
        raise TraceError(f"{path}: workload.txt: non-integer data ({exc})") from exc
    if values.size != _NASA_TOTAL:
        raise TraceError(f"{path}: workload.txt holds {values.size} values, expected {_NASA_TOTAL}")
    one = np.timedelta64(1, "s")
    aug_offset = int((_NASA_AUG_START - _NASA_JULY_START) // one)
    n_aug = values.size - _NASA_JULY_N
    counts = np.full(aug_offset + n_aug, np.nan)
    counts[:_NASA_JULY_N] = values[:_NASA_JULY_N]
    counts[aug_offset:] = values[_NASA_JULY_N:]
    lo, hi = (int((t - _NASA_JULY_START) // one) for t in _NASA_OUTAGE)
    counts[lo:hi] = np.nan
    return Trace(name="nasa", start=_NASA_JULY_START, interval_s=1.0, counts=counts, source=source)


def parse_catalog_file(entry: CatalogEntry, path: Path) -> Trace:
    """Parse the downloaded file of ``entry`` at ``path`` by ``entry.format``."""
    if entry.format == "nasa-tbz2":
        return _parse_nasa(path, entry.name)
    if entry.format == "period-count-csv":
        cols = ("period", "count")
    elif entry.format == "timestamp-value-csv":
        cols = ("timestamp", "value")
    else:  # pragma: no cover - catalog bug
        raise TraceError(f"{entry.name}: unknown catalog format {entry.format!r}")
    trace = _read_csv(path, time_column=cols[0], value_column=cols[1], name=entry.name, snap=True)
    return Trace(
        name=entry.name,
        start=trace.start,
        interval_s=trace.interval_s,
        counts=trace.counts,
        source=entry.name,
    )


# ---------------------------------------------------------------------------------------
# Parsed cache
# ---------------------------------------------------------------------------------------


def load_parsed(npz: Path, entry: CatalogEntry) -> Trace | None:
    """The trace cached in ``npz`` for ``entry``, or None if absent, unreadable or stale.

    Unreadable includes a truncated or corrupt file (``zipfile.BadZipFile``, as a write cut
    short by a crash would leave it, although :func:`save_parsed` writes atomically): the
    caller then parses the trace again and rewrites the cache.
    """
    try:
        with np.load(npz, allow_pickle=False) as z:
            if str(z["sha256"]) != entry.sha256 or int(z["version"]) != _PARSED_CACHE_VERSION:
                return None
            return Trace(
                name=entry.name,
                start=np.datetime64(int(z["start"]), "s"),
                interval_s=float(z["interval"]),
                counts=z["counts"],
                source=entry.name,
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def save_parsed(npz: Path, entry: CatalogEntry, trace: Trace) -> None:
    """Cache ``trace`` in ``npz`` (atomically); a cache that cannot be written is skipped."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{npz.name}.", suffix=".part", dir=npz.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    counts=trace.counts,
                    start=np.int64(trace.start.astype("datetime64[s]").astype(np.int64)),
                    interval=np.float64(trace.interval_s),
                    sha256=np.str_(entry.sha256),
                    version=np.int64(_PARSED_CACHE_VERSION),
                )
            os.replace(tmp, npz)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache only costs speed


# ---------------------------------------------------------------------------------------
# Generic CSV reader
# ---------------------------------------------------------------------------------------

_TIME_NAMES = ("timestamp", "time", "period", "date", "datetime")
_VALUE_NAMES = ("value", "count", "requests", "rps")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _pick_column(
    columns: list[str],
    wanted: str | None,
    preferred: tuple[str, ...],
    exclude: str | None,
    path: str,
    what: str,
) -> str:
    """The named column, else the first of the usual names present (case-insensitive).

    No guessing beyond the usual names: when none is present the file is refused with the
    columns found, and the caller is told to name the column (``what`` is ``"time"`` or
    ``"value"``: the ``time_column`` / ``value_column`` argument and scenario key).
    """
    present = ", ".join(repr(c) for c in columns)
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise TraceError(f"{path}: column {wanted!r} not found; columns present: {present}")
    lower: dict[str, str] = {}
    for c in columns:
        if c != exclude:
            lower.setdefault(c.lower(), c)
    for cand in preferred:
        if cand in lower:
            return lower[cand]
    kind = "timestamp" if what == "time" else "count"
    raise TraceError(
        f"{path}: no {kind} column among the usual names ({', '.join(preferred)}); "
        f"columns present: {present}; name it with {what}_column (traffic.{what}_column in "
        "a scenario)"
    )


def _line(row: int | np.integer[Any]) -> int:
    """File line of data row ``row`` (0-based): the header is line 1."""
    return int(row) + 2


def _parse_times(raw: pd.Series, path: str, column: str) -> np.ndarray:
    """Strings -> int64 seconds since the epoch (naive; aware inputs converted to UTC)."""
    text = raw.str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        row = raw.index[int(np.argmax(empty))]
        raise TraceError(f"{path}, line {_line(row)}: empty timestamp in column {column!r}")

    numeric = text.str.fullmatch(_NUMBER_RE.pattern).to_numpy(dtype=bool)
    if numeric.sum() * 2 > numeric.size:  # mostly numbers: epoch seconds
        if not numeric.all():  # the odd one out is the bad row, not the first number
            row = raw.index[int(np.argmin(numeric))]
            raise TraceError(
                f"{path}, line {_line(row)}: cannot parse timestamp {raw[row]!r} in column "
                f"{column!r} (the other rows are epoch seconds)"
            )
        secs = pd.to_numeric(text).to_numpy(dtype=np.float64)
        frac = secs != np.rint(secs)
        if frac.any():
            row = raw.index[int(np.argmax(frac))]
            raise TraceError(
                f"{path}, line {_line(row)}: timestamp {raw[row]!r} has a fraction of a "
                "second; only whole seconds are supported"
            )
        return np.rint(secs).astype(np.int64)

    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = raw.index[int(np.argmax(bad))]
        raise TraceError(
            f"{path}, line {_line(row)}: cannot parse timestamp {raw[row]!r} in column "
            f"{column!r} (expected ISO 8601 like 2014-04-10 00:04:00, or epoch seconds)"
        )
    us = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").astype(np.int64)
    frac = us % 1_000_000 != 0
    if frac.any():
        row = raw.index[int(np.argmax(frac))]
        raise TraceError(
            f"{path}, line {_line(row)}: timestamp {raw[row]!r} has a fraction of a second; "
            "only whole seconds are supported"
        )
    return us // 1_000_000


def _parse_values(raw: pd.Series, path: str, column: str) -> np.ndarray:
    text = raw.str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = raw.index[int(np.argmax(bad))]
        cell = text[row]
        if cell == "":
            problem = "empty value"
        elif cell.lower() in ("nan", "na", "n/a", "null", "none"):
            problem = f"missing value {cell!r} (NaN is not allowed; leave the row out)"
        elif np.isinf(values[int(np.argmax(bad))]):
            problem = f"infinite value {cell!r}"
        else:
            problem = f"non-numeric value {cell!r}"
        raise TraceError(f"{path}, line {_line(row)}: {problem} in column {column!r}")
    neg = values < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise TraceError(
            f"{path}, line {_line(raw.index[i])}: negative value {text.iloc[i]!r} in column "
            f"{column!r}"
        )
    return values


def _read_csv(
    path: Path,
    *,
    time_column: str | None,
    value_column: str | None,
    name: str | None,
    snap: bool,
) -> Trace:
    where = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise TraceError(f"{where}: cannot read file: {exc}") from exc
    if not data.strip():
        raise TraceError(f"{where}: empty file (expected a header and data rows)")
    try:
        df = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TraceError(f"{where}: not a readable CSV file: {exc}") from exc

    df.columns = [str(c).strip() for c in df.columns]
    columns = list(df.columns)
    tcol = _pick_column(columns, time_column, _TIME_NAMES, None, where, "time")
    vcol = _pick_column(columns, value_column, _VALUE_NAMES, tcol, where, "value")
    if vcol == tcol:
        raise TraceError(f"{where}: time and value column are both {tcol!r}")

    # Blank lines keep their place in the index (so line numbers stay right) but are dropped.
    blank = (df.apply(lambda s: s.str.strip()) == "").all(axis=1)
    df = df[~blank]
    if df.empty:
        raise TraceError(f"{where}: no data rows (only a header)")

    secs = _parse_times(df[tcol], where, tcol)
    values = _parse_values(df[vcol], where, vcol)
    rows = df.index.to_numpy()

    diffs = np.diff(secs)
    bad = diffs <= 0
    if bad.any():
        i = int(np.argmax(bad)) + 1
        t = df[tcol].iloc[i].strip()
        if diffs[i - 1] == 0:
            raise TraceError(
                f"{where}, line {_line(rows[i])}: duplicate timestamp {t!r} (same as line "
                f"{_line(rows[i - 1])})"
            )
        raise TraceError(
            f"{where}, line {_line(rows[i])}: timestamps not sorted: {t!r} comes after "
            f"{df[tcol].iloc[i - 1].strip()!r} (line {_line(rows[i - 1])})"
        )
    if secs.size < 2:
        raise TraceError(f"{where}: need at least two data rows to infer the resolution")

    uniq, freq = np.unique(diffs, return_counts=True)
    interval = int(uniq[int(np.argmax(freq))])  # most common step; ties -> smallest

    offset = secs - secs[0]
    slots = np.floor_divide(offset + interval // 2, interval)  # nearest slot
    if snap:
        clash = np.diff(slots) == 0
        if clash.any():
            i = int(np.argmax(clash)) + 1
            raise TraceError(
                f"{where}, line {_line(rows[i])}: timestamp falls in the same {interval} s "
                f"slot as line {_line(rows[i - 1])}"
            )
    else:
        off_grid = offset % interval != 0
        if off_grid.any():
            i = int(np.argmax(off_grid))
            dev = int(offset[i] - slots[i] * interval)
            raise TraceError(
                f"{where}, line {_line(rows[i])}: timestamp {df[tcol].iloc[i].strip()!r} is "
                f"not on the {interval} s grid starting at the first row (off by {dev:+d} s)"
            )
    n = int(slots[-1]) + 1
    if n > _MAX_SLOTS:
        i = int(np.argmax(diffs)) + 1
        raise TraceError(
            f"{where}, line {_line(rows[i])}: a gap of {int(diffs[i - 1])} s at "
            f"{interval} s resolution would make {n} intervals (limit {_MAX_SLOTS})"
        )
    counts = np.full(n, np.nan)
    counts[slots] = values
    return Trace(
        name=name if name is not None else path.stem,
        start=np.datetime64(int(secs[0]), "s"),
        interval_s=float(interval),
        counts=counts,
        source=where,
    )


def read_csv_trace(
    path: str | os.PathLike[str],
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    name: str | None = None,
    snap: bool = False,
) -> Trace:
    """Read a CSV of request counts per interval into a :class:`Trace`.

    Columns: ``time_column`` defaults to the first of timestamp, time, period, date,
    datetime present (case-insensitive); ``value_column`` to the first of value, count,
    requests, rps present. When no usual name is present and the column is not named,
    the file is refused with the columns found (no guess). Timestamps are ISO 8601 strings
    (timezone-aware ones are converted to UTC, then made naive) or epoch seconds (when most
    rows are numbers; any other row is then the bad one), in whole seconds. The resolution is the most common step
    between consecutive timestamps; the grid starts at the first timestamp, and intervals
    without a row are NaN. Each row must sit on the grid, unless ``snap=True`` which puts
    each row in its nearest slot.

    Raises :class:`TraceError` naming the file and line (header = line 1) or column for:
    an empty file or no data rows, a missing or unrecognised column, an unparsable timestamp, unsorted or
    duplicate timestamps, negative values, and empty, NaN or non-numeric values.
    """
    return _read_csv(
        Path(path), time_column=time_column, value_column=value_column, name=name, snap=snap
    )
