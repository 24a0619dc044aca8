# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.log`: :class:`U64Map` (the log's compact indexes), :func:`waybill_hash`
and :func:`encode_log_records` (a batch's records, as ``SegmentLog.prepare``'s Python loop writes them)."""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

from smartcustoms.cbec.ceb._buf cimport Buf, _buf_bytes, _bytes_buf, _decref, _grow, _heap_buf, _put, _put_bytes, _put_json_str


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL


# ---------------------------------------------------------------------------- compact indexes
cdef enum:
    U64_EMPTY = -1
    U64_GONE = -2


cdef class U64Map:
    """A hash map from 64-bit integer keys (e.g. ``hash(str)``) to non-negative 64-bit values.

    The message log's guid and key indexes: 16 bytes per slot (about 27 per entry) where a dict of
    ints costs about 115. Open addressing with linear probing; the keys are hashes already, so their
    low bits pick the slot.
    """

    cdef uint64_t* keys
    cdef int64_t* vals
    cdef Py_ssize_t cap, live, filled

    def __cinit__(self, Py_ssize_t capacity=1024):
        self._alloc(max(16, capacity))

    cdef int _alloc(self, Py_ssize_t cap) except -1:
        cdef Py_ssize_t c = 16, i
        while c < cap:
            c <<= 1
        self.keys = <uint64_t*>malloc(c * sizeof(uint64_t))
        self.vals = <int64_t*>malloc(c * sizeof(int64_t))
        if self.keys == NULL or self.vals == NULL:
            raise MemoryError()
        for i in range(c):
            self.vals[i] = U64_EMPTY
        self.cap, self.live, self.filled = c, 0, 0
        return 0

    def __dealloc__(self):
        free(self.keys)
        free(self.vals)

    cdef inline Py_ssize_t _find(self, uint64_t k) noexcept:
        """Slot holding ``k``, or -1."""
        cdef Py_ssize_t m = self.cap - 1, i = <Py_ssize_t>(k & <uint64_t>m)
        cdef int64_t v
        while True:
            v = self.vals[i]
            if v == U64_EMPTY:
                return -1
            if v != U64_GONE and self.keys[i] == k:
                return i
            i = (i + 1) & m

    cdef int _grow(self) except -1:
        cdef uint64_t* keys = self.keys
        cdef int64_t* vals = self.vals
        cdef Py_ssize_t old = self.cap, i
        self._alloc(old * 2 if self.live * 2 >= old else old)  # many tombstones: rebuild at the same size
        for i in range(old):
            if vals[i] >= 0:
                self._put(keys[i], vals[i])
        free(keys)
        free(vals)
        return 0

    cdef int _put(self, uint64_t k, int64_t value) except -1:
        cdef Py_ssize_t m, i, gone = -1
        cdef int64_t v
        if (self.filled + 1) * 10 > self.cap * 7:
            self._grow()
        m = self.cap - 1
        i = <Py_ssize_t>(k & <uint64_t>m)
        while True:
            v = self.vals[i]
            if v == U64_EMPTY:
                break
            if v == U64_GONE:
                if gone < 0:
                    gone = i
            elif self.keys[i] == k:
                self.vals[i] = value
                return 0
            i = (i + 1) & m
        if gone >= 0:
            i = gone
        else:
            self.filled += 1
        self.keys[i] = k
        self.vals[i] = value
        self.live += 1
        return 0

    def __setitem__(self, key, value):
        if value < 0:
            raise ValueError("U64Map values are non-negative")
        self._put(<uint64_t>(<int64_t>key), value)

    def __getitem__(self, key):
        cdef Py_ssize_t i = self._find(<uint64_t>(<int64_t>key))
        if i < 0:
            raise KeyError(key)
        return self.vals[i]

    def get(self, key, default=None):
        cdef Py_ssize_t i = self._find(<uint64_t>(<int64_t>key))
        return self.vals[i] if i >= 0 else default

    def __contains__(self, key):
        return self._find(<uint64_t>(<int64_t>key)) >= 0

    def pop(self, key, default=None):
        cdef Py_ssize_t i = self._find(<uint64_t>(<int64_t>key))
        cdef int64_t v
        if i < 0:
            return default
        v = self.vals[i]
        self.vals[i] = U64_GONE
        self.live -= 1
        return v

    def __len__(self):
        return self.live

    def clear(self):
        free(self.keys)
        free(self.vals)
        self.keys = NULL
        self.vals = NULL
        self._alloc(16)


def apply_updates(U64Map guid_at, U64Map key_at, list updates):
    """``guid_at[gh] = loc; key_at[kh] = loc`` for each ``(gh, kh, loc)`` of ``updates`` (as
    ``SegmentLog.committed``'s Python loop does), without a Python-level call per entry."""
    cdef tuple u
    cdef int64_t loc
    for x in updates:
        u = <tuple?>x
        loc = u[2]
        if loc < 0:
            raise ValueError("U64Map values are non-negative")
        guid_at._put(<uint64_t>(<int64_t>u[0]), loc)
        key_at._put(<uint64_t>(<int64_t>u[1]), loc)


# ---------------------------------------------------------------------------- message log records
cdef inline void _le(char* o, uint64_t v, int k) noexcept nogil:
    """The ``k`` low bytes of ``v``, little-endian (``struct`` ``<``)."""
    cdef int j
    for j in range(k):
        o[j] = <char>(v >> (8 * j))


cdef int _put_int(Buf* b, long long v) except -1:
    cdef char tmp[24]
    cdef int k = 0, j
    cdef unsigned long long u = <unsigned long long>(-v) if v < 0 else <unsigned long long>v
    while True:
        tmp[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    if v < 0:
        tmp[k] = 45
        k += 1
    if b.n + k > b.cap:
        _grow(b, k)
    for j in range(k):
        b.p[b.n + j] = tmp[k - 1 - j]
    b.n += k
    return 0


cdef uint64_t _fnv1a(uint64_t h, const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(n):
        h = (h ^ p[k]) * <uint64_t>0x100000001b3
    return h


cdef int64_t _waybill_hash(str code, str number) except? -1:
    cdef Py_ssize_t n
    cdef const char* s = PyUnicode_AsUTF8AndSize(code, &n)
    cdef uint64_t h = _fnv1a(<uint64_t>0xcbf29ce484222325, <const unsigned char*>s, n)
    h = _fnv1a(h, <const unsigned char*>b"\x1f", 1)
    s = PyUnicode_AsUTF8AndSize(number, &n)
    return <int64_t>_fnv1a(h, <const unsigned char*>s, n)


def waybill_hash(str code, str number):
    """64-bit FNV-1a of ``code``, 0x1F and ``number`` in UTF-8, as a signed integer (``log.waybill_hash``)."""
    return _waybill_hash(code, number)


def encode_log_records(list records, Py_ssize_t at, int64_t fbase, int64_t offset_mask, key_at, str waybill_kind,
                       document_json):
    """The records of one batch as ``log.SegmentLog.prepare`` writes them, starting at file offset ``at`` of
    the file whose location bits are ``fbase`` (a location's offset is ``location & offset_mask``): ``(bytes, [(hash(guid), key hash, location)], waybill index
    entries)``, or ``None`` for a record that is not a plain document (the caller's Python loop then does
    the batch). A waybill index entry is ``<i64 waybill_hash(logisticsCode, logisticsNo)><i64 offset>``.

    Each record is ``<u32 payload length><u16 meta length><i64 previous record of its key or -1>``, the meta
    (``[guid, kind, key1, key2, orderNo, received_ms]`` as orjson writes it, with ``, preNo`` appended when the
    head has one) and the payload; the guid index entries are keyed by ``hash((kind, guid))``.
    """
    cdef Buf b, wb
    cdef dict batch_keys = {}
    cdef list updates = []
    cdef dict h
    cdef tuple rec, d
    cdef Py_ssize_t head_at, meta_len, plen
    cdef int64_t loc, prev
    cdef bint waybill
    cdef PyObject* found
    cdef Py_ssize_t cap = 1 << 12
    for r in records:  # room for the usual batch: XML payloads and ~200 bytes of header and meta each
        payload = (<tuple>r)[1] if isinstance(r, tuple) and len(<tuple>r) > 1 else None
        cap += (PyBytes_GET_SIZE(payload) if type(payload) is bytes else 1024) + 256
    cdef PyObject* out = NULL
    cdef PyObject* o
    b.p = wb.p = NULL
    b.heap = False
    try:
        out = _bytes_buf(&b, cap)  # written in place into the bytes returned: no copy of the batch at the end
        _heap_buf(&wb, 1024)
        for r in records:
            if not isinstance(r, tuple) or len(r) != 3 or not isinstance((<tuple>r)[0], tuple) \
                    or len((<tuple>r)[0]) < 4:
                return None
            rec = <tuple>r
            d = <tuple>rec[0]
            kind, guid, head, payload, ms = d[0], d[1], d[3], rec[1], rec[2]
            if (type(head) is not dict or type(kind) is not str or type(guid) is not str
                    or type(ms) is not int):
                return None
            h = <dict>head
            waybill = kind == waybill_kind
            if waybill:
                k0, k1 = h.get("logisticsCode", ""), h.get("logisticsNo", "")
            else:
                k0, k1 = h.get("ebpCode", ""), h.get("orderNo", "")
            order_no = h.get("orderNo")
            pre_no = h.get("preNo")
            if type(k0) is not str or type(k1) is not str or (order_no is not None and type(order_no) is not str) \
                    or (pre_no is not None and type(pre_no) is not str):
                return None
            kh = hash((waybill, k0, k1))
            found = PyDict_GetItem(batch_keys, kh)
            if found != NULL:
                prev = (<object>found) & offset_mask
            else:
                p = key_at.get(kh)
                prev = (<int64_t>p) & offset_mask if p is not None else -1
            if not payload:
                payload = document_json(rec[0])
            if type(payload) is not bytes:
                return None
            plen = PyBytes_GET_SIZE(payload)
            head_at = b.n
            if b.n + 14 > b.cap:
                _grow(&b, 14)
            b.n += 14
            _put(&b, "[", 1)
            _put_json_str(&b, <str>guid)
            _put(&b, ",", 1)
            _put_json_str(&b, <str>kind)
            _put(&b, ",", 1)
            _put_json_str(&b, <str>k0)
            _put(&b, ",", 1)
            _put_json_str(&b, <str>k1)
            _put(&b, ",", 1)
            if order_no is None:
                _put(&b, "null", 4)
            else:
                _put_json_str(&b, <str>order_no)
            _put(&b, ",", 1)
            _put_int(&b, ms)
            if pre_no:
                _put(&b, ",", 1)
                _put_json_str(&b, <str>pre_no)
            _put(&b, "]", 1)
            meta_len = b.n - head_at - 14
            if meta_len > 0xFFFF or plen > 0xFFFFFFFF:
                return None  # the Python loop's struct.pack refuses it
            _le(b.p + head_at, <uint64_t>plen, 4)
            _le(b.p + head_at + 4, <uint64_t>meta_len, 2)
            _le(b.p + head_at + 6, <uint64_t>prev, 8)
            _put_bytes(&b, <bytes>payload)
            loc = fbase | (at + head_at)
            batch_keys[kh] = loc
            updates.append((hash((kind, guid)), kh, loc))
            if waybill:
                if wb.n + 16 > wb.cap:
                    _grow(&wb, 16)
                _le(wb.p + wb.n, <uint64_t>_waybill_hash(<str>k0, <str>k1), 8)
                _le(wb.p + wb.n + 8, <uint64_t>(at + head_at), 8)
                wb.n += 16
        o, out = out, NULL
        return _buf_bytes(&b, o), updates, PyBytes_FromStringAndSize(wb.p, wb.n)
    finally:
        if out != NULL:
            _decref(out)
        if b.heap:
            free(b.p)
        free(wb.p)
