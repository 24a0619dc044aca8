# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.framing`: :func:`split_route` splits a block of concatenated CEB messages
and routes each to a writer shard by its order number, as ``framing._split_route_py``."""

from libc.string cimport memcmp


cdef inline bint _ws(unsigned char c) noexcept nogil:
    return c == 32 or c == 10 or c == 9 or c == 13


cdef extern from "string.h" nogil:
    void* memchr(const void* s, int c, size_t n)
    void* memrchr(const void* s, int c, size_t n)

cdef unsigned int _CRC[256]


cdef void _crc_init() noexcept:
    cdef unsigned int c, n, k
    for n in range(256):
        c = n
        for k in range(8):
            c = (0xEDB88320U ^ (c >> 1)) if (c & 1) else (c >> 1)
        _CRC[n] = c


_crc_init()


cdef inline unsigned int _crc32(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """zlib's CRC-32 (``zlib.crc32``), so Python and C route alike."""
    cdef unsigned int c = 0xFFFFFFFFU
    cdef Py_ssize_t i
    for i in range(n):
        c = _CRC[(c ^ p[i]) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFU


cdef inline bint _blank(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not _ws(p[i]):
            return False
    return True


cdef inline Py_ssize_t _message_start(const unsigned char* p, Py_ssize_t j) noexcept nogil:
    """Where the message whose ``<?xml`` is at ``p[j]`` starts: before its UTF-8 BOM, if it has one."""
    if j >= 3 and p[j - 3] == 0xEF and p[j - 2] == 0xBB and p[j - 1] == 0xBF:
        return j - 3
    return j


cdef inline bint _ascii(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] >= 0x80:
            return False
    return True


cdef struct Route:
    Py_ssize_t va, vb   # the first orderNo's text
    int count           # orderNo start tags seen
    bint every          # comment, CDATA, DOCTYPE, reference or odd orderNo tag: every shard must look


cdef inline bint _is_order_no(const unsigned char* a, const unsigned char* b) noexcept nogil:
    """Is the tag name [a, b) ``orderNo`` with or without a prefix?"""
    if b - a < 7 or memcmp(b - 7, b"orderNo", 7) != 0:
        return False
    return b - a == 7 or (b - 8)[0] == 58  # ':'


cdef int _finish(const unsigned char* p, Py_ssize_t s, Py_ssize_t e, Route* r, int shards) noexcept nogil:
    """Shard of the message [s, e): -1 every shard, -2 blank (skipped)."""
    cdef Py_ssize_t a, b
    if _blank(p + s, e - s):
        return -2
    if shards <= 1:
        return 0
    if r.every or r.count > 1:
        return -1
    if r.count == 0:
        # no order number in sight (a DXP envelope's is inside its base64 Data; CEB513/711 have none; an
        # unreadable message): every shard looks, keeps its own documents, shard 0 answers a refusal
        return -1
    a, b = r.va, r.vb
    while a < b and _ws(p[a]):
        a += 1
    while b > a and _ws(p[b - 1]):
        b -= 1
    return <int>(_crc32(p + a, b - a) % <unsigned int>shards)


cdef inline void _note_order_no(const unsigned char* p, Py_ssize_t k, Py_ssize_t cut, Route* r) noexcept nogil:
    """An ``orderNo`` start tag whose name ends at ``p[k]``: count it; the first one's value is ``p[r.va:r.vb]``;
    an entity in it, attributes or an empty element send the message to every shard."""
    cdef const unsigned char* q
    r.count += 1
    if k < cut and p[k] == 62:
        if r.count == 1:
            r.va = k + 1
            q = <const unsigned char*>memchr(p + k + 1, 60, cut - k - 1)
            r.vb = (q - p) if q != NULL else cut
            if memchr(p + r.va, 38, r.vb - r.va) != NULL or not _ascii(p + r.va, r.vb - r.va):
                r.every = True  # a reference, or non-ASCII bytes (GBK, or UTF-8): routed by the decoded text
    else:
        r.every = True  # attributes or an empty element


cdef list _route_tags(const unsigned char* p, Py_ssize_t cut, int shards, int shard):
    """The router tag by tag: every ``<`` of ``p[:cut]`` (the reference for :func:`_route_fast`)."""
    cdef Py_ssize_t j, k, m, start = 0
    cdef const unsigned char* q
    cdef unsigned char c1
    cdef int got
    cdef Route r
    out = []
    r.count, r.every, r.va, r.vb = 0, False, 0, 0
    j = 0
    while j < cut:
        q = <const unsigned char*>memchr(p + j, 60, cut - j)
        if q == NULL:
            break
        j = q - p
        c1 = p[j + 1] if j + 1 < cut else 0
        if c1 == 63:  # '?'
            m = _message_start(p, j)
            if m > start and j + 5 <= cut and memcmp(q, b"<?xml", 5) == 0:
                got = _finish(p, start, m, &r, shards)
                if got == -1 or got == shard:
                    out.append((start, m, got == -1))
                start = m
                r.count, r.every, r.va, r.vb = 0, False, 0, 0
        elif c1 == 33:  # '!'
            r.every = True
        elif c1 != 47:  # a start tag
            k = j + 1
            while k < cut and p[k] != 62 and p[k] != 47 and not _ws(p[k]):
                k += 1
            if _is_order_no(p + j + 1, p + k):
                _note_order_no(p, k, cut, &r)
        j += 1
    got = _finish(p, start, cut, &r, shards)
    if got == -1 or got == shard:
        out.append((start, cut, got == -1))
    return out




cdef inline bint _name_stop(unsigned char c) noexcept nogil:
    """A byte that ends a tag name for the router: ``>``, ``/`` or whitespace."""
    return c == 62 or c == 47 or _ws(c)


cdef int _route_message(const unsigned char* p, Py_ssize_t start, Py_ssize_t end, Py_ssize_t cut,
                        Route* r) noexcept nogil:
    """Fill ``r`` for the message ``p[start:end]`` as the tag-by-tag scan would, looking only at its
    ``<!`` and ``orderNo`` occurrences; -1 when a tag name could reach back before ``start`` (the caller
    then runs the tag-by-tag scan)."""
    cdef const unsigned char* q
    cdef Py_ssize_t x, i, k, from_ = start
    cdef bint colon
    r.count, r.every, r.va, r.vb = 0, False, 0, 0
    # '<!' anywhere: a comment, CDATA or DOCTYPE
    i = start + 1
    while i < end:
        q = <const unsigned char*>memchr(p + i, 33, end - i)
        if q == NULL:
            break
        i = q - p
        if p[i - 1] == 60:
            r.every = True
            break
        i += 1
    # start tags whose name ends with 'orderNo' (bare or after a prefix), found by their 'N'
    from_ = start + 5
    while from_ + 2 <= end:
        q = <const unsigned char*>memchr(p + from_, 78, end - 1 - from_)  # 'N' with a byte after it
        if q == NULL:
            break
        x = q - p - 5
        from_ = x + 6
        if memcmp(p + x, b"orderNo", 7) != 0:
            continue
        k = x + 7
        if k < cut and not _name_stop(p[k]):
            continue  # the name goes on
        if x == 0:
            continue
        colon = p[x - 1] == 58
        if not colon and p[x - 1] != 60:
            continue  # e.g. 'xorderNo'
        # each '<' in the name run before x opens a start tag whose name ends here
        i = x - 1
        while True:
            if i < start:
                if start > 0:
                    return -1  # a name from the previous message: leave it to the tag-by-tag scan
                break
            if _name_stop(p[i]):
                break
            if p[i] == 60 and (colon or i == x - 1) and i + 1 < cut and p[i + 1] != 63 and p[i + 1] != 33:
                _note_order_no(p, k, cut, r)
            if not colon:
                break
            i -= 1
    return 0


def split_route(const unsigned char[::1] data, int shards, int shard, bint final):
    """Split concatenated messages (each starting with ``<?xml``, or the UTF-8 BOM before it; bytes or any
    buffer) and keep this shard's.

    Returns ``(messages, consumed)``: ``messages`` is a list of ``(start, end, every)`` for the messages
    routed to ``shard`` by the CRC-32 of their ``orderNo`` text (``every``: a message that every shard must
    look at -- several order numbers, a comment, CDATA or a reference that could hide or change the value;
    each shard keeps only its own documents); ``consumed`` is where the unsplit rest starts (the last,
    maybe incomplete, message unless ``final``). Blank messages are skipped as ``pipeline.iter_stream`` does.

    Each message is found by its ``?`` and read only where it holds ``<!`` or ``orderNo``, with the
    answers of a scan of every ``<`` (:func:`_route_tags`, which runs instead when a tag name would
    straddle two messages).
    """
    cdef Py_ssize_t n = data.shape[0]
    cdef const unsigned char* p = &data[0] if n > 0 else <const unsigned char*>b""
    cdef Py_ssize_t cut, j, start = 0, end
    cdef const unsigned char* q
    cdef int got
    cdef Route r
    out = []
    cut = n
    if not final:
        cut = -1
        j = n
        while j > 0:
            q = <const unsigned char*>memrchr(p, 60, j)
            if q == NULL:
                break
            j = q - p
            if j + 5 <= n and memcmp(q, b"<?xml", 5) == 0:
                cut = _message_start(p, j)
                break
        if cut <= 0:
            return out, 0
    while True:
        end = cut
        j = start + 2
        while j < cut:  # the next '<?xml', found by its '?'
            q = <const unsigned char*>memchr(p + j, 63, cut - j)
            if q == NULL:
                break
            j = q - p
            if p[j - 1] == 60 and j + 4 <= cut and memcmp(q - 1, b"<?xml", 5) == 0 and _message_start(p, j - 1) > start:
                end = _message_start(p, j - 1)
                break
            j += 1
        if _route_message(p, start, end, cut, &r) < 0:
            return _route_tags(p, cut, shards, shard), cut
        got = _finish(p, start, end, &r, shards)
        if got == -1 or got == shard:
            out.append((start, end, got == -1))
        if end >= cut:
            break
        start = end
    return out, cut
