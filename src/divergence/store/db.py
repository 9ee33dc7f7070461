"""The DuckDB store: one connection owned by one process, behind one class.

Concurrency model (docs/architecture.md): a single ``divergence serve`` process owns the
database file. Inside it, :class:`Store` is used from two worker threads, one for writes
and one for reads, each with its own DuckDB cursor, so an API query never waits for a
flush and no route ever opens DuckDB itself. Analysts read through the API or through a
read-only open of the file when no server is running (``divergence sql``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from divergence.clock import now_ns
from divergence.content import content_dir
from divergence.errors import NotFoundError, StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# DuckDB's own access controls, on the one instance the process owns: no file or network
# access from SQL (read_csv, read_text, glob, COPY, ATTACH of a file, EXPORT, replacement
# scans of paths), no extension installs or loads, and no SET afterwards to undo it. Our own
# files are written by Python (the writer, pyarrow for Parquet), never by DuckDB. The
# analyst SQL sandbox (divergence.sandbox) relies on it.
LOCKED_DOWN: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


class Store:
    """A DuckDB database file with its schema applied."""

    def __init__(self, path: Path, *, threads: int = 1, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        try:
            self._con = duckdb.connect(
                str(path), read_only=read_only, config={"threads": threads, **LOCKED_DOWN}
            )
        except duckdb.IOException as exc:
            raise StoreError(_explain_open_error(path, exc)) from exc
        self._local = threading.local()
        self._sql_dir = content_dir("sql")
        self._texts: dict[str, str] = {}

    # -- schema -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply every ``sql/schema/NNNN_*.sql`` not yet recorded; return what was applied."""
        schema = self._sql_dir / "schema"
        self._con.execute((schema / "0000_schema_migrations.sql").read_text())
        done = {
            row[0] for row in self._con.execute("SELECT version FROM schema_migrations").fetchall()
        }
        applied: list[str] = []
        for file in sorted(schema.glob("*.sql")):
            match = _MIGRATION.match(file.name)
            if match is None or int(match.group(1)) == 0 or int(match.group(1)) in done:
                continue
            self._con.execute("BEGIN")
            try:
                self._con.execute(file.read_text())
                self._con.execute(
                    "INSERT INTO schema_migrations VALUES ($v, $n, make_timestamp_ns($t))",
                    {"v": int(match.group(1)), "n": file.name, "t": now_ns()},
                )
                self._con.execute("COMMIT")
            except duckdb.Error as exc:
                self._con.execute("ROLLBACK")
                raise StoreError(f"migration {file.name} failed: {exc}") from exc
            applied.append(file.name)
            log.info("applied migration", extra={"migration": file.name})
        return applied

    # -- SQL content ----------------------------------------------------------------------
    def sql_text(self, name: str, *, folder: str = "queries") -> str:
        """The text of ``sql/<folder>/<name>.sql``; names are checked, never interpolated."""
        if not _NAME.match(name):
            raise NotFoundError(f"query name must match {_NAME.pattern}, found {name!r}")
        file = self._sql_dir / folder / f"{name}.sql"
        if not file.is_file():
            raise NotFoundError(f"no SQL file {folder}/{name}.sql")
        return file.read_text()

    # -- synchronous access (call from the store's worker threads, or from tools) ---------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the shared connection."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run one read statement and return its rows."""
        try:
            rel = self.cursor().sql(sql, params=dict(params) if params else None)
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
        if rel is None:
            return pl.DataFrame()
        frame: pl.DataFrame = rel.pl()
        return frame

    def rows(self, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run the named statement ``sql/queries/<name>.sql`` with bound parameters on this
        thread's cursor; its result rows (if any) as dicts."""
        text = self._texts.get(name)
        if text is None:
            text = self._texts[name] = self.sql_text(name)
        cur = self.cursor()
        try:
            cur.execute(text, dict(params or {}))
            if cur.description is None:
                return []
            columns = [d[0] for d in cur.description]
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"{name} failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT on this thread's cursor; ROLLBACK when the block raises."""
        cur = self.cursor()
        cur.execute("BEGIN")
        try:
            yield
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        try:
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            raise StoreError(f"commit failed: {exc}") from exc

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self.cursor().execute(sql, dict(params) if params else None)
        except duckdb.Error as exc:
            raise StoreError(f"statement failed: {exc}") from exc

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Append a batch to ``table`` by column name (one INSERT per batch, never per row)."""
        if not _NAME.match(table):
            raise StoreError(f"table name must match {_NAME.pattern}, found {table!r}")
        if frame.is_empty():
            return
        cur = self.cursor()
        try:
            cur.register("_batch", frame.to_arrow())
            cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
        except duckdb.Error as exc:
            raise StoreError(f"append to {table} failed: {exc}") from exc
        finally:
            # In an aborted transaction unregistering fails too; that error must not hide
            # the StoreError above (the next register of "_batch" replaces the view).
            with contextlib.suppress(duckdb.Error):
                cur.unregister("_batch")

    def replace(self, table: str, frame: pl.DataFrame) -> None:
        """Replace the whole content of ``table`` with ``frame`` in one transaction."""
        cur = self.cursor()
        cur.execute("BEGIN")
        try:
            cur.execute(f"DELETE FROM {table}")
            self.append(table, frame)
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise

    def checkpoint(self) -> None:
        self.cursor().execute("CHECKPOINT")

    def close(self) -> None:
        self._con.close()


class AsyncStore:
    """Runs :class:`Store` calls on its two worker threads from asyncio code."""

    def __init__(self, store: Store, *, sandbox_threads: int = 2) -> None:
        self.store = store
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="duckdb-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="duckdb-read")
        # analyst SQL (divergence.sandbox) runs here, each thread on its own cursor, so a
        # slow statement never holds up the dashboards' reader thread
        self._sandbox = ThreadPoolExecutor(sandbox_threads, thread_name_prefix="duckdb-sql")

    async def write(self, fn: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, self.store)

    async def read(self, fn: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn, self.store)

    async def sandboxed(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn`` on a sandbox thread (its own cursor; see divergence.sandbox)."""
        return await asyncio.get_running_loop().run_in_executor(self._sandbox, fn, self.store)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        return await self.read(lambda s: s.query(sql, params))

    async def named(self, name: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        text = self.store.sql_text(name)
        return await self.read(lambda s: s.query(text, params))

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self._sandbox.shutdown(wait=True)
        self.store.close()


def _explain_open_error(path: Path, exc: duckdb.Error) -> str:
    text = str(exc)
    if "lock" in text.lower():
        return (
            f"{path} is locked by another process (is `divergence serve` running?). "
            "Query it through the API, or stop the server first."
        )
    return f"cannot open {path}: {text}"
