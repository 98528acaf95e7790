"""The catalog of public request-load traces: :class:`CatalogEntry` and :data:`CATALOG`.

Each entry pins a public URL to a commit and records the file's SHA-256, its format, timezone,
licence and citation, and the resolution and span of the parsed series, so the catalog can be
described (:func:`catalog_table`) without downloading anything. :func:`catalog_entry` looks a
name up and raises :class:`TraceError` listing the valid names.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.traces.base import TraceError

__all__ = ["CATALOG", "CatalogEntry", "catalog_entry", "catalog_table"]


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


def catalog_entry(name: str) -> CatalogEntry:
    """The catalog entry ``name``; :class:`TraceError` listing the valid names if unknown."""
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
