"""Real request-load traces: a catalog of public files, a verified download cache, parsers.

The project never ships the trace files. It knows them through :data:`CATALOG` (public URL
pinned to a commit, SHA-256, format, licence, citation) and obtains them the way a user
would: :func:`fetch` downloads into a cache folder and verifies the checksum;
:func:`load_catalog_trace` parses the file into a :class:`Trace` on a regular time grid
(missing intervals are NaN) and caches the parsed arrays next to the download.

Offline machines point :func:`fetch` at a *mirror*: a folder, or an ``http(s)://`` /
``file://`` base URL, holding the same files under :attr:`CatalogEntry.filename`
(argument ``mirror=`` or environment variable ``FARGATE_LAB_TRACE_MIRROR``).

:func:`read_csv_trace` reads any user CSV with a timestamp column and a count column, and
:func:`load_trace` accepts either a catalog name or a CSV path.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from tqdm import tqdm

__all__ = [
    "CATALOG",
    "CatalogEntry",
    "Trace",
    "TraceError",
    "cache_dir",
    "catalog_table",
    "default_mirror",
    "fetch",
    "load_catalog_trace",
    "load_trace",
    "read_csv_trace",
]

#: Environment variable naming the trace cache folder (overrides the XDG default).
CACHE_ENV = "FARGATE_LAB_CACHE"
#: Environment variable naming the default mirror (folder or base URL).
MIRROR_ENV = "FARGATE_LAB_TRACE_MIRROR"

# Bump when the parsed-cache layout or any parser's output changes.
_PARSED_CACHE_VERSION = 1
_CHUNK = 1 << 16
_URL_SCHEMES = ("http://", "https://", "file://")
# Refuse to build grids longer than this from a CSV (a typo in a year would allocate GBs).
_MAX_SLOTS = 50_000_000


class TraceError(ValueError):
    """A trace could not be fetched, verified or parsed; the message says which file and why."""


# ---------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """One public trace: where it lives, how to verify it, how to parse it, how to cite it.

    ``filename`` is the name of the file in a mirror folder and in the cache (it differs
    from the URL's last path part for some entries). ``notice_filename`` is an optional
    extra file (licence or copyright notice) that travels with the trace: it is fetched
    from a mirror when present there, never verified, and skipped silently when absent.
    ``resolution_s`` and ``span`` describe the parsed series without downloading it.
    """

    name: str
    url: str
    sha256: str
    filename: str
    format: str
    timezone: str
    licence: str
    citation: str
    description: str
    resolution_s: float
    span: str
    notice_filename: str | None = None


_NAB_LICENCE = "MIT (Numenta Anomaly Benchmark; NAB-LICENSE.txt)"
_NAB_CITATION = (
    "A. Lavin and S. Ahmad, 'Evaluating Real-time Anomaly Detection Algorithms - the "
    "Numenta Anomaly Benchmark', IEEE ICMLA 2015; data from github.com/numenta/NAB"
)

CATALOG: dict[str, CatalogEntry] = {
    "nasa": CatalogEntry(
        name="nasa",
        url=(
            "https://raw.githubusercontent.com/reconfigurable-ml-pipeline/web-service-datasets/"
            "7404ad6643602943511e75ab3095fb1ccc990fd1/dataset/nasa/workload.tbz2"
        ),
        sha256="7fa62292d993dde1f278eaa039b50860203a86fbc93a8f92150a548191be4ded",
        filename="nasa_workload.tbz2",
        format="nasa-tbz2",
        timezone="UTC-4 (EDT, local time of the server)",
        licence=(
            "Freely redistributable (Internet Traffic Archive); per-second counts derived "
            "by reconfigurable-ml-pipeline/web-service-datasets"
        ),
        citation=(
            "NASA Kennedy Space Center WWW server access logs, July-August 1995, "
            "Internet Traffic Archive (ita.ee.lbl.gov)"
        ),
        description=(
            "HTTP requests per second to the NASA KSC web server, Jul-Aug 1995 "
            "(gap Jul 28-Aug 1 and hurricane outage Aug 1-3 are NaN)"
        ),
        resolution_s=1.0,
        span="1995-07-01 00:00:01 .. 1995-09-01 00:00:04",
    ),
    "worldcup98": CatalogEntry(
        name="worldcup98",
        url=(
            "https://raw.githubusercontent.com/nimamahmoudi/worldcup98-dataset/"
            "82460213f0d5a86fa57b6d4b0b5f260e606e713b/invocation_count.csv"
        ),
        sha256="d05038f98af96f6fab054f90445e02a68f37fd00a79c23f45b9b48e5ec91fb8e",
        filename="worldcup98_invocation_count.csv",
        format="period-count-csv",
        timezone="UTC",
        licence=(
            "Free use and redistribution with the copyright notice (WorldCup98-notice.html); "
            "per-minute file MIT (nimamahmoudi/worldcup98-dataset)"
        ),
        citation=(
            "M. Arlitt and T. Jin, '1998 World Cup Web Site Access Logs', August 1998, "
            "Internet Traffic Archive"
        ),
        description=(
            "Requests per minute to the 1998 FIFA World Cup web site, Apr 30-Jul 26 1998 "
            "(strongly non-stationary, match-time surges)"
        ),
        resolution_s=60.0,
        span="1998-04-30 21:30:00 .. 1998-07-26 21:59:00",
        notice_filename="WorldCup98-notice.html",
    ),
    "aws-elb": CatalogEntry(
        name="aws-elb",
        url=(
            "https://raw.githubusercontent.com/numenta/NAB/"
            "ea702d75cc2258d9d7dd35ca8e5e2539d71f3140/data/realAWSCloudwatch/"
            "elb_request_count_8c0756.csv"
        ),
        sha256="74c26574a01ca9fb89dddb5021e2e13c3a93eb25dc640438a9acb1ceb00f1021",
        filename="elb_request_count_8c0756.csv",
        format="timestamp-value-csv",
        timezone="UTC",
        licence=_NAB_LICENCE,
        citation=_NAB_CITATION,
        description=(
            "AWS Elastic Load Balancer RequestCount per 5 minutes (CloudWatch), Apr 10-24 2014"
        ),
        resolution_s=300.0,
        span="2014-04-10 00:04:00 .. 2014-04-24 00:39:00",
        notice_filename="NAB-LICENSE.txt",
    ),
    "twitter-aapl": CatalogEntry(
        name="twitter-aapl",
        url=(
            "https://raw.githubusercontent.com/numenta/NAB/"
            "ea702d75cc2258d9d7dd35ca8e5e2539d71f3140/data/realTweets/Twitter_volume_AAPL.csv"
        ),
        sha256="826f5cf404c2890784a7824f7102fd00cb134a4948e12e44ec320d095cbbc217",
        filename="Twitter_volume_AAPL.csv",
        format="timestamp-value-csv",
        timezone="UTC",
        licence=_NAB_LICENCE,
        citation=_NAB_CITATION,
        description=(
            "Tweets mentioning AAPL per 5 minutes, Feb 26-Apr 23 2015 (spiky: max 158x mean)"
        ),
        resolution_s=300.0,
        span="2015-02-26 21:42:53 .. 2015-04-23 02:47:53",
        notice_filename="NAB-LICENSE.txt",
    ),
}


def _entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise TraceError(
            f"unknown trace {name!r}; valid catalog names: {', '.join(CATALOG)}"
        ) from None


def _format_seconds(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def catalog_table() -> list[dict[str, str]]:
    """Rows describing the catalog, for ``fargate-lab traces list``.

    Each row has the keys ``name``, ``format``, ``resolution``, ``span``, ``licence``,
    ``url`` (all strings), in catalog order.
    """
    return [
        {
            "name": e.name,
            "format": e.format,
            "resolution": _format_seconds(e.resolution_s),
            "span": e.span,
            "licence": e.licence,
            "url": e.url,
        }
        for e in CATALOG.values()
    ]


# ---------------------------------------------------------------------------------------
# Trace
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Trace:
    """Request counts on a regular time grid.

    ``counts[i]`` is the number of requests in ``[start + i*interval_s,
    start + (i+1)*interval_s)``; NaN marks a missing interval (no data, not zero load).
    ``start`` is naive, second precision, in the trace's own timezone (see
    :attr:`CatalogEntry.timezone`). ``source`` is the CSV path or the catalog name.
    Equality is identity (the arrays make value equality ambiguous).
    """

    name: str
    start: np.datetime64
    interval_s: float
    counts: np.ndarray
    source: str

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim != 1:
            raise TraceError(f"{self.source}: counts must be 1-D, got shape {counts.shape}")
        interval = float(self.interval_s)
        if not np.isfinite(interval) or interval <= 0:
            raise TraceError(f"{self.source}: interval_s must be > 0, got {self.interval_s!r}")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "interval_s", interval)
        object.__setattr__(self, "start", np.datetime64(self.start, "s"))

    def __len__(self) -> int:
        return int(self.counts.size)

    def _offsets(self, n: np.ndarray | int) -> np.ndarray:
        if self.interval_s.is_integer():
            secs = np.asarray(n, dtype=np.int64) * int(self.interval_s)
        else:
            secs = np.rint(np.asarray(n, dtype=np.float64) * self.interval_s).astype(np.int64)
        return secs.astype("timedelta64[s]")

    @property
    def times(self) -> np.ndarray:
        """Start of each interval, as a ``datetime64[s]`` array of length ``len(self)``."""
        return self.start + self._offsets(np.arange(len(self)))

    @property
    def end(self) -> np.datetime64:
        """End of the last interval (exclusive): ``start + len(self) * interval_s``."""
        return self.start + self._offsets(len(self))

    @property
    def duration_s(self) -> float:
        """Length of the covered period in seconds, ``len(self) * interval_s``."""
        return len(self) * self.interval_s

    def rate(self) -> np.ndarray:
        """Requests per second in each interval (``counts / interval_s``; NaN stays NaN)."""
        return self.counts / self.interval_s

    def __repr__(self) -> str:
        missing = int(np.isnan(self.counts).sum())
        return (
            f"Trace(name={self.name!r}, start={self.start}, interval_s={self.interval_s:g}, "
            f"len={len(self)}, missing={missing}, source={self.source!r})"
        )


# ---------------------------------------------------------------------------------------
# Cache and download
# ---------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Folder where downloaded traces live.

    ``$FARGATE_LAB_CACHE`` if set, else ``$XDG_CACHE_HOME/fargate-lab/traces``, else
    ``~/.cache/fargate-lab/traces``. The folder is not created here.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fargate-lab" / "traces"


def default_mirror() -> str | None:
    """The mirror named by ``$FARGATE_LAB_TRACE_MIRROR`` (folder or base URL), or None."""
    return os.environ.get(MIRROR_ENV) or None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_url(mirror: str | os.PathLike[str]) -> bool:
    return isinstance(mirror, str) and mirror.lower().startswith(_URL_SCHEMES)


def _source_for(filename: str, mirror: str | os.PathLike[str]) -> str:
    """Where ``filename`` lives in ``mirror``: a URL or a local file path."""
    if _is_url(mirror):
        base = str(mirror)
        return base.rstrip("/") + "/" + urllib.parse.quote(filename)
    return str(Path(mirror).expanduser() / filename)


class _Opened:
    """A readable byte stream plus its length (if known), from a URL or a local path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stream: BinaryIO
        self.length: int | None
        if source.lower().startswith(_URL_SCHEMES):
            req = urllib.request.Request(source, headers={"User-Agent": "fargate-lab"})
            resp = urllib.request.urlopen(req, timeout=60)
            self.stream = resp
            length = resp.headers.get("Content-Length") if resp.headers else None
            self.length = int(length) if length and length.isdigit() else None
        else:
            path = Path(source)
            self.stream = open(path, "rb")
            self.length = path.stat().st_size

    def chunks(self) -> Iterator[bytes]:
        while True:
            block = self.stream.read(_CHUNK)
            if not block:
                return
            yield block

    def close(self) -> None:
        self.stream.close()


