"""The server's SQLite engine checkpoints its WAL from a background thread, not in the committing thread."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from smartcustoms.core.db import dispose_engine, make_engine


def test_background_checkpoint_empties_the_wal(tmp_path: Path) -> None:
    db = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{db}", background_checkpoint=True)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500} for _ in range(20_000)])
        wal = Path(f"{db}-wal")
        assert wal.stat().st_size > 1_000_000  # the committing connection did not checkpoint
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the background thread copies the frames into the database file
            if db.stat().st_size > 5_000_000:
                break
            time.sleep(0.2)
        assert db.stat().st_size > 5_000_000
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 20_000
    finally:
        dispose_engine(engine)


def test_plain_engine_keeps_automatic_checkpoints(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    finally:
        dispose_engine(engine)
