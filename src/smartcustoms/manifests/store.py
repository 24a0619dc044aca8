"""The intake's per-message reads and bulk writes, in the caller's transaction: the earlier filings of its
documents and the history aggregates of its keys (plain driver statements, no ORM rows), then its filing rows and
its history deltas.

SQLite takes one prepared ``executemany`` each (Core, no ORM bookkeeping). PostgreSQL takes them by ``COPY``
(psycopg's :meth:`Cursor.copy`, one statement for all the rows): the filings straight into ``manifest_filing``
(they are only inserted), the history deltas into a temporary table merged with one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` — the same arithmetic (Chan et al.) as SQLite's upsert, so both
databases store the same rows. Other dialects or drivers take the Core statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smartcustoms.manifests.models import ManifestFiling, ManifestHistoryStat

FILING_TABLE: Table = ManifestFiling.__table__  # type: ignore[assignment]  # a declarative class's Table
HISTORY_TABLE: Table = ManifestHistoryStat.__table__  # type: ignore[assignment]
#: the filing columns stored as JSON text (the COPY path serialises them as SQLAlchemy's JSON type does)
_JSON_COLUMNS = frozenset(c.name for c in FILING_TABLE.columns if c.type.__class__.__name__ == "JSON")
# the merged statistics of a key: n, mean and M2 of the stored row (t) and the new observations (d)
_MERGE_SQL = (
    "INSERT INTO manifest_history_stat AS t (key, n, mean, m2) SELECT key, n, mean, m2 FROM {delta} ORDER BY key "
    "ON CONFLICT (key) DO UPDATE SET n = t.n + excluded.n, "
    "mean = t.mean + (excluded.mean - t.mean) * excluded.n / (t.n + excluded.n), "
    "m2 = t.m2 + excluded.m2 + (excluded.mean - t.mean) * (excluded.mean - t.mean) * t.n * excluded.n "
    "/ (t.n + excluded.n)")
_DELTA_TABLE = "manifest_history_delta"  # a temporary table of the connection, emptied at each commit


def insert_filings(s: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a message's filing rows (every row with the same keys, column names of ``manifest_filing``)."""
    if not rows:
        return
    copy = _psycopg(s)
    if copy is None:
        s.execute(insert(FILING_TABLE), list(rows))  # Core executemany
        return
    columns = list(rows[0])
    json_at = [i for i, c in enumerate(columns) if c in _JSON_COLUMNS]
    with copy.cursor() as cur, cur.copy(f"COPY manifest_filing ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            values = [row[c] for c in columns]
            for i in json_at:
                values[i] = None if values[i] is None else json.dumps(values[i])
            cp.write_row(values)


def merge_history(s: Session, deltas: Iterable[tuple[str, int, float, float]]) -> None:
    """Add new observations ``(key, n, mean, m2)`` to the stored aggregates: an upsert that merges, so
    concurrent writers lose nothing (the keys in order, so two writers lock them in the same order)."""
    values = sorted(deltas)
    if not values:
        return
    copy = _psycopg(s)
    if copy is None:
        s.execute(_upsert(s.get_bind().dialect.name),
                  [{"key": k, "n": n, "mean": mean, "m2": m2} for k, n, mean, m2 in values])
        return
    with copy.cursor() as cur:
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_DELTA_TABLE} (key varchar(200) NOT NULL, "
                    "n integer NOT NULL, mean double precision NOT NULL, m2 double precision NOT NULL) "
                    "ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY {_DELTA_TABLE} (key, n, mean, m2) FROM STDIN") as cp:
            for row in values:
                cp.write_row(row)
        # merged, then emptied (a second merge in the same transaction starts empty): one round trip
        cur.execute(f"{_MERGE_SQL.format(delta=_DELTA_TABLE)}; DELETE FROM {_DELTA_TABLE}")


def filings_before(s: Session, filer: str, kind: str, docs: Sequence[str]) -> dict[str, int]:
    """How many ``kind`` filings ``filer`` made of each of ``docs`` before (documents never filed are absent)."""
    if not docs:
        return {}
    conn = s.connection()
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # one probe of (filer_code, transport_document_no) per document, whatever the planner knows of the table
        return dict(conn.exec_driver_sql(
            "SELECT f.transport_document_no, count(*) FROM unnest(%(docs)s::text[]) AS d(doc) "
            "JOIN manifest_filing f ON f.filer_code = %(filer)s AND f.transport_document_no = d.doc "
            "AND f.kind = %(kind)s GROUP BY f.transport_document_no",
            {"docs": list(docs), "filer": filer, "kind": kind}).all())
    f = FILING_TABLE.c
    out: dict[str, int] = {}
    for i in range(0, len(docs), _CHUNK):
        out.update(s.execute(select(f.transport_document_no, func.count()).where(
            f.filer_code == filer, f.kind == kind, f.transport_document_no.in_(docs[i:i + _CHUNK]))
            .group_by(f.transport_document_no)).all())
    return out


def read_history(s: Session, keys: Iterable[str]) -> list[tuple[str, int, float, float]]:
    """The stored aggregates ``(key, n, mean, m2)`` of ``keys`` (those that have one), as plain tuples: a
    prepared statement on the driver (no ORM rows, no expanding-IN compilation per message)."""
    ordered = sorted(set(keys))
    if not ordered:
        return []
    conn = s.connection()
    sql = f"SELECT key, n, mean, m2 FROM {HISTORY_TABLE.name} WHERE key "
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # joined to the keys as a table: one primary-key probe (or a hash join) per key, where "key = ANY($1)"
        # under a prepared generic plan compares every row with every key
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT h.key, h.n, h.mean, h.m2 FROM unnest(%(keys)s::text[]) AS k(key) "
            f"JOIN {HISTORY_TABLE.name} h ON h.key = k.key", {"keys": ordered})]
    if conn.dialect.name != "sqlite":
        t = HISTORY_TABLE.c
        return [tuple(r) for i in range(0, len(ordered), _CHUNK) for r in s.execute(
            select(t.key, t.n, t.mean, t.m2).where(t.key.in_(ordered[i:i + _CHUNK])))]
    out: list[tuple[str, int, float, float]] = []
    for i in range(0, len(ordered), _CHUNK):  # (SQLite's bound-parameter limit)
        chunk = tuple(ordered[i:i + _CHUNK])
        out.extend(conn.exec_driver_sql(sql + _placeholders(len(chunk)), chunk))
    return out


_CHUNK = 500


@lru_cache(maxsize=_CHUNK + 1)
def _placeholders(n: int) -> str:
    return f"IN ({', '.join('?' * n)})"


def _psycopg(s: Session) -> Any:
    """The session's psycopg 3 connection (in its transaction) when the database is PostgreSQL through psycopg,
    else None."""
    conn = s.connection()
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    return conn.connection.driver_connection


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> Any:
    """The Core upsert that merges one delta into ``manifest_history_stat`` (built once per dialect)."""
    ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(HISTORY_TABLE)
    t, ex = HISTORY_TABLE.c, ins.excluded
    n = t.n + ex.n
    return ins.on_conflict_do_update(index_elements=["key"], set_={
        "n": n,
        "mean": t.mean + (ex.mean - t.mean) * ex.n / n,
        "m2": t.m2 + ex.m2 + (ex.mean - t.mean) * (ex.mean - t.mean) * t.n * ex.n / n,
    })
