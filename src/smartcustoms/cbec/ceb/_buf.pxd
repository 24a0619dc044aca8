"""An output buffer for the compiled kernels (``ceb/_scan``, ``ceb/_receipts``, ``cbec/_log``): append bytes,
JSON strings as orjson writes them, XML text as ``ceb.emit._esc`` escapes it.

Inline functions only (no module state), so every kernel that cimports it is a self-contained extension.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from libc.stdlib cimport malloc, realloc
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    PyObject* _new_bytes "PyBytes_FromStringAndSize"(const char* s, Py_ssize_t n) except NULL
    char* _bytes_data "PyBytes_AS_STRING"(PyObject* o)
    int _PyBytes_Resize(PyObject** o, Py_ssize_t n) except -1
    void _decref "Py_DECREF"(PyObject* o)


cdef struct Buf:
    char* p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap         # p was malloc'ed (else it is the caller's stack buffer)


cdef inline int _heap_buf(Buf* b, Py_ssize_t cap) except -1:
    """Start ``b`` empty on a malloc'ed block of ``cap`` bytes (the caller frees ``b.p``)."""
    b.n = 0
    b.cap = cap
    b.p = <char*>malloc(cap)
    b.heap = True
    if b.p == NULL:
        raise MemoryError()
    return 0
cdef inline PyObject* _bytes_buf(Buf* b, Py_ssize_t cap) except NULL:
    """Start ``b`` empty inside a new bytes object of ``cap`` bytes and return that object (a reference of its
    own: hand it to :func:`_buf_bytes`, or ``Py_DECREF`` it on failure): the value is written in place and not
    copied at the end. Should ``cap`` be short, ``_grow`` moves ``b`` to a heap block (``b.heap``: free it)."""
    cdef PyObject* o = _new_bytes(NULL, cap)
    b.p = _bytes_data(o)
    b.n = 0
    b.cap = cap
    b.heap = False
    return o


cdef inline object _buf_bytes(Buf* b, PyObject* o):
    """What ``b`` holds, as bytes: ``o`` (from :func:`_bytes_buf`, whose reference this takes) cut to ``b.n``
    bytes, or a copy of the heap block ``b`` grew into."""
    cdef object r
    if b.heap:
        _decref(o)
        return PyBytes_FromStringAndSize(b.p, b.n)
    _PyBytes_Resize(&o, b.n)  # o's only reference: shrunk in place (on failure it is freed and the error raised)
    r = <object>o  # a second reference...
    _decref(o)     # ...and r the only one
    return r


cdef inline int _grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap
    cdef char* q
    while cap < b.n + extra:
        cap *= 2
    if b.heap:
        q = <char*>realloc(b.p, cap)
    else:
        q = <char*>malloc(cap)
        if q != NULL:
            memcpy(q, b.p, b.n)
    if q == NULL:
        raise MemoryError()
    b.p = q
    b.cap = cap
    b.heap = True
    return 0


cdef inline int _put(Buf* b, const char* s, Py_ssize_t k) except -1:
    if b.n + k > b.cap:
        _grow(b, k)
    memcpy(b.p + b.n, s, k)
    b.n += k
    return 0


cdef inline int _put_bytes(Buf* b, bytes s) except -1:
    return _put(b, PyBytes_AS_STRING(s), PyBytes_GET_SIZE(s))
# bytes orjson escapes in a string: controls, '"' and backslash
cdef inline bint _json_esc(unsigned char c) noexcept nogil:
    return c < 0x20 or c == 34 or c == 92


# the letter of a two-character escape (\" \\ \n \t \r \b \f), 0 for the rest (written as \u00XX)
cdef inline unsigned char _json_esc2(unsigned char c) noexcept nogil:
    if c == 34 or c == 92:
        return c
    if c == 10:
        return 110
    if c == 9:
        return 116
    if c == 13:
        return 114
    if c == 8:
        return 98
    if c == 12:
        return 102
    return 0


# eight bytes at a time (SWAR): (x - 0x0101...01) & ~x & 0x8080...80 is not zero exactly when a byte of x is zero;
# with n * 0x0101...01 in place of 0x0101...01 (n <= 128), exactly when a byte of x is below n
cdef inline uint64_t _zero_bytes(uint64_t x) noexcept nogil:
    return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL


