"""The formats a manifest intake reads: UN/EDIFACT CUSCAR interchanges (a body or file that starts with UNA, UNB
or UNH), else XML chosen by each message's root element: China customs MT messages (``Manifest``) and IATA
Cargo-XML waybills (``Waybill`` XFWB, ``HouseWaybill`` XFZB) and house manifests (``HouseManifest`` XFHL)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from smartcustoms.manifests import cn, cuscar, iata, xfhl

_IATA_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:(?:House)?Waybill|HouseManifest)[\s>/]")


def parse_part(part: cn.Part) -> cn.Parsed:
    """One message, by the parser of its format."""
    m = _IATA_ROOT.search(part.data, 0, 4096)
    if m is not None and b"<" not in part.data[:m.start()].replace(b"<?xml", b"").replace(b"<!--", b""):
        if m.group().rstrip(b" \t\r\n>/").endswith(b"HouseManifest"):
            return xfhl.parse_message(part.data, part.line)
        return iata.parse_message(part.data, part.line)
    return cn.parse_message(part.data, part.line)


def parse_stream(data: bytes) -> Iterator[tuple[cn.Part, cn.Parsed]]:
    """Every message of a body or file with its parse, in order."""
    if cuscar.is_edifact(data):
        for i, (msg, problems) in enumerate(cuscar.split(data)):
            if msg is None:
                yield cn.Part(i, problems[0].line or 1, b""), cn.Parsed(None, problems)
            else:
                yield cn.Part(i, msg.segments[0][0], cuscar.raw(msg)), cuscar.parse_message(msg)
        return
    for part in cn.split_messages(data):
        yield part, parse_part(part)
