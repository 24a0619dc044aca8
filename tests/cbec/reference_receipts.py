"""The CEB receipt emitter as it was before the per-kind templates and the compiled writer.

Kept as the reference the new emitters must match byte for byte (tests/cbec/test_fastpath.py) and as the
"old" side of bench/cbec_parse.py: a generic field loop and an uncached China-time format per receipt.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcustoms.cbec.ceb import emit as ceb_emit
from smartcustoms.cbec.ceb import spec as ceb_spec
from smartcustoms.cbec.ceb.receipts import Receipt


def old_format_time(ms: int) -> str:
    """``yyyyMMddHHmmssfff`` in China Standard Time (UTC+8), computed afresh each call."""
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(hours=8)))
    return t.strftime("%Y%m%d%H%M%S") + f"{ms % 1000:03d}"


def _old_receipt_fields(r: Receipt) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, _c, _r in ceb_spec.RECEIPT_HEADS[r.kind][1]:
        if name == "guid":
            values[name] = r.guid
        elif name == "returnStatus":
            values[name] = str(r.status)
        elif name == "returnTime":
            values[name] = old_format_time(r.time_ms)
        elif name == "returnInfo":
            values[name] = r.info
        elif name in r.keys:
            values[name] = r.keys[name]
    return values


def old_emit_receipt(r: Receipt) -> bytes:
    """CEB XML of a receipt, the way the emitter before the templates wrote it."""
    tag, fields = ceb_spec.RECEIPT_HEADS[r.kind]
    values = _old_receipt_fields(r)
    out = [ceb_emit._DECL,
           f'<ceb:{r.kind}Message guid="{ceb_emit._esc(r.guid)}" version="1.0" xmlns:ceb="{ceb_spec.NS}"><ceb:{tag}>']
    for name, _check, _req in fields:
        v = values.get(name)
        if v is not None and v != "":
            out.append(f"<ceb:{name}>{ceb_emit._esc(str(v))}</ceb:{name}>")
    out.append(f"</ceb:{tag}></ceb:{r.kind}Message>")
    return "".join(out).encode("utf-8")
