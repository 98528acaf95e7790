"""The verified download cache: :func:`cache_dir`, :func:`default_mirror`, :func:`fetch`.

:func:`fetch` obtains a catalog file the way a user would: it downloads the file into the
cache folder (:func:`cache_dir`, from ``FARGATE_LAB_CACHE`` or the XDG default), computes its
SHA-256 while streaming, and keeps it only if the checksum matches the catalog's.

Offline machines point :func:`fetch` at a *mirror*: a folder, or an ``http(s)://`` /
``file://`` base URL, holding the same files under :attr:`CatalogEntry.filename`
(argument ``mirror=`` or environment variable ``FARGATE_LAB_TRACE_MIRROR``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from sim.traces.base import TraceError
from sim.traces.catalog import catalog_entry

__all__ = ["CACHE_ENV", "MIRROR_ENV", "cache_dir", "default_mirror", "fetch"]

#: Environment variable naming the trace cache folder (overrides the XDG default).
CACHE_ENV = "FARGATE_LAB_CACHE"
#: Environment variable naming the default mirror (folder or base URL).
MIRROR_ENV = "FARGATE_LAB_TRACE_MIRROR"

_CHUNK = 1 << 16
_URL_SCHEMES = ("http://", "https://", "file://")


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


def _hint(public: bool) -> str:
    """The advice after a failed download: a mirror when the public URL failed, else a look
    at the mirror that did."""
    if public:
        return (
            f"; if this machine is offline, use a mirror: --mirror DIR_OR_URL or "
            f"{MIRROR_ENV}=DIR_OR_URL"
        )
    return f"; check the mirror (--mirror / {MIRROR_ENV})"


def _open_source(name: str, source: str, *, public: bool) -> _Opened:
    try:
        return _Opened(source)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise TraceError(
            f"could not download trace {name!r} from {source}: {reason}{_hint(public)}"
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
                    f"could not download trace {name!r} from {source}: {exc}{_hint(public)}"
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
    entry = catalog_entry(name)
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
