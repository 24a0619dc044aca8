"""Framing: splitting files of concatenated CEB XML messages into messages and batches (chunks), routed to
writer shards by order number."""

from __future__ import annotations

import mmap
import os
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple


class Chunk(NamedTuple):
    """A batch of raw messages, the file it came from and the offset after its last message."""

    raws: list[bytes]
    source: str | None = None
    end_offset: int | None = None
    every: list[bool] | None = None  # messages every shard looks at (see Engine.process)
    starts: list[int] | None = None  # the byte offset of each message in ``source`` (errors name it)


BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark before a message's "<?xml" belongs to that message


def message_start(data: bytes, i: int) -> int:
    """Where the message whose ``<?xml`` is at ``data[i]`` starts: before its UTF-8 BOM, if it has one."""
    return i - 3 if i >= 3 and data[i - 3:i] == BOM else i


def iter_stream(path: Path, start: int = 0, block: int = 8 << 20) -> Iterator[tuple[int, int, bytes]]:
    """``(start offset, end offset, message)`` of a file of concatenated XML messages, from ``start``."""
    marker = b"<?xml"
    with path.open("rb") as fh:
        fh.seek(start)
        pos, buf = start, b""
        while True:
            data = fh.read(block)
            buf += data
            cut = len(buf) if not data else message_start(buf, buf.rfind(marker))
            if cut > 0:
                region = buf[:cut]
                starts = [message_start(region, i) for i in _find_all(region, marker)] or [0]
                if starts[0] != 0:
                    starts.insert(0, 0)
                for s, e in zip(starts, starts[1:] + [len(region)], strict=True):
                    msg = region[s:e]
                    if msg.strip():
                        yield pos + s, pos + e, msg
                pos += cut
                buf = buf[cut:]
            if not data:
                return


def _find_all(data: bytes, marker: bytes) -> Iterator[int]:
    i = data.find(marker)
    while i >= 0:
        yield i
        i = data.find(marker, i + 1)


def _split_route_py(data: bytes | memoryview, shards: int, shard: int, final: bool
                    ) -> tuple[list[tuple[int, int, bool]], int]:
    """Python form of :func:`smartcustoms.cbec._framing.split_route` (same answers; used when it is not built)."""
    data = bytes(data)
    cut = len(data) if final else message_start(data, data.rfind(b"<?xml"))
    if cut <= 0:
        return [], 0
    out: list[tuple[int, int, bool]] = []
    start, count, every, value = 0, 0, False, b""

    def finish(s: int, e: int) -> None:
        if not data[s:e].strip(b" \t\r\n"):
            return
        if shards <= 1:
            got = 0
        elif every or count > 1 or count == 0:  # no orderNo in sight (e.g. a DXP envelope): every shard
            got = -1
        else:
            got = zlib.crc32(value.strip(b" \t\r\n")) % shards
        if got in (-1, shard):
            out.append((s, e, got == -1))

    j = data.find(b"<", 0, cut)
    while j >= 0:
        c1 = data[j + 1:j + 2] if j + 1 < cut else b""
        if c1 == b"?":
            s = message_start(data, j)
            if s > start and data.startswith(b"<?xml", j) and j + 5 <= cut:
                finish(start, s)
                start, count, every, value = s, 0, False, b""
        elif c1 == b"!":
            every = True
        elif c1 != b"/":
            m = _TAG_NAME.match(data, j + 1, cut)
            k = m.end() if m else j + 1
            name = data[j + 1:k]
            if name == b"orderNo" or name.endswith(b":orderNo"):
                count += 1
                if k < cut and data[k:k + 1] == b">":
                    if count == 1:
                        end = data.find(b"<", k + 1, cut)
                        value = data[k + 1:end if end >= 0 else cut]
                        every = every or b"&" in value or not value.isascii()
                else:
                    every = True
        j = data.find(b"<", j + 1, cut)
    finish(start, cut)
    return out, cut


_TAG_NAME = re.compile(rb"[^>/ \t\r\n]*")


def _splitter() -> Callable[[Any, int, int, bool], tuple[list[tuple[int, int, bool]], int]]:
    try:
        from smartcustoms.cbec._framing import split_route
    except ImportError:  # pragma: no cover - built by `pip install -e .`
        return _split_route_py
    return split_route  # type: ignore[no-any-return]


def chunks_of_file(path: Path, start: int, size: int, shard: int = 0, shards: int = 1,
                   block: int = 8 << 20) -> Iterator[Chunk]:
    """Chunks of ``size`` messages of a file from byte ``start``, only those routed to ``shard``.

    Every shard reads the whole file (mapped, not copied) and keeps the messages whose ``orderNo`` routes
    to it (all four documents of a parcel carry the order number); a message that may hold documents of
    several shards goes to every shard (``Chunk.every``). ``end_offset`` is where the next chunk starts.
    """
    split = _splitter()
    source = str(path.resolve())
    raws: list[bytes] = []
    every: list[bool] = []
    starts: list[int] = []
    pos = start
    with path.open("rb") as fh:
        n = os.fstat(fh.fileno()).st_size
        if n > start:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                dropped = start // mmap.PAGESIZE * mmap.PAGESIZE
                try:
                    window = block
                    while pos < n:
                        end = min(n, pos + window)
                        final = end == n
                        part = view[pos:end]
                        found, cut = split(part, shards, shard, final)
                        part.release()
                        if cut == 0:  # no whole message in the window yet: a message longer than it
                            window *= 2
                            continue
                        window = block
                        for s, e, all_shards in found:
                            raws.append(mm[pos + s:pos + e])
                            every.append(all_shards)
                            starts.append(pos + s)
                            if len(raws) >= size:
                                yield Chunk(raws, source, pos + e, every if any(every) else None, starts)
                                raws, every, starts = [], [], []
                        # the pages read are dropped from this process (they stay in the page cache)
                        done = (pos + cut) // mmap.PAGESIZE * mmap.PAGESIZE
                        if done > dropped:
                            mm.madvise(mmap.MADV_DONTNEED, dropped, done - dropped)
                            dropped = done
                        pos += cut
                finally:
                    view.release()
    if raws or pos > start:
        yield Chunk(raws, source, pos, every if any(every) else None, starts)
