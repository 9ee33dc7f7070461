"""How the webhook modules run their SQL: named statements from ``sql/queries/webhook_*``.

Every statement is one file, executed by :meth:`Store.rows` on the calling thread's cursor
(the Store's writer or reader thread; DuckDB errors become
:class:`~divergence.errors.StoreError`) and grouped by :meth:`Store.transaction`.
Parameters are always bound, never formatted into the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from divergence.store.db import Store


def run(store: Store, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Execute one named statement; its result rows (if any) as dicts."""
    return store.rows(name, params)


def transaction(store: Store) -> AbstractContextManager[None]:
    """BEGIN ... COMMIT on this thread's cursor; ROLLBACK when the block raises."""
    return store.transaction()