def _open_source(name: str, source: str, *, public: bool) -> _Opened:
    try:
        return _Opened(source)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        hint = (
            f"; if this machine is offline, use a mirror: --mirror DIR_OR_URL or "
            f"{MIRROR_ENV}=DIR_OR_URL"
            if public
            else f"; check the mirror (--mirror / {MIRROR_ENV})"
        )
        raise TraceError(
            f"could not download trace {name!r} from {source}: {reason}{hint}"
        ) from exc


def _download(
    name: str, source: str, dest: Path, *, expected: str | None, public: bool, progress: bool
) -> None:
    """Stream ``source`` into ``dest`` via a temp file in the same folder; verify SHA-256."""
    opened = _open_source(name, source, public=public)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(
                total=opened.length,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                file=sys.stderr,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            try:
                for block in opened.chunks():
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                raise TraceError(
                    f"could not download trace {name!r} from {source}: {exc}; "
                    f"use a mirror: --mirror DIR_OR_URL or {MIRROR_ENV}=DIR_OR_URL"
                ) from exc
        actual = h.hexdigest()
        if expected is not None and actual != expected:
            raise TraceError(
                f"checksum mismatch for trace {name!r} downloaded from {source}: "
                f"expected sha256 {expected}, got {actual}; the file was discarded"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        opened.close()


def fetch(
    name: str,
    *,
    mirror: str | os.PathLike[str] | None = None,
    cache: Path | None = None,
    progress: bool = False,
) -> Path:
    """Return the path of the verified catalog file ``name`` in the cache, downloading it if needed.

    A cached copy is re-hashed and reused when its SHA-256 matches (and replaced when it
    does not). Otherwise the file is downloaded from ``mirror`` (default:
    :func:`default_mirror`) -- a folder or an ``http(s)://`` / ``file://`` base URL that
    holds ``entry.filename`` -- or, without a mirror, from the pinned public URL. The
    download goes to a temporary file in the cache folder, its SHA-256 computed while
    streaming, and is renamed into place only if it matches. The entry's notice file is
    fetched alongside when the mirror has it (not verified; skipped silently if absent).

    Raises :class:`TraceError` for an unknown name, a network error or a checksum mismatch.
    """
    entry = _entry(name)
    folder = Path(cache) if cache is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / entry.filename
    if mirror is None:
        mirror = default_mirror()

    if dest.is_file() and _sha256_file(dest) != entry.sha256:
        dest.unlink()
    if not dest.is_file():
        if mirror is not None:
            source, public = _source_for(entry.filename, mirror), False
        else:
            source, public = entry.url, True
        _download(name, source, dest, expected=entry.sha256, public=public, progress=progress)

    if entry.notice_filename and mirror is not None:
        notice = folder / entry.notice_filename
        if not notice.is_file():
            try:
                _download(
                    name,
                    _source_for(entry.notice_filename, mirror),
                    notice,
                    expected=None,
                    public=False,
                    progress=False,
                )
            except (TraceError, OSError):
                pass  # optional file: absent from the mirror is fine
    return dest


# ---------------------------------------------------------------------------------------
# Catalog parsers
# ---------------------------------------------------------------------------------------

# NASA-HTTP facts (README of the mirror): two logs joined without a gap.
_NASA_TOTAL = 5_059_950
_NASA_JULY_N = 2_381_546
_NASA_JULY_START = np.datetime64("1995-07-01T00:00:01", "s")
_NASA_AUG_START = np.datetime64("1995-08-01T00:00:01", "s")
# Hurricane Erin: server down, the seconds read 0 but are missing data. [start, end)
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


def _parse_catalog_file(entry: CatalogEntry, path: Path) -> Trace:
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


def _load_parsed(npz: Path, entry: CatalogEntry) -> Trace | None:
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
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _save_parsed(npz: Path, entry: CatalogEntry, trace: Trace) -> None:
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


def load_catalog_trace(
    name: str,
    *,
    mirror: str | os.PathLike[str] | None = None,
    cache: Path | None = None,
    progress: bool = False,
) -> Trace:
    """Fetch (see :func:`fetch`) and parse the catalog trace ``name``.

    The parsed arrays are cached as ``<name>.npz`` next to the download, keyed by the
    file's SHA-256, and rebuilt when absent or stale.
    """
    entry = _entry(name)
    path = fetch(name, mirror=mirror, cache=cache, progress=progress)
    npz = path.parent / f"{entry.name}.npz"
    cached = _load_parsed(npz, entry)
    if cached is not None:
        return cached
    trace = _parse_catalog_file(entry, path)
    _save_parsed(npz, entry, trace)
    return trace


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
) -> str:
    """The named column, else the first preferred name present, else the first other one."""
    present = ", ".join(repr(c) for c in columns)
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise TraceError(f"{path}: column {wanted!r} not found; columns present: {present}")
    candidates = [c for c in columns if c != exclude]
    lower: dict[str, str] = {}
    for c in candidates:
        lower.setdefault(c.lower(), c)
    for cand in preferred:
        if cand in lower:
            return lower[cand]
    if not candidates:
        raise TraceError(
            f"{path}: need a timestamp column and a value column; columns present: {present}"
        )
    return candidates[0]


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
    if numeric.all():  # epoch seconds
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
    tcol = _pick_column(columns, time_column, _TIME_NAMES, None, where)
    vcol = _pick_column(columns, value_column, _VALUE_NAMES, tcol, where)
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
    datetime present (case-insensitive), else the first column; ``value_column`` to the
    first of value, count, requests, rps present, else the first other column.
    Timestamps are ISO 8601 strings (timezone-aware ones are converted to UTC, then made
    naive) or epoch seconds, in whole seconds. The resolution is the most common step
    between consecutive timestamps; the grid starts at the first timestamp, and intervals
    without a row are NaN. Each row must sit on the grid, unless ``snap=True`` which puts
    each row in its nearest slot.

    Raises :class:`TraceError` naming the file and line (header = line 1) or column for:
    an empty file or no data rows, a missing column, an unparsable timestamp, unsorted or
    duplicate timestamps, negative values, and empty, NaN or non-numeric values.
    """
    return _read_csv(
        Path(path), time_column=time_column, value_column=value_column, name=name, snap=snap
    )


# ---------------------------------------------------------------------------------------
# Catalog name or path
# ---------------------------------------------------------------------------------------


def load_trace(
    spec: str,
    *,
    base_dir: Path | None = None,
    mirror: str | os.PathLike[str] | None = None,
    cache: Path | None = None,
    progress: bool = False,
) -> Trace:
    """Load a catalog trace by name, or else a CSV file by path.

    A relative path is resolved against ``base_dir`` (default: the working directory).
    Raises :class:`TraceError` naming the resolved path and the catalog names when the
    spec is neither a catalog name nor an existing file.
    """
    if spec in CATALOG:
        return load_catalog_trace(spec, mirror=mirror, cache=cache, progress=progress)
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        what = "is a folder, not a CSV file" if path.is_dir() else "no such file"
        raise TraceError(
            f"{path.resolve()}: {what}; a trace is a CSV path or one of the catalog names: "
            f"{', '.join(CATALOG)}"
        )
    return read_csv_trace(path)
