# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Fast path of :mod:`smartcustoms.cbec.ceb.signature`: :func:`plain_content`, the same answer as
``signature._CANONICAL_CONTENT.fullmatch(raw, start, end) is not None`` in one pass of C over the bytes."""


# a class per byte: 1 = looked at in text (< & > CR), 2 = starts a name (A-Z a-z _), 4 = in a name (+ 0-9 . -)
cdef unsigned char _CLASS[256]
for _c in (60, 38, 62, 13):
    _CLASS[_c] = 1
for _c in list(range(65, 91)) + list(range(97, 123)) + [95]:
    _CLASS[_c] = 6
for _c in list(range(48, 58)) + [46, 45]:
    _CLASS[_c] = 4


cdef inline bint _name_start(unsigned char c) noexcept:
    return _CLASS[c] & 2


cdef inline bint _name_char(unsigned char c) noexcept:
    return _CLASS[c] & 4


def plain_content(const unsigned char[::1] buf, Py_ssize_t start, Py_ssize_t end):
    """Whether ``buf[start:end]`` is element content C14N writes as it is: text without ``<``, ``>``, ``&`` or
    CR except the references ``&amp;`` ``&lt;`` ``&gt;``, and tags ``<name>`` / ``</name>`` (``name`` as
    ``[A-Za-z_][\\w.-]*(:[A-Za-z_][\\w.-]*)?``)."""
    cdef Py_ssize_t i = start, n
    cdef unsigned char c
    if end > buf.shape[0]:
        end = buf.shape[0]
    if i < 0:
        i = 0
    while i < end:
        while i < end and not (_CLASS[buf[i]] & 1):  # text: one table look-up a byte
            i += 1
        if i >= end:
            break
        c = buf[i]
        if c == 60:  # <
            i += 1
            if i < end and buf[i] == 47:  # /
                i += 1
            if i >= end or not _name_start(buf[i]):
                return False
            i += 1
            while i < end and _name_char(buf[i]):
                i += 1
            if i < end and buf[i] == 58:  # :
                i += 1
                if i >= end or not _name_start(buf[i]):
                    return False
                i += 1
                while i < end and _name_char(buf[i]):
                    i += 1
            if i >= end or buf[i] != 62:  # >
                return False
            i += 1
        elif c == 38:  # &
            n = end - i
            if n >= 5 and buf[i + 1] == 97 and buf[i + 2] == 109 and buf[i + 3] == 112 and buf[i + 4] == 59:
                i += 5  # &amp;
            elif n >= 4 and (buf[i + 1] == 108 or buf[i + 1] == 103) and buf[i + 2] == 116 and buf[i + 3] == 59:
                i += 4  # &lt; &gt;
            else:
                return False
        elif c == 62 or c == 13:  # > or CR
            return False
        else:
            i += 1
    return True
