"""How the webhook modules run their SQL: named statements from ``sql/queries/webhook_*``.

Every statement is one file; these helpers execute it on the calling thread's cursor
(the Store's writer or reader thread), map DuckDB errors to
:class:`~divergence.errors.StoreError`, and group statements in transactions.
Parameters are always bound, never formatted into the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import duckdb

from divergence.errors import StoreError
from divergence.store.db import Store

_TEXT: dict[str, str] = {}


def sql(store: Store, name: str) -> str:
    """The text of ``sql/queries/<name>.sql`` (read once per process)."""
    text = _TEXT.get(name)
    if text is None:
        text = _TEXT[name] = store.sql_text(name)
    return text


def run(store: Store, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Execute one named statement; its result rows (if any) as dicts."""
    cur = store.cursor()
    try:
        cur.execute(sql(store, name), dict(params))
        if cur.description is None:
            return []
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    except duckdb.Error as exc:
        raise StoreError(f"{name} failed: {exc}") from exc


@contextmanager
def transaction(store: Store) -> Iterator[None]:
    """BEGIN ... COMMIT on this thread's cursor; ROLLBACK when the block raises."""
    cur = store.cursor()
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
