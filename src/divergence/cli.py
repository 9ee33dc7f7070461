"""The ``divergence`` command line: demo, serve, backfill, replay, load-dbn, sql and
venue-server.

This is the only module that prints. Every command builds one Settings object and passes
it down; a :class:`~divergence.errors.DivergenceError` becomes one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.exceptions import TyperException

from divergence import __version__
from divergence.catalog import Catalog, load_catalog
from divergence.cli_dbn import load_dbn
from divergence.cli_export import export
from divergence.cli_keys import app as keys_app
from divergence.cli_webhooks import app as webhooks_app
from divergence.clock import parse_time_param
from divergence.content import default_catalog_path
from divergence.errors import DivergenceError
from divergence.logs import configure_logging
from divergence.settings import Settings, load_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Surveillance of tokenized stocks against their underlying: basis, live and in history.",
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (see docs/configuration.md)."),
]
DbOpt = Annotated[
    Path | None, typer.Option("--db", help="DuckDB file (default: settings.db_path).")
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    settings = load_settings(config, overrides=clean)
    configure_logging(settings.log_level)
    return settings


def _serve(settings: Settings, *, open_path: str | None = None) -> None:
    import uvicorn

    from divergence.service.app import create_app

    app = create_app(settings)  # start-up checks (keys, dev mode) fail before any banner
    url = f"http://{settings.host}:{settings.port}"
    if open_path is not None:
        typer.echo(f"divergence {__version__}: dashboard at {url}{open_path} (Ctrl-C stops)")
        threading.Timer(2.0, lambda: webbrowser.open(url + open_path)).start()
    else:
        typer.echo(f"divergence {__version__}: serving on {url} (Ctrl-C stops)")
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="HTTP port for the API and dashboard.")] = 8000,
    speed: Annotated[float, typer.Option(help="Multiplies the simulator's clock rate.")] = 1.0,
    data_dir: Annotated[Path, typer.Option(help="Where the demo database and archive go.")] = Path(
        "demo-data"
    ),
    browser: Annotated[bool, typer.Option(help="Open the dashboard in a browser.")] = True,
    keep: Annotated[bool, typer.Option(help="Keep data from an earlier demo run.")] = False,
) -> None:
    """Run the built-in simulator into a fresh database and serve the live dashboard."""
    if not keep and data_dir.exists():
        shutil.rmtree(data_dir)
    settings = _settings(
        None,
        port=port,
        db_path=data_dir / "demo.duckdb",
        archive_dir=data_dir / "archive",
        sim={"enabled": True, "speed": speed},
        service={"dev_mode": True},
    )
    _serve(settings, open_path="/" if browser else None)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port.")] = None,
    sim: Annotated[bool | None, typer.Option("--sim/--no-sim", help="Run the simulator.")] = None,
) -> None:
    """Own the database: run feeds, writer, metric jobs and the API/dashboard server."""
    sim_override = None if sim is None else {"enabled": sim}
    _serve(_settings(config, host=host, port=port, sim=sim_override))


@app.command()
def backfill(
    start: Annotated[str, typer.Option(help="Start time, ISO 8601 (UTC) or epoch ns.")],
    end: Annotated[str, typer.Option(help="End time, ISO 8601 (UTC) or epoch ns.")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics",
            help="Also recompute the metric tables (consolidated BBO, fragmentation, "
            "execution quality, trade-throughs, daily tables) for [START, END).",
        ),
    ] = True,
) -> None:
    """Recompute the basis table between START and END from stored inputs, then the
    metric tables."""
    from divergence.jobs.basis_job import run_backfill
    from divergence.jobs.depth_job import params_from_settings
    from divergence.jobs.depth_job import run_backfill as run_depth_backfill
    from divergence.jobs.metrics_job import run_backfill as run_metrics_backfill
    from divergence.runtime import sync_catalog_tables
    from divergence.store.db import Store

    start_ns = parse_time_param(start, name="--start")
    end_ns = parse_time_param(end, name="--end")
    if end_ns < start_ns:
        raise DivergenceError(f"--end ({end}) is before --start ({start})")
    settings = _settings(config, db_path=db)
    runtime_catalog = _catalog(settings)
    store = Store(settings.db_path, threads=settings.duckdb_threads)
    tables: dict[str, int] = {}
    try:
        store.migrate()
        sync_catalog_tables(store, runtime_catalog)
        with _spinner("recomputing basis"):
            rows = run_backfill(
                store, runtime_catalog, settings.basis, start_ns=start_ns, end_ns=end_ns
            )
        if metrics and end_ns > start_ns:
            with _spinner("recomputing metrics"):
                tables = run_metrics_backfill(
                    store,
                    runtime_catalog,
                    settings.metrics,
                    basis=settings.basis,
                    start_ns=start_ns,
                    end_ns=end_ns,
                )
            with _spinner("recomputing depth and sweeps"):
                tables |= run_depth_backfill(
                    store,
                    runtime_catalog,
                    params_from_settings(settings.depth),
                    basis=settings.basis,
                    start_ns=start_ns,
                    end_ns=end_ns,
                )
    finally:
        store.close()
    typer.echo(f"basis: {rows} rows recomputed between {start} and {end}")
    for table, count in sorted(tables.items()):
        typer.echo(f"{table}: {count} rows recomputed")


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="An archive file (archive/frames-*.jsonl.zst).")],
    speed: Annotated[
        float, typer.Option(help="0 = as fast as possible; X = X times the recorded pace.")
    ] = 0.0,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Replay recorded frames through the parsers, writer and basis job into a database."""
    from divergence.replay import check_archive, run_replay

    if speed < 0:
        raise DivergenceError(f"--speed must be >= 0, found {speed}")
    check_archive(file)
    settings = _settings(config, db_path=db)
    with Progress(transient=True) as bar:
        task = bar.add_task("replaying frames", total=None)
        stats = asyncio.run(
            run_replay(settings, file, speed=speed, progress=lambda n: bar.advance(task, n))
        )
    typer.echo(
        f"replayed {stats.frames} frames: {stats.events} events, "
        f"{stats.quarantined} quarantined, {stats.basis_rows} basis rows"
    )


