"""The intake's per-message reads and bulk writes, in the caller's transaction: whether the message was filed
before, the earlier filings of its documents and the history aggregates of its keys (plain driver statements, no
ORM rows), then its message row, its filing rows and its history deltas.

SQLite takes one prepared statement or ``executemany`` each (Core, no ORM bookkeeping). PostgreSQL through
psycopg takes two round trips a message: the three reads in one pipeline (:func:`reads_before`), each key one index
probe (a ``LATERAL`` subquery over ``unnest``, whatever the planner knows of young tables); then one statement of
data-modifying CTEs (:func:`store_message`): the message row, its filings from ``json_populate_recordset`` and the
history deltas merged from ``json_to_recordset`` with ``INSERT ... ON CONFLICT DO UPDATE`` — the same arithmetic
(Chan et al.) as SQLite's upsert, so both databases store the same rows. :func:`merge_history` alone (an
officer's decision) copies the deltas into a temporary table and merges them the same way. Other dialects or
drivers take the Core statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartcustoms.manifests.models import ManifestFiling, ManifestHistoryStat, ManifestMessage

FILING_TABLE: Table = ManifestFiling.__table__  # type: ignore[assignment]  # a declarative class's Table
HISTORY_TABLE: Table = ManifestHistoryStat.__table__  # type: ignore[assignment]
MESSAGE_TABLE: Table = ManifestMessage.__table__  # type: ignore[assignment]
# the merged statistics of a key: n, mean and M2 of the stored row (t) and the new observations (d)
_MERGE_SQL = (
    "INSERT INTO manifest_history_stat AS t (key, n, mean, m2) SELECT key, n, mean, m2 FROM {delta} ORDER BY key "
    "ON CONFLICT (key) DO UPDATE SET n = t.n + excluded.n, "
    "mean = t.mean + (excluded.mean - t.mean) * excluded.n / (t.n + excluded.n), "
    "m2 = t.m2 + excluded.m2 + (excluded.mean - t.mean) * (excluded.mean - t.mean) * t.n * excluded.n "
    "/ (t.n + excluded.n)")
#: a temporary table of the connection, emptied at each commit (created once a transaction: COPY is cheaper in
#: this process's CPU than four parameter arrays to ``unnest``, 0.4 against 0.8 ms for 300 keys)
_DELTA_TABLE = "manifest_history_delta"


def store_message(s: Session, message: dict[str, Any], rows: list[dict[str, Any]],
                  deltas: Iterable[tuple[str, int, float, float]]) -> int:
    """A message's writes, its ``manifest_message`` row (``message``: its column values), its filing ``rows``
    (every row with the same keys; ``message_row_id`` is set here) and its history ``deltas``; returns the
    message row's id.

    PostgreSQL through psycopg: one statement, one round trip — the message inserted in a data-modifying CTE, the
    filings from ``json_populate_recordset`` of the rows as one JSON text, the deltas merged from
    ``json_to_recordset`` (keys in order) — instead of an insert, two COPYs and a merge. Others:
    :func:`insert_filings` and :func:`merge_history` after the message's insert."""
    values = sorted(deltas)
    conn = s.connection()
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg" or not rows:
        msg_id: int = s.execute(insert(MESSAGE_TABLE).values(**message).returning(MESSAGE_TABLE.c.id)).scalar_one()
        for row in rows:
            row["message_row_id"] = msg_id
        insert_filings(s, rows)
        merge_history(s, values)
        return msg_id
    columns = [c for c in rows[0] if c != "message_row_id"]
    mcols = list(message)
    sql = _store_sql(tuple(mcols), tuple(columns), bool(values))
    params: list[Any] = [message[c] for c in mcols]
    params.append(json.dumps([{c: r[c] for c in columns} for r in rows], default=_json_value))
    if values:
        params.append(json.dumps([{"key": k, "n": n, "mean": mean, "m2": m2} for k, n, mean, m2 in values]))
    dconn: Any = conn.connection.driver_connection
    with dconn.cursor() as cur:
        try:
            cur.execute(sql, params)
        except dconn.IntegrityError as exc:  # (the driver's: as SQLAlchemy's, as the other statements raise it)
            raise IntegrityError(sql, params, exc) from exc
        row = cur.fetchone()
    for r in rows:
        r["message_row_id"] = row[0]
    return int(row[0])


@lru_cache(maxsize=1)
def _pipeline_supported() -> bool:
    """Whether psycopg's libpq has pipeline mode (14 or later)."""
    import psycopg

    return bool(psycopg.Pipeline.is_supported())


@lru_cache(maxsize=16)
def _store_sql(message_columns: tuple[str, ...], columns: tuple[str, ...], history: bool) -> str:
    cols = ", ".join(columns)
    sql = (f"WITH m AS (INSERT INTO manifest_message ({', '.join(message_columns)}) VALUES "
           f"({', '.join(['%s'] * len(message_columns))}) RETURNING id), "
           f"f AS (INSERT INTO manifest_filing (message_row_id, {cols}) SELECT m.id, "
           f"{', '.join('r.' + c for c in columns)} FROM m, json_populate_recordset(NULL::manifest_filing, "
           "%s::json) AS r)")
    if history:
        merge = _MERGE_SQL.format(delta="json_to_recordset(%s::json) AS d(key text, n integer, "
                                        "mean double precision, m2 double precision)")
        sql += f", h AS ({merge})"
    return sql + " SELECT id FROM m"


