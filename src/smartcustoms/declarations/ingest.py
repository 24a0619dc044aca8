"""Bulk files of declarations: JSONL (one declaration a line) or CSV (one goods item a row).

CSV columns: the header fields of ``DeclarationIn`` plus ``item_``-prefixed goods-item fields
(``item_hs_code``, ``item_description``, ...). Rows with the same ``client_message_id`` are one
declaration, in file order. Every problem is reported with its line and field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from pydantic import ValidationError

from smartcustoms.core.errors import FieldError, loc_to_path
from smartcustoms.declarations.schemas import DeclarationIn, GoodsItemIn

HEADER_FIELDS = [f for f in DeclarationIn.model_fields if f != "items"]
ITEM_FIELDS = list(GoodsItemIn.model_fields)
CSV_COLUMNS = HEADER_FIELDS + [f"item_{f}" for f in ITEM_FIELDS]


@dataclass(slots=True)
class ParsedRecord:
    """One parsed line of a bulk upload: the declaration, or the field errors that stopped it."""
    line: int
    declaration: DeclarationIn | None
    errors: list[FieldError]


@dataclass(slots=True)
class ProblemLog:
    """The first ``keep`` problems of a bulk file (line, field, message) and how many there were in all."""

    keep: int = 1000
    kept: list[dict] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, field: str, message: str) -> bool:
        """Count a problem; keep it while fewer than ``keep`` are kept. True when it was kept."""
        self.count += 1
        if len(self.kept) >= self.keep:
            return False
        self.kept.append({"line": line, "field": field, "message": message})
        return True

    @property
    def dropped(self) -> int:
        """Problems counted but not kept."""
        return self.count - len(self.kept)


def batches(records: Iterable[ParsedRecord], size: int) -> Iterator[list[ParsedRecord]]:
    """``records`` in lists of at most ``size``, read lazily (a file's records are never all in memory)."""
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    return [FieldError(loc_to_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()]


def parse_jsonl(text: str) -> Iterator[ParsedRecord]:
    """Parse a JSON Lines bulk upload into declarations, one record a non-blank line."""
    for n, raw in enumerate(io.StringIO(text, newline=None), start=1):  # lazily, not a list of every line
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield ParsedRecord(n, None, [FieldError("line", f"malformed JSON: {exc.msg} at column {exc.colno}")])
            continue
        try:
            yield ParsedRecord(n, DeclarationIn.model_validate(obj), [])
        except ValidationError as exc:
            yield ParsedRecord(n, None, _pydantic_errors(exc))


def parse_csv(text: str) -> Iterator[ParsedRecord]:
    """Parse a CSV bulk upload (one row per goods item, grouped by client_message_id) into declarations."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("client_message_id", "item_hs_code") if c not in (reader.fieldnames or [])]
    if missing:
        yield ParsedRecord(1, None, [FieldError(c, "missing column") for c in missing])
        return
    groups: dict[str, tuple[int, dict, list[dict]]] = {}
    for n, row in enumerate(reader, start=2):
        key = (row.get("client_message_id") or "").strip()
        if not key:  # no declaration to group it with: reported at once, not kept (a file of bad lines is cheap)
            yield ParsedRecord(n, None, [FieldError("client_message_id", "missing: each row names its message")])
            continue
        header = {k: (row.get(k) or None) for k in HEADER_FIELDS if k in row}
        item = {f: row.get(f"item_{f}") for f in ITEM_FIELDS if row.get(f"item_{f}") not in (None, "")}
        if key not in groups:
            groups[key] = (n, header, [])
        groups[key][2].append(item)
    for n, header, items in groups.values():
        obj = {k: v for k, v in header.items() if v is not None}
        obj["items"] = items
        try:
            yield ParsedRecord(n, DeclarationIn.model_validate(obj), [])
        except ValidationError as exc:
            yield ParsedRecord(n, None, _pydantic_errors(exc))


def parse_file(name: str, text: str) -> Iterator[ParsedRecord]:
    """Records of a ``.jsonl``/``.json`` or ``.csv`` file."""
    if name.lower().endswith(".csv"):
        return parse_csv(text)
    return parse_jsonl(text)
