"""Output folders that are whole or absent.

Every command that writes results (``simulate --out``, ``demo``, ``experiment``) checks its
output folder *before* any work (:func:`check_out_dir`) and writes into a temporary folder
beside it, which is moved into place only when every file is written
(:func:`staged_output`). A command that fails, or is interrupted, leaves the output folder as
it was before the command: no empty folder, no half of the files.

A single file written in place (a report into an existing results folder, a scenario file, a
store's part) goes through :func:`atomic_file`: a temporary file in the same folder, moved
onto the name with ``os.replace`` once written, so the name holds the previous file or the
new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputError(ValueError):
    """The output folder cannot be used; the message names the folder and the reason."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_out_dir(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as an absolute Path if results can be written there, else raise
    :class:`OutputError` naming the folder and the problem.

    The folder may exist (an existing folder's files of the same names are replaced) or
    not (it is created, with its parents). The check creates and removes a probe folder in
    the nearest existing ancestor, so permissions, read-only and pseudo file systems
    (``/sys``, ``/proc``) are found out before any work. Nothing is left behind.
    """
    out = Path(path).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {path}: exists and is not a folder")
    anchor = _nearest_existing(out)
    if not anchor.is_dir():
        raise OutputError(f"--out {path}: {anchor} is a file, so no folder can be made under it")
    try:
        probe = tempfile.mkdtemp(prefix=".fargate-lab-probe-", dir=anchor)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise OutputError(f"--out {path}: cannot write in {anchor} ({reason})") from None
    os.rmdir(probe)
    return out


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.rename(dst, old)
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


@contextmanager
def staged_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder to write results into; on success move them to ``path``.

    If ``path`` does not exist the temporary folder is renamed to it (one atomic rename).
    If it exists, each written entry replaces the entry of the same name (each replacement
    atomic; other files in the folder are kept). On any exception, KeyboardInterrupt
    included, the temporary folder and any parent folders made for it are removed and
    ``path`` is left as it was.
    """
    out = check_out_dir(path)
    made: list[Path] = []
    parent = out.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            for entry in sorted(tmp.iterdir()):
                _replace(entry, out / entry.name)
            tmp.rmdir()
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in made:  # innermost first
            try:
                d.rmdir()
            except OSError:
                break
        raise


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write one file to; on success flush it to
    disk and move it onto ``path`` (``os.replace``, atomic within a file system).

    The temporary name is ``.<name>.tmp-<pid><suffix>``: hidden, in the same folder (so the
    move never crosses file systems) and with ``path``'s suffix (writers that choose the
    format by extension, e.g. matplotlib's ``savefig``, write the right one). On any
    exception, KeyboardInterrupt included, the temporary file is removed and ``path`` is left
    as it was. A process killed outright (SIGKILL) can leave the hidden temporary file, never
    a partial ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class Interrupted(Exception):
    """A long command was stopped (Ctrl-C); the message says what was kept and where.

    Raised from ``KeyboardInterrupt`` by code that stopped its workers and saved what was
    complete; the command line prints the message on one line and exits with status 130.
    """

    exit_status = 130
