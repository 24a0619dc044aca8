"""What the declaration lists share in the web: reading their filters from the URL, the links that keep
them (sort, page, page size, export, language switch), and the streamed CSV and Excel exports.

A wrong filter is named beside its field (in the reader's language) and left out; the others still apply.
Exports hold what the list shows: the same filters and sort, every matching row up to
``declarations.listing.EXPORT_MAX_ROWS``.

* CSV: UTF-8 with a byte-order mark (so Excel reads Chinese text), one header row, streamed a chunk of
  rows at a time. A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with ``'`` so a spreadsheet never runs it as a formula (OWASP "CSV injection").
* Excel: an .xlsx written by XlsxWriter in constant-memory mode to a temporary file, then streamed from it;
  text is written as text (never as a formula), numbers as numbers, times as dates.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import xlsxwriter
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from smartcustoms.declarations import listing
from smartcustoms.declarations.listing import DeclarationPage, DeclarationQuery, ListQueryInvalid

#: the characters that make a spreadsheet read a cell as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: the export's columns: (row key, translation key of its header); customs alone get the score
EXPORT_COLUMNS = (("declaration_no", "decl.no"), ("status", "decl.status"), ("lane", "decl.lane"),
                  ("risk_score", "decl.score"), ("declarant_code", "decl.declarant"),
                  ("importer_code", "decl.importer"), ("seller_name", "decl.seller"), ("office_code", "decl.office"),
                  ("trade_mode", "decl.trade_mode"), ("total_value", "decl.total_value"),
                  ("currency", "decl.currency"), ("tax_total_cny", "tax.total"),
                  ("declared_at", "decl.declared_at"), ("lodged_at", "decl.lodged_at"))


@dataclass
class ListView:
    """A list page's query (as read from the URL), the errors of the parameters it left out, and its links."""

    base: str  # the list's path, e.g. /declarations
    query: DeclarationQuery
    errors: dict[str, list[str]] = field(default_factory=dict)
    default_sort: str = listing.DEFAULT_SORT
    page: DeclarationPage | None = None

    def params(self, **changes: object) -> dict[str, str]:
        """The list's URL parameters (filters, sort, page size, page) with ``changes`` (None drops one)."""
        q = self.query
        out = dict(q.filters)
        if q.sort != self.default_sort:
            out["sort"] = q.sort
        if q.size != listing.DEFAULT_PAGE_SIZE:
            out["size"] = str(q.size)
        if self.page is not None and self.page.page > 1:
            out["page"] = str(self.page.page)
        for k, v in changes.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = str(v)
        return out

    def url(self, path: str | None = None, **changes: object) -> str:
        """A link to the list (or to ``path``, an export) with the current parameters and ``changes``."""
        params = self.params(**changes)
        return (path or self.base) + ("?" + urlencode(params) if params else "")

    def page_url(self, n: int) -> str:
        """The link to page ``n`` of the list as it is filtered and sorted."""
        return self.url(page=n if n > 1 else None)

    def sort_url(self, key: str) -> str:
        """The link that sorts by ``key``: descending first, then ascending; back on page 1."""
        q = self.query
        target = key if q.sort == f"-{key}" else f"-{key}"
        return self.url(sort=None if target == self.default_sort else target, page=None)

    def sorted_by(self, key: str) -> str | None:
        """"ascending", "descending" or None: how the list is sorted by ``key`` (for aria-sort)."""
        if self.query.sort_key != key:
            return None
        return "descending" if self.query.descending else "ascending"

    def export_url(self, fmt: str) -> str:
        """The export of what the list shows (every page) as ``fmt`` (csv or xlsx)."""
        return self.url(f"{self.base}.{fmt}", page=None)

    def hidden(self, *names: str) -> dict[str, str]:
        """The parameters a filter form carries as hidden fields (those among ``names`` in force)."""
        params = self.params(page=None)
        return {k: params[k] for k in names if k in params}


def read_query(params: Mapping[str, str], base: str, message: Callable[[str, str], str],
               defaults: Mapping[str, str] | None = None, customs: bool = True) -> ListView:
    """The list query of a URL's ``params``; a wrong parameter is dropped and named in the view's errors.

    ``message(field, english)`` words an error for the page (its translation); ``defaults`` fill parameters
    the URL leaves out (the hold queue sorts by score); a trader's sort by a customs-only key is an error.
    """
    defaults = dict(defaults or {})
    raw = {**defaults, **{k: v for k, v in params.items() if k in listing.PARAMS}}
    errors: dict[str, list[str]] = {}
    for _ in range(len(listing.PARAMS) + 2):  # each round drops at least one wrong parameter
        try:
            q = DeclarationQuery.parse(raw)
            listing.check_sort(q, customs)
        except ListQueryInvalid as exc:
            bad = {e.field for e in exc.errors}
            for e in exc.errors:
                errors.setdefault(e.field, []).append(message(e.field, e.message))
            if not bad & raw.keys():  # not a parameter's fault: the list unfiltered
                raw = {}
            for k in bad & raw.keys():  # a wrong parameter is left out (a default one is put back)
                if k in defaults and raw[k] != defaults[k]:
                    raw[k] = defaults[k]
                else:
                    del raw[k]
            continue
        return ListView(base, q, errors, default_sort=defaults.get("sort", listing.DEFAULT_SORT))
    return ListView(base, DeclarationQuery(), errors)


