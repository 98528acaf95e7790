"""Tests for sim.traces: catalog, verified download through a mirror, parsers, CSV reader."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sim.traces.base import Trace, TraceError
from sim.traces.catalog import CATALOG, catalog_table
from sim.traces.fetch import cache_dir, default_mirror, fetch
from sim.traces.load import load_catalog_trace, load_trace
from sim.traces.parse import read_csv_trace

S = np.timedelta64(1, "s")


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirror() -> Path:
    """The local mirror folder of the public trace files (the Makefile sets it)."""
    value = os.environ.get("FARGATE_LAB_TRACE_MIRROR")
    if not value:
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"trace mirror {path} is not a folder")
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Never touch the real cache, even if a test forgets cache=."""
    monkeypatch.setenv("FARGATE_LAB_CACHE", str(tmp_path_factory.mktemp("default-cache")))


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace-cache")


@pytest.fixture(scope="module")
def nasa(mirror: Path, module_cache: Path) -> Trace:
    """The NASA trace, parsed once per module (the slow one)."""
    return load_catalog_trace("nasa", mirror=mirror, cache=module_cache)


def _serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_mirror(mirror: Path) -> Iterator[str]:
    """The mirror folder served over HTTP on 127.0.0.1."""
    yield from _serve(mirror)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(tmp_path: Path, text: str, name: str = "load.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------
# Catalog and cache locations
# ---------------------------------------------------------------------------------------


def test_catalog_names_and_table() -> None:
    assert set(CATALOG) == {"nasa", "worldcup98", "aws-elb", "twitter-aapl"}
    for name, entry in CATALOG.items():
        assert entry.name == name
        assert entry.url.startswith("https://raw.githubusercontent.com/")
        assert len(entry.sha256) == 64
    assert CATALOG["nasa"].filename == "nasa_workload.tbz2"
    assert CATALOG["worldcup98"].notice_filename == "WorldCup98-notice.html"
    assert CATALOG["aws-elb"].notice_filename == "NAB-LICENSE.txt"
    rows = catalog_table()
    assert [r["name"] for r in rows] == list(CATALOG)
    assert {"name", "format", "resolution", "span", "licence", "url"} <= set(rows[0])


def test_cache_dir_and_mirror_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FARGATE_LAB_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FARGATE_LAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "fargate-lab" / "traces"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "fargate-lab" / "traces"
    monkeypatch.setenv("FARGATE_LAB_TRACE_MIRROR", "http://127.0.0.1:1/")
    assert default_mirror() == "http://127.0.0.1:1/"
    monkeypatch.delenv("FARGATE_LAB_TRACE_MIRROR")
    assert default_mirror() is None


def test_unknown_name_lists_valid_names(tmp_path: Path) -> None:
    for call in (fetch, load_catalog_trace):
        with pytest.raises(TraceError) as err:
            call("nasa96", cache=tmp_path)
        for name in CATALOG:
            assert name in str(err.value)
        assert "nasa96" in str(err.value)


def test_load_trace_missing_path_names_path_and_catalog(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as err:
        load_trace("nope.csv", base_dir=tmp_path)
    msg = str(err.value)
    assert str((tmp_path / "nope.csv").resolve()) in msg
    assert all(name in msg for name in CATALOG)


# ---------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------


def test_fetch_over_http(http_mirror: str, tmp_path: Path) -> None:
    path = fetch("aws-elb", mirror=http_mirror, cache=tmp_path)
    assert path == tmp_path / CATALOG["aws-elb"].filename
    assert path.is_file()
    assert _sha256(path) == CATALOG["aws-elb"].sha256
    assert (tmp_path / "NAB-LICENSE.txt").is_file()  # notice travels with it
    assert not list(tmp_path.glob("*.part"))


def test_fetch_checksum_mismatch_leaves_nothing(mirror: Path, tmp_path: Path) -> None:
    bad_mirror = tmp_path / "mirror"
    bad_mirror.mkdir()
    name = CATALOG["aws-elb"].filename
    data = bytearray((mirror / name).read_bytes())
    data[100] ^= 0x01
    (bad_mirror / name).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    for base in _serve(bad_mirror):
        with pytest.raises(TraceError) as err:
            fetch("aws-elb", mirror=base, cache=cache)
        msg = str(err.value)
        assert "checksum" in msg
        assert CATALOG["aws-elb"].sha256 in msg
        assert hashlib.sha256(bytes(data)).hexdigest() in msg
        assert base in msg
    assert list(cache.iterdir()) == []  # neither the file nor a temp file


def test_fetch_folder_and_file_url_mirrors_and_cache_reuse(mirror: Path, tmp_path: Path) -> None:
    path = fetch("twitter-aapl", mirror=mirror, cache=tmp_path)
    assert _sha256(path) == CATALOG["twitter-aapl"].sha256
    # Cached: no mirror needed (an unreachable one is never contacted).
    assert fetch("twitter-aapl", mirror="http://127.0.0.1:9/", cache=tmp_path) == path
    # A corrupted cached copy is replaced.
    path.write_bytes(b"timestamp,value\n")
    again = fetch("twitter-aapl", mirror=mirror.resolve().as_uri(), cache=tmp_path)
    assert _sha256(again) == CATALOG["twitter-aapl"].sha256


def test_fetch_skips_absent_notice(mirror: Path, tmp_path: Path) -> None:
    only_csv = tmp_path / "mirror"
    only_csv.mkdir()
    shutil.copy(mirror / CATALOG["aws-elb"].filename, only_csv)
    cache = tmp_path / "cache"
    fetch("aws-elb", mirror=only_csv, cache=cache)
    assert sorted(p.name for p in cache.iterdir()) == [CATALOG["aws-elb"].filename]


def test_fetch_network_error_suggests_mirror(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    with pytest.raises(TraceError) as err:
        fetch("aws-elb", mirror=base, cache=tmp_path)
    assert base + CATALOG["aws-elb"].filename in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("from_mirror", [True, False])
def test_download_cut_midway_gives_the_right_advice(
    monkeypatch, tmp_path: Path, from_mirror: bool
) -> None:
    """A mirror that fails is to be checked; a public URL that fails calls for a mirror."""
    import sim.traces.fetch

    monkeypatch.delenv("FARGATE_LAB_TRACE_MIRROR", raising=False)
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / CATALOG["aws-elb"].filename).write_bytes(b"x" * 100)

    class Cut:
        length = 100

        def __init__(self, source: str) -> None:
            self.source = source

        def chunks(self):
            yield b"x" * 10
            raise OSError("connection reset by peer")

        def close(self) -> None:
            pass

    monkeypatch.setattr(sim.traces.fetch, "_Opened", Cut)
    cache = tmp_path / "cache"
    with pytest.raises(TraceError) as err:
        fetch("aws-elb", mirror=folder if from_mirror else None, cache=cache)
    msg = str(err.value)
    assert "connection reset by peer" in msg
    assert ("check the mirror" in msg) == from_mirror
    assert ("offline, use a mirror: --mirror DIR_OR_URL" in msg) == (not from_mirror)
    assert list(cache.iterdir()) == []  # the partial download was removed


def test_fetch_without_mirror_uses_public_url(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FARGATE_LAB_TRACE_MIRROR", raising=False)
    seen: list[str] = []

    def offline(req, timeout=None):
        seen.append(req.full_url)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(TraceError) as err:
        fetch("nasa", cache=tmp_path)
    msg = str(err.value)
    assert seen == [CATALOG["nasa"].url]
    assert CATALOG["nasa"].url in msg
    assert "--mirror" in msg and "FARGATE_LAB_TRACE_MIRROR" in msg


# ---------------------------------------------------------------------------------------
# Catalog traces
# ---------------------------------------------------------------------------------------


def test_nasa_two_logs_at_their_own_start_times(nasa: Trace) -> None:
    n_july = 2_381_546
    assert nasa.start == np.datetime64("1995-07-01T00:00:01")
    assert nasa.interval_s == 1.0
    times = nasa.times
    aug = int((np.datetime64("1995-08-01T00:00:01") - nasa.start) // S)
    assert times[aug] == np.datetime64("1995-08-01T00:00:01")
    assert len(nasa) == aug + 5_059_950 - n_july
    assert times[-1] == nasa.start + (len(nasa) - 1) * S
    # First August values of workload.txt sit at Aug 1 00:00:01, not after July's end.
    np.testing.assert_array_equal(nasa.counts[aug : aug + 10], [0, 0, 0, 0, 1, 3, 1, 3, 1, 2])
    assert np.nansum(nasa.counts[:n_july]) == 1_891_714
    assert not np.isnan(nasa.counts[:n_july]).any()
    # The gap from the end of the July log to Aug 1 00:00:01 is missing.
    assert np.isnan(nasa.counts[n_july:aug]).all()
    assert times[n_july - 1] < np.datetime64("1995-07-28T13:33:00")


def test_nasa_outage_is_missing_not_zero(nasa: Trace) -> None:
    lo = int((np.datetime64("1995-08-01T14:52:00") - nasa.start) // S)
    hi = int((np.datetime64("1995-08-03T04:36:00") - nasa.start) // S)
    aug = int((np.datetime64("1995-08-01T00:00:01") - nasa.start) // S)
    assert np.isnan(nasa.counts[lo:hi]).all()
    assert not np.isnan(nasa.counts[[lo - 1, hi]]).any()
    assert np.isnan(nasa.counts[aug:]).sum() == hi - lo
    # The August log sums to 1,569,896 including the outage seconds, so the masked
    # seconds (all >= 0) were all zero.
    assert np.nansum(nasa.counts[aug:]) == 1_569_896
    # Shuttle launch: 405 requests in the minute Jul 13 09:49.
    spike = int((np.datetime64("1995-07-13T09:49:00") - nasa.start) // S)
    assert nasa.counts[spike : spike + 60].sum() == 405


def test_nasa_cached_parse_is_identical(nasa: Trace, mirror: Path, module_cache: Path) -> None:
    assert (module_cache / "nasa.npz").is_file()
    again = load_catalog_trace("nasa", mirror=mirror, cache=module_cache)
    assert again.start == nasa.start and again.interval_s == nasa.interval_s
    np.testing.assert_array_equal(again.counts, nasa.counts)


def test_worldcup98(mirror: Path, module_cache: Path) -> None:
    wc = load_catalog_trace("worldcup98", mirror=mirror, cache=module_cache)
    assert (module_cache / "WorldCup98-notice.html").is_file()
    assert wc.interval_s == 60.0
    assert wc.start == np.datetime64("1998-04-30T21:30:00")
    assert wc.times[-1] == np.datetime64("1998-07-26T21:59:00")
    assert np.isnan(wc.counts).sum() == 10
    peak = int(np.nanargmax(wc.counts))
    assert wc.times[peak] == np.datetime64("1998-07-07T21:41:00")
    assert 225_000 < wc.counts[peak] < 235_000
    assert np.nansum(wc.counts) == pytest.approx(1.353e9, rel=1e-3)
    np.testing.assert_allclose(wc.rate(), wc.counts / 60.0)


def test_aws_elb(mirror: Path, module_cache: Path) -> None:
    elb = load_catalog_trace("aws-elb", mirror=mirror, cache=module_cache)
    assert elb.interval_s == 300.0
    assert np.isnan(elb.counts).sum() == 8
    assert elb.start == np.datetime64("2014-04-10T00:04:00")
    assert np.nanmean(elb.counts) == pytest.approx(62, abs=2)
    assert elb.source == "aws-elb"


def test_twitter_aapl(mirror: Path, module_cache: Path) -> None:
    tw = load_catalog_trace("twitter-aapl", mirror=mirror, cache=module_cache)
    assert tw.interval_s == 300.0
    assert tw.start == np.datetime64("2015-02-26T21:42:53")  # the :53 offset is kept
    assert (tw.times.astype("int64") % 60 == 53).all()
    assert np.nanmax(tw.counts) / np.nanmean(tw.counts) == pytest.approx(158, rel=0.02)


def test_catalog_metadata_matches_parsed_traces(nasa: Trace, mirror: Path, module_cache: Path):
    for name, entry in CATALOG.items():
        tr = nasa if name == "nasa" else load_catalog_trace(name, mirror=mirror, cache=module_cache)
        assert tr.name == name
        assert tr.interval_s == entry.resolution_s
        first, last = entry.span.split(" .. ")
        assert tr.times[0] == np.datetime64(first.replace(" ", "T"))
        assert tr.times[-1] == np.datetime64(last.replace(" ", "T"))
        assert tr.end == tr.times[-1] + int(tr.interval_s) * S
        assert tr.duration_s == len(tr) * tr.interval_s


def test_stale_parsed_cache_is_rebuilt(mirror: Path, tmp_path: Path) -> None:
    np.savez(
        tmp_path / "aws-elb.npz",
        counts=np.zeros(3),
        start=np.int64(0),
        interval=np.float64(1.0),
        sha256=np.str_("0" * 64),
        version=np.int64(1),
    )
    elb = load_catalog_trace("aws-elb", mirror=mirror, cache=tmp_path)
    assert len(elb) == 4040
    with np.load(tmp_path / "aws-elb.npz") as z:
        assert str(z["sha256"]) == CATALOG["aws-elb"].sha256


@pytest.mark.parametrize("keep", [0, 1000, "half"])
def test_truncated_parsed_cache_is_rebuilt(mirror: Path, tmp_path: Path, keep) -> None:
    """An interrupted write leaves a cut .npz (zipfile.BadZipFile): parse again, rewrite."""
    first = load_catalog_trace("aws-elb", mirror=mirror, cache=tmp_path)
    npz = tmp_path / "aws-elb.npz"
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2 if keep == "half" else keep])
    again = load_catalog_trace("aws-elb", mirror=mirror, cache=tmp_path)
    np.testing.assert_array_equal(again.counts, first.counts)
    assert npz.read_bytes() == data  # rewritten whole
    assert not list(tmp_path.glob(".*.part"))  # no temporary file left


def test_cache_files_are_written_atomically(mirror: Path, tmp_path: Path, monkeypatch) -> None:
    """Downloads and the parsed cache go to a temporary file in the cache folder, then
    os.replace: the final name never holds a partial file."""
    import sim.traces.fetch
    import sim.traces.parse

    replaced: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src, dst) -> None:
        replaced.append((Path(src), Path(dst)))
        assert not Path(dst).exists() or Path(dst).stat().st_size > 0
        real_replace(src, dst)

    monkeypatch.setattr(sim.traces.fetch.os, "replace", spy)
    monkeypatch.setattr(sim.traces.parse.os, "replace", spy)
    load_catalog_trace("aws-elb", mirror=mirror, cache=tmp_path)
    targets = {dst.name for _, dst in replaced}
    assert {CATALOG["aws-elb"].filename, "aws-elb.npz"} <= targets
    for src, dst in replaced:
        assert src.parent == dst.parent and src.name.startswith(f".{dst.name}.")


def test_load_trace_catalog_name_and_path(mirror: Path, module_cache: Path, tmp_path: Path):
    assert load_trace("aws-elb", mirror=mirror, cache=module_cache).name == "aws-elb"
    _write(tmp_path, "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,2\n")
    tr = load_trace("load.csv", base_dir=tmp_path)
    assert tr.name == "load" and tr.interval_s == 60.0


# ---------------------------------------------------------------------------------------
# read_csv_trace: good input
# ---------------------------------------------------------------------------------------


def test_csv_gap_becomes_nan_and_resolution_inferred(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "timestamp,value\n"
        "2024-01-01 00:00:00,10\n"
        "2024-01-01 00:05:00,20\n"
        "2024-01-01 00:20:00,30\n"  # 00:10 and 00:15 missing
        "2024-01-01 00:25:00,40.5\n",
    )
    tr = read_csv_trace(path)
    assert tr.interval_s == 300.0
    assert tr.start == np.datetime64("2024-01-01T00:00:00")
    np.testing.assert_array_equal(tr.counts, [10, 20, np.nan, np.nan, 30, 40.5])
    assert tr.times[2] == np.datetime64("2024-01-01T00:10:00")
    assert tr.source == str(path) and tr.name == "load"
    assert len(tr) == 6 and tr.duration_s == 1800.0


def test_csv_epoch_seconds_and_column_inference(tmp_path: Path) -> None:
    path = _write(tmp_path, "host,Time,rps\na,1700000000,1\na,1700000060,2\na,1700000180,4\n")
    tr = read_csv_trace(path, name="epoch")
    assert tr.name == "epoch"
    assert tr.start == np.datetime64(1_700_000_000, "s")
    assert tr.interval_s == 60.0
    np.testing.assert_array_equal(tr.counts, [1, 2, np.nan, 4])


def test_csv_unusual_column_names_are_refused_unless_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "when,foo,bar\n2024-01-01T00:00:00Z,1,9\n2024-01-01T00:00:10Z,2,8\n")
    msg = _error(path)  # no guess: 'foo' is not silently taken as the count
    assert "no timestamp column" in msg and "'when', 'foo', 'bar'" in msg
    assert "time_column" in msg
    msg = _error(path, time_column="when")
    assert "no count column" in msg and "'when', 'foo', 'bar'" in msg
    assert "value_column" in msg
    tr = read_csv_trace(path, time_column="when", value_column="bar")
    np.testing.assert_array_equal(tr.counts, [9, 8])
    assert tr.interval_s == 10.0


def test_csv_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path, "timestamp,value\n\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,-1\n\n")
    with pytest.raises(TraceError, match=r"line 4: negative value"):
        read_csv_trace(path)


# ---------------------------------------------------------------------------------------
# read_csv_trace: bad input, one test each
# ---------------------------------------------------------------------------------------

GOOD_ROWS = "2024-01-01 00:00:00,1\n2024-01-01 00:01:00,2\n"


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(TraceError) as err:
        read_csv_trace(path, **kwargs)
    msg = str(err.value)
    assert str(path) in msg
    return msg


def test_csv_empty_file(tmp_path: Path) -> None:
    assert "empty file" in _error(_write(tmp_path, ""))


def test_csv_header_only(tmp_path: Path) -> None:
    assert "no data rows" in _error(_write(tmp_path, "timestamp,value\n"))


def test_csv_missing_named_column(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "timestamp,value\n" + GOOD_ROWS), value_column="requests")
    assert "'requests' not found" in msg
    assert "'timestamp', 'value'" in msg


def test_csv_single_column(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "timestamp\n2024-01-01 00:00:00\n"))
    assert "no count column" in msg and "'timestamp'" in msg


def test_csv_bad_timestamp(tmp_path: Path) -> None:
    path = _write(tmp_path, "timestamp,value\n" + GOOD_ROWS + "yesterday noon,3\n")
    msg = _error(path)
    assert "line 4" in msg and "'yesterday noon'" in msg and "timestamp" in msg


def test_csv_bad_timestamp_among_epoch_seconds_names_its_line(tmp_path: Path) -> None:
    rows = "".join(f"{1_700_000_000 + 60 * i},5\n" for i in range(10))
    path = _write(tmp_path, "timestamp,value\n" + rows + "notatime,5\n")  # line 12
    msg = _error(path)
    assert "line 12" in msg and "'notatime'" in msg
    assert "1700000000" not in msg


def test_csv_epoch_second_among_iso_rows_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "timestamp,value\n" + GOOD_ROWS + "1700000000,3\n")
    msg = _error(path)
    assert "line 4" in msg and "'1700000000'" in msg


