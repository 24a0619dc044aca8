"""The CEB receipt emitter as a plain field loop (the layout of the official XSD, no templates, no cache).

Kept as the reference the new emitters must match byte for byte (tests/cbec/test_fastpath.py) and as the
"old" side of bench/cbec_parse.py: a generic field loop and an uncached China-time format per receipt.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcustoms.cbec.ceb import emit as ceb_emit
from smartcustoms.cbec.ceb import receipts as ceb_receipts
from smartcustoms.cbec.ceb import spec as ceb_spec
from smartcustoms.cbec.ceb import statuses as ceb_statuses
from smartcustoms.cbec.ceb.receipts import Receipt


def old_format_time(ms: int) -> str:
    """``yyyyMMddHHmmssfff`` in China Standard Time (UTC+8), computed afresh each call."""
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(hours=8)))
    return t.strftime("%Y%m%d%H%M%S") + f"{ms % 1000:03d}"


def _old_receipt_fields(r: Receipt) -> dict[str, Any]:
    """The receipt's values, field by field as the XSD has them (a plain loop: the reference)."""
    values: dict[str, Any] = {}
    guid = r.guid if isinstance(r.guid, str) and len(r.guid) == 36 else ceb_receipts.receipt_guid(r)
    for f in ceb_spec.RECEIPT_FIELDS[r.kind]:
        if f.name == "guid":
            values["guid"] = guid
        elif f.name == "returnStatus":
            values["returnStatus"] = str(r.status)
        elif f.name == "returnTime":
            values["returnTime"] = old_format_time(r.time_ms)
        elif f.name == "returnInfo":
            info = ceb_statuses.return_info(r.status, r.info if r.info is not None else "")
            if guid != r.guid:
                tail = f"[guid:{'' if r.guid is None else r.guid}]"[:100]
                info = info[:1000 - len(tail)] + tail
            values["returnInfo"] = info
        else:
            v = r.keys.get(f.name)
            v = None if v is None else str(v)
            if v and f.min_len == 1:
                v = v[:f.max_len]
            if v and f.min_len <= len(v) <= f.max_len:
                values[f.name] = v
            elif f.mandatory:
                values[f.name] = "S" if f.name == "logisticsStatus" else "0" * f.min_len if f.min_len > 1 else "-"
    return values


def old_emit_receipt(r: Receipt) -> bytes:
    """CEB XML of a receipt in the official layout, written by a plain field loop."""
    tag, _fields = ceb_spec.RECEIPT_HEADS[r.kind]
    values = _old_receipt_fields(r)
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
           f'<{r.kind}Message guid="{ceb_emit._esc(values["guid"])}" version="1.0" xmlns="{ceb_spec.NS}"><{tag}>']
    for name, v in values.items():
        out.append(f"<{name}>{ceb_emit._esc(v)}</{name}>")
    out.append(f"</{tag}></{r.kind}Message>")
    return "".join(out).encode("utf-8")
