# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.ceb.parse`: a byte-level CEB scanner, field validation and encoding.

:class:`Scanner` reads the XML real senders send: an optional UTF-8 BOM and XML declaration (version 1.0,
encoding UTF-8), the CEB namespace bound on the root to the root's prefix (``ceb:``, ``ns2:`` ...) or as the
default namespace, attributes on the root only, whitespace, comments, empty elements, the predefined entities
and character references, UTF-8 text with CR/CRLF line ends, and an XML-DSig ``Signature`` element (its prefix
bound on the root or on itself; its whole subtree is checked for well-formedness and skipped, as the reference
path ignores it). It returns the documents (or their log payloads) of a *valid* message and ``None`` for
anything else -- DOCTYPE, CDATA, processing instructions, other prefixes or namespaces, other encodings,
attributes below the root (outside a signature), malformed input, a missing or bad field, more than 100
documents or 99 lines -- so that the caller runs the lxml reference path, which produces the exact result or
:class:`CebError`. Valid values are checked in C where
the check is plain (digits, decimals, times) and through the Python checks otherwise, with their results
cached per value (a dict per check, and a small C cache per code field); payloads are written as orjson
would write ``ceb.emit.document_json``.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy
from smartcustoms.cbec.ceb._buf cimport Buf, _grow, _heap_buf, _put, _put_bytes, _put_json, _put_json_str


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    dict _PyDict_NewPresized(Py_ssize_t minused)

cdef extern from *:
    """
    /* An instance of a plain tuple subclass (a NamedTuple without its own __new__) holding the six items,
       as tuple.__new__(cls, (a, b, c, d, e, f)) makes it, without the Python-level __new__ call. */
    static PyObject* __pyx_sc_tuple6(PyObject* cls, PyObject* a, PyObject* b, PyObject* c, PyObject* d,
                                     PyObject* e, PyObject* f) {
        PyTypeObject* tp = (PyTypeObject*)cls;
        PyObject* o = tp->tp_alloc(tp, 6);
        if (o == NULL) return NULL;
        Py_INCREF(a); PyTuple_SET_ITEM(o, 0, a);
        Py_INCREF(b); PyTuple_SET_ITEM(o, 1, b);
        Py_INCREF(c); PyTuple_SET_ITEM(o, 2, c);
        Py_INCREF(d); PyTuple_SET_ITEM(o, 3, d);
        Py_INCREF(e); PyTuple_SET_ITEM(o, 4, e);
        Py_INCREF(f); PyTuple_SET_ITEM(o, 5, f);
        return o;
    }
    """
    object _tuple6 "__pyx_sc_tuple6" (object cls, object a, object b, object c, object d, object e, object f)


cdef bint _plain_tuple_class(cls, int n):
    """Is ``cls`` a named tuple of ``n`` fields whose ``__new__`` only packs its arguments (``collections.namedtuple``
    writes it; ``typing.NamedTuple`` cannot replace it), with instances laid out as bare tuples?"""
    return (isinstance(cls, type) and issubclass(cls, tuple) and len(getattr(cls, "_fields", ())) == n
            and cls.__itemsize__ == tuple.__itemsize__ and cls.__basicsize__ == tuple.__basicsize__
            and cls.__dictoffset__ == 0 and "__init__" not in cls.__dict__
            and str(getattr(cls.__new__, "__module__", "")).startswith("namedtuple_"))


cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* 16 bytes at p, all printable ASCII (0x20-0x7F)? */
    static inline int __pyx_sc_ascii16(const unsigned char* p) {
        __m128i v = _mm_loadu_si128((const __m128i*)p);
        return _mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20))) == 0;
    }
    /* The first index from i, among whole 16-byte blocks before n, holding '<', '&', ']' or CR; else the
       start of the first block not wholly before n. */
    static inline Py_ssize_t __pyx_sc_text_run16(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) {
        const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&'), rb = _mm_set1_epi8(']'),
                      cr = _mm_set1_epi8('\\r');
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i*)(p + i));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, rb), _mm_cmpeq_epi8(v, cr)));
            int mask = _mm_movemask_epi8(m);
            if (mask) return i + __builtin_ctz((unsigned int)mask);
            i += 16;
        }
        return i;
    }
    #define __pyx_sc_have_sse2 1
    #else
    static inline int __pyx_sc_ascii16(const unsigned char* p) { (void)p; return 0; }
    static inline Py_ssize_t __pyx_sc_text_run16(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) {
        (void)p; (void)n; return i;
    }
    #define __pyx_sc_have_sse2 0
    #endif
    """
    bint _ascii16 "__pyx_sc_ascii16" (const unsigned char* p) noexcept nogil
    Py_ssize_t _text_run16 "__pyx_sc_text_run16" (const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil


DEF MAX_DEPTH = 32
DEF MAX_ATTRS = 16
DEF MAX_DOCUMENTS = 100  # as ceb.parse.MAX_DOCUMENTS / MAX_LINES (the XSD's maxOccurs)
DEF MAX_LINES = 99
DEF CACHE_MAX = 65536

cdef enum:
    OK = 0
    BAIL = -1

cdef enum:
    MODE_SKIP = 0
    MODE_ROOT = 1
    MODE_DOC = 2
    MODE_LEAVES = 3
    MODE_LEAF = 4
    MODE_FOREIGN = 5  # inside a ds:Signature: read and checked, not kept

cdef enum:
    CHK_NONE = 0
    CHK_DEC = 1
    CHK_INT = 2
    CHK_TIME = 3
    CHK_CALL = 4
    CHK_TEXT = 5      # a string: its length only

cdef bytes _NS = b"http://www.chinaport.gov.cn/ceb"
cdef bytes _XML_NS = b"http://www.w3.org/XML/1998/namespace"
cdef bytes _XMLNS_NS = b"http://www.w3.org/2000/xmlns/"
cdef bytes _DSIG_NS = b"http://www.w3.org/2000/09/xmldsig#"


cdef struct Scan:
    const unsigned char* p
    Py_ssize_t n
    Py_ssize_t i
    # text of the last leaf: [text_start, text_end) of its content before the first child / end tag
    Py_ssize_t text_start
    Py_ssize_t text_end
    bint text_special  # a reference, CR or comment in that range
    # the root's prefix with its colon ("ceb:", "ns2:"; length 0: the default namespace), bound to CEB on it
    const unsigned char* pfx
    Py_ssize_t pfxlen
    # XML-DSig bound on the root: as the default namespace, and/or to the prefix dpfx[:dpfxlen] (0: none)
    bint dsig_default
    const unsigned char* dpfx
    Py_ssize_t dpfxlen
    # the prefix (with its colon) of the signature being skipped
    const unsigned char* spfx
    Py_ssize_t spfxlen


cdef inline bint _ws(unsigned char c) noexcept nogil:
    return c == 32 or c == 10 or c == 9 or c == 13


cdef inline void _skip_ws(Scan* s) noexcept nogil:
    while s.i < s.n and _ws(s.p[s.i]):
        s.i += 1


cdef inline bint _at(Scan* s, const char* lit, Py_ssize_t k) noexcept nogil:
    return s.i + k <= s.n and memcmp(s.p + s.i, lit, k) == 0


cdef inline bint _name_start(unsigned char c) noexcept nogil:
    return (c >= 97 and c <= 122) or (c >= 65 and c <= 90) or c == 95


# ASCII NCName characters (letters, digits, '_', '-', '.'); other name characters are declined
cdef unsigned char _NAME_CHAR[256]
for _c in range(256):
    _NAME_CHAR[_c] = (65 <= _c <= 90) or (97 <= _c <= 122) or (48 <= _c <= 57) or _c in (95, 45, 46)


cdef inline bint _name_char(unsigned char c) noexcept nogil:
    return _NAME_CHAR[c]


cdef bint _valid_chars(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Every byte sequence is well-formed UTF-8 of an XML 1.0 Char."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    cdef unsigned int cp
    cdef uint64_t w
    while i < n:
        if i + 16 <= n and _ascii16(p + i):  # sixteen printable ASCII bytes at a time (SSE2)
            i += 16
            continue
        if i + 8 <= n:  # eight ASCII bytes, none a control character, at a time
            memcpy(&w, p + i, 8)
            if ((w | (w - 0x2020202020202020ULL)) & 0x8080808080808080ULL) == 0:
                i += 8
                continue
        c = p[i]
        if c < 0x80:
            if c < 0x20 and c != 9 and c != 10 and c != 13:
                return False
            i += 1
        elif c < 0xC2:
            return False
        elif c < 0xE0:
            if i + 1 >= n or (p[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
        elif c < 0xF0:
            if i + 2 >= n or (p[i + 1] & 0xC0) != 0x80 or (p[i + 2] & 0xC0) != 0x80:
                return False
            cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F)
            if cp < 0x800 or (cp >= 0xD800 and cp <= 0xDFFF) or cp == 0xFFFE or cp == 0xFFFF:
                return False
            i += 3
        elif c < 0xF5:
            if (i + 3 >= n or (p[i + 1] & 0xC0) != 0x80 or (p[i + 2] & 0xC0) != 0x80
                    or (p[i + 3] & 0xC0) != 0x80):
                return False
            cp = ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F)
            if cp < 0x10000 or cp > 0x10FFFF:
                return False
            i += 4
        else:
            return False
    return True


cdef const char* _ENTITY_NAME[5]
cdef Py_ssize_t _ENTITY_LEN[5]
cdef unsigned int _ENTITY_CP[5]
_ENTITY_NAME[:] = [b"lt;", b"gt;", b"amp;", b"quot;", b"apos;"]
_ENTITY_LEN[:] = [3, 3, 4, 5, 5]
_ENTITY_CP[:] = [60, 62, 38, 34, 39]


cdef Py_ssize_t _ref(const unsigned char* p, Py_ssize_t n, Py_ssize_t i, unsigned int* cp) noexcept nogil:
    """Length of the reference at ``p[i] == '&'`` with its code point in ``cp``; -1 if not understood."""
    cdef Py_ssize_t j = i + 1, k
    cdef unsigned int v = 0
    cdef int digits = 0
    cdef unsigned char c
    if j >= n:
        return -1
    if p[j] == 35:  # '#'
        j += 1
        if j < n and p[j] == 120:  # 'x'
            j += 1
            while j < n and digits <= 8:
                c = p[j]
                if c >= 48 and c <= 57:
                    v = v * 16 + (c - 48)
                elif c >= 97 and c <= 102:
                    v = v * 16 + (c - 87)
                elif c >= 65 and c <= 70:
                    v = v * 16 + (c - 55)
                else:
                    break
                digits += 1
                j += 1
        else:
            while j < n and digits <= 10:
                c = p[j]
                if c >= 48 and c <= 57:
                    v = v * 10 + (c - 48)
                else:
                    break
                digits += 1
                j += 1
        if digits == 0 or digits > 8 or j >= n or p[j] != 59:
            return -1
        if not (v == 9 or v == 10 or v == 13 or (v >= 0x20 and v <= 0xD7FF) or (v >= 0xE000 and v <= 0xFFFD)
                or (v >= 0x10000 and v <= 0x10FFFF)):
            return -1
        cp[0] = v
        return j + 1 - i
    for k in range(5):  # the predefined entities
        if n - j >= _ENTITY_LEN[k] and memcmp(p + j, _ENTITY_NAME[k], _ENTITY_LEN[k]) == 0:
            cp[0] = _ENTITY_CP[k]
            return _ENTITY_LEN[k] + 1
    return -1


cdef int _comment(Scan* s) noexcept nogil:
    """Skip a comment at ``<!--``; BAIL on ``--`` inside or no end."""
    cdef Py_ssize_t j = s.i + 4
    while j + 1 < s.n:
        if s.p[j] == 45 and s.p[j + 1] == 45:
            if j + 2 < s.n and s.p[j + 2] == 62:
                s.i = j + 3
                return OK
            return BAIL
        j += 1
    return BAIL


cdef int _quoted(Scan* s, Py_ssize_t* start, Py_ssize_t* end) noexcept nogil:
    """A quoted value; BAIL unless plain (no '<', '&', tab, CR or LF: those need normalisation)."""
    cdef unsigned char q, c
    if s.i >= s.n:
        return BAIL
    q = s.p[s.i]
    if q != 34 and q != 39:
        return BAIL
    s.i += 1
    start[0] = s.i
    while s.i < s.n:
        c = s.p[s.i]
        if c == q:
            end[0] = s.i
            s.i += 1
            return OK
        if c == 60 or c == 38 or c == 9 or c == 10 or c == 13:
            return BAIL
        s.i += 1
    return BAIL


cdef bint _plain_uri(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """A namespace name libxml2 surely accepts: a letter, then letters, digits and ``:/._-``."""
    cdef Py_ssize_t k
    cdef unsigned char c
    if n == 0 or not ((p[0] >= 97 and p[0] <= 122) or (p[0] >= 65 and p[0] <= 90)):
        return False
    for k in range(n):
        c = p[k]
        if not (_name_char(c) or c == 58 or c == 47):
            return False
    return True


cdef int _eq(Scan* s) noexcept nogil:
    _skip_ws(s)
    if s.i >= s.n or s.p[s.i] != 61:
        return BAIL
    s.i += 1
    _skip_ws(s)
    return OK


cdef bint _ieq(const unsigned char* p, Py_ssize_t n, const char* lower) noexcept nogil:
    cdef Py_ssize_t k = 0
    cdef unsigned char c
    while k < n:
        if lower[k] == 0:
            return False
        c = p[k]
        if c >= 65 and c <= 90:
            c += 32
        if c != <unsigned char>lower[k]:
            return False
        k += 1
    return lower[n] == 0


cdef int _decl(Scan* s) noexcept nogil:
    """An XML declaration ``<?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"]?>`` if present."""
    cdef Py_ssize_t a = 0, b = 0
    cdef bint had_ws, seen_enc = False, seen_sa = False
    if not _at(s, b"<?", 2):
        return OK
    if not (_at(s, b"<?xml", 5) and s.i + 5 < s.n and _ws(s.p[s.i + 5])):
        return BAIL  # a processing instruction
    s.i += 5
    _skip_ws(s)
    if not _at(s, b"version", 7):
        return BAIL
    s.i += 7
    if _eq(s) != OK or _quoted(s, &a, &b) != OK or b - a != 3 or memcmp(s.p + a, b"1.0", 3) != 0:
        return BAIL
    while True:
        had_ws = s.i < s.n and _ws(s.p[s.i])
        _skip_ws(s)
        if _at(s, b"?>", 2):
            s.i += 2
            return OK
        if not had_ws:
            return BAIL
        if not seen_enc and not seen_sa and _at(s, b"encoding", 8):
            s.i += 8
            if _eq(s) != OK or _quoted(s, &a, &b) != OK or not _ieq(s.p + a, b - a, b"utf-8"):
                return BAIL
            seen_enc = True
        elif not seen_sa and _at(s, b"standalone", 10):
            s.i += 10
            if _eq(s) != OK or _quoted(s, &a, &b) != OK:
                return BAIL
            if not ((b - a == 3 and memcmp(s.p + a, b"yes", 3) == 0) or (b - a == 2 and memcmp(s.p + a, b"no", 2) == 0)):
                return BAIL
            seen_sa = True
        else:
            return BAIL


cdef int _misc(Scan* s) noexcept nogil:
    """Whitespace and comments (outside the root)."""
    while True:
        _skip_ws(s)
        if _at(s, b"<!--", 4):
            if _comment(s) != OK:
                return BAIL
        else:
            return OK


