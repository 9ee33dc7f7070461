"""The raw-frame archive: every received frame, with its ``ts_recv``, as zstd JSONL.

Each line is ``{"ts_recv": int, "venue": str, "frame": str}`` (binary frames add
``"b64": true``). Lines are buffered and written as independent zstd frames every
``flush_lines`` lines or ``flush_ms`` milliseconds, so a crash loses at most the
unflushed tail, and a reader stops cleanly at a truncated last frame. Replay reads these
files back through the same ``parse`` functions the live feeds use.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import zstandard

from divergence.clock import now_ns

log = logging.getLogger(__name__)


class ArchivedFrame(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ts_recv: int
    venue: str
    frame: str
    b64: bool = False

    def payload(self) -> bytes | str:
        return base64.b64decode(self.frame) if self.b64 else self.frame


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ArchivedFrame)


class ArchiveWriter:
    """Appends frames to one ``.jsonl.zst`` file per process run."""

    def __init__(self, directory: Path, *, flush_lines: int = 2_000, flush_ms: int = 1_000) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ns() / 1e9))
        self.path = directory / f"frames-{stamp}-{os.getpid()}.jsonl.zst"
        self._file = self.path.open("ab")
        self._compressor = zstandard.ZstdCompressor(level=3)
        self._lines: list[bytes] = []
        self._flush_lines = flush_lines
        self._flush_s = flush_ms / 1000
        self._last_flush = time.monotonic()
        self.frames_written = 0

    def write(self, *, ts_recv: int, venue: str, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            record = ArchivedFrame(
                ts_recv=ts_recv, venue=venue, frame=base64.b64encode(frame).decode(), b64=True
            )
        else:
            record = ArchivedFrame(ts_recv=ts_recv, venue=venue, frame=frame)
        self._lines.append(_encoder.encode(record) + b"\n")
        if (
            len(self._lines) >= self._flush_lines
            or time.monotonic() - self._last_flush >= self._flush_s
        ):
            self.flush()

    def flush(self) -> None:
        """Compress the buffered lines as one zstd frame and hand them to the OS."""
        if self._lines:
            self._file.write(self._compressor.compress(b"".join(self._lines)))
            self._file.flush()
            self.frames_written += len(self._lines)
            self._lines = []
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read_archive(path: Path) -> Iterator[ArchivedFrame]:
    """Yield the frames of an archive file in order; stops cleanly at a truncated tail."""
    with path.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        text = io.BufferedReader(reader)
        while True:
            try:
                line = text.readline()
            except zstandard.ZstdError as exc:
                log.warning(
                    "archive tail is truncated; stopping",
                    extra={"path": str(path), "error": str(exc)},
                )
                return
            if not line:
                return
            if not line.endswith(b"\n"):
                log.warning("archive ends in a partial line; skipped", extra={"path": str(path)})
                return
            yield _decoder.decode(line)