def test_csv_unsorted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "timestamp,value\n" + GOOD_ROWS + "2024-01-01 00:00:30,3\n2024-01-01 00:03:00,4\n",
    )
    msg = _error(path)
    assert "line 4" in msg and "not sorted" in msg


def test_csv_duplicate(tmp_path: Path) -> None:
    path = _write(tmp_path, "timestamp,value\n" + GOOD_ROWS + "2024-01-01 00:01:00,3\n")
    msg = _error(path)
    assert "line 4" in msg and "duplicate timestamp" in msg and "line 3" in msg


def test_csv_negative(tmp_path: Path) -> None:
    path = _write(tmp_path, "timestamp,value\n" + GOOD_ROWS + "2024-01-01 00:02:00,-3\n")
    msg = _error(path)
    assert "line 4" in msg and "negative value '-3'" in msg


@pytest.mark.parametrize(
    ("cell", "problem"),
    [("NaN", "missing value 'NaN'"), ("lots", "non-numeric value 'lots'"), ("", "empty value")],
)
def test_csv_nan_non_numeric_empty(tmp_path: Path, cell: str, problem: str) -> None:
    path = _write(tmp_path, "timestamp,value\n" + GOOD_ROWS + f"2024-01-01 00:02:00,{cell}\n")
    msg = _error(path)
    assert "line 4" in msg and problem in msg and "'value'" in msg


def test_csv_off_grid_row(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "timestamp,value\n" + GOOD_ROWS + "2024-01-01 00:02:00,3\n2024-01-01 00:03:20,4\n"
    )
    msg = _error(path)
    assert "line 5" in msg and "not on the 60 s grid" in msg
    tr = read_csv_trace(path, snap=True)  # nearest slot instead
    np.testing.assert_array_equal(tr.counts, [1, 2, 3, 4])