def _json_value(v: Any) -> Any:
    """A filing value JSON does not know: a time as PostgreSQL's text input reads it (COPY sends the same)."""
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def insert_filings(s: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a message's filing rows (every row with the same keys, column names of ``manifest_filing``) by Core
    ``executemany``: the path of SQLite and other drivers (PostgreSQL through psycopg stores them in
    :func:`store_message`'s one statement)."""
    if rows:
        s.execute(insert(FILING_TABLE), list(rows))


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
        tx = s.get_transaction()
        if s.info.get(_DELTA_TABLE) is not tx:  # once a transaction (several messages may share one)
            cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_DELTA_TABLE} (key varchar(200) NOT NULL, "
                        "n integer NOT NULL, mean double precision NOT NULL, m2 double precision NOT NULL) "
                        "ON COMMIT DELETE ROWS")
            s.info[_DELTA_TABLE] = tx
        with cur.copy(f"COPY {_DELTA_TABLE} (key, n, mean, m2) FROM STDIN") as cp:
            for row in values:
                cp.write_row(row)
        # merged, then emptied (a second merge in the same transaction starts empty): one round trip
        cur.execute(f"{_MERGE_SQL.format(delta=_DELTA_TABLE)}; DELETE FROM {_DELTA_TABLE}")


def reads_before(s: Session, filer: str, message_id: str, kind: str, docs: Sequence[str], keys: Iterable[str]
                 ) -> tuple[bool, dict[str, int] | None, list[tuple[str, int, float, float]] | None]:
    """A message's three reads before it writes: whether ``filer`` already filed ``message_id``, then (None after
    a duplicate, as the caller stops there) :func:`filings_before` and :func:`read_history`. PostgreSQL through
    psycopg sends the three in one round trip (pipeline mode); the others run them one after another."""
    conn = s.connection()
    m = MESSAGE_TABLE.c
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg" or not _pipeline_supported():
        if s.execute(select(m.id).where(m.filer_code == filer, m.message_id == message_id)).first() is not None:
            return True, None, None
        return False, filings_before(s, filer, kind, docs), read_history(s, keys)
    dconn: Any = conn.connection.driver_connection
    ordered = sorted(set(keys))
    with dconn.cursor() as dup, dconn.cursor() as before, dconn.cursor() as hist:
        with dconn.pipeline():
            dup.execute("SELECT 1 FROM manifest_message WHERE filer_code = %s AND message_id = %s LIMIT 1",
                        (filer, message_id))
            if docs:
                before.execute(_FILINGS_BEFORE_PG, {"docs": list(dict.fromkeys(docs)), "filer": filer,
                                                    "kind": kind})
            if ordered:
                hist.execute(_HISTORY_PG, {"keys": ordered})
        if dup.fetchone() is not None:
            return True, None, None
        return (False, dict(before.fetchall()) if docs else {},
                [tuple(r) for r in hist.fetchall()] if ordered else [])


def filings_before(s: Session, filer: str, kind: str, docs: Sequence[str]) -> dict[str, int]:
    """How many ``kind`` filings ``filer`` made of each of ``docs`` before (documents never filed are absent)."""
    if not docs:
        return {}
    conn = s.connection()
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # one probe of (filer_code, transport_document_no) per document, whatever the planner knows of the table:
        # a LATERAL count per document (a plain join let a young, never-analysed table's estimate of one row per
        # filer scan all the filer's filings against every document: 11 ms a message at 10,000 filings)
        return dict(conn.exec_driver_sql(_FILINGS_BEFORE_PG, {"docs": list(dict.fromkeys(docs)), "filer": filer,
                                                              "kind": kind}).all())
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
        # one primary-key probe per key, forced by a LATERAL subquery (LIMIT 1 keeps the planner from flattening
        # it): "key = ANY($1)" under a prepared generic plan compared every row with every key, and a plain join
        # to unnest hashed the whole table (its estimate of a young, never-analysed table) for ~300 keys
        return [tuple(r) for r in conn.exec_driver_sql(_HISTORY_PG, {"keys": ordered})]
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
_FILINGS_BEFORE_PG = (
    "SELECT d.doc, c.n FROM unnest(%(docs)s::text[]) AS d(doc) CROSS JOIN LATERAL (SELECT count(*) AS n "
    "FROM manifest_filing f WHERE f.filer_code = %(filer)s AND f.transport_document_no = d.doc "
    "AND f.kind = %(kind)s) AS c WHERE c.n > 0")
_HISTORY_PG = (
    f"SELECT k.key, h.n, h.mean, h.m2 FROM unnest(%(keys)s::text[]) AS k(key) CROSS JOIN LATERAL "
    f"(SELECT n, mean, m2 FROM {HISTORY_TABLE.name} t WHERE t.key = k.key LIMIT 1) AS h")


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
