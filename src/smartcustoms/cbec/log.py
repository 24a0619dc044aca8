"""The accepted-message log: every accepted document, durable before its receipt goes out.

The matcher's state is rebuilt from it after a restart, evicted or re-opened parcels are read back from
it, and its guids make a re-sent document a harmless duplicate. Two forms behind one interface:

* :class:`SegmentLog` (the embedded SQLite store): append-only files next to the database,
  ``<db>.cbec/<shard>.log``, one per writer shard. A batch's records are written to the file (to the
  operating system, like SQLite's ``synchronous=NORMAL`` commit) just before the batch's transaction
  commits, and that transaction stores the file's new length (``cbec_ingest_offset``, source
  ``log:<file>``); on opening, a file is cut back to its committed length, so a crash leaves no record
  the database does not know. Guid and key indexes are in memory (about 100 bytes per document and per
  waiting key); records of one key are chained in the file, so reading a parcel back is a few ``pread``\\ s.
* :class:`TableLog` (PostgreSQL, in-memory SQLite): one ``cbec_message`` row per document in the batch's
  own transaction; the database holds the indexes.

Record layout of a segment file: ``<u32 payload length><u16 meta length><i64 previous record of the same
key in this file, -1 if none>``, then the meta (JSON ``[guid, kind, key1, key2, orderNo, received_ms]``;
an inventory's record appends the preNo the engine gave it: ``[..., received_ms, preNo]``) and the payload:
the XML message the document came in (as received; a message of several documents is stored with each) or,
when it came otherwise, the document's JSON form (:func:`~.messages.document_json`). A document's identity
(the guid index, duplicates) is (kind, guid): the official samples reuse one guid across kinds. The key is
(ebpCode, orderNo) for orders, payments and inventories and (logisticsCode, logisticsNo) for waybills.

Each writer also keeps ``<shard>.waybills`` beside its file: ``<i64 waybill_hash(logisticsCode, logisticsNo)>
<i64 record offset>`` per waybill record, written with the records and rebuilt from the file at start. A
waybill is routed by its own orderNo; when that disagrees with its inventory's, it lands on another shard.
Such an inventory's shard finds it there, at the deadline, through the other shards' waybill files (read
up to their committed lengths), so the parcel is rejected for the mismatch rather than called incomplete.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import weakref
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from smartcustoms.cbec.ceb.emit import document_json
from smartcustoms.cbec.ceb.parse import document_from_json, parse_items, stored_documents
from smartcustoms.cbec.ceb.spec import WAYBILL, CebError, Document
from smartcustoms.cbec.store import Store

Key = tuple[str, str]
DocId = tuple[str, str]  # a document's identity: (kind, guid); the official samples reuse a guid across kinds
Decided = Callable[[bool, Key], bool]  # (is a waybill, key) -> its parcel is decided
_HEAD = struct.Struct("<IHq")
_WAYBILL_ENTRY = struct.Struct("<qq")  # the waybill index files: (waybill_hash, record offset)
_FILE_BITS = 40  # location = file number << 40 | byte offset


try:
    import smartcustoms.cbec._log as _kernel
except ImportError:  # pragma: no cover - built by `pip install -e .`; every piece below has a Python form
    _kernel = None


def _index_map() -> Any:
    """A compact int -> int map (``_log.U64Map``, ~27 bytes an entry), or a dict without the extension."""
    return _kernel.U64Map() if _kernel is not None else {}


# the compiled form of SegmentLog.committed's loop over the index entries, if built
_APPLY: Callable[..., None] | None = _kernel.apply_updates if _kernel is not None else None

# the compiled form of SegmentLog.prepare's loop (the same bytes and index entries), if built
_ENCODE: Callable[..., tuple[bytes, list[tuple[int, int, int]], bytes] | None] | None = (
    _kernel.encode_log_records if _kernel is not None else None)


def waybill_hash_py(code: str, number: str) -> int:
    """The waybill key's hash in the waybill index files, the same in every process (unlike ``hash``): 64-bit
    FNV-1a of ``code``, 0x1F and ``number`` in UTF-8, signed. ``waybill_hash`` is its compiled form."""
    h = 0xCBF29CE484222325
    for b in f"{code}\x1f{number}".encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= 1 << 63 else h


waybill_hash: Callable[[str, str], int] = _kernel.waybill_hash if _kernel is not None else waybill_hash_py


class _Peer:
    """Another shard's log file of this layout, read-only, and its waybill index read so far."""

    __slots__ = ("file", "index_fd", "index", "read")

    def __init__(self, file: _File, index_fd: int) -> None:
        self.file, self.index_fd = file, index_fd
        self.index: Any = _index_map()  # waybill_hash -> offset of its latest record
        self.read = 0                   # bytes of the index file read


