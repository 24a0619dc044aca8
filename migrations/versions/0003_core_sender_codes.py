"""core: the codes an enterprise sends CBEC messages under (sender codes)

Revision ID: 0003_core
Revises: 0002_core
Create Date: 2026-12-03 13:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_core'
down_revision = '0002_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sender_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_code', sa.String(length=18), nullable=False),
    sa.Column('code', sa.String(length=18), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_code'], ['enterprises.code'],
                            name=op.f('fk_sender_codes_enterprise_code_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_codes')),
    sa.UniqueConstraint('enterprise_code', 'code', 'kind', name='uq_sender_codes')
    )
    with op.batch_alter_table('sender_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sender_codes_enterprise_code'), ['enterprise_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sender_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sender_codes_enterprise_code'))
    op.drop_table('sender_codes')
