"""cbec: append-only parcel events, message log and rejections; a trace of parcel status changes

* UPDATE and DELETE are refused on ``cbec_parcel_event``, ``cbec_message``, ``cbec_rejection`` and the
  new ``cbec_parcel_status_changes`` (0001's ``smartcustoms_append_only`` function on PostgreSQL).
* A trigger on ``cbec_parcel`` appends to ``cbec_parcel_status_changes`` whenever an UPDATE changes a
  parcel's status (an officer's decision, a parcel decided again, or an UPDATE behind the service's
  back); ``smartcustoms audit verify`` matches each with a parcel event. The pipeline inserts parcels (no
  trigger) and only pays for it when an upsert re-decides an existing parcel.

Revision ID: 0104_cbec
Revises: 0103_cbec
Create Date: 2026-12-03 13:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0104_cbec'
down_revision = '0103_cbec'
branch_labels = None
depends_on = None

APPEND_ONLY = ("cbec_parcel_event", "cbec_message", "cbec_rejection", "cbec_parcel_status_changes")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table('cbec_parcel_status_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ebp_code', sa.String(length=64), nullable=False),
    sa.Column('order_no', sa.String(length=64), nullable=False),
    sa.Column('from_status', sa.SmallInteger(), nullable=True),
    sa.Column('to_status', sa.SmallInteger(), nullable=True),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cbec_parcel_status_changes'))
    )
    with op.batch_alter_table('cbec_parcel_status_changes', schema=None) as batch_op:
        batch_op.create_index('ix_cbec_parcel_status_changes_key', ['ebp_code', 'order_no'], unique=False)

    if _postgres():
        for t in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
        op.execute("""CREATE OR REPLACE FUNCTION smartcustoms_cbec_parcel_status_trace() RETURNS trigger AS $$
            BEGIN
              INSERT INTO cbec_parcel_status_changes (ebp_code, order_no, from_status, to_status, at_ms)
              VALUES (NEW.ebp_code, NEW.order_no, OLD.status, NEW.status,
                      (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
              RETURN NULL;
            END; $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER cbec_parcel_status_trace AFTER UPDATE OF status ON cbec_parcel "
                   "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
                   "EXECUTE FUNCTION smartcustoms_cbec_parcel_status_trace()")
    else:
        for t in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")
        op.execute("CREATE TRIGGER cbec_parcel_status_trace AFTER UPDATE OF status ON cbec_parcel "
                   "WHEN OLD.status IS NOT NEW.status BEGIN "
                   "INSERT INTO cbec_parcel_status_changes (ebp_code, order_no, from_status, to_status, at_ms) "
                   "VALUES (NEW.ebp_code, NEW.order_no, OLD.status, NEW.status, "
                   "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END")


def downgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER IF EXISTS cbec_parcel_status_trace ON cbec_parcel")
        op.execute("DROP FUNCTION IF EXISTS smartcustoms_cbec_parcel_status_trace()")
        for t in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
    else:
        op.execute("DROP TRIGGER IF EXISTS cbec_parcel_status_trace")
        for t in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    with op.batch_alter_table('cbec_parcel_status_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_cbec_parcel_status_changes_key')
    op.drop_table('cbec_parcel_status_changes')
