"""core: the inbox (notices to an enterprise's users or to one user) and each user's read state

Revision ID: 0009_core
Revises: 0008_core
Create Date: 2026-12-03 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_core'
down_revision = '0008_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_code', sa.String(length=18), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('declaration_no', sa.String(length=18), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('(enterprise_code IS NULL) <> (user_id IS NULL)', name=op.f('ck_notices_one_recipient')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index('ix_notices_enterprise_code_id', ['enterprise_code', 'id'], unique=False)
        batch_op.create_index('ix_notices_user_id_id', ['user_id', 'id'], unique=False)
    op.create_table('notice_reads',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_reads_notice_id_notices')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notice_reads_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'notice_id', name=op.f('pk_notice_reads'))
    )
    op.create_table('notice_marks',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('read_upto', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notice_marks_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notice_marks'))
    )


def downgrade() -> None:
    op.drop_table('notice_marks')
    op.drop_table('notice_reads')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_user_id_id')
        batch_op.drop_index('ix_notices_enterprise_code_id')
    op.drop_table('notices')
