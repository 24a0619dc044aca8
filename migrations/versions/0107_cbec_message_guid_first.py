"""cbec: the message log's unique key leads with the guid: (guid, msg_type) instead of (msg_type, guid)

The duplicate check looks documents up by guid (``guid = ANY(...)``). With msg_type first, PostgreSQL could
not use the unique index for that and scanned the whole ``cbec_message`` table for every batch: CBEC intake on
PostgreSQL fell from ~320,000 to ~10,000-27,000 parcels/min as the log grew. Same uniqueness, other column order.

Revision ID: 0107_cbec
Revises: 0106_cbec
Create Date: 2026-12-04 04:10:00
"""
from alembic import op

revision = '0107_cbec'
down_revision = '0106_cbec'
branch_labels = None
depends_on = None


def _sqlite_append_only(table: str) -> None:
    """0104's append-only triggers (SQLite drops them with the table a batch operation rebuilds)."""
    if op.get_bind().dialect.name == "postgresql":
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def upgrade() -> None:
    with op.batch_alter_table('cbec_message', schema=None) as batch_op:
        batch_op.drop_constraint('uq_cbec_message_msg_type', type_='unique')
        batch_op.create_unique_constraint(op.f('uq_cbec_message_guid'), ['guid', 'msg_type'])
    _sqlite_append_only('cbec_message')


def downgrade() -> None:
    with op.batch_alter_table('cbec_message', schema=None) as batch_op:
        batch_op.drop_constraint('uq_cbec_message_guid', type_='unique')
        batch_op.create_unique_constraint(op.f('uq_cbec_message_msg_type'), ['msg_type', 'guid'])
    _sqlite_append_only('cbec_message')
