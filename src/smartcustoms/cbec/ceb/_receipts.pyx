# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.ceb.receipts`: :class:`ReceiptWriter` writes receipts with fixed text per
kind, byte for byte as ``ceb.receipts.emit_receipt_py``."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.stdlib cimport free, malloc

from smartcustoms.cbec.ceb._buf cimport Buf, _heap_buf, _put, _put_bytes, _put_xml_str

DEF MAX_KEYS = 32


cdef class _ReceiptTpl:
    """The fixed text of one receipt kind, as C arrays."""

    cdef bytes open, mid, close
    cdef int nkeys
    cdef list keep
    cdef PyObject** names     # str field names (kept in ``keep``)
    cdef const char** otags
    cdef const char** ctags
    cdef Py_ssize_t* olens
    cdef Py_ssize_t* clens

    def __cinit__(self, tpl):
        cdef int k
        self.open, self.mid, self.close = tpl.open.encode(), tpl.mid.encode(), tpl.close.encode()
        self.nkeys = len(tpl.keys)
        if self.nkeys > MAX_KEYS:
            raise ValueError(f"more than {MAX_KEYS} key fields in a receipt")
        m = max(self.nkeys, 1)
        self.names = <PyObject**>malloc(m * sizeof(PyObject*))
        self.otags = <const char**>malloc(m * sizeof(char*))
        self.ctags = <const char**>malloc(m * sizeof(char*))
        self.olens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        self.clens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        if (self.names == NULL or self.otags == NULL or self.ctags == NULL or self.olens == NULL
                or self.clens == NULL):
            raise MemoryError()
        self.keep = []
        for k, (name, open_tag, close_tag) in enumerate(tpl.keys):
            o, c = open_tag.encode(), close_tag.encode()
            self.keep += [name, o, c]
            self.names[k] = <PyObject*>name
            self.otags[k] = PyBytes_AS_STRING(o)
            self.olens[k] = len(o)
            self.ctags[k] = PyBytes_AS_STRING(c)
            self.clens[k] = len(c)

    def __dealloc__(self):
        free(self.names)
        free(self.otags)
        free(self.ctags)
        free(self.olens)
        free(self.clens)


cdef class ReceiptWriter:
    """``emit_receipt`` for the usual receipts (str guid/info/keys, int status); others go to ``fallback``."""

    cdef object receipt_cls
    cdef dict templates   # kind -> _ReceiptTpl
    cdef object fallback
    cdef object format_time
    cdef dict times       # ms -> returnTime bytes
    cdef dict statuses    # status -> bytes
    cdef object last_ms   # the last receipt's time and its text
    cdef object last_time

    def __init__(self, receipt_cls, templates, fallback, format_time):
        """``receipt_cls``: the ``Receipt`` named tuple ``(kind, guid, status, info, time_ms, keys)``."""
        self.receipt_cls = receipt_cls
        self.templates = {kind: _ReceiptTpl(t) for kind, t in templates.items()}
        self.fallback = fallback
        self.format_time = format_time
        self.times = {}
        self.statuses = {}

    def emit(self, r):
        """CEB XML bytes of receipt ``r``, identical to the Python emitter's."""
        cdef Buf b
        cdef char stack[1024]
        b.n = 0
        b.cap = sizeof(stack)
        b.p = stack
        b.heap = False
        try:
            if not self._emit_into(&b, r):
                return self.fallback(r)
            return PyBytes_FromStringAndSize(b.p, b.n)
        finally:
            if b.heap:
                free(b.p)

    def emit_all(self, receipts):
        """``b"".join(map(emit, receipts))``, written into one buffer."""
        cdef Buf b
        cdef Py_ssize_t at
        _heap_buf(&b, 65536)
        try:
            for r in receipts:
                at = b.n
                if not self._emit_into(&b, r):
                    b.n = at  # whatever was written of it
                    _put_bytes(&b, <bytes?>self.fallback(r))
            return PyBytes_FromStringAndSize(b.p, b.n)
        finally:
            free(b.p)

    cdef bint _emit_into(self, Buf* b, r) except -1:
        """Append receipt ``r`` to ``b``; False (``b`` partly written) when the Python emitter must write it."""
        cdef _ReceiptTpl tpl
        cdef PyObject* found
        cdef PyObject* v
        cdef PyObject* vals[MAX_KEYS]
        cdef object t, st
        cdef int k
        if type(r) is not self.receipt_cls:
            return False
        kind, guid, status, info, time_ms, keys = (<tuple>r)[0], (<tuple>r)[1], (<tuple>r)[2], (<tuple>r)[3], \
            (<tuple>r)[4], (<tuple>r)[5]
        if (type(guid) is not str or type(info) is not str or type(keys) is not dict or type(status) is not int
                or type(time_ms) is not int or type(kind) is not str):
            return False
        found = PyDict_GetItem(self.templates, kind)
        if found == NULL:
            return False
        tpl = <_ReceiptTpl>found
        if time_ms == self.last_ms and self.last_time is not None:
            t = self.last_time
        else:
            t = self.times.get(time_ms)
        if t is None:
            t = (<str>self.format_time(time_ms)).encode("utf-8")
            if len(self.times) >= 4096:
                self.times.clear()
            self.times[time_ms] = t
        self.last_ms = time_ms
        self.last_time = t
        st = self.statuses.get(status)
        if st is None:
            st = str(status).encode("ascii")
            if len(self.statuses) < 256:
                self.statuses[status] = st
        for k in range(tpl.nkeys):  # borrowed: nothing runs between here and the writing below
            v = PyDict_GetItem(keys, <object>tpl.names[k])
            if v != NULL and type(<object>v) is not str:
                if <object>v is not None:
                    return False  # unusual key values: the Python emitter
                v = NULL
            vals[k] = v
        try:
            _put_bytes(b, tpl.open)
            _put_xml_str(b, <str>guid)
            _put_bytes(b, tpl.mid)
            if guid:
                _put(b, b"<ceb:guid>", 10)
                _put_xml_str(b, <str>guid)
                _put(b, b"</ceb:guid>", 11)
            for k in range(tpl.nkeys):
                v = vals[k]
                if v == NULL or not <str>v:
                    continue
                _put(b, tpl.otags[k], tpl.olens[k])
                _put_xml_str(b, <str>v)
                _put(b, tpl.ctags[k], tpl.clens[k])
            _put(b, b"<ceb:returnStatus>", 18)
            _put_bytes(b, <bytes>st)
            _put(b, b"</ceb:returnStatus><ceb:returnTime>", 35)
            _put_bytes(b, <bytes>t)
            _put(b, b"</ceb:returnTime>", 17)
            if info:
                _put(b, b"<ceb:returnInfo>", 16)
                _put_xml_str(b, <str>info)
                _put(b, b"</ceb:returnInfo>", 17)
            _put_bytes(b, tpl.close)
        except UnicodeEncodeError:
            return False  # e.g. a lone surrogate: the reference raises its own error
        return True
