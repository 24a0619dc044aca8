# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.messages`: a byte-level CEB scanner, field validation and encoding.

:class:`Scanner` reads the XML real senders send: an optional UTF-8 BOM and XML declaration (version 1.0,
encoding UTF-8), the ``ceb:`` prefix bound to the CEB namespace on the root, attributes on the root only,
whitespace, comments, empty elements, the predefined entities and character references, UTF-8 text with
CR/CRLF line ends. It returns the documents (or their log payloads) of a *valid* message and ``None`` for
anything else -- DOCTYPE, CDATA, processing instructions, other prefixes or namespaces, other encodings,
attributes below the root, malformed input, a missing or bad field -- so that the caller runs the lxml
reference path, which produces the exact result or :class:`CebError`.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc, realloc
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

DEF MAX_DEPTH = 32
DEF MAX_ATTRS = 16
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

cdef enum:
    CHK_NONE = 0
    CHK_DEC = 1
    CHK_INT = 2
    CHK_TIME = 3
    CHK_CALL = 4

cdef bytes _NS = b"http://www.chinaport.gov.cn/ceb"
cdef bytes _XML_NS = b"http://www.w3.org/XML/1998/namespace"
cdef bytes _XMLNS_NS = b"http://www.w3.org/2000/xmlns/"


cdef struct Scan:
    const unsigned char* p
    Py_ssize_t n
    Py_ssize_t i
    # text of the last leaf: [text_start, text_end) of its content before the first child / end tag
    Py_ssize_t text_start
    Py_ssize_t text_end
    bint text_special  # a reference, CR or comment in that range


cdef inline bint _ws(unsigned char c) noexcept nogil:
    return c == 32 or c == 10 or c == 9 or c == 13


cdef inline void _skip_ws(Scan* s) noexcept nogil:
    while s.i < s.n and _ws(s.p[s.i]):
        s.i += 1


cdef inline bint _at(Scan* s, const char* lit, Py_ssize_t k) noexcept nogil:
    return s.i + k <= s.n and memcmp(s.p + s.i, lit, k) == 0


cdef inline bint _name_start(unsigned char c) noexcept nogil:
    return (c >= 97 and c <= 122) or (c >= 65 and c <= 90) or c == 95


cdef inline bint _name_char(unsigned char c) noexcept nogil:
    return _name_start(c) or (c >= 48 and c <= 57) or c == 45 or c == 46