def _committed_lengths(store: Store) -> dict[str, int]:
    """Committed length of each segment file of the store, by file name (``cbec_ingest_offset``, ``log:<name>``)."""
    return {src[4:]: int(off) for src, off in store.execute(
        "SELECT source, byte_offset FROM cbec_ingest_offset WHERE source LIKE 'log:%'")}


def route(order_no: str | None, shards: int) -> int:
    """The writer shard of an order number: CRC-32 of its UTF-8 bytes (as ``_framing.split_route``)."""
    if shards <= 1 or not order_no:
        return 0
    return zlib.crc32(order_no.encode()) % shards


class Record(NamedTuple):
    """One accepted document waiting to be written; ``payload`` is its JSON form or the XML message it came in."""

    doc: Document
    payload: bytes | None
    received_ms: int


class MessageLog:
    """What the engine needs from the log (see the module docstring for the two forms)."""

    def seen(self, ids: list[DocId]) -> set[DocId]:
        """The ``(kind, guid)`` identities among ``ids`` already in the log."""
        raise NotImplementedError

    def prepare(self, records: list[Record]) -> None:
        """Get a batch's records ready before its transaction (work that needs no database lock)."""
        raise NotImplementedError

    def record(self, store: Store) -> None:
        """Inside the batch's transaction: make the prepared records part of it."""
        raise NotImplementedError

    def write(self, store: Store, records: list[Record]) -> None:
        """:meth:`prepare` and :meth:`record` (inside the store's open transaction)."""
        self.prepare(records)
        self.record(store)

    def committed(self) -> None:
        """The transaction of the last :meth:`write` committed."""

    def aborted(self) -> None:
        """The transaction of the last :meth:`write` rolled back."""

    def load(self, key: Key | None, wkey: Key | None) -> dict[str, Document]:
        """Latest document of each kind for an order key and/or a waybill key."""
        raise NotImplementedError

    def forget(self, key: Key, wkey: Key | None) -> None:
        """A parcel was decided for good: its documents need not be found by key any more."""

    def document(self, kind: str, guid: str) -> Document | None:
        """The logged document of ``kind`` with ``guid`` (e.g. a released parcel's inventory), if any."""
        raise NotImplementedError

    def replay(self, store: Store, decided: Decided) -> Iterator[tuple[Document, int]]:
        """Rebuild the indexes; yield ``(document, received_ms)`` of documents not yet ``decided``, in order."""
        raise NotImplementedError

    def guids(self) -> list[str]:
        """Every guid in the log (tests and checks)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the log's files and threads (nothing to release by default)."""
        pass


_MSG_COLS = ("guid", "message_guid", "msg_type", "app_type", "ebp_code", "order_no", "logistics_code",
             "logistics_no", "received_ms", "payload", "pre_no")


