"""The exported tables: one ``sql/queries/export_<table>.sql`` per table, and partitions.

Each export query selects a table's rows for a range of dates with two key columns in
front, ``date`` (a DATE) and ``underlying`` (VARCHAR, NULL for tables exported by date
only). The exporter wraps it in two fixed statements: one that fingerprints every
partition (row count and an order-independent sum of row hashes) and one that selects
the rows of one partition without the key columns, which readers take from the path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from divergence.content import content_dir
from divergence.errors import ConfigError

PREFIX = "export_"
DAY_MIN = dt.date(1678, 1, 1)  # inside TIMESTAMP_NS's range
DAY_MAX = dt.date(2262, 1, 1)
# The two wrappers compose only the trusted content of sql/queries/export_*.sql.
FINGERPRINT_SQL = (
    "SELECT date, underlying, count(*) AS row_count, "
    "CAST(sum(hash(p)) AS VARCHAR) AS digest FROM ({query}) AS p GROUP BY ALL"
)
ROWS_SQL = (
    "SELECT * EXCLUDE (date, underlying) FROM ({query}) AS p "
    "WHERE underlying IS NOT DISTINCT FROM $underlying"
)


@dataclass(frozen=True)
class ExportTable:
    """One exported table and the text of its export query."""

    name: str
    query: str

    @property
    def fingerprint_sql(self) -> str:
        return FINGERPRINT_SQL.format(query=_body(self.query))

    @property
    def rows_sql(self) -> str:
        return ROWS_SQL.format(query=_body(self.query))


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of a table: a UTC date and, for most tables, an underlying."""

    day: dt.date
    underlying: str | None

    @property
    def key(self) -> str:
        """The partition's folder below the table's: ``date=D[/underlying=U]``."""
        head = f"date={self.day.isoformat()}"
        if self.underlying is None:
            return head
        return f"{head}/underlying={quote(self.underlying, safe='')}"


@dataclass(frozen=True)
class Fingerprint:
    """What the exporter compares between two refreshes: rows and a sum of row hashes."""

    rows: int
    digest: str


def load_tables(names: Sequence[str] = ()) -> list[ExportTable]:
    """The export tables named (every ``export_*.sql`` when ``names`` is empty)."""
    folder = content_dir("sql") / "queries"
    found = {f.stem.removeprefix(PREFIX): f for f in sorted(folder.glob(f"{PREFIX}*.sql"))}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ConfigError(
            f"no export query for {unknown[0]!r} (known: {', '.join(found)})",
            key="export.tables",
            source="settings",
        )
    chosen = list(names) if names else list(found)
    return [ExportTable(name=n, query=found[n].read_text()) for n in chosen]


def _body(query: str) -> str:
    """The statement without comments lines and its final semicolon."""
    lines = [line for line in query.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";")