cdef inline bint _json_esc8(const unsigned char* p) noexcept nogil:
    """Is one of the eight bytes at ``p`` escaped in JSON (:func:`_json_esc`)?"""
    cdef uint64_t x
    memcpy(&x, p, 8)
    return (((x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL) | _zero_bytes(x ^ 0x2222222222222222ULL)
            | _zero_bytes(x ^ 0x5C5C5C5C5C5C5C5CULL)) != 0


cdef inline bint _xml_esc8(const unsigned char* p) noexcept nogil:
    """Is one of the eight bytes at ``p`` ``& < > "`` (escaped in XML text)?"""
    cdef uint64_t x
    memcpy(&x, p, 8)
    return (_zero_bytes(x ^ 0x2626262626262626ULL) | _zero_bytes(x ^ 0x3C3C3C3C3C3C3C3CULL)
            | _zero_bytes(x ^ 0x3E3E3E3E3E3E3E3EULL) | _zero_bytes(x ^ 0x2222222222222222ULL)) != 0


cdef inline int _put_json(Buf* b, const unsigned char* s, Py_ssize_t size) except -1:
    """UTF-8 ``s`` as a JSON string exactly as orjson writes it (``"``, ``\\\\`` and controls escaped)."""
    cdef Py_ssize_t k, start = 0
    cdef unsigned char c, e
    cdef const char* hexdigits = b"0123456789abcdef"
    if b.n + 6 * size + 2 > b.cap:
        _grow(b, 6 * size + 2)
    b.p[b.n] = 34
    b.n += 1
    k = 0
    while k < size:
        if k + 8 <= size and not _json_esc8(s + k):
            k += 8  # eight plain bytes
            continue
        c = s[k]
        if not _json_esc(c):
            k += 1
            continue
        memcpy(b.p + b.n, s + start, k - start)
        b.n += k - start
        start = k + 1
        b.p[b.n] = 92
        e = _json_esc2(c)
        if e:
            b.p[b.n + 1] = e
            b.n += 2
        else:
            memcpy(b.p + b.n + 1, b"u00", 3)
            b.p[b.n + 4] = hexdigits[c >> 4]
            b.p[b.n + 5] = hexdigits[c & 15]
            b.n += 6
        k += 1
    memcpy(b.p + b.n, s + start, size - start)
    b.n += size - start
    b.p[b.n] = 34
    b.n += 1
    return 0
cdef inline int _put_json_str(Buf* b, str v) except -1:
    cdef Py_ssize_t size
    cdef const char* s = PyUnicode_AsUTF8AndSize(v, &size)
    return _put_json(b, <const unsigned char*>s, size)
cdef inline int _put_xml_str(Buf* b, str v) except -1:
    """``v`` in UTF-8 with ``& < > "`` escaped (as ``ceb.emit._esc``)."""
    cdef Py_ssize_t size, k, start = 0
    cdef const unsigned char* s = <const unsigned char*>PyUnicode_AsUTF8AndSize(v, &size)
    cdef unsigned char c
    if b.n + 6 * size > b.cap:
        _grow(b, 6 * size)
    k = 0
    while k < size:
        if k + 8 <= size and not _xml_esc8(s + k):
            k += 8  # eight plain bytes
            continue
        c = s[k]
        if not (c == 38 or c == 60 or c == 62 or c == 34):
            k += 1
            continue
        memcpy(b.p + b.n, s + start, k - start)
        b.n += k - start
        start = k + 1
        if c == 38:
            memcpy(b.p + b.n, b"&amp;", 5)
            b.n += 5
        elif c == 60:
            memcpy(b.p + b.n, b"&lt;", 4)
            b.n += 4
        elif c == 62:
            memcpy(b.p + b.n, b"&gt;", 4)
            b.n += 4
        else:
            memcpy(b.p + b.n, b"&quot;", 6)
            b.n += 6
        k += 1
    memcpy(b.p + b.n, s + start, size - start)
    b.n += size - start
    return 0