class TableLog(MessageLog):
    """The log as ``cbec_message`` rows (PostgreSQL; SQLite in memory)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def seen(self, ids: list[DocId]) -> set[DocId]:
        """The ``(kind, guid)`` identities among ``ids`` already in the ``cbec_message`` table."""
        if not ids:
            return set()
        guids = sorted({g for _k, g in ids})
        if self.store.dialect == "postgresql":
            rows = self.store.execute("SELECT msg_type, guid FROM cbec_message WHERE guid = ANY(?)", (guids,))
        else:
            rows = self.store.execute("SELECT msg_type, guid FROM cbec_message WHERE guid IN "
                                      "(SELECT value FROM json_each(?))", (orjson.dumps(guids).decode(),))
        wanted = set(ids)
        return {(k, g) for k, g in rows if (k, g) in wanted}

    def prepare(self, records: list[Record]) -> None:
        """Build the ``cbec_message`` rows of a batch's records before its transaction."""
        rows: list[tuple] = []
        self._rows = rows
        for r in records:
            d, h = r.doc, r.doc.head
            rows.append((d.guid, d.message_guid, d.kind, int(h.get("appType", "1")), h.get("ebpCode"),
                         h.get("orderNo"), h.get("logisticsCode"), h.get("logisticsNo"), r.received_ms,
                         r.payload if r.payload and r.payload[:1] == b"{" else document_json(d),
                         h.get("preNo") or None))

    def document(self, kind: str, guid: str) -> Document | None:
        """The ``cbec_message`` row of ``(kind, guid)``, decoded."""
        row = self.store.execute("SELECT payload, pre_no FROM cbec_message WHERE msg_type = ? AND guid = ? "
                                 "ORDER BY id DESC LIMIT 1", (kind, guid)).fetchone()
        return None if row is None else _with_pre_no(document_from_json(bytes(row[0])), row[1])

    def record(self, store: Store) -> None:
        """Copy the prepared rows into ``cbec_message`` inside the batch's transaction."""
        store.copy_rows("cbec_message", _MSG_COLS, self._rows)
        self._rows = []

    def aborted(self) -> None:
        """Drop the prepared rows of a rolled-back batch."""
        self._rows = []

    def load(self, key: Key | None, wkey: Key | None) -> dict[str, Document]:
        """Latest stored document of each kind for an order key and/or a waybill key."""
        out: dict[str, Document] = {}
        if key is not None:
            for kind, payload, pre_no in self.store.execute(
                    "SELECT msg_type, payload, pre_no FROM cbec_message WHERE ebp_code = ? AND order_no = ? "
                    "AND msg_type <> 'CEB511' ORDER BY id", key):
                out[kind] = _with_pre_no(document_from_json(bytes(payload)), pre_no)
        if wkey is not None:
            for (payload,) in self.store.execute(
                    "SELECT payload FROM cbec_message WHERE logistics_code = ? AND logistics_no = ? "
                    "AND msg_type = 'CEB511' ORDER BY id", wkey):
                out[WAYBILL] = document_from_json(bytes(payload))
        return out

    def replay(self, store: Store, decided: Decided) -> Iterator[tuple[Document, int]]:
        """Yield ``(document, received_ms)`` of stored messages whose parcel is not yet decided, in arrival order."""
        rows = store.execute(
            "SELECT id, payload, received_ms, pre_no FROM cbec_message m WHERE m.msg_type <> 'CEB511' AND NOT EXISTS "
            "(SELECT 1 FROM cbec_parcel p WHERE p.ebp_code = m.ebp_code AND p.order_no = m.order_no) "
            "UNION ALL SELECT id, payload, received_ms, pre_no FROM cbec_message m WHERE m.msg_type = 'CEB511' AND "
            "NOT EXISTS (SELECT 1 FROM cbec_parcel p WHERE p.logistics_code = m.logistics_code "
            "AND p.logistics_no = m.logistics_no) ORDER BY 1").fetchall()
        for _id, payload, ms, pre_no in rows:
            yield _with_pre_no(document_from_json(bytes(payload)), pre_no), ms

    def guids(self) -> list[str]:
        """Every guid in ``cbec_message``, in arrival order."""
        return [g for _k, g in self.ids()]

    def ids(self) -> list[DocId]:
        """Every ``(kind, guid)`` in ``cbec_message``, in arrival order."""
        return [(k, g) for k, g in self.store.execute("SELECT msg_type, guid FROM cbec_message ORDER BY id")]


