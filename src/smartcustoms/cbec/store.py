"""Thin raw-DBAPI access for the CBEC hot path (no ORM): SQLite (sqlite3) or PostgreSQL (psycopg 3).

SQL is written once with ``?`` placeholders and rewritten to ``%s`` for psycopg. Transactions are
explicit: :meth:`Store.begin` takes the SQLite write lock up front (``BEGIN IMMEDIATE``) so that
read-decide-write sequences (the quota ledger) are serialised between processes.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import make_url

from smartcustoms.core.db import WalCheckpointer


class Store:
    """One database connection of the CBEC pipeline or service."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path: str | None = None
        self._lock_fd: int | None = None
        self.lock_wait_s = 0.0  # time spent queued for the writer lock (several writer processes)
        u = make_url(url)
        if u.get_backend_name() == "sqlite":
            self.dialect = "sqlite"
            path = self.path = u.database or ":memory:"
            self.conn: Any = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=60000",
                           "cache_size=-131072", "temp_store=MEMORY", "wal_autocheckpoint=0"):
                self.conn.execute(f"PRAGMA {pragma}")
            self._commits = 0
            self._ckpt_lock = threading.Lock()
            self._wal = f"{path}-wal"
            # the WAL is copied into the database file off the writer's thread (the writer never waits on fsync)
            self._checkpointer = WalCheckpointer(path, 0.5, self._ckpt_lock) if path != ":memory:" else None
        elif u.get_backend_name() == "postgresql":
            import psycopg

            self.dialect = "postgresql"
            conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(conninfo, autocommit=True)
        else:
            raise ValueError(f"unsupported database for CBEC: {url}")
        self._sql: dict[str, str] = {}
        self.in_tx = False

    def sql(self, text: str) -> str:
        """The statement in the store's paramstyle (``?`` placeholders become ``%s`` on PostgreSQL)."""
        if self.dialect == "sqlite":
            return text
        s = self._sql.get(text)
        if s is None:
            s = self._sql[text] = text.replace("%", "%%").replace("?", "%s")
        return s

    def serialize_writers(self) -> None:
        """Several writer processes share this SQLite file: queue them on a file lock in :meth:`begin`.

        SQLite's own busy handler polls with sleeps of 1-100 ms; a blocking ``flock`` hands the write
        lock over as soon as it is released.
        """
        if self.dialect == "sqlite" and self.path not in (None, ":memory:") and self._lock_fd is None:
            self._lock_fd = os.open(f"{self.path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o644)

    def begin(self) -> None:
        """Open a write transaction, taking the shared file lock first when there is one."""
        if self._lock_fd is not None:
            t0 = time.perf_counter()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self.lock_wait_s += time.perf_counter() - t0
        try:
            self.conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        except BaseException:
            self._unlock()
            raise
        self.in_tx = True

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    WAL_RESTART_BYTES = 128 << 20

    def commit(self) -> None:
        """Commit the open transaction, release the lock and now and then restart an oversized SQLite WAL."""
        self.conn.execute("COMMIT")
        self.in_tx = False
        self._unlock()
        if self.dialect == "sqlite" and self._checkpointer is not None:
            self._commits += 1
            if self._commits % 16 == 0 and os.path.getsize(self._wal) > self.WAL_RESTART_BYTES:
                # the background checkpoint has copied most frames; make the WAL start over from the top
                with self._ckpt_lock:
                    self.conn.execute("PRAGMA wal_checkpoint(RESTART)")

    def rollback(self) -> None:
        """Roll back the open transaction, if any, and release the lock."""
        if self.in_tx:
            self.conn.execute("ROLLBACK")
            self.in_tx = False
            self._unlock()

    def execute(self, text: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement (``?`` placeholders) and return the cursor."""
        return self.conn.execute(self.sql(text), params or ())

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once for each row of ``rows`` (nothing when there are none)."""
        rows = list(rows)
        if not rows:
            return
        if self.dialect == "sqlite":
            self.conn.executemany(text, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self.sql(text), rows)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert: COPY on PostgreSQL, executemany on SQLite."""
        if not rows:
            return
        if self.dialect == "postgresql":
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        else:
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)

    def close(self) -> None:
        """Roll back, stop the WAL checkpointer and close the connection."""
        self.rollback()
        if self.dialect == "sqlite" and self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
