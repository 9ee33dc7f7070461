"""``divergence load-dbn``: Databento DBN files into the store, through the live write path.

The decoding is pure (:mod:`divergence.venues.databento_dbn`); this module does the I/O.
Like ``divergence replay`` it builds a runtime without feeds or simulator, so the file's
quotes, trades and quarantined records go over the same bus to the same writer, tables
(``quotes``, ``trades``, ``quarantine``), ``venue_clock`` and basis job as a live feed.
A file is read in 1 MiB chunks, so memory stays bounded whatever its size.

Idempotency: after a file is loaded, a ``backfill`` row goes to ``feed_events`` with
``stream = 'dbn:<sha256 of the file>'`` for the venue, and a file whose hash is already
there for that venue is skipped (``--force`` loads it again and duplicates its rows).
The marker is written after the file's rows: if the process dies in between, the rows
stay without a marker and a second run loads them again. The venue and every file's
header are checked before the database is opened; an error found later (a file truncated
after its header) stops at that file, and the files before it stay loaded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from divergence.errors import ConfigError
from divergence.logs import configure_logging
from divergence.settings import Settings, load_settings

if TYPE_CHECKING:
    from divergence.catalog import Catalog
    from divergence.runtime import Runtime
    from divergence.venues.databento_dbn import DbnStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DbnLoad:
    """One file's outcome: its counts, or ``stats is None`` when it was already loaded."""

    path: Path
    sha256: str
    stats: DbnStats | None


def load_dbn(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="DBN files (.dbn or .dbn.zst).")
    ],
    venue: Annotated[
        str,
        typer.Option("--venue", metavar="ID", help='Catalog venue with adapter = "databento".'),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML settings file (see docs/configuration.md)."),
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB file (default: settings.db_path).")
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="Catalog TOML (default: settings.catalog_path)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Load files again even if already loaded.")
    ] = False,
) -> None:
    """Load Databento DBN files (mbp-1, tbbo, bbo-1s/1m, trades) as reference data."""
    import asyncio

    from divergence.catalog import load_catalog
    from divergence.content import default_catalog_path

    overrides = {"db_path": db, "catalog_path": catalog}
    settings = load_settings(config, overrides={k: v for k, v in overrides.items() if v})
    configure_logging(settings.log_level)
    check_dbn_files(files, venue, load_catalog(settings.catalog_path or default_catalog_path()))
    asyncio.run(run_load_dbn(settings, files, venue=venue, force=force, report=typer.echo))


def check_dbn_files(files: list[Path], venue: str, catalog: Catalog) -> None:
    """Fail before the database is opened: the venue, and every file's existence and header."""
    from divergence.venues.databento_dbn import DbnDecoder, dbn_chunks

    for path in files:
        if not path.is_file():
            raise ConfigError("DBN file not found", key="FILE", source=str(path))
        decoder = DbnDecoder(venue=venue, catalog=catalog, source=str(path))
        with path.open("rb") as raw:
            for chunk in dbn_chunks(raw, source=str(path), chunk_bytes=1 << 16):
                decoder.feed(chunk)
                if decoder.has_metadata:
                    break
        if not decoder.has_metadata:
            decoder.finish()  # raises: no metadata


async def run_load_dbn(
    settings: Settings,
    files: list[Path],
    *,
    venue: str,
    force: bool = False,
    report: Callable[[str], None] | None = None,
) -> list[DbnLoad]:
    """Load ``files`` into ``settings.db_path`` as rows of ``venue``; one result per file."""
    from divergence.runtime import Runtime

    runtime = Runtime(
        settings.model_copy(
            update={"feeds": (), "sim": settings.sim.model_copy(update={"enabled": False})}
        )
    )
    await runtime.start()
    done: set[str] = set()
    results: list[DbnLoad] = []
    try:
        for path in files:
            result = await _load_file(runtime, path, venue=venue, force=force, done=done)
            results.append(result)
            if report is not None:
                report(summary_line(result, venue=venue))
    finally:
        await runtime.stop()
    return results


async def _load_file(
    runtime: Runtime, path: Path, *, venue: str, force: bool, done: set[str]
) -> DbnLoad:
    from divergence.clock import now_ns
    from divergence.events import feed_event
    from divergence.venues.databento_dbn import DbnDecoder, dbn_chunks

    digest = file_sha256(path)
    stream = f"dbn:{digest}"
    if not force and (digest in done or await _loaded(runtime, venue, stream)):
        return DbnLoad(path=path, sha256=digest, stats=None)
    decoder = DbnDecoder(venue=venue, catalog=runtime.catalog, source=str(path))
    with path.open("rb") as raw:
        for chunk in dbn_chunks(raw, source=str(path)):
            batch = decoder.feed(chunk)
            if batch.events:
                await runtime.bus.publish("events", batch.events)
            if batch.rejects:
                await runtime.bus.publish("quarantine", batch.rejects)
    stats = decoder.finish()
    detail = f"{path.name}: {stats.dataset} {stats.schema}, " + _counts(stats)
    marker = feed_event(
        venue, now_ns(), stream, "backfill", detail, value=stats.quotes + stats.trades
    )
    await runtime.bus.publish("events", [marker])
    done.add(digest)
    log.info("dbn file loaded", extra={"venue": venue, "path": str(path)})
    return DbnLoad(path=path, sha256=digest, stats=stats)


async def _loaded(runtime: Runtime, venue: str, stream: str) -> bool:
    rows = await runtime.store.named("dbn_file_loaded", {"venue": venue, "stream": stream})
    return int(rows["n"][0]) > 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def summary_line(result: DbnLoad, *, venue: str) -> str:
    """One line per file: what was read and what became of it."""
    name = result.path.name
    if result.stats is None:
        return (
            f"{name}: already loaded into {venue} (sha256 {result.sha256[:12]}), skipped; "
            "--force loads it again"
        )
    stats = result.stats
    return f"{name}: {stats.dataset} {stats.schema} into {venue}, {_counts(stats)}"


def _counts(stats: DbnStats) -> str:
    parts = [
        f"{stats.records} records: {stats.quotes} quotes, {stats.trades} trades",
        f"{sum(stats.quarantined.values())} quarantined{_reasons(stats.quarantined)}",
        f"{sum(stats.skipped.values())} skipped{_reasons(stats.skipped)}",
    ]
    if stats.unmapped:
        parts.append(f"unmapped symbols{_reasons(stats.unmapped)}")
    if stats.ts_event_from_recv:
        parts.append(f"{stats.ts_event_from_recv} with ts_event = ts_recv (UNDEF ts_event)")
    return "; ".join(parts)


def _reasons(counts: dict[str, int]) -> str:
    if not counts:
        return ""
    return " (" + ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) + ")"