class _File:
    """One segment file: its descriptor, committed length and (for the shard's own file) unflushed bytes."""

    def __init__(self, number: int, path: Path, name: str) -> None:
        self.number, self.path, self.name = number, path, name
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.end = 0          # bytes written to the file
        self.pending = b""    # the prepared batch's records, written but not yet committed

    def read(self, offset: int, n: int) -> bytes:
        if offset >= self.end:
            start = offset - self.end
            return bytes(self.pending[start:start + n])
        return os.pread(self.fd, n, offset)


class _Flusher:
    """Once the writer's own segment file has grown by ``every`` bytes, syncs it to disk and drops its pages
    from the OS page cache, off the writer's thread (it looks every ``interval`` seconds).

    The log is read back rarely (an evicted or re-opened parcel, a restart), but left to itself its pages stay
    in the page cache: a writer fills memory with it, and on a VM a write into pages never used before costs
    several times one into reused pages (`bench/cbec.py --step-trend`: a batch's append stays at 0.5 ms with
    this, and grows to 4.7 ms after 100,000 parcels without it). Syncing in large steps keeps the disk's
    journal out of the writers' way the rest of the time.
    """

    def __init__(self, fd: int, every: int = 128 << 20, interval: float = 0.5) -> None:
        self.fd, self.every, self.interval = fd, every, interval
        self._synced = os.fstat(fd).st_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cbec-log-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                size = os.fstat(self.fd).st_size
                if size - self._synced < self.every:
                    continue
                os.fdatasync(self.fd)
                os.posix_fadvise(self.fd, 0, size, os.POSIX_FADV_DONTNEED)  # clean pages only: synced above
                self._synced = size
            except OSError:
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class SegmentLog(MessageLog):
    """Append-only log files next to an SQLite database; this writer appends to ``<shard>of<shards>.log``."""

    def __init__(self, directory: Path, shard: int = 0, shards: int = 1) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shard, self.shards = shard, shards
        self.name = f"{shard}of{shards}"
        self.files: list[_File] = []
        self.own: _File | None = None
        self.guid_at: Any = _index_map()       # hash((kind, guid)) -> location
        self.key_at: Any = _index_map()        # hash(kind class, key) -> location of its latest record (own file)
        self.older: dict[int, list[int]] = {}  # the same for records in other files (another shard layout)
        self._updates: list[tuple[int, int, int]] = []  # index entries of the prepared batch, applied on commit
        self._new_end = 0
        self._flusher: _Flusher | None = None
        self._store: Store | None = None
        self._wb_fd: int | None = None     # this writer's waybill index file
        self._wb_end = 0
        self._wb_new_end = 0
        self._peers: dict[str, _Peer] = {}

    # ------------------------------------------------------------------ locations and records
    def _loc(self, f: _File, offset: int) -> int:
        return f.number << _FILE_BITS | offset

    def _record(self, loc: int) -> tuple[list[Any], bytes, int]:
        """``(meta, payload, previous offset)`` of the record at ``loc``."""
        f = self.files[loc >> _FILE_BITS]
        off = loc & ((1 << _FILE_BITS) - 1)
        head = f.read(off, _HEAD.size + 512)
        plen, mlen, prev = _HEAD.unpack_from(head)
        if _HEAD.size + mlen + plen > len(head):
            head = f.read(off, _HEAD.size + mlen + plen)
        meta = orjson.loads(head[_HEAD.size:_HEAD.size + mlen])
        return meta, head[_HEAD.size + mlen:_HEAD.size + mlen + plen], prev

    @staticmethod
    def _khash(waybill: bool, key: Key) -> int:
        return hash((waybill, key[0], key[1]))

    # ------------------------------------------------------------------ the interface
    def seen(self, ids: list[DocId]) -> set[DocId]:
        """The ``(kind, guid)`` identities among ``ids`` already in the segment files (the in-memory index)."""
        found = set()
        guid_at = self.guid_at
        for i in ids:
            loc = guid_at.get(hash(i))
            if loc is not None:
                meta = self._record(loc)[0]
                if meta[0] == i[1] and meta[1] == i[0]:
                    found.add(i)
        return found

    def prepare(self, records: list[Record]) -> None:
        """Append the records to the file (to the OS; not yet committed: a restart would cut them)."""
        f = self.own
        assert f is not None, "replay() opens the log"
        encoded = _ENCODE(records, f.end, f.number << _FILE_BITS, (1 << _FILE_BITS) - 1, self.key_at, WAYBILL,
                          document_json) if _ENCODE is not None else None
        if encoded is not None:
            self._write_pending(f, *encoded)
            return
        base = f.end
        key_at = self.key_at
        mask = (1 << _FILE_BITS) - 1
        fbase = f.number << _FILE_BITS
        pack = _HEAD.pack
        dumps = orjson.dumps
        batch_keys: dict[int, int] = {}
        updates: list[tuple[int, int, int]] = []
        add = updates.append
        parts: list[bytes] = []
        put = parts.extend
        waybills: list[bytes] = []
        at = base
        hsize = _HEAD.size
        for d, payload, received_ms in records:
            h = d.head
            kind = d.kind
            waybill = kind == WAYBILL
            if waybill:
                k0, k1 = h.get("logisticsCode", ""), h.get("logisticsNo", "")
            else:
                k0, k1 = h.get("ebpCode", ""), h.get("orderNo", "")
            kh = hash((waybill, k0, k1))
            prev_loc = batch_keys.get(kh)
            if prev_loc is None:
                prev_loc = key_at.get(kh)
            if not payload:
                payload = document_json(d)
            guid = d.guid
            pre_no = h.get("preNo")
            meta = dumps((guid, kind, k0, k1, h.get("orderNo"), received_ms, pre_no) if pre_no
                         else (guid, kind, k0, k1, h.get("orderNo"), received_ms))
            put((pack(len(payload), len(meta), prev_loc & mask if prev_loc is not None else -1), meta, payload))
            batch_keys[kh] = fbase | at
            add((hash((kind, guid)), kh, fbase | at))
            if waybill:
                waybills.append(_WAYBILL_ENTRY.pack(waybill_hash(k0, k1), at))
            at += hsize + len(meta) + len(payload)
        self._write_pending(f, b"".join(parts), updates, b"".join(waybills))

    def _write_pending(self, f: _File, buf: bytes, updates: list[tuple[int, int, int]], waybills: bytes) -> None:
        f.pending = buf
        if buf:
            os.pwrite(f.fd, buf, f.end)  # in the OS before the transaction that records the new length commits
        if waybills and self._wb_fd is not None:
            os.pwrite(self._wb_fd, waybills, self._wb_end)  # readers stop at the committed length of the log
        self._updates = updates
        self._new_end = f.end + len(buf)
        self._wb_new_end = self._wb_end + len(waybills)

    def record(self, store: Store) -> None:
        """Record the shard's new segment end as its ingest offset inside the batch's transaction."""
        f = self.own
        assert f is not None
        store.execute("INSERT INTO cbec_ingest_offset (source, byte_offset, updated_ms) VALUES (?, ?, 0) "
                      "ON CONFLICT (source) DO UPDATE SET byte_offset = excluded.byte_offset",
                      (f"log:{f.name}", self._new_end))

    def committed(self) -> None:
        """Make the batch's appended bytes committed and its records findable by guid and key."""
        f = self.own
        if f is not None and f.pending:
            f.end = self._new_end
            f.pending = b""
        self._wb_end = self._wb_new_end
        guid_at, key_at = self.guid_at, self.key_at
        if _APPLY is not None and type(guid_at) is type(key_at) is _kernel.U64Map:  # type: ignore[union-attr]
            _APPLY(guid_at, key_at, self._updates)  # the loop below, compiled
        else:
            for gh, kh, loc in self._updates:
                guid_at[gh] = loc
                key_at[kh] = loc
        self._updates = []

    def aborted(self) -> None:
        """Cut the batch's records (its index entries were never applied)."""
        f = self.own
        if f is None:
            return
        f.pending = b""
        os.ftruncate(f.fd, f.end)
        if self._wb_fd is not None:
            os.ftruncate(self._wb_fd, self._wb_end)
        self._updates = []

    def load(self, key: Key | None, wkey: Key | None) -> dict[str, Document]:
        """Latest logged document of each kind for an order key and/or a waybill key, read from the segments."""
        out: dict[str, Document] = {}
        for waybill, k in ((False, key), (True, wkey)):
            if k is None:
                continue
            kh = self._khash(waybill, k)
            heads = [self.key_at[kh]] if kh in self.key_at else []
            found: list[tuple[int, Document]] = []
            for head in heads + self.older.get(kh, []):
                loc: int | None = head
                while loc is not None:
                    meta, payload, prev = self._record(loc)
                    if (meta[1] == WAYBILL) == waybill and meta[2] == k[0] and meta[3] == k[1]:
                        found.append((loc, _decode(payload, meta)))
                    loc = (loc >> _FILE_BITS << _FILE_BITS | prev) if prev >= 0 else None
            for _loc, doc in sorted(found, key=lambda t: t[0]):  # oldest first: the latest of each kind wins
                out[doc.kind] = doc
        if wkey is not None and WAYBILL not in out and self.shards > 1:
            peer = self._peer_waybill(wkey)
            if peer is not None:
                out[WAYBILL] = peer
        return out

    def _peer_waybill(self, wkey: Key) -> Document | None:
        """The latest committed waybill of ``wkey`` in another shard's file of this layout (one whose orderNo
        disagrees with its inventory's was routed there), read through that shard's waybill index."""
        if self._store is None:
            return None
        committed = _committed_lengths(self._store)
        h = waybill_hash(*wkey)
        best: tuple[int, Document] | None = None
        for i in range(self.shards):
            name = f"{i}of{self.shards}"
            if name == self.name or name not in committed:
                continue
            peer = self._peers.get(name) or self._open_peer(name)
            if peer is None:
                continue
            peer.file.end = end = committed[name]
            data = os.pread(peer.index_fd, max(0, os.fstat(peer.index_fd).st_size - peer.read), peer.read)
            size = _WAYBILL_ENTRY.size
            for at in range(0, len(data) - size + 1, size):
                eh, off = _WAYBILL_ENTRY.unpack_from(data, at)
                if off >= end:
                    break  # not committed (yet): read again next time
                peer.index[eh] = off  # entries are in file order: the latest record of a key wins
                peer.read += size
            off = peer.index.get(h)
            if off is not None:
                meta, payload, _prev = self._record(peer.file.number << _FILE_BITS | off)
                if meta[1] == WAYBILL and meta[2] == wkey[0] and meta[3] == wkey[1] \
                        and (best is None or meta[5] >= best[0]):
                    best = (meta[5], _decode(payload, meta))
        return best[1] if best is not None else None

    def _open_peer(self, name: str) -> _Peer | None:
        try:
            index_fd = os.open(self.dir / f"{name}.waybills", os.O_RDONLY)
        except FileNotFoundError:
            return None
        f = _File(len(self.files), self.dir / f"{name}.log", name)  # opened for reading; its writer appends
        self.files.append(f)
        peer = self._peers[name] = _Peer(f, index_fd)
        return peer

    def document(self, kind: str, guid: str) -> Document | None:
        """The record of ``(kind, guid)`` through the in-memory guid index, decoded."""
        loc = self.guid_at.get(hash((kind, guid)))
        if loc is None:
            return None
        meta, payload, _prev = self._record(loc)
        return _decode(payload, meta) if meta[0] == guid and meta[1] == kind else None

    def forget(self, key: Key, wkey: Key | None) -> None:
        """Drop a decided parcel's order and waybill keys from the in-memory key index."""
        key_at, older = self.key_at, self.older
        kh = hash((False, key[0], key[1]))  # _khash
        key_at.pop(kh, None)
        if older:
            older.pop(kh, None)
        if wkey is not None:
            kh = hash((True, wkey[0], wkey[1]))
            key_at.pop(kh, None)
            if older:
                older.pop(kh, None)

    def replay(self, store: Store, decided: Decided) -> Iterator[tuple[Document, int]]:
        """Open every log file of the directory, cut each to its committed length, rebuild the indexes.

        Files of another shard layout are read too (only records routed to this shard are kept), so a
        store can be re-sharded between runs; only this shard's own file is appended to.
        """
        self.close()
        self._store = store
        committed = _committed_lengths(store)
        layout = f"of{self.shards}"
        # the other shards of this layout run beside this one: their files are theirs alone
        names = sorted({p.stem for p in self.dir.glob("*.log") if not p.stem.endswith(layout)} | {self.name})
        waiting: list[tuple[Document, int, int]] = []
        for number, name in enumerate(names):
            f = _File(number, self.dir / f"{name}.log", name)
            self.files.append(f)
            own = name == self.name
            try:  # a writer holds its own file exclusively: a file of another layout must not be live
                fcntl.flock(f.fd, (fcntl.LOCK_EX if own else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                self.close()
                raise RuntimeError(f"another CBEC writer is using {f.path}: one engine per shard and store "
                                   "(stop the other ingest or server first)") from None
            size = os.fstat(f.fd).st_size
            end = committed.get(name, 0)
            if size < end:
                self.close()
                raise RuntimeError(f"CBEC message log {f.path} is shorter ({size} bytes) than committed ({end})")
            if size > end:
                os.ftruncate(f.fd, end)  # records of a batch whose transaction never committed
            f.end = end
            if own:
                self.own = f
                self._flusher = _Flusher(f.fd)
                weakref.finalize(self, self._flusher.stop)  # a log dropped without close() stops it too
                self._wb_fd = os.open(self.dir / f"{name}.waybills", os.O_RDWR | os.O_CREAT, 0o644)
            waiting += self._index(f, own, decided)
            if not own:
                fcntl.flock(f.fd, fcntl.LOCK_UN)  # read-only from now on (no writer of that layout may start)
        if len(self.files) > 1:
            waiting.sort(key=lambda t: t[1])  # several files: interleave by arrival time
        for doc, ms, _loc in waiting:
            yield doc, ms

    def _index(self, f: _File, own: bool, decided: Decided | None
               ) -> list[tuple[Document, int, int]]:
        """Index the records of ``f`` routed to this shard; ``(document, received_ms, location)`` of the
        ones not ``decided`` (none when ``decided`` is ``None``)."""
        waiting = []
        waybills: list[bytes] = []
        for off, meta, payload in self._scan(f):
            if not own and route(meta[4], self.shards) != self.shard:
                continue
            if own and meta[1] == WAYBILL:
                waybills.append(_WAYBILL_ENTRY.pack(waybill_hash(meta[2], meta[3]), off))
            loc = self._loc(f, off)
            self.guid_at[hash((meta[1], meta[0]))] = loc
            kh = hash((meta[1] == WAYBILL, meta[2], meta[3]))
            if own:
                self.key_at[kh] = loc
            else:
                chain = self.older.setdefault(kh, [])
                if chain and chain[-1] >> _FILE_BITS == f.number:
                    chain[-1] = loc
                else:
                    chain.append(loc)
            if decided is not None and not decided(meta[1] == WAYBILL, (meta[2], meta[3])):
                waiting.append((_decode(payload, meta), meta[5], loc))
        if own and self._wb_fd is not None:  # the waybill index of the committed records, rebuilt
            data = b"".join(waybills)  # the same bytes as the file's committed part: readers see no change
            os.pwrite(self._wb_fd, data, 0)
            os.ftruncate(self._wb_fd, len(data))
            self._wb_end = self._wb_new_end = len(data)
        return waiting

    @staticmethod
    def _scan(f: _File) -> Iterator[tuple[int, list[Any], bytes]]:
        off = 0
        block = 8 << 20
        buf = b""
        base = 0
        while off < f.end:
            rel = off - base
            if rel + _HEAD.size > len(buf):
                buf = os.pread(f.fd, block, off)
                base, rel = off, 0
            plen, mlen, _prev = _HEAD.unpack_from(buf, rel)
            total = _HEAD.size + mlen + plen
            if rel + total > len(buf):
                buf = os.pread(f.fd, max(block, total), off)
                base, rel = off, 0
            meta = orjson.loads(buf[rel + _HEAD.size:rel + _HEAD.size + mlen])
            yield off, meta, buf[rel + _HEAD.size + mlen:rel + total]
            off += total

    def guids(self) -> list[str]:
        """Every guid in the segment files this shard answers for, in file order."""
        return [g for _k, g in self.ids()]

    def ids(self) -> list[DocId]:
        """Every ``(kind, guid)`` in the segment files this shard answers for, in file order."""
        out = []
        peers = {id(p.file) for p in self._peers.values()}
        for f in self.files:
            if id(f) not in peers:  # another shard's file of this layout: its writer answers for it
                out += [(meta[1], meta[0]) for _off, meta, _p in self._scan(f)]
        return out

    def close(self) -> None:
        """Stop the flusher thread and close the segment files."""
        if self._flusher is not None:  # before its descriptor closes (and could be reused)
            self._flusher.stop()
            self._flusher = None
        for f in self.files:
            os.close(f.fd)
        for peer in self._peers.values():
            os.close(peer.index_fd)
        if self._wb_fd is not None:
            os.close(self._wb_fd)
            self._wb_fd = None
        self._peers = {}
        self.files, self.own = [], None
        self.guid_at.clear()
        self.key_at.clear()
        self.older.clear()


def _with_pre_no(doc: Document, pre_no: str | None) -> Document:
    """``doc`` with the preNo the engine gave it (kept beside the payload, which is as the sender sent it)."""
    if pre_no:
        doc.head["preNo"] = pre_no
    return doc


def _pick(docs: list, guid: str, kind: str) -> Document | None:
    """The logged document among a message's: its guid, of its kind, declared rather than a draft (a message
    may repeat a guid: the official samples do)."""
    found = [d for d in docs if isinstance(d, Document) and d.guid == guid]
    found.sort(key=lambda d: (d.kind != kind, d.head.get("appStatus") == "1"))
    return found[0] if found else None


def _decode(payload: bytes, meta: list[Any]) -> Document:
    """The document of a record (``meta``: ``[guid, kind, ...]``) from its payload: its JSON form, or the XML
    message it came in; with the preNo the engine gave it (``meta[6]``)."""
    guid, kind = meta[0], meta[1]
    pre_no = meta[6] if len(meta) > 6 else None
    if payload[:1] == b"{":
        return _with_pre_no(document_from_json(payload), pre_no)
    try:  # the message's other documents may have been refused: only this one matters
        docs: list = parse_items(payload)
    except CebError:  # a record of an older version that today's checks refuse: read as stored
        docs = stored_documents(payload)
    doc = _pick(docs, guid, kind) or _pick(stored_documents(payload), guid, kind)  # else refused today: as stored
    if doc is not None:
        return _with_pre_no(doc, pre_no)
    raise RuntimeError(f"CBEC message log: document {guid} is not in its stored message")


def log_dir(store: Store) -> Path | None:
    """Where an SQLite file store keeps its segment log (``None``: the log lives in the database)."""
    if store.dialect != "sqlite" or store.path in (None, "", ":memory:"):
        return None
    return Path(f"{store.path}.cbec")


def open_log(store: Store, shard: int = 0, shards: int = 1) -> MessageLog:
    """The message log of ``store``: segment files when a log directory is configured, else the table."""
    d = log_dir(store)
    return SegmentLog(d, shard, shards) if d is not None else TableLog(store)


def stored_guids(store: Store) -> list[str]:
    """Every committed document guid of a store's log, all shards (read-only; for checks and tests)."""
    return [g for _k, g in stored_ids(store)]


def stored_ids(store: Store) -> list[DocId]:
    """Every committed document identity ``(kind, guid)`` of a store's log, all shards (read-only)."""
    d = log_dir(store)
    if d is None:
        return TableLog(store).ids()
    committed = _committed_lengths(store)
    out: list[DocId] = []
    for number, path in enumerate(sorted(d.glob("*.log"))):
        f = _File(number, path, path.stem)
        try:
            f.end = min(committed.get(path.stem, 0), os.fstat(f.fd).st_size)
            out += [(meta[1], meta[0]) for _off, meta, _p in SegmentLog._scan(f)]
        finally:
            os.close(f.fd)
    return out
