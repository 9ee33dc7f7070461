"""Partition files: one ``data.parquet`` per partition, replaced by an atomic rename.

A refresh writes a partition to a hidden temporary name in the same folder (which no
``*.parquet`` glob matches), fsyncs it, then renames it over ``data.parquet`` and fsyncs
the folder. A reader therefore sees either the old file or the new one, never a partial
or a doubled partition; a reader that opened the old file keeps reading it. (A reader that
took the old file's size when listing and opens the new one, like DuckDB, stops with an
error instead: tests/export/test_export_readers.py.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from divergence.errors import StoreError

log = logging.getLogger(__name__)
FILE_NAME = "data.parquet"
_TEMP_SUFFIX = ".tmp"


def partition_file(root: Path, table: str, key: str) -> Path:
    return root / table / key / FILE_NAME


class PartitionWriter:
    """Writes one partition's batches to a temporary file; ``commit`` swaps it in."""

    def __init__(self, path: Path, schema: Any, *, compression_level: int = 3) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.temp = _temp_name(path)
        self._handle = self.temp.open("wb")
        self._writer = pq.ParquetWriter(
            self._handle, schema, compression="zstd", compression_level=compression_level
        )

    def write(self, batch: Any) -> None:
        self._writer.write_batch(batch)

    def commit(self) -> int:
        """Close, fsync and rename over ``path``; the bytes written."""
        try:
            self._writer.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            size = self.temp.stat().st_size
            os.replace(self.temp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            self.abort()
            raise StoreError(f"cannot write {self.path}: {exc}") from exc
        return size

    def abort(self) -> None:
        """Drop the temporary file (the partition's current file stays as it was)."""
        self._handle.close()
        self.temp.unlink(missing_ok=True)


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by a temporary file, fsync and rename."""
    _replace_with(path, lambda handle: handle.write(data))


def prepare_root(root: Path) -> int:
    """Create ``root`` and remove temporary files a killed refresh left behind; how many."""
    root.mkdir(parents=True, exist_ok=True)
    removed = 0
    for temp in root.rglob(f".*{_TEMP_SUFFIX}"):
        temp.unlink(missing_ok=True)
        removed += 1
    return removed


def _replace_with(path: Path, write: Any) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(path)
    try:
        with temp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        size = temp.stat().st_size
        os.replace(temp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc}") from exc
    return size


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{_TEMP_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
