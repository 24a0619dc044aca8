"""cbec: documents after release and for bonded goods (issue #16): CEB513 waybill status, CEB623 inventory
cancellation, CEB625 return, CEB711 entry list (``cbec_aftercare``)

Revision ID: 0106_cbec
Revises: 0105_cbec
Create Date: 2026-12-03 16:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0106_cbec'
down_revision = '0105_cbec'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('cbec_aftercare',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('msg_type', sa.String(length=8), nullable=False),
    sa.Column('guid', sa.String(length=64), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('ebp_code', sa.String(length=64), nullable=True),
    sa.Column('order_no', sa.String(length=64), nullable=True),
    sa.Column('ebc_code', sa.String(length=64), nullable=True),
    sa.Column('logistics_code', sa.String(length=64), nullable=True),
    sa.Column('logistics_no', sa.String(length=64), nullable=True),
    sa.Column('logistics_status', sa.String(length=1), nullable=True),
    sa.Column('customs_code', sa.String(length=8), nullable=True),
    sa.Column('cop_no', sa.String(length=64), nullable=True),
    sa.Column('pre_no', sa.String(length=18), nullable=True),
    sa.Column('invt_no', sa.String(length=18), nullable=True),
    sa.Column('rkd_no', sa.String(length=18), nullable=True),
    sa.Column('refund_fen', sa.BigInteger(), nullable=False),
    sa.Column('info', sa.Text(), nullable=False),
    sa.Column('received_ms', sa.BigInteger(), nullable=False),
    sa.Column('decided_ms', sa.BigInteger(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cbec_aftercare'))
    )
    with op.batch_alter_table('cbec_aftercare', schema=None) as batch_op:
        batch_op.create_index('ix_cbec_aftercare_doc', ['msg_type', 'guid'], unique=False)
        batch_op.create_index('ix_cbec_aftercare_order', ['ebp_code', 'order_no'], unique=False)
        batch_op.create_index('ix_cbec_aftercare_waybill', ['logistics_code', 'logistics_no'], unique=False)
        batch_op.create_index('ix_cbec_aftercare_queue', ['msg_type', 'status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cbec_aftercare', schema=None) as batch_op:
        batch_op.drop_index('ix_cbec_aftercare_queue')
        batch_op.drop_index('ix_cbec_aftercare_waybill')
        batch_op.drop_index('ix_cbec_aftercare_order')
        batch_op.drop_index('ix_cbec_aftercare_doc')
    op.drop_table('cbec_aftercare')
