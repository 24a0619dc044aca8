"""Database engine, sessions, ORM metadata and migrations.

SQLite (WAL mode) is the embedded default; PostgreSQL is used through psycopg 3 when
``SMARTCUSTOMS_DATABASE_URL`` says ``postgresql+psycopg://...``. Schema changes are Alembic
migrations under ``migrations/`` at the repository root; each domain may add its own branch and
``upgrade heads`` applies them all.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every domain's ``models.py``."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _no_autocheckpoint(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


class WalCheckpointer:
    """Copies an SQLite WAL into the database file from a thread of its own, every ``interval`` seconds.

    With SQLite's automatic checkpoint the committing thread runs the checkpoint, fsyncs included, and
    every request queued behind that commit waits (150-200 ms stalls at 200 lodgings/s). A passive
    checkpoint here runs beside the writers instead of in their way.
    """

    def __init__(self, path: str, interval: float = 1.0, lock: threading.Lock | None = None) -> None:
        self.path, self.interval = path, interval
        self.lock = lock or threading.Lock()  # held during each checkpoint (a writer may take it to exclude them)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                try:
                    with self.lock:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    continue  # busy or locked: the next round catches up
        finally:
            conn.close()

    def stop(self) -> None:
        """Signal the checkpoint thread to stop and wait for it."""
        self._stop.set()
        self._thread.join(timeout=10)


_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, background_checkpoint: bool = False, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    With ``background_checkpoint`` (a long-running server on a file database) the engine's connections
    never checkpoint themselves and a :class:`WalCheckpointer` does;
    stop it with :func:`dispose_engine`.
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        path = engine.url.database
        if background_checkpoint and path and path != ":memory:":
            event.listen(engine, "connect", _no_autocheckpoint)
            _CHECKPOINTERS[engine] = WalCheckpointer(path)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def dispose_engine(engine: Engine) -> None:
    """Close the engine's connections and stop its background checkpointer, if it has one."""
    checkpointer = _CHECKPOINTERS.pop(engine, None)
    engine.dispose()
    if checkpointer is not None:
        checkpointer.stop()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session


MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(url: str):
    """An Alembic config pointing at the repository's migrations for ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply every migration (all domain branches) to the database at ``url``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
