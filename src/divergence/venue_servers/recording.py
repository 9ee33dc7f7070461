"""Recorded venue sessions: the JSON Lines files under ``ingest/recordings/``.

A recording is one :class:`RecordedFrame` per line (``#`` lines are comments): when, in
ms from the session start, which stream, and the frame as the venue sends it. Recorded
REST responses sit beside them and are served by path (:func:`load_rest`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from divergence.errors import ConfigError


class RecordedFrame(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a recording: when (ms from the start), which stream, what."""

    at_ms: int
    stream: str
    frame: Any


def load_recording(path: Path) -> list[RecordedFrame]:
    """Read a recording (JSON Lines of :class:`RecordedFrame`); errors name the line."""
    decoder = msgspec.json.Decoder(RecordedFrame)
    frames: list[RecordedFrame] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(
            f"cannot read recording: {exc}", key="recording", source=str(path)
        ) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith(b"#"):
            continue
        try:
            frames.append(decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise ConfigError(f"line {number}: {exc}", key="recording", source=str(path)) from None
    return frames


def dump_recording(frames: Iterable[RecordedFrame], path: Path, *, header: str = "") -> None:
    """Write a recording; ``header`` lines are written as ``#`` comments."""
    encoder = msgspec.json.Encoder(order="sorted")
    with path.open("wb") as out:
        for line in header.splitlines():
            out.write(b"# " + line.encode() + b"\n")
        for frame in frames:
            out.write(encoder.encode(frame) + b"\n")


def load_rest(files: Mapping[str, str], folder: Path) -> dict[str, bytes]:
    """Recorded REST bodies by request path, read from ``folder``; a missing file names itself."""
    bodies: dict[str, bytes] = {}
    for path, name in files.items():
        try:
            bodies[path] = (folder / name).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {name}: {exc}", key="rest", source=str(folder)
            ) from None
    return bodies
