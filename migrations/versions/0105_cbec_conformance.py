"""cbec: CEB conformance (issue #16): documents identified by (message type, guid); drafts; preNo/invtNo

* ``cbec_message``: unique (msg_type, guid) instead of guid alone (the official samples reuse one guid across
  message types); ``pre_no`` (an inventory's e-port number, kept with the logged document).
* ``cbec_parcel``: ``pre_no`` (e-port number) and ``invt_no`` (customs inventory number).
* ``cbec_draft``: documents stored as drafts (appStatus 1, 暂存).
* ``cbec_counter``: per-shard sequences of the numbers the engine assigns.
* ``cbec_parcel_subscriber``: enterprises named in a document's ``BaseSubscribe`` (they read its receipts).

Revision ID: 0105_cbec
Revises: 0104_cbec
Create Date: 2026-12-03 15:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0105_cbec'
down_revision = '0104_cbec'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _sqlite_append_only(table: str) -> None:
    """0104's append-only triggers (SQLite drops them with the table a batch operation rebuilds)."""
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def upgrade() -> None:
    with op.batch_alter_table('cbec_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pre_no', sa.String(length=18), nullable=True))
        batch_op.drop_constraint('uq_cbec_message_guid', type_='unique')
        batch_op.create_unique_constraint(op.f('uq_cbec_message_msg_type'), ['msg_type', 'guid'])
    if not _postgres():
        _sqlite_append_only('cbec_message')
    with op.batch_alter_table('cbec_parcel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pre_no', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('invt_no', sa.String(length=18), nullable=True))

    op.create_table('cbec_draft',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('msg_type', sa.String(length=8), nullable=False),
    sa.Column('guid', sa.String(length=64), nullable=False),
    sa.Column('key1', sa.String(length=64), nullable=False),
    sa.Column('key2', sa.String(length=64), nullable=False),
    sa.Column('order_no', sa.String(length=64), nullable=True),
    sa.Column('pre_no', sa.String(length=18), nullable=True),
    sa.Column('received_ms', sa.BigInteger(), nullable=False),
    sa.Column('declared_ms', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cbec_draft'))
    )
    with op.batch_alter_table('cbec_draft', schema=None) as batch_op:
        batch_op.create_index('ix_cbec_draft_doc', ['msg_type', 'guid'], unique=False)

    op.create_table('cbec_counter',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cbec_counter'))
    )
    op.create_table('cbec_parcel_subscriber',
    sa.Column('ebp_code', sa.String(length=64), nullable=False),
    sa.Column('order_no', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('ebp_code', 'order_no', 'code', name=op.f('pk_cbec_parcel_subscriber'))
    )


def downgrade() -> None:
    op.drop_table('cbec_parcel_subscriber')
    op.drop_table('cbec_counter')
    with op.batch_alter_table('cbec_draft', schema=None) as batch_op:
        batch_op.drop_index('ix_cbec_draft_doc')
    op.drop_table('cbec_draft')
    with op.batch_alter_table('cbec_parcel', schema=None) as batch_op:
        batch_op.drop_column('invt_no')
        batch_op.drop_column('pre_no')
    with op.batch_alter_table('cbec_message', schema=None) as batch_op:
        batch_op.drop_constraint('uq_cbec_message_msg_type', type_='unique')
        batch_op.create_unique_constraint('uq_cbec_message_guid', ['guid'])
        batch_op.drop_column('pre_no')
    if not _postgres():
        _sqlite_append_only('cbec_message')