# -- exports ------------------------------------------------------------------------------------------
def safe_text(value: str) -> str:
    """A text cell a spreadsheet shows as typed (a leading formula character is quoted)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_columns(customs: bool) -> list[tuple[str, str]]:
    """The export's (row key, header translation key) pairs: the risk score for customs only."""
    return [(k, h) for k, h in EXPORT_COLUMNS if customs or k != "risk_score"]


def cell(key: str, value: Any, word: Callable[[str, str], str]) -> Any:
    """A row value as the export writes it: statuses and lanes in words, times without microseconds."""
    if value is None:
        return None
    if key in ("status", "lane"):
        return word(key, str(value))
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    return value


def csv_chunks(headers: list[str], keys: list[str], chunks: Iterable[list[dict]],
               word: Callable[[str, str], str]) -> Iterator[bytes]:
    """The CSV file of ``chunks`` of rows, as byte chunks: BOM and header row first, formula-safe text."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")

    def flush() -> bytes:
        data = buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()
        return data

    out.writerow([safe_text(h) for h in headers])
    yield b"\xef\xbb\xbf" + flush()
    for rows in chunks:
        for r in rows:
            values = [cell(k, r.get(k), word) for k in keys]
            out.writerow(["" if v is None else safe_text(v) if isinstance(v, str)
                          else v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in values])
        yield flush()


def write_xlsx(path: str, sheet: str, headers: list[str], keys: list[str], chunks: Iterable[list[dict]],
               word: Callable[[str, str], str]) -> None:
    """Write the rows of ``chunks`` to an .xlsx file at ``path`` (constant memory: rows go to disk as written)."""
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_formulas": False,
                                    "strings_to_numbers": False, "strings_to_urls": False,
                                    "tmpdir": os.path.dirname(path)})
    try:
        ws = wb.add_worksheet(sheet[:31])
        bold = wb.add_format({"bold": True})
        when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        money = wb.add_format({"num_format": "#,##0.00"})
        for c, h in enumerate(headers):
            ws.write_string(0, c, h, bold)
            ws.set_column(c, c, max(12, min(len(h) + 4, 30)))
        ws.freeze_panes(1, 0)
        n = 1
        for rows in chunks:
            for r in rows:
                for c, k in enumerate(keys):
                    v = cell(k, r.get(k), word)
                    if v is None:
                        continue
                    if isinstance(v, datetime):
                        ws.write_datetime(n, c, v, when)
                    elif isinstance(v, Decimal):
                        ws.write_number(n, c, float(v), money)
                    elif isinstance(v, int | float) and not isinstance(v, bool):
                        ws.write_number(n, c, v)
                    else:
                        ws.write_string(n, c, str(v))
                n += 1
    finally:
        wb.close()


def disposition(filename: str) -> dict[str, str]:
    """The download headers of a file named ``filename`` (ASCII names only)."""
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}


def csv_response(filename: str, headers: list[str], keys: list[str], chunks: Iterable[list[dict]],
                 word: Callable[[str, str], str], extra: dict[str, str]) -> StreamingResponse:
    """A streamed CSV download of the rows."""
    return StreamingResponse(csv_chunks(headers, keys, chunks, word), media_type="text/csv; charset=utf-8",
                             headers={**disposition(filename), **extra})


async def xlsx_response(filename: str, sheet: str, headers: list[str], keys: list[str],
                        chunks: Iterable[list[dict]], word: Callable[[str, str], str],
                        extra: dict[str, str]) -> StreamingResponse:
    """An .xlsx download of the rows: written to a temporary file off the event loop, streamed, then removed."""
    tmpdir = tempfile.mkdtemp(prefix="sc-export-")
    path = os.path.join(tmpdir, "export.xlsx")

    def cleanup() -> None:
        for name in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)

    try:
        await run_in_threadpool(write_xlsx, path, sheet, headers, keys, chunks, word)
    except BaseException:
        cleanup()
        raise

    def body() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while block := f.read(64 * 1024):
                yield block

    return StreamingResponse(body(), headers={**disposition(filename), **extra,
                                              "Content-Length": str(os.path.getsize(path))},
                             media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             background=BackgroundTask(cleanup))