cdef int _start_name(Scan* s, Py_ssize_t* qstart, Py_ssize_t* qlen, Py_ssize_t* lstart, Py_ssize_t* llen) noexcept nogil:
    """The CEB name of a start tag at ``<`` (``ceb:Name`` with the root's prefix, or ``Name`` when CEB is the
    default namespace); BAIL for any other prefix."""
    cdef Py_ssize_t j = s.i + 1, k = s.pfxlen
    if not (j + k < s.n and (k == 0 or memcmp(s.p + j, s.pfx, k) == 0) and _name_start(s.p[j + k])):
        return BAIL
    qstart[0] = j
    lstart[0] = j + k
    j += k + 1
    while j < s.n and _name_char(s.p[j]):
        j += 1
    if j >= s.n:
        return BAIL
    if not (_ws(s.p[j]) or s.p[j] == 62 or s.p[j] == 47):
        return BAIL
    qlen[0] = j - qstart[0]
    llen[0] = j - lstart[0]
    s.i = j
    return OK


cdef int _qname(Scan* s, Py_ssize_t* qstart, Py_ssize_t* qlen, Py_ssize_t* lstart, Py_ssize_t* llen) noexcept nogil:
    """The name ``[prefix:]local`` (ASCII) of a start tag at ``<``; BAIL for a prefix starting with ``xml``."""
    cdef Py_ssize_t j = s.i + 1
    if not (j < s.n and _name_start(s.p[j])):
        return BAIL
    qstart[0] = j
    lstart[0] = j
    while j < s.n and _name_char(s.p[j]):
        j += 1
    if j < s.n and s.p[j] == 58:
        if j - qstart[0] >= 3 and (s.p[qstart[0]] | 32) == 120 and (s.p[qstart[0] + 1] | 32) == 109 \
                and (s.p[qstart[0] + 2] | 32) == 108:
            return BAIL
        j += 1
        if not (j < s.n and _name_start(s.p[j])):
            return BAIL
        lstart[0] = j
        while j < s.n and _name_char(s.p[j]):
            j += 1
    if j >= s.n or not (_ws(s.p[j]) or s.p[j] == 62 or s.p[j] == 47):
        return BAIL
    qlen[0] = j - qstart[0]
    llen[0] = j - lstart[0]
    s.i = j
    return OK


cdef int _tag_close(Scan* s, bint* empty) noexcept nogil:
    """End of a start tag without attributes: ``>`` or ``/>``."""
    _skip_ws(s)
    if s.i < s.n and s.p[s.i] == 62:
        s.i += 1
        empty[0] = False
        return OK
    if s.i + 1 < s.n and s.p[s.i] == 47 and s.p[s.i + 1] == 62:
        s.i += 2
        empty[0] = True
        return OK
    return BAIL


cdef inline Py_ssize_t _utf8(unsigned int cp, unsigned char* o) noexcept nogil:
    if cp < 0x80:
        o[0] = cp
        return 1
    if cp < 0x800:
        o[0] = 0xC0 | (cp >> 6)
        o[1] = 0x80 | (cp & 0x3F)
        return 2
    if cp < 0x10000:
        o[0] = 0xE0 | (cp >> 12)
        o[1] = 0x80 | ((cp >> 6) & 0x3F)
        o[2] = 0x80 | (cp & 0x3F)
        return 3
    o[0] = 0xF0 | (cp >> 18)
    o[1] = 0x80 | ((cp >> 12) & 0x3F)
    o[2] = 0x80 | ((cp >> 6) & 0x3F)
    o[3] = 0x80 | (cp & 0x3F)
    return 4


cdef object _stripped(const unsigned char* p, Py_ssize_t a, Py_ssize_t b):
    """``p[a:b]`` decoded and trimmed like ``str.strip()``; ``None`` when empty."""
    cdef str v
    while a < b and _ws(p[a]):
        a += 1
    while b > a and _ws(p[b - 1]):
        b -= 1
    if a == b:
        return None
    v = PyUnicode_DecodeUTF8(<const char*>p + a, b - a, NULL)
    if p[a] >= 0x80 or p[b - 1] >= 0x80:  # non-ASCII whitespace (U+3000, U+00A0, ...) is trimmed too
        v = v.strip()
        if not v:
            return None
    return v


cdef object _text(Scan* s):
    """The text of the last leaf: references resolved, CR/CRLF read as LF, comments dropped, trimmed."""
    cdef Py_ssize_t j = s.text_start, b = s.text_end, o = 0, r
    cdef unsigned int cp
    cdef unsigned char c
    cdef unsigned char* buf
    if not s.text_special:
        return _stripped(s.p, j, b)
    buf = <unsigned char*>malloc(b - j + 4)
    if buf == NULL:
        raise MemoryError()
    try:
        while j < b:
            c = s.p[j]
            if c == 38:
                r = _ref(s.p, s.n, j, &cp)
                o += _utf8(cp, buf + o)
                j += r
            elif c == 60:  # a comment (validated by the scan)
                j += 4
                while not (s.p[j] == 45 and s.p[j + 1] == 45):
                    j += 1
                j += 3
            elif c == 13:
                buf[o] = 10
                o += 1
                j += 1
                if j < b and s.p[j] == 10:
                    j += 1
            else:
                buf[o] = c
                o += 1
                j += 1
        return _stripped(buf, 0, o)
    finally:
        free(buf)


cdef inline bint _same(const unsigned char* a, const char* b, Py_ssize_t n) noexcept nogil:
    """``a[:n] == b[:n]``, eight (or four) bytes at a time; the last word may overlap the one before."""
    cdef Py_ssize_t k = 0
    cdef uint64_t x, y
    cdef unsigned int u, v
    if n >= 8:
        while k + 8 < n:
            memcpy(&x, a + k, 8)
            memcpy(&y, b + k, 8)
            if x != y:
                return False
            k += 8
        memcpy(&x, a + n - 8, 8)
        memcpy(&y, b + n - 8, 8)
        return x == y
    if n >= 4:
        memcpy(&u, a, 4)
        memcpy(&v, b, 4)
        if u != v:
            return False
        memcpy(&u, a + n - 4, 4)
        memcpy(&v, b + n - 4, 4)
        return u == v
    for k in range(n):
        if a[k] != <unsigned char>b[k]:
            return False
    return True


cdef inline bint _is(Scan* s, Py_ssize_t start, Py_ssize_t length, bytes name) noexcept:
    return length == PyBytes_GET_SIZE(name) and _same(s.p + start, PyBytes_AS_STRING(name), length)


# bytes that end a plain run of text: '<', '&', ']' (for "]]>") and CR (line ends are normalised)
cdef unsigned char _TEXT_STOP[256]
for _c in range(256):
    _TEXT_STOP[_c] = _c in (60, 38, 93, 13)


