# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Fast path of :mod:`smartcustoms.cbec.matcher`: :func:`consistent`, the quick parcel consistency test, as
``matcher.consistent_py``."""

from cpython.number cimport PyNumber_Float
from cpython.float cimport PyFloat_AS_DOUBLE
from libc.math cimport fabs

cdef object _consistent_fallback = None


def consistent_fallback(fn):
    """The Python ``matcher.consistent_py``: it answers for documents that are not plain dicts and lists."""
    global _consistent_fallback
    _consistent_fallback = fn


cdef inline double _amount(object v) except? -1.0:
    """``float(v or 0)``"""
    if not v:
        return 0.0
    return PyFloat_AS_DOUBLE(PyNumber_Float(v))


def consistent(order, payment, waybill, inventory):
    """Compiled ``matcher.consistent_py``: the same answer, read from the documents' dicts in C."""
    o, p, w, i = order.head, payment.head, waybill.head, inventory.head
    ol, il = order.lines, inventory.lines
    if not (type(o) is dict and type(p) is dict and type(w) is dict and type(i) is dict and type(ol) is list
            and type(il) is list):
        return _consistent_fallback(order, payment, waybill, inventory)
    for ln in ol:
        if type(ln) is not dict:
            return _consistent_fallback(order, payment, waybill, inventory)
    for ln in il:
        if type(ln) is not dict:
            return _consistent_fallback(order, payment, waybill, inventory)
    return _consistent(<dict>o, <dict>p, <dict>w, <dict>i, <list>ol, <list>il)


cdef bint _consistent(dict o, dict p, dict w, dict i, list ol, list il) except -1:
    cdef double total, paid
    cdef dict a, b
    cdef Py_ssize_t k, n
    actural = o.get("acturalPaid")
    if not (o.get("buyerIdNumber") == i.get("buyerIdNumber") == p.get("payerIdNumber")
            and o.get("buyerName") == i.get("buyerName") == p.get("payerName")
            and o.get("buyerIdType") == i.get("buyerIdType") == p.get("payerIdType")
            and actural is not None and p.get("amountPaid") == actural and o.get("ebcCode") == i.get("ebcCode")
            and w.get("orderNo") == i.get("orderNo") and w.get("consignee") == o.get("consignee")
            and w.get("consigneeAddress") == o.get("consigneeAddress")
            and w.get("consigneeTelephone") == o.get("consigneeTelephone")):
        return False
    try:
        total = (_amount(o.get("goodsValue")) + _amount(o.get("freight")) + _amount(o.get("taxTotal"))
                 - _amount(o.get("discount")))
        paid = PyFloat_AS_DOUBLE(PyNumber_Float(actural))
        if fabs(total - paid) > 0.005:
            return False
    except ValueError:
        return False
    n = len(ol)
    if n != len(il):
        return False
    if n > 1 and len({(<dict>ln).get("gnum") for ln in ol}) != n:
        return False
    for k in range(n):
        a = <dict>ol[k]
        b = <dict>il[k]
        if not (a.get("gnum") == b.get("gnum") and a.get("itemNo") == b.get("itemNo") and a.get("qty") == b.get("qty")
                and a.get("price") == b.get("price") and a.get("totalPrice") == b.get("totalPrice")):
            return False
    return True
