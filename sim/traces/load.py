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

This module defines the two loaders; the parts live in
:mod:`sim.traces.base` (:class:`Trace`, :class:`TraceError`), :mod:`sim.traces.catalog`
(:class:`CatalogEntry`, :data:`CATALOG`, :func:`catalog_table`), :mod:`sim.traces.fetch`
(:func:`cache_dir`, :func:`default_mirror`, :func:`fetch`) and :mod:`sim.traces.parse`
(:func:`read_csv_trace`, the catalog parsers, the parsed-array cache). Import each name from the module that defines it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.traces.base import Trace, TraceError
from sim.traces.catalog import CATALOG, catalog_entry
from sim.traces.fetch import cache_dir, fetch
from sim.traces.parse import load_parsed, parse_catalog_file, read_csv_trace, save_parsed


def cached_names(cache: Path | None = None) -> set[str]:
    """Names of the catalog traces whose file is in the cache folder (default
    :func:`cache_dir`). Presence only: the checksum is verified when the trace is used."""
    folder = Path(cache) if cache is not None else cache_dir()
    return {e.name for e in CATALOG.values() if (folder / e.filename).is_file()}


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
    entry = catalog_entry(name)
    path = fetch(name, mirror=mirror, cache=cache, progress=progress)
    npz = path.parent / f"{entry.name}.npz"
    cached = load_parsed(npz, entry)
    if cached is not None:
        return cached
    trace = parse_catalog_file(entry, path)
    save_parsed(npz, entry, trace)
    return trace


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
