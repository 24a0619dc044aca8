"""core: indexes for the declaration lists' filters and sorts (lodger, office and status by lodging time,
status and risk score, HS code prefix of goods items)

Revision ID: 0010_core
Revises: 0009_core
Create Date: 2026-12-03 22:45:00
"""
from alembic import op

revision = '0010_core'
down_revision = '0009_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_lodged_by', ['lodged_by'], unique=False)
        batch_op.create_index('ix_declarations_office_lodged', ['office_code', 'lodged_at'], unique=False)
        batch_op.create_index('ix_declarations_status_lodged', ['status', 'lodged_at'], unique=False)
        batch_op.create_index('ix_declarations_status_score', ['status', 'risk_score', 'lane', 'office_code'],
                                 unique=False)
    with op.batch_alter_table('goods_items', schema=None) as batch_op:
        batch_op.create_index('ix_goods_items_hs_declaration', ['hs_code', 'declaration_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('goods_items', schema=None) as batch_op:
        batch_op.drop_index('ix_goods_items_hs_declaration')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_status_score')
        batch_op.drop_index('ix_declarations_status_lodged')
        batch_op.drop_index('ix_declarations_office_lodged')
        batch_op.drop_index('ix_declarations_lodged_by')
