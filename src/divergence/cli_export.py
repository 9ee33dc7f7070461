"""``divergence export``: a one-shot hive-partitioned Parquet export of a database file.

For a database no server holds open (``divergence serve`` refreshes its own export
periodically, see docs/operations.md). Every date of every table is checked against the
export's manifest, and only partitions whose rows changed are rewritten.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from divergence.errors import DivergenceError
from divergence.export.config import export_root
from divergence.export.job import run_export
from divergence.export.refresh import TableReport
from divergence.export.tables import load_tables
from divergence.logs import configure_logging
from divergence.settings import load_settings
from divergence.store.db import AsyncStore, Store


def export(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML settings file (see docs/configuration.md)."),
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB file (default: settings.db_path).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--dir", help="Export root (default: export.dir, or export/ beside the DB)."),
    ] = None,
    tables: Annotated[
        list[str] | None,
        typer.Option("--tables", help="Tables to export (repeat or comma-separate; default: all)."),
    ] = None,
) -> None:
    """Export tables as hive-partitioned Parquet (<dir>/<table>/date=D/underlying=U/)."""
    names = [name for item in tables or [] for name in item.split(",") if name]
    load_tables(names)  # an unknown table stops here, before anything is opened
    overrides: dict[str, object] = {"db_path": db} if db is not None else {}
    settings = load_settings(config, overrides=overrides)
    configure_logging(settings.log_level)
    export_settings = settings.export.model_copy(update={"tables": names or settings.export.tables})
    root = out if out is not None else export_root(settings.export, settings.db_path)
    if not settings.db_path.exists():
        raise DivergenceError(f"database {settings.db_path} does not exist")
    store = AsyncStore(Store(settings.db_path, read_only=True))
    try:
        reports = asyncio.run(run_export(store, export_settings, root=root))
    finally:
        store.close()
    _echo(root, reports)


def _echo(root: Path, reports: list[TableReport]) -> None:
    for report in reports:
        typer.echo(
            f"{report.table}: {report.checked} partitions, {len(report.written)} rewritten "
            f"({report.rows_written} rows, {report.bytes_written} bytes)"
        )
    typer.echo(f"export at {root}")
