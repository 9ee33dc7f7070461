"""Find the content folders (``sql/``, ``dashboards/``, ``ingest/``) in a checkout or a wheel.

The wheel carries them under ``divergence/content/``; a source checkout (or an editable
install) has them at the repository root. Both layouts resolve through here, so no
other module builds a path to content.
"""

from __future__ import annotations

from pathlib import Path

from divergence.errors import ConfigError

_PACKAGED = Path(__file__).resolve().parent / "content"
_CHECKOUT = Path(__file__).resolve().parents[2]


def content_dir(name: str) -> Path:
    """The folder ``name`` (``sql``, ``dashboards`` or ``ingest``), wherever it is installed."""
    for root in (_PACKAGED, _CHECKOUT):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        f"content folder not found under {_PACKAGED} or {_CHECKOUT}",
        key=name,
        source="installation",
    )


def default_catalog_path() -> Path:
    return content_dir("ingest") / "instruments.toml"


def recordings_dir() -> Path:
    """``ingest/recordings``: recorded venue sessions and REST responses, and their catalog."""
    return content_dir("ingest") / "recordings"
