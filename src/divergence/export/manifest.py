"""The export's manifest: the fingerprint of every partition written, per table.

It lives at ``<export dir>/_manifest.json`` (a name no ``*.parquet`` glob matches) and is
replaced atomically, like the partition files. A missing or unreadable manifest only
costs one full rewrite.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from divergence.export.files import replace_atomically
from divergence.export.tables import Fingerprint

log = logging.getLogger(__name__)
NAME = "_manifest.json"
VERSION = 1


@dataclass
class Manifest:
    """Partition key -> fingerprint, per table."""

    tables: dict[str, dict[str, Fingerprint]] = field(default_factory=dict)

    def partitions(self, table: str) -> dict[str, Fingerprint]:
        return self.tables.setdefault(table, {})


def load_manifest(root: Path) -> Manifest:
    path = root / NAME
    if not path.is_file():
        return Manifest()
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != VERSION:
            raise ValueError(f"version {raw.get('version')!r}")
        tables = {
            table: {key: Fingerprint(**fp) for key, fp in parts.items()}
            for table, parts in raw["tables"].items()
        }
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("export manifest unreadable, rewriting all", extra={"error": str(exc)})
        return Manifest()
    return Manifest(tables=tables)


def save_manifest(root: Path, manifest: Manifest) -> None:
    body = {
        "version": VERSION,
        "tables": {
            table: {key: asdict(fp) for key, fp in sorted(parts.items())}
            for table, parts in sorted(manifest.tables.items())
        },
    }
    replace_atomically(root / NAME, json.dumps(body, indent=1).encode())
