"""Bulk files of declarations: JSONL (one declaration a line) or CSV (one goods item a row).

CSV columns: the header fields of ``DeclarationIn`` plus ``item_``-prefixed goods-item fields
(``item_hs_code``, ``item_description``, ...). Rows with the same ``client_message_id`` are one
declaration, in file order. Every problem is reported with its line and field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import cast

from pydantic import ValidationError

from smartcustoms.codes.service import CodeLists
from smartcustoms.core.errors import FieldError
from smartcustoms.core.security import Principal
from smartcustoms.declarations.checks import all_errors
from smartcustoms.declarations.lifecycle import Status
from smartcustoms.declarations.schemas import DeclarationIn, GoodsItemIn
from smartcustoms.declarations.service import DeclarationService

HEADER_FIELDS = [f for f in DeclarationIn.model_fields if f != "items"]
ITEM_FIELDS = list(GoodsItemIn.model_fields)
ITEM_PREFIX = "item_"
CSV_COLUMNS = HEADER_FIELDS + [f"{ITEM_PREFIX}{f}" for f in ITEM_FIELDS]
_ITEM_PATH = re.compile(r"^items\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True, slots=True)
class CsvColumn:
    """One column of the CSV bulk format: its name, the declaration field it fills, whether it is required."""

    name: str
    field: str  # the field's path in a declaration: ``currency``, ``items[].hs_code``
    required: bool
    per_item: bool  # read from every row (a goods item), else from the declaration's first row
    description: str


def csv_columns() -> list[CsvColumn]:
    """The CSV columns, from the wire models the parser validates with (the upload page's column reference)."""
    out = []
    for name in HEADER_FIELDS:
        info = DeclarationIn.model_fields[name]
        out.append(CsvColumn(name, name, info.is_required(), False, info.description or ""))
    for name in ITEM_FIELDS:
        info = GoodsItemIn.model_fields[name]
        out.append(CsvColumn(f"{ITEM_PREFIX}{name}", f"items[].{name}", info.is_required(), True,
                             info.description or ""))
    return out


def csv_template(example: DeclarationIn) -> str:
    """A CSV file in the upload format with ``example`` in it, one row per goods item."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    header = example.model_dump(mode="json", exclude={"items"})
    for item in example.model_dump(mode="json")["items"]:
        values = {**header, **{f"{ITEM_PREFIX}{k}": v for k, v in item.items()}}
        w.writerow(["" if values.get(c) is None else values[c] for c in CSV_COLUMNS])
    return out.getvalue()


@dataclass(slots=True)
class ParsedRecord:
    """One parsed declaration of a bulk upload: the declaration, or the field errors that stopped it.

    ``line`` is where the record starts; a CSV record keeps the line of each goods-item row
    (``item_lines``), so that a problem is placed on the row and under the column it is in (:meth:`locate`).
    """
    line: int
    declaration: DeclarationIn | None
    errors: list[FieldError]
    item_lines: list[int] | None = None  # CSV: the file line of each goods item, in item order
    row_problems: list[tuple[int, str, str]] = field(default_factory=list)  # CSV: (line, column, message)

    def locate(self, path: str) -> tuple[int, str]:
        """The file line and the column (CSV) or field path (JSON Lines) of a field path like ``items[1].unit``."""
        if self.item_lines is None:
            return self.line, path
        m = _ITEM_PATH.match(path)
        if m is None:
            return self.line, path  # a header field: its column has the field's name, read from the first row
        i, rest = int(m.group(1)), m.group(2)
        line = self.item_lines[i] if i < len(self.item_lines) else self.line
        return line, f"{ITEM_PREFIX}{rest.split('.')[0]}" if rest else f"row of item {i + 1}"

    def problems(self, errors: Iterable[FieldError] | None = None) -> list[tuple[int, str, str]]:
        """``errors`` (by default the record's own) as (line, column, message), in line order."""
        located = [(*self.locate(e.field), e.message) for e in (self.errors if errors is None else errors)]
        if errors is None:
            located += self.row_problems
        return sorted(located, key=lambda p: p[0])


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

    def by_line(self) -> list[dict]:
        """The kept problems in line order (a record's problems stay in the order they were found)."""
        return sorted(self.kept, key=lambda p: p["line"])


def batches(records: Iterable[ParsedRecord], size: int) -> Iterator[list[ParsedRecord]]:
    """``records`` in lists of at most ``size``, read lazily (a file's records are never all in memory)."""
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def _parse(n: int, obj: dict, codes: CodeLists | None, item_lines: list[int] | None = None,
           row_problems: list[tuple[int, str, str]] | None = None) -> ParsedRecord:
    """The record of ``obj``; a record with row problems (CSV) is not lodged, its other errors still listed."""
    try:
        d: DeclarationIn | None = DeclarationIn.model_validate(obj)
        errors: list[FieldError] = []
    except ValidationError as exc:
        d, errors = None, all_errors(exc, obj, codes)
    return ParsedRecord(n, None if row_problems else d, errors, item_lines, list(row_problems or []))


def parse_jsonl(text: str, codes: CodeLists | None = None) -> Iterator[ParsedRecord]:
    """Parse a JSON Lines bulk upload into declarations, one record a non-blank line.

    With ``codes``, a record that does not parse is also checked against the code lists field by field,
    so all its problems are reported at once.
    """
    for n, raw in enumerate(io.StringIO(text, newline=None), start=1):  # lazily, not a list of every line
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield ParsedRecord(n, None, [FieldError("line", f"malformed JSON: {exc.msg} at column {exc.colno}")])
            continue
        if not isinstance(obj, dict):
            yield ParsedRecord(n, None, [FieldError("line", "a line holds one declaration: a JSON object")])
            continue
        yield _parse(n, obj, codes)


@dataclass(slots=True)
class _Group:
    """The rows of one declaration in a CSV file: its first line and header, its items and their lines."""

    line: int
    header: dict[str, str]
    items: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)


def parse_csv(text: str, codes: CodeLists | None = None) -> Iterator[ParsedRecord]:
    """Parse a CSV bulk upload (one row per goods item, grouped by client_message_id) into declarations.

    Records come in the order of their first line; a row with no message id is a record of its own. Line
    numbers are the file's (a quoted value over several lines counts them all).
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in ("client_message_id", "item_hs_code") if c not in columns]
    if missing:
        yield ParsedRecord(1, None, [FieldError(c, "missing column") for c in missing])
        return
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        yield ParsedRecord(1, None, [FieldError(c, "unknown column: see the column reference") for c in unknown])
        return
    records: list[_Group | ParsedRecord] = []
    groups: dict[str, _Group] = {}
    last = reader.line_num  # the header's last line
    for row in reader:
        n, last = last + 1, reader.line_num  # this row's first line (a value may run over several)
        key = (row.get("client_message_id") or "").strip()
        if not key:
            records.append(ParsedRecord(n, None, [FieldError("client_message_id",
                                                             "missing: each row names its message")]))
            continue
        item = {f: row[f"{ITEM_PREFIX}{f}"] for f in ITEM_FIELDS if row.get(f"{ITEM_PREFIX}{f}") not in (None, "")}
        header = {k: row[k] for k in HEADER_FIELDS if row.get(k) not in (None, "")}
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(n, header)
            records.append(group)
        else:  # a later row repeats the header or leaves it empty; a different value is not silently dropped
            group.problems += [(n, k, f"{v!r} differs from {group.header.get(k, '')!r} on line {group.line}, "
                                      "the declaration's first row") for k, v in header.items()
                               if v.strip() != group.header.get(k, "").strip()]
        group.items.append(item)
        group.lines.append(n)
    for rec in records:
        if isinstance(rec, ParsedRecord):
            yield rec
        else:
            yield _parse(rec.line, {**rec.header, "items": rec.items}, codes, rec.lines, rec.problems)


def parse_file(name: str, text: str, codes: CodeLists | None = None) -> Iterator[ParsedRecord]:
    """Records of a ``.jsonl``/``.json`` or ``.csv`` file (with ``codes``: every problem of a record at once)."""
    if name.lower().endswith(".csv"):
        return parse_csv(text, codes)
    return parse_jsonl(text, codes)


@dataclass(slots=True)
class RecordOutcome:
    """What became of one record of a bulk file: stored (new or a repeat), or rejected with its problems."""

    line: int
    rejected: bool
    created: bool = False
    declaration_no: str | None = None  # stored: a declaration rejected on a rule is stored too, with its reason
    status: str | None = None
    lane: str | None = None
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, column or field, message)


def lodge_chunk(service: DeclarationService, who: Principal, chunk: Sequence[ParsedRecord]) -> list[RecordOutcome]:
    """Lodge a chunk's parsed declarations in one call; every record's outcome, problems placed by line."""
    good = [r for r in chunk if r.declaration is not None and not r.errors and not r.row_problems]
    results = service.lodge_many(who, [cast(DeclarationIn, r.declaration) for r in good]) if good else []
    by_record = {id(r): res for r, res in zip(good, results, strict=True)}
    out = []
    for r in chunk:
        res = by_record.get(id(r))
        if res is None:
            out.append(RecordOutcome(r.line, True, problems=r.problems()))
        elif res.errors:
            out.append(RecordOutcome(r.line, True, problems=r.problems(res.errors)))
        elif res.status == Status.REJECTED:  # stored, and rejected on a rule (e.g. an unregistered importer)
            out.append(RecordOutcome(r.line, True, res.created, res.declaration_no, res.status, res.lane,
                                     [(r.line, "declaration", m) for m in res.reasons]))
        else:
            out.append(RecordOutcome(r.line, False, res.created, res.declaration_no, res.status, res.lane))
    return out