cdef inline uint64_t _zero_byte(uint64_t v) noexcept nogil:
    return (v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL


cdef inline Py_ssize_t _plain_run(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The first index from ``i`` holding a ``_TEXT_STOP`` byte (or ``n``); 16 (SSE2) or eight bytes at a time."""
    cdef uint64_t w
    i = _text_run16(p, i, n)
    if i + 16 <= n:
        return i  # a stop byte in the block
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        if (_zero_byte(w ^ 0x3C3C3C3C3C3C3C3CULL) | _zero_byte(w ^ 0x2626262626262626ULL)
                | _zero_byte(w ^ 0x5D5D5D5D5D5D5D5DULL) | _zero_byte(w ^ 0x0D0D0D0D0D0D0D0DULL)):
            break
        i += 8
    while i < n and not _TEXT_STOP[p[i]]:
        i += 1
    return i


# ---------------------------------------------------------------------------- field tables
cdef enum:
    CC_SLOTS = 64     # direct-mapped cache per code field: plain value bytes -> check result
    CC_KEY = 15
    CC_SAME = 1       # valid, unchanged
    CC_OTHER = 2      # valid, normalised to obj
    CC_BAD = 3        # refused


cdef struct CacheEntry:
    Py_ssize_t size   # 0: empty
    int state
    char key[CC_KEY]
    PyObject* obj


cdef enum:
    SC_SLOTS = 32     # direct-mapped cache per field: plain value bytes -> the str made of them
    SC_KEY = 40
    SC_PROBE = 512    # lookups after which a field whose values rarely repeat stops using its cache


cdef struct StrEntry:
    Py_ssize_t size
    char key[SC_KEY]
    PyObject* obj     # NULL: empty


cdef inline unsigned int _fnv(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef unsigned int h = 2166136261u
    cdef Py_ssize_t k
    for k in range(n):
        h = (h ^ p[k]) * 16777619u
    return h ^ (h >> 15)


cdef class _Table:
    """One field list (head, line or BaseTransfer): names, checks and required flags in CEB order."""

    cdef int n
    cdef list names       # str keys of the output dict
    cdef list keep        # the bytes behind cnames / jkeys
    cdef const char** cnames
    cdef Py_ssize_t* clens
    cdef const char** jkeys   # '"name":' for the JSON writer
    cdef Py_ssize_t* jlens
    cdef int* kinds       # CHK_*
    cdef Py_ssize_t* maxlen   # at most this many characters (every checked field)
    cdef int* pa          # CHK_DEC: integer digits, CHK_INT: digits, CHK_TIME: length
    cdef int* pb          # CHK_DEC: decimal digits
    cdef char* required
    cdef list calls       # check callables (or None)
    cdef list caches      # value -> normalised value / False, per field (shared per check)
    cdef CacheEntry* ccache   # CC_SLOTS entries per field
    cdef StrEntry* scache     # SC_SLOTS entries per field: repeated values (codes, names) share one str
    cdef int* sc_tries
    cdef int* sc_hits

    def __cinit__(self, fields, caches):
        cdef int k
        cdef bytes b, j
        self.n = len(fields)
        m = max(self.n, 1)
        self.kinds = <int*>malloc(m * sizeof(int))
        self.maxlen = <Py_ssize_t*>calloc(m, sizeof(Py_ssize_t))
        self.pa = <int*>calloc(m, sizeof(int))
        self.pb = <int*>calloc(m, sizeof(int))
        self.required = <char*>malloc(m)
        self.cnames = <const char**>malloc(m * sizeof(char*))
        self.jkeys = <const char**>malloc(m * sizeof(char*))
        self.clens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        self.jlens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        self.ccache = <CacheEntry*>calloc(m * CC_SLOTS, sizeof(CacheEntry))
        self.scache = <StrEntry*>calloc(m * SC_SLOTS, sizeof(StrEntry))
        self.sc_tries = <int*>calloc(m, sizeof(int))
        self.sc_hits = <int*>calloc(m, sizeof(int))
        if (self.scache == NULL or self.sc_tries == NULL or self.sc_hits == NULL or self.kinds == NULL or self.required == NULL or self.cnames == NULL or self.jkeys == NULL
                or self.clens == NULL or self.jlens == NULL or self.ccache == NULL or self.maxlen == NULL
                or self.pa == NULL or self.pb == NULL):
            raise MemoryError()
        self.names, self.keep, self.calls, self.caches = [], [], [], []
        for k, (name, check, required) in enumerate(fields):
            self.names.append(name)
            b = name.encode("ascii")
            j = b'"' + b + b'":'
            self.keep += [b, j]
            self.cnames[k] = PyBytes_AS_STRING(b)
            self.clens[k] = len(b)
            self.jkeys[k] = PyBytes_AS_STRING(j)
            self.jlens[k] = len(j)
            self.required[k] = 1 if required else 0
            self.calls.append(check)
            if check is None:
                self.kinds[k] = CHK_NONE
                self.caches.append(None)
            else:  # a messages.FieldCheck: its C form (fast, a, b) and its length
                self.kinds[k] = check.fast
                self.maxlen[k] = check.max_len
                self.pa[k] = check.a
                self.pb[k] = check.b
                self.caches.append(caches.setdefault(check, {}) if self.kinds[k] == CHK_CALL else None)

    def __dealloc__(self):
        cdef Py_ssize_t k
        if self.ccache != NULL:
            for k in range(max(self.n, 1) * CC_SLOTS):
                Py_XDECREF(self.ccache[k].obj)
            free(self.ccache)
        if self.scache != NULL:
            for k in range(max(self.n, 1) * SC_SLOTS):
                Py_XDECREF(self.scache[k].obj)
            free(self.scache)
        free(self.sc_tries)
        free(self.sc_hits)
        free(self.kinds)
        free(self.maxlen)
        free(self.pa)
        free(self.pb)
        free(self.required)
        free(self.cnames)
        free(self.jkeys)
        free(self.clens)
        free(self.jlens)

    cdef inline int index(self, const unsigned char* p, Py_ssize_t length, int hint) noexcept:
        """Field index of the local name ``p[:length]`` (trying ``hint`` first), or -1."""
        cdef int k
        if hint < self.n and self.clens[hint] == length and _same(p, self.cnames[hint], length):
            return hint
        for k in range(self.n):
            if self.clens[k] == length and _same(p, self.cnames[k], length):
                return k
        return -1


cdef class _Kind:
    cdef str kind
    cdef bytes root, doc_tag, head_tag, list_tag
    cdef bint has_lines
    cdef _Table head, lines
    cdef _Table lines_old     # DocSpec.lines_before: the line checks of documents older than ``before`` (or None)
    cdef str before           # an appTime (14 digits)
    cdef int time_idx         # appTime's index in head


# ---------------------------------------------------------------------------- what a scan collects
cdef struct Val:
    Py_ssize_t start  # -1: absent
    Py_ssize_t size   # raw value: data[start:start + size] (trimmed, plain, ASCII at both ends)
    Py_ssize_t obj    # >= 0: the value is the str objs[obj] instead


cdef struct Doc:
    Py_ssize_t head       # record offset in vals, -1 if none
    Py_ssize_t first      # first index in line_recs
    Py_ssize_t nlines


cdef object _table_text(_Table t, int k, const unsigned char* raw, Py_ssize_t n):
    """The str of field ``k``'s plain value ``raw[:n]``: one shared object per repeated value."""
    cdef StrEntry* e
    cdef object s
    if n > SC_KEY or t.sc_tries[k] < 0:
        return PyUnicode_DecodeUTF8(<const char*>raw, n, NULL)
    e = &t.scache[k * SC_SLOTS + (_fnv(raw, n) & (SC_SLOTS - 1))]
    t.sc_tries[k] += 1
    if e.obj != NULL and e.size == n and memcmp(e.key, raw, n) == 0:
        t.sc_hits[k] += 1
        return <object>e.obj
    s = PyUnicode_DecodeUTF8(<const char*>raw, n, NULL)
    if t.sc_tries[k] >= SC_PROBE:
        if t.sc_hits[k] * 4 < t.sc_tries[k]:
            t.sc_tries[k] = -1  # mostly unique values (ids, numbers, times): not worth a lookup
            return s
        t.sc_tries[k] = t.sc_hits[k] = 0
    Py_XDECREF(e.obj)
    Py_INCREF(s)
    e.obj = <PyObject*>s
    e.size = n
    memcpy(e.key, raw, n)
    return s


cdef class _Parsed:
    """Field values of one message: a record (``n`` consecutive :c:type:`Val`) per head, line and BaseTransfer."""

    cdef _Kind spec
    cdef object message_guid
    cdef bytes data
    cdef list objs            # values that are not plain slices of data
    cdef Val* vals
    cdef Py_ssize_t nvals, cap_vals
    cdef Py_ssize_t* line_recs
    cdef Py_ssize_t nline_recs, cap_line_recs
    cdef Doc* docs
    cdef Py_ssize_t ndocs, cap_docs
    cdef Py_ssize_t base      # record offset, -1 if none
    cdef bint signed          # an XML-DSig Signature element was read (and skipped)

    def __cinit__(self):
        self.cap_vals, self.cap_line_recs, self.cap_docs = 128, 16, 2
        self.vals = <Val*>malloc(self.cap_vals * sizeof(Val))
        self.line_recs = <Py_ssize_t*>malloc(self.cap_line_recs * sizeof(Py_ssize_t))
        self.docs = <Doc*>malloc(self.cap_docs * sizeof(Doc))
        if self.vals == NULL or self.line_recs == NULL or self.docs == NULL:
            raise MemoryError()
        self.base = -1
        self.objs = []

    def __dealloc__(self):
        free(self.vals)
        free(self.line_recs)
        free(self.docs)

    cdef void reset(self):
        """Empty, for the next message (the arrays are kept)."""
        self.nvals = self.nline_recs = self.ndocs = 0
        self.base = -1
        self.signed = False
        if self.objs:
            self.objs = []
        self.spec = None
        self.message_guid = None
        self.data = None

    cdef Py_ssize_t record(self, int n) except -1:
        """A new record of ``n`` absent values; its offset."""
        cdef Py_ssize_t off = self.nvals, k
        cdef Val* q
        if off + n > self.cap_vals:
            while off + n > self.cap_vals:
                self.cap_vals *= 2
            q = <Val*>realloc(self.vals, self.cap_vals * sizeof(Val))
            if q == NULL:
                raise MemoryError()
            self.vals = q
        for k in range(off, off + n):
            self.vals[k].start = -1
            self.vals[k].obj = -1
        self.nvals += n
        return off

    cdef int new_doc(self) except -1:
        cdef Doc* q
        if self.ndocs == self.cap_docs:
            self.cap_docs *= 2
            q = <Doc*>realloc(self.docs, self.cap_docs * sizeof(Doc))
            if q == NULL:
                raise MemoryError()
            self.docs = q
        self.docs[self.ndocs].head = -1
        self.docs[self.ndocs].first = self.nline_recs
        self.docs[self.ndocs].nlines = 0
        self.ndocs += 1
        return 0

    cdef int add_line(self, Py_ssize_t rec) except -1:
        cdef Py_ssize_t* q
        if self.nline_recs == self.cap_line_recs:
            self.cap_line_recs *= 2
            q = <Py_ssize_t*>realloc(self.line_recs, self.cap_line_recs * sizeof(Py_ssize_t))
            if q == NULL:
                raise MemoryError()
            self.line_recs = q
        self.line_recs[self.nline_recs] = rec
        self.nline_recs += 1
        self.docs[self.ndocs - 1].nlines += 1
        return 0

    cdef int set_obj(self, Py_ssize_t at, object v) except -1:
        self.vals[at].start = 0
        self.vals[at].obj = len(self.objs)
        self.objs.append(v)
        return 0

    cdef str value(self, Py_ssize_t at):
        """The str of a present value (made from the raw slice once, then kept)."""
        cdef Val* v = &self.vals[at]
        cdef str s
        if v.obj >= 0:
            return <str>self.objs[v.obj]
        s = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(self.data) + v.start, v.size, NULL)
        self.set_obj(at, s)
        return s

    cdef int put_value(self, Buf* b, Py_ssize_t at) except -1:
        cdef Val* v = &self.vals[at]
        if v.obj >= 0:
            return _put_json_str(b, <str>self.objs[v.obj])
        return _put_json(b, <const unsigned char*>PyBytes_AS_STRING(self.data) + v.start, v.size)

    cdef int put_record(self, Buf* b, _Table t, Py_ssize_t off) except -1:
        """A record as a JSON object in CEB order."""
        cdef int k
        cdef bint first = True
        _put(b, b"{", 1)
        for k in range(t.n):
            if self.vals[off + k].start < 0:
                continue
            if not first:
                _put(b, b",", 1)
            first = False
            _put(b, t.jkeys[k], t.jlens[k])
            self.put_value(b, off + k)
        _put(b, b"}", 1)
        return 0

    cdef dict record_dict(self, _Table t, Py_ssize_t off):
        cdef int k, present = 0
        cdef Val* v
        for k in range(t.n):
            present += self.vals[off + k].start >= 0
        cdef dict out = _PyDict_NewPresized(present)
        cdef const unsigned char* data = <const unsigned char*>PyBytes_AS_STRING(self.data)
        for k in range(t.n):
            v = &self.vals[off + k]
            if v.start < 0:
                continue
            if v.obj >= 0:
                out[t.names[k]] = self.objs[v.obj]
            else:
                out[t.names[k]] = _table_text(t, k, data + v.start, v.size)
        return out


cdef inline bint _plain_decimal(const unsigned char* p, Py_ssize_t n, int whole, int scale) noexcept nogil:
    """ASCII ``digits[.digits]``: 1 to ``whole`` digits, then a point and 1 to ``scale`` digits if any."""
    cdef Py_ssize_t k, dot = -1
    if n == 0:
        return False
    for k in range(n):
        if p[k] == 46:
            if dot >= 0:
                return False
            dot = k
        elif p[k] < 48 or p[k] > 57:
            return False
    if dot < 0:
        return n <= whole
    return dot != 0 and dot <= whole and dot != n - 1 and n - 1 - dot <= scale


cdef inline Py_ssize_t _utf8_chars(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Characters of valid UTF-8: the bytes that are not continuation bytes."""
    cdef Py_ssize_t k, c = 0
    for k in range(n):
        c += (p[k] & 0xC0) != 0x80
    return c


cdef inline bint _ascii_digits(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    if n == 0:
        return False
    for k in range(n):
        if p[k] < 48 or p[k] > 57:
            return False
    return True


cdef object _call(object check, object v):
    """``check(v)``, or ``None`` when it refuses the value (``ValueError``)."""
    try:
        return check(v)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- scanner
cdef class Scanner:
    """Parse, validate and encode valid CEB messages; ``None`` whenever the lxml path must decide."""

    cdef list kinds
    cdef _Table base
    cdef object document_cls
    cdef Py_ssize_t guid_max
    cdef readonly bint document_plain   # document_cls instances can be made without its __new__ call

    def __init__(self, specs, base_fields, guid_max, document_cls):
        """``specs``: the ``DocSpec`` objects (their checks are ``messages.FieldCheck``); ``guid_max``: the
        longest root guid."""
        cdef _Kind k
        caches = {}
        self.guid_max = guid_max
        self.kinds = []
        for spec in specs:
            k = _Kind()
            k.kind = spec.kind
            k.root = (spec.kind + "Message").encode("ascii")
            k.doc_tag = spec.doc_tag.encode("ascii")
            k.head_tag = spec.head_tag.encode("ascii")
            k.has_lines = spec.list_tag is not None
            k.list_tag = spec.list_tag.encode("ascii") if spec.list_tag else b""
            k.head = _Table(spec.head, caches)
            k.lines = _Table(spec.lines, caches)
            before = getattr(spec, "lines_before", None)
            if before is not None:  # e.g. the HS edition in force at the document's appTime
                k.before = before[0]
                k.lines_old = _Table(before[1], caches)
                k.time_idx = [name for name, _c, _r in spec.head].index("appTime")
            self.kinds.append(k)
        self.base = _Table(base_fields, caches)
        self.document_cls = document_cls
        self.document_plain = _plain_tuple_class(document_cls, 6)

    cdef int _leaf(self, Scan* s, _Parsed out, _Table table, Py_ssize_t rec, Py_ssize_t ls, Py_ssize_t ll,
                   int* hint) except -2:
        """Store the text of the leaf just read (``ceb:`` local name at ``ls``) in its field of ``rec``."""
        cdef int idx = table.index(s.p + ls, ll, hint[0])
        cdef Py_ssize_t a = s.text_start, b = s.text_end
        cdef object v
        if idx < 0:
            return OK
        hint[0] = idx + 1
        if s.text_special:
            v = _text(s)
            if v is not None:
                out.set_obj(rec + idx, v)
            return OK
        while a < b and _ws(s.p[a]):
            a += 1
        while b > a and _ws(s.p[b - 1]):
            b -= 1
        if a == b:
            return OK  # empty: absent (an earlier value of the same field stays)
        if s.p[a] >= 0x80 or s.p[b - 1] >= 0x80:
            v = _stripped(s.p, a, b)
            if v is not None:
                out.set_obj(rec + idx, v)
            return OK
        out.vals[rec + idx].start = a
        out.vals[rec + idx].size = b - a
        out.vals[rec + idx].obj = -1
        return OK

    cdef int _content(self, Scan* s, Py_ssize_t qstart, Py_ssize_t qlen, int mode, _Parsed out,
                      _Table table, Py_ssize_t rec, int depth) except -2:
        """Content and end tag of the element whose start tag (name at ``qstart``) was just read."""
        cdef unsigned char c
        cdef Py_ssize_t r, cs, cl, ls, ll, child
        cdef unsigned int cp
        cdef bint empty, text_open = mode == MODE_LEAF, special = False
        cdef int hint = 0, rc
        cdef _Kind spec = out.spec
        cdef const unsigned char* p = s.p
        if depth > MAX_DEPTH:
            return BAIL
        if text_open:
            s.text_start = s.i
        while True:
            s.i = _plain_run(p, s.i, s.n)
            if s.i >= s.n:
                return BAIL
            c = p[s.i]
            if c != 60:
                if c == 38:
                    r = _ref(p, s.n, s.i, &cp)
                    if r < 0:
                        return BAIL
                    special = True
                    s.i += r
                elif c == 93:
                    if s.i + 2 < s.n and p[s.i + 1] == 93 and p[s.i + 2] == 62:
                        return BAIL
                    s.i += 1
                else:  # CR
                    special = True
                    s.i += 1
                continue
            if s.i + 1 >= s.n:
                return BAIL
            c = p[s.i + 1]
            if c == 47:  # end tag
                if text_open:
                    s.text_end = s.i
                    s.text_special = special
                r = s.i + 2
                if r + qlen > s.n or not _same(p + r, <const char*>p + qstart, qlen):
                    return BAIL
                s.i = r + qlen
                _skip_ws(s)
                if s.i >= s.n or p[s.i] != 62:
                    return BAIL
                s.i += 1
                return OK
            if c == 33:  # '<!'
                if not _at(s, b"<!--", 4) or _comment(s) != OK:
                    return BAIL
                special = True
                continue
            if c == 63:  # '<?'
                return BAIL
            # a child element
            if text_open:
                s.text_end = s.i
                s.text_special = special
                text_open = False
            r = s.i
            if mode == MODE_FOREIGN or _start_name(s, &cs, &cl, &ls, &ll) != OK or _tag_close(s, &empty) != OK:
                s.i = r  # not a CEB element: a signature (skipped), else a message for the reference path
                rc = self._foreign(s, mode, out, depth + 1)
                if rc != OK:
                    return rc
                continue
            if mode == MODE_LEAVES:
                if empty:
                    continue
                # the usual leaf, <ceb:x>plain text</ceb:x>, without the general content loop
                r = _plain_run(p, s.i, s.n)
                if (r + cl + 3 <= s.n and p[r] == 60 and p[r + 1] == 47 and _same(p + r + 2, <const char*>p + cs, cl)
                        and p[r + cl + 2] == 62):
                    s.text_start = s.i
                    s.text_end = r
                    s.text_special = False
                    s.i = r + cl + 3
                else:
                    rc = self._content(s, cs, cl, MODE_LEAF, out, None, -1, depth + 1)
                    if rc != OK:
                        return rc
                self._leaf(s, out, table, rec, ls, ll, &hint)
                continue
            if mode == MODE_ROOT and (_is(s, ls, ll, b"BaseSubscribe") or _is(s, ls, ll, b"ExtendMessage")):
                return BAIL  # kept by the reference path (Document.base["subscribe"] / ["extend"])
            if empty:
                if mode == MODE_ROOT and (_is(s, ls, ll, spec.doc_tag) or _is(s, ls, ll, b"BaseTransfer")):
                    return BAIL  # a refused message: let the reference path name the problem
                if mode == MODE_DOC and (_is(s, ls, ll, spec.head_tag)
                                         or (spec.has_lines and _is(s, ls, ll, spec.list_tag))):
                    return BAIL
                continue
            if mode == MODE_ROOT and _is(s, ls, ll, spec.doc_tag):
                out.new_doc()
                rc = self._content(s, cs, cl, MODE_DOC, out, None, -1, depth + 1)
            elif mode == MODE_ROOT and _is(s, ls, ll, b"BaseTransfer"):
                child = out.record(self.base.n)
                rc = self._content(s, cs, cl, MODE_LEAVES, out, self.base, child, depth + 1)
                out.base = child
            elif mode == MODE_DOC and _is(s, ls, ll, spec.head_tag):
                child = out.record(spec.head.n)
                rc = self._content(s, cs, cl, MODE_LEAVES, out, spec.head, child, depth + 1)
                out.docs[out.ndocs - 1].head = child
            elif mode == MODE_DOC and spec.has_lines and _is(s, ls, ll, spec.list_tag):
                child = out.record(spec.lines.n)
                rc = self._content(s, cs, cl, MODE_LEAVES, out, spec.lines, child, depth + 1)
                out.add_line(child)
            else:  # anything else, and the children of a leaf, are read but not kept
                rc = self._content(s, cs, cl, MODE_SKIP, out, None, -1, depth + 1)
            if rc != OK:
                return rc

    cdef int _foreign(self, Scan* s, int mode, _Parsed out, int depth) except -2:
        """An element read and checked but not kept, at ``<``: an XML-DSig ``Signature`` (its prefix bound to
        XML-DSig on itself or on the root) as a child of a CEB element, or (``MODE_FOREIGN``) an element inside
        one, with the signature's prefix; BAIL for anything else."""
        cdef Py_ssize_t qs, ql, ls, ll, a, b, k, pl, va = 0, vb = 0
        cdef Py_ssize_t starts[MAX_ATTRS]
        cdef Py_ssize_t lens[MAX_ATTRS]
        cdef int nattrs = 0, j
        cdef bint had_ws, empty, declared = False
        if depth > MAX_DEPTH or _qname(s, &qs, &ql, &ls, &ll) != OK:
            return BAIL
        pl = ls - qs  # the prefix with its colon (0: none)
        if mode == MODE_FOREIGN:
            if pl != s.spfxlen or (pl > 0 and memcmp(s.p + qs, s.spfx, pl) != 0):
                return BAIL
        elif not (ll == 9 and memcmp(s.p + ls, b"Signature", 9) == 0):
            return BAIL
        while True:  # attributes: unprefixed, or a declaration of this element's prefix as XML-DSig
            had_ws = s.i < s.n and _ws(s.p[s.i])
            _skip_ws(s)
            if s.i < s.n and s.p[s.i] == 62:
                s.i += 1
                empty = False
                break
            if s.i + 1 < s.n and s.p[s.i] == 47 and s.p[s.i + 1] == 62:
                s.i += 2
                empty = True
                break
            if not had_ws or s.i >= s.n or not _name_start(s.p[s.i]):
                return BAIL
            a = s.i
            while s.i < s.n and (_name_char(s.p[s.i]) or s.p[s.i] == 58):
                s.i += 1
            b = s.i
            for j in range(nattrs):
                if lens[j] == b - a and memcmp(s.p + starts[j], s.p + a, b - a) == 0:
                    return BAIL
            if nattrs == MAX_ATTRS:
                return BAIL
            starts[nattrs] = a
            lens[nattrs] = b - a
            nattrs += 1
            if _eq(s) != OK or _quoted(s, &va, &vb) != OK:
                return BAIL
            if b - a >= 5 and memcmp(s.p + a, b"xmlns", 5) == 0:
                if b - a == 5:
                    if pl != 0:
                        return BAIL
                elif not (pl > 0 and s.p[a + 5] == 58 and b - a - 6 == pl - 1
                          and memcmp(s.p + a + 6, s.p + qs, pl - 1) == 0):
                    return BAIL
                if not _is(s, va, vb - va, _DSIG_NS):
                    return BAIL
                declared = True
            else:
                for k in range(a, b):
                    if s.p[k] == 58:
                        return BAIL  # a prefixed attribute
        if mode != MODE_FOREIGN:
            if not declared:  # the prefix's binding on the root
                if pl == 0:
                    if not s.dsig_default:
                        return BAIL
                elif not (s.dpfxlen == pl - 1 and memcmp(s.dpfx, s.p + qs, pl - 1) == 0):
                    return BAIL
            s.spfx = s.p + qs
            s.spfxlen = pl
            out.signed = True
        if empty:
            return OK
        return self._content(s, qs, ql, MODE_FOREIGN, out, None, -1, depth + 1)

    cdef _Parsed _scan(self, bytes data, _Parsed out):
        """``out`` filled with the fields of ``data``, or ``None`` when the reference path must read it."""
        cdef Scan s
        cdef Py_ssize_t cs, cl, ls, ll, a, b, k, va = 0, vb = 0
        cdef Py_ssize_t starts[MAX_ATTRS]
        cdef Py_ssize_t lens[MAX_ATTRS]
        cdef int nattrs = 0, j
        cdef bint had_ws, ns_ok = False
        cdef _Kind spec = None, kk
        cdef object guid = None
        s.p = <const unsigned char*>PyBytes_AS_STRING(data)
        s.n = PyBytes_GET_SIZE(data)
        s.i = 0
        if not _valid_chars(s.p, s.n):
            return None
        if _at(&s, b"\xef\xbb\xbf", 3):
            s.i = 3
        if _decl(&s) != OK or _misc(&s) != OK:
            return None
        if not (s.i < s.n and s.p[s.i] == 60) or _qname(&s, &cs, &cl, &ls, &ll) != OK:
            return None
        s.pfx = s.p + cs  # the root's prefix: every CEB element has it
        s.pfxlen = ls - cs
        s.dsig_default = False
        s.dpfx = s.p
        s.dpfxlen = 0
        s.spfx = s.p
        s.spfxlen = 0
        for kk in self.kinds:
            if _is(&s, ls, ll, kk.root):
                spec = kk
                break
        if spec is None:
            return None
        while True:  # root attributes
            had_ws = s.i < s.n and _ws(s.p[s.i])
            _skip_ws(&s)
            if s.i < s.n and s.p[s.i] == 62:
                s.i += 1
                break
            if not had_ws or s.i >= s.n or not _name_start(s.p[s.i]):
                return None  # includes '/>': a root without documents is refused by the reference path
            a = s.i
            while s.i < s.n and (_name_char(s.p[s.i]) or s.p[s.i] == 58):
                s.i += 1
            b = s.i
            for j in range(nattrs):
                if lens[j] == b - a and memcmp(s.p + starts[j], s.p + a, b - a) == 0:
                    return None
            if nattrs == MAX_ATTRS:
                return None
            starts[nattrs] = a
            lens[nattrs] = b - a
            nattrs += 1
            if _eq(&s) != OK or _quoted(&s, &va, &vb) != OK:
                return None
            if (s.pfxlen > 0 and b - a == s.pfxlen + 5 and memcmp(s.p + a, b"xmlns:", 6) == 0
                    and memcmp(s.p + a + 6, s.pfx, s.pfxlen - 1) == 0):  # the root's prefix: CEB
                if not _is(&s, va, vb - va, _NS):
                    return None
                ns_ok = True
            elif b - a == 5 and memcmp(s.p + a, b"xmlns", 5) == 0:  # the default namespace
                if s.pfxlen == 0:  # an unprefixed root: CEB
                    if not _is(&s, va, vb - va, _NS):
                        return None
                    ns_ok = True
                elif _is(&s, va, vb - va, _DSIG_NS):  # for an unprefixed signature
                    s.dsig_default = True
                elif _is(&s, va, vb - va, _NS):
                    return None  # CEB twice: elements may use either; the reference path reads them
            elif b - a > 6 and memcmp(s.p + a, b"xmlns:", 6) == 0 and _is(&s, va, vb - va, _DSIG_NS):
                for k in range(a + 6, b):
                    if s.p[k] == 58:
                        return None
                if s.dpfxlen == 0:  # a prefix for the signature
                    s.dpfx = s.p + a + 6
                    s.dpfxlen = b - a - 6
            elif b - a == 4 and memcmp(s.p + a, b"guid", 4) == 0:
                guid = PyUnicode_DecodeUTF8(<const char*>s.p + va, vb - va, NULL)
            elif b - a > 6 and memcmp(s.p + a, b"xmlns:", 6) == 0:
                # another prefix declared (e.g. xsi) but unused: elements with it are declined below
                if b - a >= 9 and memcmp(s.p + a + 6, b"xml", 3) == 0 or vb == va:
                    return None
                for k in range(a + 6, b):
                    if s.p[k] == 58:
                        return None
                if _is(&s, va, vb - va, _XML_NS) or _is(&s, va, vb - va, _XMLNS_NS) or not _plain_uri(s.p + va, vb - va):
                    return None
            else:
                for k in range(a, b):
                    if s.p[k] == 58:
                        return None  # xmlns, prefixed attributes: the reference path decides
        if not ns_ok:
            return None
        out.reset()
        out.spec = spec
        out.data = data
        if guid is not None:
            guid = (<str>guid).strip() or None
        out.message_guid = guid
        if self._content(&s, cs, cl, MODE_ROOT, out, None, -1, 1) != OK:
            return None
        if _misc(&s) != OK or s.i != s.n:
            return None
        return out

    # ------------------------------------------------------------------ validation
    cdef bint _check(self, _Parsed m, _Table t, Py_ssize_t off) except -1:
        """Validate and normalise a record in place; False if a field is missing or bad."""
        cdef int k, chk
        cdef Val* v
        cdef const unsigned char* raw
        cdef object r
        cdef str sv
        cdef dict cache
        cdef CacheEntry* e
        for k in range(t.n):
            v = &m.vals[off + k]
            if v.start < 0:
                if t.required[k]:
                    return False
                continue
            chk = t.kinds[k]
            if chk == CHK_NONE:
                continue
            if v.obj < 0:  # at most maxlen characters (UTF-8: count the bytes that start one)
                if v.size > t.maxlen[k] and _utf8_chars(<const unsigned char*>PyBytes_AS_STRING(m.data) + v.start,
                                                        v.size) > t.maxlen[k]:
                    return False
            elif len(<str>m.objs[v.obj]) > t.maxlen[k]:
                return False
            if chk == CHK_TEXT:
                if t.pa[k] > 0:  # at least pa characters (the XSD's length/minLength)
                    if v.obj < 0:
                        if v.size < t.pa[k] or _utf8_chars(<const unsigned char*>PyBytes_AS_STRING(m.data) + v.start,
                                                           v.size) < t.pa[k]:
                            return False
                    elif len(<str>m.objs[v.obj]) < t.pa[k]:
                        return False
                continue
            if chk == CHK_CALL:
                e = NULL
                if v.obj < 0 and v.size <= CC_KEY:  # short plain value: the table's own C cache first
                    raw = <const unsigned char*>PyBytes_AS_STRING(m.data) + v.start
                    e = &t.ccache[k * CC_SLOTS + (_fnv(raw, v.size) & (CC_SLOTS - 1))]
                    if e.size == v.size and memcmp(e.key, raw, v.size) == 0:
                        if e.state == CC_SAME:
                            continue
                        if e.state == CC_BAD:
                            return False
                        m.set_obj(off + k, <object>e.obj)
                        continue
                sv = m.value(off + k)
                cache = <dict>t.caches[k]
                r = cache.get(sv)
                if r is None:
                    r = _call(t.calls[k], sv)
                    if r is None:
                        r = False
                    if len(cache) >= CACHE_MAX:
                        cache.clear()
                    cache[sv] = r
                if e != NULL:
                    Py_XDECREF(e.obj)
                    e.obj = NULL
                    e.size = v.size
                    memcpy(e.key, raw, v.size)
                    if r is False:
                        e.state = CC_BAD
                    elif r == sv:
                        e.state = CC_SAME
                    else:
                        e.state = CC_OTHER
                        Py_INCREF(r)
                        e.obj = <PyObject*>r
                if r is False:
                    return False
                if r is not sv:
                    m.set_obj(off + k, r)
                continue
            if v.obj < 0:  # the checks of messages.FieldCheck in C: exactly the values they accept
                raw = <const unsigned char*>PyBytes_AS_STRING(m.data) + v.start
                if chk == CHK_DEC:
                    if not _plain_decimal(raw, v.size, t.pa[k], t.pb[k]):
                        return False
                    continue
                if chk == CHK_INT:
                    if not (v.size <= t.pa[k] and _ascii_digits(raw, v.size)):
                        return False
                    continue
                if chk == CHK_TIME:
                    if not (v.size == t.pa[k] and _ascii_digits(raw, v.size)):
                        return False
                    continue
            if _call(t.calls[k], m.value(off + k)) is None:
                return False
        return True

    cdef bint _valid(self, _Parsed m) except -1:
        """Guid, documents (with lines where due) and BaseTransfer present, every field valid."""
        cdef _Kind spec = m.spec
        cdef Py_ssize_t d, j
        cdef Doc* doc
        cdef _Table lt
        if m.message_guid is None or m.ndocs == 0 or m.base < 0 or len(<str>m.message_guid) != self.guid_max:
            return False
        if m.ndocs > MAX_DOCUMENTS or not self._check(m, self.base, m.base):
            return False
        for d in range(m.ndocs):
            doc = &m.docs[d]
            if doc.head < 0 or not self._check(m, spec.head, doc.head):
                return False
            if (spec.has_lines and doc.nlines == 0) or doc.nlines > MAX_LINES:
                return False
            lt = spec.lines
            if spec.lines_old is not None and self._older(m, doc.head + spec.time_idx, spec.before):
                lt = spec.lines_old
            for j in range(doc.first, doc.first + doc.nlines):
                if not self._check(m, lt, m.line_recs[j]):
                    return False
        return True

    cdef bint _older(self, _Parsed m, Py_ssize_t at, str before) except -1:
        """Is the (checked) time value at ``at`` before ``before``? (absent: no)"""
        cdef Val* v = &m.vals[at]
        if v.start < 0:
            return False
        return m.value(at) < before

    # ------------------------------------------------------------------ API
    def documents(self, bytes data):
        """The ``Document`` list of a valid message, or ``None`` (use the reference path)."""
        cdef _Parsed m = self._scan(data, _Parsed())
        if m is None or not self._valid(m):
            return None
        return self._documents(m)

    def documents_batch(self, raws, fallback, list signed=None):
        """``[documents]`` per message (bytes), or ``fallback(raw)`` for those the scanner declines. With a
        ``signed`` list, one entry per message is appended to it: whether the scanner read an XML-DSig
        ``Signature`` in it (``True`` / ``False``), ``None`` for a message it declined."""
        cdef _Parsed m = _Parsed()
        cdef list out = []
        for raw in raws:
            if type(raw) is bytes and self._scan(<bytes>raw, m) is not None and self._valid(m):
                out.append(self._documents(m))
                if signed is not None:
                    signed.append(True if m.signed else False)
            else:
                out.append(fallback(raw))
                if signed is not None:
                    signed.append(None)
        return out

    cdef list _documents(self, _Parsed m):
        cdef Py_ssize_t d, j
        cdef Doc* doc
        cdef dict head
        cdef list lines, out = []
        cdef _Kind spec = m.spec
        cdef object guid
        base = m.record_dict(self.base, m.base)
        cls = self.document_cls
        for d in range(m.ndocs):
            doc = &m.docs[d]
            head = m.record_dict(spec.head, doc.head)
            lines = [m.record_dict(spec.lines, m.line_recs[j]) for j in range(doc.first, doc.first + doc.nlines)]
            guid = head.get("guid", "")
            if self.document_plain:
                out.append(_tuple6(cls, spec.kind, guid, m.message_guid, head, lines, base))
            else:
                out.append(cls(spec.kind, guid, m.message_guid, head, lines, base))
        return out

    def encode(self, bytes data):
        """The log payloads (``document_json`` bytes) of a valid message's documents, or ``None``."""
        cdef _Parsed m = self._scan(data, _Parsed())
        cdef Buf b
        if m is None or not self._valid(m):
            return None
        _heap_buf(&b, 2 * PyBytes_GET_SIZE(data) + 256)
        try:
            return self._payloads(m, &b)
        finally:
            if b.heap:
                free(b.p)

    def encode_batch(self, raws, encoded, fallback):
        """``[encoded(payloads)]`` per message, or ``fallback(raw)`` for those the scanner declines."""
        cdef _Parsed m = _Parsed()
        cdef Buf b
        cdef list out = []
        _heap_buf(&b, 8192)
        try:
            for raw in raws:
                if type(raw) is bytes and self._scan(<bytes>raw, m) is not None and self._valid(m):
                    out.append(encoded(self._payloads(m, &b)))
                else:
                    out.append(fallback(raw))
            return out
        finally:
            if b.heap:
                free(b.p)

    cdef list _payloads(self, _Parsed m, Buf* b):
        cdef _Kind spec = m.spec
        cdef list out = []
        cdef Py_ssize_t d, j
        cdef Doc* doc
        for d in range(m.ndocs):
            doc = &m.docs[d]
            b.n = 0
            _put(b, b'{"type":"', 9)
            _put(b, PyBytes_AS_STRING(spec.root), 6)
            _put(b, b'","guid":', 9)
            _put_json_str(b, m.message_guid)
            _put(b, b',"documents":[{"head":', 22)
            m.put_record(b, spec.head, doc.head)
            _put(b, b',"lines":[', 10)
            for j in range(doc.first, doc.first + doc.nlines):
                if j != doc.first:
                    _put(b, b",", 1)
                m.put_record(b, spec.lines, m.line_recs[j])
            _put(b, b']}],"baseTransfer":', 19)
            m.put_record(b, self.base, m.base)
            _put(b, b"}", 1)
            out.append(PyBytes_FromStringAndSize(b.p, b.n))
        return out


def any_within(list raws, bytes needle, Py_ssize_t limit):
    """Does any of ``raws`` hold ``needle`` within its first ``limit`` bytes? The same answer as
    ``any(r.find(needle, 0, limit) >= 0 for r in raws)``, found by ``memchr`` of the needle's first byte (e.g.
    no CEB message of a batch is a DXP envelope: ``needle`` ``DxpMsg``); True for an item that is not bytes
    (the caller looks closer)."""
    cdef const unsigned char* p
    cdef const unsigned char* q
    cdef const unsigned char* nd = <const unsigned char*>PyBytes_AS_STRING(needle)
    cdef Py_ssize_t m = PyBytes_GET_SIZE(needle), n
    if m == 0:
        return len(raws) > 0
    for raw in raws:
        if type(raw) is not bytes:
            return True
        p = <const unsigned char*>PyBytes_AS_STRING(raw)
        n = min(PyBytes_GET_SIZE(raw), limit)
        q = p
        while n - (q - p) >= m:
            q = <const unsigned char*>memchr(q, nd[0], n - (q - p) - m + 1)
            if q == NULL:
                break
            if memcmp(q, nd, m) == 0:
                return True
            q += 1
    return False
