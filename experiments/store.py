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

:class:`RunStore` keeps other commands' runs the same way (``fargate-lab claims``: its
autoscaling, fault and rollout runs), each named by the hash of what the run is and the code
version, so a re-run in the same folder resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.outputs import atomic_file, write_text_atomic


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
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


class ResultsStore:
    """The results folder of a sweep (see the module docstring). ``key``: the column whose
    value names a run's part (a sweep's ``scenario_hash``; :class:`RunStore`'s ``run_key``)."""

    def __init__(self, root: str | os.PathLike[str], key: str = "scenario_hash") -> None:
        self.root = Path(root)
        self.key = key
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
        return {p.stem for p in self.parts.glob("*.parquet") if not p.name.startswith(".")}

    def write_run(self, row: dict[str, Any], tables: dict[str, pd.DataFrame] | None = None) -> None:
        """Store one finished run: its tables first (if any), then its part, each atomic; the
        part is the mark that the run is done."""
        digest = str(row[self.key])
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
        if len(rows) != 1 or rows[0].get(self.key) != path.stem:
            raise StoreError(
                f"{path}: not a results part of this store (expected one row with "
                f"{self.key} {path.stem}); delete it to run that grid point again"
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
        write_text_atomic(self.root / "sweep.json", json.dumps(meta, indent=2) + "\n")
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


class RunStore:
    """Runs stored by content: the results store of ``fargate-lab claims`` (``--out/runs``).

    A run's key is the SHA-256 of its identity (a JSON-able dict that fixes the run: the
    caller's run specification, e.g. window, policy, setting and scenario overrides) and the
    code version (:func:`code_version`). A run whose key is stored is read back, never run
    again; a changed specification or code version gives other keys, so its runs are run
    anew and never mixed with the old ones (those stay in the folder, unused:
    :meth:`unused`). ``git describe --dirty`` tells a dirty tree from a clean one but not two
    dirty trees apart: with uncommitted changes to the model, start from an empty folder.

    Each run is a part of a :class:`ResultsStore` keyed by ``run_key`` (and optionally its
    tables), written atomically as it finishes; corrupt parts raise :class:`StoreError`.
    """

    KEY = "run_key"

    def __init__(self, root: str | os.PathLike[str], version: str | None = None) -> None:
        self.results = ResultsStore(root, key=self.KEY)
        self.root = self.results.root
        self.version = code_version() if version is None else version
        self.results.prepare()
        self._stored = self.results.stored_hashes()
        self.found = len(self._stored)
        #: Keys run (and stored) by this process, in the order they finished.
        self.executed: list[str] = []
        self._used: set[str] = set()
        #: Rows read from their parts (parts are written once and never change in place).
        self._rows: dict[str, dict[str, Any]] = {}

    def key(self, identity: dict[str, Any]) -> str:
        """The content key of a run: SHA-256 of its identity and the code version."""
        text = json.dumps(
            {"identity": identity, "code_version": self.version},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def has(self, key: str) -> bool:
        return key in self._stored

    def missing(self, keys: list[str]) -> list[int]:
        """Indices of ``keys`` not stored yet. The stored ones are read first (and kept, so
        :meth:`get` does not read them again), so a corrupt part is reported
        (:class:`StoreError`) before anything runs."""
        for key in keys:
            if self.has(key):
                self.get(key)
        return [i for i, key in enumerate(keys) if not self.has(key)]

    def put(
        self, key: str, row: dict[str, Any], tables: dict[str, pd.DataFrame] | None = None
    ) -> None:
        """Store a finished run's row (and tables) under ``key``."""
        self.results.write_run({self.KEY: key, **row}, tables)
        self._stored.add(key)
        self.executed.append(key)

    def get(self, key: str) -> dict[str, Any]:
        """The stored row of ``key`` (without the key), read from its part once per store
        object; :class:`StoreError` if corrupt."""
        self._used.add(key)
        if key not in self._rows:
            row = self.results.read_part(self.results.part_path(key))
            row.pop(self.KEY)
            self._rows[key] = row
        return dict(self._rows[key])

    def table(self, key: str, name: str) -> pd.DataFrame:
        """The stored table ``name`` of run ``key``; :class:`StoreError` naming the file when
        it (or the run's part, the mark that the run finished) is missing or unreadable."""
        self.get(key)
        path = self.results.tables / key / f"{name}.parquet"
        try:
            return pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"{path}: missing, corrupt or partial ({' '.join(str(exc).split())}); delete "
                f"{self.results.part_path(key)} to run that run again"
            ) from None

    def reused(self) -> int:
        """Stored runs this process read without running them."""
        return len(self._used - set(self.executed))

    def unused(self) -> int:
        """Stored runs this process has not read: another specification or code version."""
        return len(self._stored - self._used)