app.command("load-dbn")(load_dbn)
app.command("export")(export)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(keys_app, name="keys")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only DuckDB query.")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv, json or parquet (with --out).")
    ] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="File for --format parquet.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="name=value for $name; repeatable.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Service to ask (default: settings host:port, if it answers)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", envvar="DIVERGENCE_API_KEY", help="API key (analyst role)."),
    ] = None,
) -> None:
    """Run read-only SQL: through the running service, else (or with --db) directly on the file."""
    from divergence.sandbox.client import (
        FORMATS,
        format_result,
        parse_params,
        run_cli_sql,
        write_parquet,
    )

    if fmt not in FORMATS:
        raise DivergenceError(f"--format must be {', '.join(FORMATS)}, found {fmt!r}")
    if fmt == "parquet" and out is None:
        raise DivergenceError("--format parquet needs --out FILE")
    settings = _settings(config, db_path=db)
    answer = run_cli_sql(
        query,
        settings=settings,
        params=parse_params(param or []),
        url=url,
        key=key,
        direct_only=db is not None,
    )
    how = "through the service at" if answer.path == "service" else "directly (read-only) on"
    typer.echo(f"divergence sql: {how} {answer.where}", err=True)
    if answer.result.truncated:
        typer.echo(
            f"divergence sql: truncated at {answer.result.max_rows} rows (sql.max_rows)", err=True
        )
    if fmt == "parquet":
        assert out is not None
        write_parquet(answer.result, out)
        typer.echo(f"divergence sql: {answer.result.row_count} rows written to {out}", err=True)
    else:
        typer.echo(format_result(answer.result, fmt))  # type: ignore[arg-type]


@app.command("venue-server")
def venue_server(
    adapter: Annotated[str, typer.Argument(help="kraken, bybit, uniswap_v3, alpaca or massive.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks one).")] = 0,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    recording: Annotated[
        Path | None, typer.Option(help="Recorded session (default: ingest/recordings/).")
    ] = None,
    speed: Annotated[float, typer.Option(help="Pace multiplier; 0 = as fast as possible.")] = 1.0,
    loop: Annotated[bool, typer.Option("--loop/--once", help="Repeat the recording.")] = True,
) -> None:
    """Serve a recorded session over a venue's real protocol on localhost (tests, demos)."""
    from divergence.venue_servers import build_server

    configure_logging("WARNING")  # stdout's first line is the URL (scripts read it)

    async def run() -> None:
        server = build_server(
            adapter,
            recording=recording,
            host=host,
            port=port,
            speed=speed,
            loop=loop,
            restamp=True,
        )
        await server.start()
        print(f"{adapter} protocol server on {server.url}", flush=True)
        server.start_streaming()
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    asyncio.run(run())


def _catalog(settings: Settings) -> Catalog:
    return load_catalog(settings.catalog_path or default_catalog_path())


def _spinner(label: str) -> Progress:
    bar = Progress(SpinnerColumn(), TextColumn(label), TimeElapsedColumn(), transient=True)
    bar.add_task(label, total=None)
    return bar


def main() -> None:
    """Console-script entry point: every failure becomes one line on stderr, no traceback."""
    try:
        result = app(standalone_mode=False, prog_name="divergence")
    except TyperException as exc:  # usage errors: typer vendors its own click
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {message}{where}", file=sys.stderr)
        sys.exit(2)
    except DivergenceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
