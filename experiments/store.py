"""The results store of a sweep: one small Parquet part per finished run, consolidated into
``DIR/runs.parquet`` (README, "Sweeps and reports").

Layout of ``DIR``::

    parts/<scenario_hash>.parquet   one row: a finished run (written atomically)
    tables/<scenario_hash>/         optional: metrics.parquet, decisions.parquet of that run
    runs.parquet                    one row per grid point of the last sweep, grid order
    sweep.json                      the spec's name, path, axes and grid size

A part is written to a temporary file in ``parts/`` and moved into place with
``os.replace``, so it is whole or absent: a killed sweep loses at most the runs in flight, and
a run whose part exists is never run again (the part's name is the scenario's content hash).
A part that cannot be read, or whose row does not carry the hash in its name, is reported
naming the file (:class:`StoreError`), never silently skipped or read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class StoreError(ValueError):
    """A results store that cannot be read as it is; the message names the file."""


def code_version() -> str:
    """The package version, with ``git describe --always --dirty`` of the source tree when
    it is a git checkout (else the version alone)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("fargate-lab")
    except PackageNotFoundError:
        ver = "unknown"
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        described = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"{ver}+git.{described}" if described else ver


def _fsync_write_table(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ResultsStore:
    """The results folder of a sweep (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.parts = self.root / "parts"
        self.tables = self.root / "tables"

    def prepare(self) -> None:
        """Create the folders; remove temporary files a killed sweep left behind."""
        self.parts.mkdir(parents=True, exist_ok=True)
        for tmp in self.parts.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)
        if self.tables.is_dir():
            for tmp in self.tables.glob(".*.tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)

    def part_path(self, scenario_hash: str) -> Path:
        return self.parts / f"{scenario_hash}.parquet"

    def stored_hashes(self) -> set[str]:
        """Hashes of the runs whose part exists (names only; :meth:`read_parts` checks them)."""
        if not self.parts.is_dir():
            return set()
        return {p.stem for p in self.parts.glob("*.parquet")}

    def write_run(self, row: dict[str, Any], tables: dict[str, pd.DataFrame] | None = None) -> None:
        """Store one finished run: its tables first (if any), then its part, each atomic; the
        part is the mark that the run is done."""
        digest = str(row["scenario_hash"])
        if tables:
            final = self.tables / digest
            tmp = self.tables / f".{digest}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for name, frame in tables.items():
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        _fsync_write_table(pa.Table.from_pylist([row]), self.part_path(digest))

    def read_part(self, path: Path) -> dict[str, Any]:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"{path}: corrupt or partial results part ({' '.join(str(exc).split())}); "
                "delete it to run that grid point again"
            ) from None
        rows = table.to_pylist()
        if len(rows) != 1 or rows[0].get("scenario_hash") != path.stem:
            raise StoreError(
                f"{path}: not a results part of this store (expected one row with "
                f"scenario_hash {path.stem}); delete it to run that grid point again"
            )
        return rows[0]

    def read_parts(self, hashes: list[str]) -> list[dict[str, Any]]:
        """The stored rows of ``hashes`` (those stored), in the order given."""
        have = self.stored_hashes()
        return [self.read_part(self.part_path(h)) for h in hashes if h in have]

    def consolidate(self, hashes: list[str], meta: dict[str, Any]) -> pd.DataFrame:
        """Write ``runs.parquet`` (the stored rows of ``hashes``, in that order) and
        ``sweep.json`` atomically; return the table."""
        rows = self.read_parts(hashes)
        frame = pd.DataFrame(rows)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        _fsync_write_table(table, self.root / "runs.parquet")
        meta_path = self.root / "sweep.json"
        tmp = meta_path.with_name(f".sweep.json.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, meta_path)
        return frame


def read_runs(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``runs.parquet`` and ``sweep.json`` of a results folder; :class:`StoreError` naming
    the file when one is missing or unreadable."""
    root = Path(root)
    runs_path, meta_path = root / "runs.parquet", root / "sweep.json"
    for p in (runs_path, meta_path):
        if not p.is_file():
            raise StoreError(f"{p}: no such file; is {root} the --out folder of a sweep?")
    try:
        runs = pq.read_table(runs_path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(
            f"{runs_path}: corrupt or partial ({' '.join(str(exc).split())})"
        ) from None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"{meta_path}: unreadable ({exc})") from None
    return runs, meta
