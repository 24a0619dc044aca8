"""Annual CBEC quota ledger: per buyer id number and calendar year, persisted, safe under concurrency.

Amounts are integer fen. Two ways to charge, both correct when several workers or processes charge
the same buyer at once:

* :func:`charge_one` — one atomic conditional ``UPDATE ... WHERE used_fen + :amount <= :limit``; the
  database re-checks the condition after any row-lock wait, so two charges can never together pass
  the limit.
* :func:`charge_batch` — for the pipeline: locks the batch's ledger rows (``SELECT ... FOR UPDATE`` on
  PostgreSQL, the database write lock taken by ``BEGIN IMMEDIATE`` on SQLite), decides in memory in
  arrival order and writes the new totals, all inside the caller's transaction.

A cancelled or returned parcel gives its amount back with :func:`refund`.
"""

from __future__ import annotations

from collections.abc import Sequence

from smartcustoms.cbec.store import Store
from smartcustoms.tax.retail import ANNUAL_LIMIT, to_fen

ANNUAL_LIMIT_FEN = to_fen(ANNUAL_LIMIT)


def _ensure_rows(store: Store, keys: Sequence[tuple[str, int]], now_ms: int) -> None:
    store.executemany(
        "INSERT INTO cbec_quota (buyer_id_number, year, used_fen, updated_ms) VALUES (?, ?, 0, ?) "
        "ON CONFLICT DO NOTHING", [(b, y, now_ms) for b, y in keys])


def charge_one(store: Store, buyer: str, year: int, amount_fen: int, now_ms: int,
               limit_fen: int = ANNUAL_LIMIT_FEN) -> bool:
    """Charge ``amount_fen`` if the buyer's year total stays within the limit; ``True`` if charged."""
    _ensure_rows(store, [(buyer, year)], now_ms)
    cur = store.execute(
        "UPDATE cbec_quota SET used_fen = used_fen + ?, updated_ms = ? "
        "WHERE buyer_id_number = ? AND year = ? AND used_fen + ? <= ?",
        (amount_fen, now_ms, buyer, year, amount_fen, limit_fen))
    return cur.rowcount == 1


def lock_rows(store: Store, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Current totals of ``keys``, locked until the end of the transaction."""
    out: dict[tuple[str, int], int] = {}
    if not keys:
        return out
    if store.dialect == "postgresql":
        rows = store.execute(
            "SELECT q.buyer_id_number, q.year, q.used_fen FROM cbec_quota q "
            "JOIN unnest(?::text[], ?::int[]) AS k(b, y) ON q.buyer_id_number = k.b AND q.year = k.y "
            "ORDER BY q.buyer_id_number, q.year FOR UPDATE OF q",
            ([b for b, _ in keys], [y for _, y in keys])).fetchall()
    else:  # SQLite: the caller holds the database write lock (BEGIN IMMEDIATE)
        buyers = sorted({b for b, _ in keys})
        rows = []
        for i in range(0, len(buyers), 900):
            chunk = buyers[i:i + 900]
            rows += store.execute(
                f"SELECT buyer_id_number, year, used_fen FROM cbec_quota WHERE buyer_id_number IN "
                f"({','.join('?' * len(chunk))})", chunk).fetchall()
    wanted = set(keys)
    for b, y, used in rows:
        if (b, y) in wanted:
            out[(b, y)] = used
    return out


def charge_batch(store: Store, requests: Sequence[tuple[str, int, int]], now_ms: int,
                 limit_fen: int = ANNUAL_LIMIT_FEN) -> list[bool]:
    """Charge ``(buyer, year, amount_fen)`` requests in order; a request that would pass the limit fails."""
    if not requests:
        return []
    keys = sorted({(b, y) for b, y, _ in requests})
    if store.dialect == "sqlite":
        # the caller holds the database write lock (BEGIN IMMEDIATE): no other writer can add a row meanwhile,
        # so the missing rows are inserted once with their new totals instead of inserted empty, then updated
        used = lock_rows(store, keys)
        missing = [k for k in keys if k not in used]
    else:
        _ensure_rows(store, keys, now_ms)
        used = lock_rows(store, keys)
        missing = []
    before = dict(used)
    results = []
    for b, y, amount in requests:
        total = used.get((b, y), 0) + amount
        ok = total <= limit_fen
        if ok:
            used[(b, y)] = total
        results.append(ok)
    if missing:
        store.executemany("INSERT INTO cbec_quota (buyer_id_number, year, used_fen, updated_ms) VALUES (?, ?, ?, ?)",
                          [(b, y, used.get((b, y), 0), now_ms) for b, y in missing])
    changed = [(v, now_ms, b, y) for (b, y), v in used.items() if (b, y) in before and before[(b, y)] != v]
    store.executemany("UPDATE cbec_quota SET used_fen = ?, updated_ms = ? WHERE buyer_id_number = ? AND year = ?",
                      changed)
    return results


def refund(store: Store, buyer: str, year: int, amount_fen: int, now_ms: int) -> None:
    """Give ``amount_fen`` back to the buyer's year total (cancellation, return)."""
    store.execute("UPDATE cbec_quota SET used_fen = used_fen - ?, updated_ms = ? "
                  "WHERE buyer_id_number = ? AND year = ?", (amount_fen, now_ms, buyer, year))


def used_fen(store: Store, buyer: str, year: int) -> int:
    """Fen of the annual CBEC quota a buyer has used in ``year`` (0 when none)."""
    row = store.execute("SELECT used_fen FROM cbec_quota WHERE buyer_id_number = ? AND year = ?",
                        (buyer, year)).fetchone()
    return int(row[0]) if row else 0
