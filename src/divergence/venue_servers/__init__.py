"""Local websocket servers that speak real venue protocols from recorded sessions.

Tests, benchmarks and acceptance runs point the real adapters at these on 127.0.0.1. Each
server class registers in the ``divergence.venue_servers`` entry point group under its
adapter's name, and declares ``RECORDING`` (its session file in ``ingest/recordings/``)
and ``REST`` (recorded REST responses by path, which the server loads itself with
:func:`~divergence.venue_servers.recording.load_rest`) in its module.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from divergence.content import recordings_dir
from divergence.errors import ConfigError
from divergence.venue_servers.base import ProtocolServer
from divergence.venue_servers.recording import load_recording

SERVER_GROUP = "divergence.venue_servers"


def available_servers() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=SERVER_GROUP))


def build_server(adapter: str, *, recording: Path | None = None, **options: Any) -> ProtocolServer:
    """The protocol server for ``adapter``, loaded with its recording (or ``recording``)."""
    found = {ep.name: ep for ep in entry_points(group=SERVER_GROUP)}.get(adapter)
    if found is None:
        known = ", ".join(available_servers()) or "none"
        raise ConfigError(
            f"no protocol server for adapter {adapter!r} (known: {known})",
            key="venue",
            source=f"entry points {SERVER_GROUP}",
        )
    cls = found.load()
    module = importlib.import_module(cls.__module__)
    path = recording or recordings_dir() / module.RECORDING
    server: ProtocolServer = cls(load_recording(path), **options)
    return server
