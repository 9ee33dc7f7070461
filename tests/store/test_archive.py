from __future__ import annotations

from pathlib import Path

from divergence.store.archive import ArchiveWriter, read_archive


def test_archive_roundtrip_text_and_binary(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path, flush_lines=2)
    writer.write(ts_recv=1, venue="simx-a", frame='{"ch":"quote","bid":"245.10"}')
    writer.write(ts_recv=2, venue="sim-fx", frame=b"\x00\xffbinary")
    writer.write(ts_recv=3, venue="simx-b", frame="é unicode")
    writer.close()
    frames = list(read_archive(writer.path))
    assert [(f.ts_recv, f.venue, f.payload()) for f in frames] == [
        (1, "simx-a", '{"ch":"quote","bid":"245.10"}'),
        (2, "sim-fx", b"\x00\xffbinary"),
        (3, "simx-b", "é unicode"),
    ]


def test_archive_truncated_tail_keeps_flushed_frames(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path, flush_lines=1)
    for i in range(3):
        writer.write(ts_recv=i, venue="simx-a", frame=f"frame-{i}")
    writer.close()
    data = writer.path.read_bytes()
    writer.path.write_bytes(data[:-5])  # a crash in the middle of the last zstd frame
    assert [f.frame for f in read_archive(writer.path)] == ["frame-0", "frame-1"]
