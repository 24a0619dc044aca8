# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.ceb.receipts`: :class:`ReceiptWriter` writes receipts with fixed text per
kind, byte for byte as ``ceb.receipts.emit_receipt_py``."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.stdlib cimport free, malloc

from smartcustoms.cbec.ceb._buf cimport Buf, _buf_bytes, _bytes_buf, _decref, _put, _put_bytes, _put_xml_str

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
    cdef Py_ssize_t* minlens
    cdef Py_ssize_t* maxlens
    cdef char* mandatory

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
        self.minlens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        self.maxlens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        self.mandatory = <char*>malloc(m * sizeof(char))
        if (self.names == NULL or self.otags == NULL or self.ctags == NULL or self.olens == NULL
                or self.clens == NULL or self.minlens == NULL or self.maxlens == NULL or self.mandatory == NULL):
            raise MemoryError()
        self.keep = []
        for k, (name, open_tag, close_tag, mandatory, min_len, max_len) in enumerate(tpl.keys):
            self.mandatory[k] = 1 if mandatory else 0
            self.minlens[k] = min_len
            self.maxlens[k] = max_len
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
        free(self.minlens)
        free(self.maxlens)
        free(self.mandatory)


cdef class ReceiptWriter:
    """``emit_receipt`` for the usual receipts (str guid/info/keys, int status); others go to ``fallback``."""

    cdef object receipt_cls
    cdef dict templates   # kind -> _ReceiptTpl
    cdef object fallback
    cdef object format_time
    cdef object return_info
    cdef dict times       # ms -> returnTime bytes
    cdef dict statuses    # status -> bytes
    cdef dict infos       # status -> {info: returnInfo text}
    cdef object last_ms   # the last receipt's time and its text
    cdef object last_time

    def __init__(self, receipt_cls, templates, fallback, format_time, return_info):
        """``receipt_cls``: the ``Receipt`` named tuple ``(kind, guid, status, info, time_ms, keys)``;
        ``return_info(status, info)`` the receipt's returnInfo text (memoised by the caller)."""
        self.receipt_cls = receipt_cls
        self.templates = {kind: _ReceiptTpl(t) for kind, t in templates.items()}
        self.fallback = fallback
        self.format_time = format_time
        self.return_info = return_info
        self.times = {}
        self.statuses = {}
        self.infos = {}

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
        cdef PyObject* o
        # written in place into the bytes returned (no copy at the end) when ~768 bytes a receipt suffice
        cdef PyObject* out = _bytes_buf(&b, 768 * len(receipts) + 4096 if type(receipts) is list else 65536)
        try:
            for r in receipts:
                at = b.n
                if not self._emit_into(&b, r):
                    b.n = at  # whatever was written of it
                    _put_bytes(&b, <bytes?>self.fallback(r))
            o, out = out, NULL
            return _buf_bytes(&b, o)
        finally:
            if out != NULL:
                _decref(out)
            if b.heap:
                free(b.p)

    cdef bint _emit_into(self, Buf* b, r) except -1:
        """Append receipt ``r`` to ``b``; False (``b`` partly written) when the Python emitter must write it."""
        cdef _ReceiptTpl tpl
        cdef PyObject* found
        cdef PyObject* v
        cdef PyObject* vals[MAX_KEYS]
        cdef object t, st, text
        cdef dict by_info
        cdef Py_ssize_t n
        cdef int k
        if type(r) is not self.receipt_cls:
            return False
        kind, guid, status, info, time_ms, keys = (<tuple>r)[0], (<tuple>r)[1], (<tuple>r)[2], (<tuple>r)[3], \
            (<tuple>r)[4], (<tuple>r)[5]
        if (type(guid) is not str or type(info) is not str or type(keys) is not dict or type(status) is not int
                or type(time_ms) is not int or type(kind) is not str):
            return False
        if len(<str>guid) != 36:
            return False  # the Python emitter gives the receipt a guid of its own
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
        found = PyDict_GetItem(self.infos, status)
        if found == NULL:
            by_info = {}
            if len(self.infos) < 256:
                self.infos[status] = by_info
        else:
            by_info = <dict>found
        found = PyDict_GetItem(by_info, info)
        if found != NULL:
            text = <object>found
        else:
            text = self.return_info(status, info)
            if type(text) is not str:
                return False
            if len(by_info) >= 4096:
                by_info.clear()
            by_info[info] = text
        for k in range(tpl.nkeys):  # borrowed: nothing runs between here and the writing below
            v = PyDict_GetItem(keys, <object>tpl.names[k])
            if v != NULL and type(<object>v) is not str:
                if <object>v is not None:
                    return False  # unusual key values: the Python emitter
                v = NULL
            if v != NULL:
                n = len(<str>v)
                if n == 0:
                    v = NULL
                elif n < tpl.minlens[k] or n > tpl.maxlens[k]:
                    return False  # cut or left out by the Python emitter
            if v == NULL and tpl.mandatory[k]:
                return False  # a placeholder, written by the Python emitter
            vals[k] = v
        try:
            _put_bytes(b, tpl.open)
            _put_xml_str(b, <str>guid)
            _put_bytes(b, tpl.mid)
            _put_xml_str(b, <str>guid)
            _put(b, b"</guid>", 7)
            for k in range(tpl.nkeys):
                v = vals[k]
                if v == NULL:
                    continue
                _put(b, tpl.otags[k], tpl.olens[k])
                _put_xml_str(b, <str>v)
                _put(b, tpl.ctags[k], tpl.clens[k])
            _put(b, b"<returnStatus>", 14)
            _put_bytes(b, <bytes>st)
            _put(b, b"</returnStatus><returnTime>", 27)
            _put_bytes(b, <bytes>t)
            _put(b, b"</returnTime><returnInfo>", 25)
            _put_xml_str(b, <str>text)
            _put(b, b"</returnInfo>", 13)
            _put_bytes(b, tpl.close)
        except UnicodeEncodeError:
            return False  # e.g. a lone surrogate: the reference raises its own error
        return True