cdef bint _valid_chars(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Every byte sequence is well-formed UTF-8 of an XML 1.0 Char."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    cdef unsigned int cp
    cdef uint64_t w
    while i < n:
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


cdef Py_ssize_t _ref(const unsigned char* p, Py_ssize_t n, Py_ssize_t i, unsigned int* cp) noexcept nogil:
    """Length of the reference at ``p[i] == '&'`` with its code point in ``cp``; -1 if not understood."""
    cdef Py_ssize_t j = i + 1
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
    if n - j >= 3 and memcmp(p + j, b"lt;", 3) == 0:
        cp[0] = 60
        return 4
    if n - j >= 3 and memcmp(p + j, b"gt;", 3) == 0:
        cp[0] = 62
        return 4
    if n - j >= 4 and memcmp(p + j, b"amp;", 4) == 0:
        cp[0] = 38
        return 5
    if n - j >= 5 and memcmp(p + j, b"quot;", 5) == 0:
        cp[0] = 34
        return 6
    if n - j >= 5 and memcmp(p + j, b"apos;", 5) == 0:
        cp[0] = 39
        return 6
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
    """The ``ceb:Name`` of a start tag at ``<``; BAIL for any other prefix or an unprefixed name."""
    cdef Py_ssize_t j = s.i + 1
    if not (j + 4 < s.n and memcmp(s.p + j, b"ceb:", 4) == 0 and _name_start(s.p[j + 4])):
        return BAIL
    qstart[0] = j
    lstart[0] = j + 4
    j += 5
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


cdef inline bint _is(Scan* s, Py_ssize_t start, Py_ssize_t length, bytes name) noexcept:
    return length == PyBytes_GET_SIZE(name) and memcmp(s.p + start, PyBytes_AS_STRING(name), length) == 0


cdef struct Buf:
    char* p
    Py_ssize_t n
    Py_ssize_t cap


cdef int _grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap
    cdef char* q
    while cap < b.n + extra:
        cap *= 2
    q = <char*>realloc(b.p, cap)
    if q == NULL:
        raise MemoryError()
    b.p = q
    b.cap = cap
    return 0


cdef inline int _put(Buf* b, const char* s, Py_ssize_t k) except -1:
    if b.n + k > b.cap:
        _grow(b, k)
    memcpy(b.p + b.n, s, k)
    b.n += k
    return 0


cdef const char* _HEX = b"0123456789abcdef"


cdef int _put_json_str(Buf* b, str v) except -1:
    """``v`` as a JSON string exactly as orjson writes it (UTF-8; ``"``, ``\\`` and controls escaped)."""
    cdef Py_ssize_t k, size, start
    cdef const unsigned char* s = <const unsigned char*>PyUnicode_AsUTF8AndSize(v, &size)
    cdef unsigned char c
    if b.n + 6 * size + 2 > b.cap:
        _grow(b, 6 * size + 2)
    b.p[b.n] = 34
    b.n += 1
    start = 0
    for k in range(size):
        c = s[k]
        if c >= 0x20 and c != 34 and c != 92:
            continue
        memcpy(b.p + b.n, s + start, k - start)
        b.n += k - start
        start = k + 1
        b.p[b.n] = 92
        if c == 34 or c == 92:
            b.p[b.n + 1] = c
            b.n += 2
        elif c == 10:
            b.p[b.n + 1] = 110
            b.n += 2
        elif c == 9:
            b.p[b.n + 1] = 116
            b.n += 2
        elif c == 13:
            b.p[b.n + 1] = 114
            b.n += 2
        elif c == 8:
            b.p[b.n + 1] = 98
            b.n += 2
        elif c == 12:
            b.p[b.n + 1] = 102
            b.n += 2
        else:
            memcpy(b.p + b.n + 1, b"u00", 3)
            b.p[b.n + 4] = _HEX[c >> 4]
            b.p[b.n + 5] = _HEX[c & 15]
            b.n += 6
    memcpy(b.p + b.n, s + start, size - start)
    b.n += size - start
    b.p[b.n] = 34
    b.n += 1
    return 0


cdef class _Table:
    """One field list (head, line or BaseTransfer): names, checks and required flags in CEB order."""

    cdef int n
    cdef list names       # str keys of the output dict
    cdef list bnames      # bytes local names
    cdef list jkeys       # bytes '"name":' for the JSON writer
    cdef int* kinds       # CHK_*
    cdef char* required
    cdef list calls       # check callables (or None)
    cdef list caches      # value -> normalised value / False, per field (shared per check)

    def __cinit__(self, fields, checks_fast, caches):
        cdef int k
        self.n = len(fields)
        self.kinds = <int*>malloc(max(self.n, 1) * sizeof(int))
        self.required = <char*>malloc(max(self.n, 1))
        if self.kinds == NULL or self.required == NULL:
            raise MemoryError()
        self.names = []
        self.bnames = []
        self.jkeys = []
        self.calls = []
        self.caches = []
        for k, (name, check, required) in enumerate(fields):
            self.names.append(name)
            self.bnames.append(name.encode("ascii"))
            self.jkeys.append(b'"' + name.encode("ascii") + b'":')
            self.required[k] = 1 if required else 0
            self.calls.append(check)
            if check is None:
                self.kinds[k] = CHK_NONE
                self.caches.append(None)
            else:
                self.kinds[k] = checks_fast.get(check, CHK_CALL)
                self.caches.append(caches.setdefault(check, {}) if self.kinds[k] == CHK_CALL else None)

    def __dealloc__(self):
        free(self.kinds)
        free(self.required)

    cdef inline int index(self, Scan* s, Py_ssize_t start, Py_ssize_t length, int hint) noexcept:
        """Field index of the local name at ``start`` (trying ``hint`` first), or -1."""
        cdef int k
        cdef bytes b
        if hint < self.n:
            b = <bytes>self.bnames[hint]
            if _is(s, start, length, b):
                return hint
        for k in range(self.n):
            b = <bytes>self.bnames[k]
            if _is(s, start, length, b):
                return k
        return -1


cdef inline bint _plain_decimal(str v):
    """ASCII ``digits[.digits]`` (always a finite non-negative Decimal)."""
    cdef Py_UCS4 c
    cdef Py_ssize_t k = 0, n = len(v), dot = -1
    if n == 0:
        return False
    for c in v:
        if c == u'.':
            if dot >= 0:
                return False
            dot = k
        elif c < u'0' or c > u'9':
            return False
        k += 1
    return dot != 0 and dot != n - 1


cdef inline bint _ascii_digits(str v):
    cdef Py_UCS4 c
    if len(v) == 0:
        return False
    for c in v:
        if c < u'0' or c > u'9':
            return False
    return True


cdef class _Kind:
    cdef str kind
    cdef bytes root, doc_tag, head_tag, list_tag
    cdef bint has_lines
    cdef _Table head, lines


cdef class _Parsed:
    """What the scan collected: raw field slots per head / line / BaseTransfer."""

    cdef _Kind spec
    cdef object message_guid
    cdef list docs        # [head slots or None, [line slots]]
    cdef list cur_doc
    cdef object base      # slots or None


cdef class Scanner:
    """Parse, validate and encode valid CEB messages; ``None`` whenever the lxml path must decide."""

    cdef list kinds
    cdef _Table base
    cdef object document_cls
    cdef object dumps
    cdef dict caches

    def __init__(self, specs, base_fields, fast_checks, document_cls, dumps):
        """``specs``: the ``DocSpec`` objects; ``fast_checks``: ``(dec, int, time)`` check functions."""
        cdef _Kind k
        dec, integer, time = fast_checks
        fast = {dec: CHK_DEC, integer: CHK_INT, time: CHK_TIME}
        self.caches = {}
        self.kinds = []
        for spec in specs:
            k = _Kind()
            k.kind = spec.kind
            k.root = (spec.kind + "Message").encode("ascii")
            k.doc_tag = spec.doc_tag.encode("ascii")
            k.head_tag = spec.head_tag.encode("ascii")
            k.has_lines = spec.list_tag is not None
            k.list_tag = spec.list_tag.encode("ascii") if spec.list_tag else b""
            k.head = _Table(spec.head, fast, self.caches)
            k.lines = _Table(spec.lines, fast, self.caches)
            self.kinds.append(k)
        self.base = _Table(base_fields, fast, self.caches)
        self.document_cls = document_cls
        self.dumps = dumps

    # ------------------------------------------------------------------ scanning
    cdef int _content(self, Scan* s, Py_ssize_t qstart, Py_ssize_t qlen, int mode, _Parsed out,
                      _Table table, list slots, int depth) except -2:
        """Content and end tag of the element whose start tag (name at ``qstart``) was just read."""
        cdef unsigned char c
        cdef Py_ssize_t r, cs, cl, ls, ll
        cdef unsigned int cp
        cdef bint empty, text_open = mode == MODE_LEAF, special = False
        cdef int hint = 0, idx, rc
        cdef list child_slots
        cdef _Kind spec = out.spec
        cdef object value
        if depth > MAX_DEPTH:
            return BAIL
        if text_open:
            s.text_start = s.i
        while True:
            while s.i < s.n:
                c = s.p[s.i]
                if c == 60:
                    break
                if c == 38:
                    r = _ref(s.p, s.n, s.i, &cp)
                    if r < 0:
                        return BAIL
                    special = True
                    s.i += r
                    continue
                if c == 93 and s.i + 2 < s.n and s.p[s.i + 1] == 93 and s.p[s.i + 2] == 62:
                    return BAIL
                if c == 13:
                    special = True
                s.i += 1
            if s.i + 1 >= s.n:
                return BAIL
            c = s.p[s.i + 1]
            if c == 47:  # end tag
                if text_open:
                    s.text_end = s.i
                    s.text_special = special
                    text_open = False
                r = s.i + 2
                if r + qlen > s.n or memcmp(s.p + r, s.p + qstart, qlen) != 0:
                    return BAIL
                s.i = r + qlen
                _skip_ws(s)
                if s.i >= s.n or s.p[s.i] != 62:
                    return BAIL
                s.i += 1
                return OK
            if c == 33:  # '<!'
                if not _at(s, b"<!--", 4):
                    return BAIL
                if _comment(s) != OK:
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
            if _start_name(s, &cs, &cl, &ls, &ll) != OK or _tag_close(s, &empty) != OK:
                return BAIL
            if mode == MODE_LEAVES:
                if empty:
                    continue
                rc = self._content(s, cs, cl, MODE_LEAF, out, None, None, depth + 1)
                if rc != OK:
                    return rc
                idx = table.index(s, ls, ll, hint)
                if idx >= 0:
                    hint = idx + 1
                    value = _text(s)
                    if value is not None:
                        slots[idx] = value
                continue
            if empty:
                if mode == MODE_ROOT and (_is(s, ls, ll, spec.doc_tag) or _is(s, ls, ll, b"BaseTransfer")):
                    return BAIL  # a refused message: let the reference path name the problem
                if mode == MODE_DOC and (_is(s, ls, ll, spec.head_tag)
                                         or (spec.has_lines and _is(s, ls, ll, spec.list_tag))):
                    return BAIL
                continue
            if mode == MODE_ROOT:
                if _is(s, ls, ll, spec.doc_tag):
                    out.cur_doc = [None, []]
                    out.docs.append(out.cur_doc)
                    rc = self._content(s, cs, cl, MODE_DOC, out, None, None, depth + 1)
                elif _is(s, ls, ll, b"BaseTransfer"):
                    child_slots = [None] * self.base.n
                    rc = self._content(s, cs, cl, MODE_LEAVES, out, self.base, child_slots, depth + 1)
                    out.base = child_slots
                else:
                    rc = self._content(s, cs, cl, MODE_SKIP, out, None, None, depth + 1)
            elif mode == MODE_DOC:
                if _is(s, ls, ll, spec.head_tag):
                    child_slots = [None] * spec.head.n
                    rc = self._content(s, cs, cl, MODE_LEAVES, out, spec.head, child_slots, depth + 1)
                    out.cur_doc[0] = child_slots
                elif spec.has_lines and _is(s, ls, ll, spec.list_tag):
                    child_slots = [None] * spec.lines.n
                    rc = self._content(s, cs, cl, MODE_LEAVES, out, spec.lines, child_slots, depth + 1)
                    (<list>out.cur_doc[1]).append(child_slots)
                else:
                    rc = self._content(s, cs, cl, MODE_SKIP, out, None, None, depth + 1)
            else:  # MODE_SKIP, MODE_LEAF: children are not read
                rc = self._content(s, cs, cl, MODE_SKIP, out, None, None, depth + 1)
            if rc != OK:
                return rc

    cdef _Parsed _scan(self, bytes data):
        cdef Scan s
        cdef Py_ssize_t cs, cl, ls, ll, a, b, k, va = 0, vb = 0
        cdef Py_ssize_t starts[MAX_ATTRS]
        cdef Py_ssize_t lens[MAX_ATTRS]
        cdef int nattrs = 0, j
        cdef bint had_ws, empty, ns_ok = False
        cdef _Kind spec = None, kk
        cdef _Parsed out
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
        if not (s.i < s.n and s.p[s.i] == 60) or _start_name(&s, &cs, &cl, &ls, &ll) != OK:
            return None
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
            if b - a == 9 and memcmp(s.p + a, b"xmlns:ceb", 9) == 0:
                if not _is(&s, va, vb - va, _NS):
                    return None
                ns_ok = True
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
        out = _Parsed()
        out.spec = spec
        out.docs = []
        out.base = None
        if guid is not None:
            guid = (<str>guid).strip() or None
        out.message_guid = guid
        if self._content(&s, cs, cl, MODE_ROOT, out, None, None, 1) != OK:
            return None
        if _misc(&s) != OK or s.i != s.n:
            return None
        return out

    # ------------------------------------------------------------------ validation
    cdef bint _check(self, _Table t, list slots) except -1:
        """Validate and normalise the fields in place; False if any is missing or bad."""
        cdef int k, chk
        cdef object v, r
        cdef dict cache
        for k in range(t.n):
            v = slots[k]
            if v is None:
                if t.required[k]:
                    return False
                continue
            chk = t.kinds[k]
            if chk == CHK_NONE:
                pass
            elif chk == CHK_DEC:
                if not _plain_decimal(v) and _call(t.calls[k], v) is None:
                    return False
            elif chk == CHK_INT:
                if not _ascii_digits(v) and _call(t.calls[k], v) is None:
                    return False
            elif chk == CHK_TIME:
                if _ascii_digits(v) and (len(v) == 8 or len(v) == 14 or len(v) == 17):
                    pass
                elif _call(t.calls[k], v) is None:
                    return False
            else:
                cache = <dict>t.caches[k]
                r = cache.get(v)
                if r is None:
                    r = _call(t.calls[k], v)
                    if r is None:
                        r = False
                    if len(cache) >= CACHE_MAX:
                        cache.clear()
                    cache[v] = r
                if r is False:
                    return False
                slots[k] = r
        return True

    cdef bint _valid(self, _Parsed m) except -1:
        """Every field of a message with its guid, documents (with lines where due) and BaseTransfer is valid."""
        cdef _Kind spec = m.spec
        cdef list d
        if m.message_guid is None or not m.docs or m.base is None:
            return False
        if not self._check(self.base, <list>m.base):
            return False
        for d in m.docs:
            if d[0] is None or not self._check(spec.head, <list>d[0]):
                return False
            if spec.has_lines and not d[1]:
                return False
            for slots in <list>d[1]:
                if not self._check(spec.lines, <list>slots):
                    return False
        return True

    # ------------------------------------------------------------------ API
    def documents(self, bytes data):
        """The ``Document`` list of a valid message, or ``None`` (use the reference path)."""
        cdef _Parsed m = self._scan(data)
        cdef list d
        if m is None or not self._valid(m):
            return None
        spec = m.spec
        base = _dict(self.base, <list>m.base)
        cls = self.document_cls
        out = []
        for d in m.docs:
            head = _dict(spec.head, <list>d[0])
            out.append(cls(spec.kind, head.get("guid", ""), m.message_guid, head,
                           [_dict(spec.lines, <list>x) for x in <list>d[1]], base))
        return out

    def encode(self, bytes data):
        """The log payloads (``document_json`` bytes) of a valid message's documents, or ``None``."""
        cdef _Parsed m = self._scan(data)
        cdef _Kind spec
        cdef Buf b
        cdef list d, out
        cdef bint first
        if m is None or not self._valid(m):
            return None
        spec = m.spec
        out = []
        b.cap = 4096
        b.p = <char*>malloc(b.cap)
        if b.p == NULL:
            raise MemoryError()
        try:
            for d in m.docs:
                b.n = 0
                _put(&b, b'{"type":"', 9)
                _put(&b, PyBytes_AS_STRING(spec.root), 6)
                _put(&b, b'","guid":', 9)
                _put_json_str(&b, m.message_guid)
                _put(&b, b',"documents":[{"head":', 22)
                _put_obj(&b, spec.head, <list>d[0])
                _put(&b, b',"lines":[', 10)
                first = True
                for x in <list>d[1]:
                    if not first:
                        _put(&b, b",", 1)
                    first = False
                    _put_obj(&b, spec.lines, <list>x)
                _put(&b, b']}],"baseTransfer":', 19)
                _put_obj(&b, self.base, <list>m.base)
                _put(&b, b"}", 1)
                out.append(PyBytes_FromStringAndSize(b.p, b.n))
        finally:
            free(b.p)
        return out


cdef dict _dict(_Table t, list slots):
    cdef dict out = {}
    cdef int k
    for k in range(t.n):
        v = slots[k]
        if v is not None:
            out[t.names[k]] = v
    return out


cdef int _put_obj(Buf* b, _Table t, list slots) except -1:
    """The validated fields as a JSON object, in CEB order."""
    cdef int k
    cdef bint first = True
    cdef bytes key
    _put(b, b"{", 1)
    for k in range(t.n):
        v = slots[k]
        if v is None:
            continue
        if not first:
            _put(b, b",", 1)
        first = False
        key = <bytes>t.jkeys[k]
        _put(b, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
        _put_json_str(b, <str>v)
    _put(b, b"}", 1)
    return 0


cdef object _call(object check, object v):
    """``check(v)``, or ``None`` when it refuses the value (``ValueError``)."""
    try:
        return check(v)
    except ValueError:
        return None
