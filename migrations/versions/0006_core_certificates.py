"""core: the certificates enterprises sign CEB messages with (signing_certificates)

Revision ID: 0006_core
Revises: 0005_core
Create Date: 2026-12-03 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_core'
down_revision = '0005_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_code', sa.String(length=18), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('serial', sa.String(length=100), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=False),
    sa.Column('der_base64', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_code'], ['enterprises.code'],
                            name=op.f('fk_signing_certificates_enterprise_code_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_certificates')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_signing_certificates_fingerprint'))
    )
    with op.batch_alter_table('signing_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_certificates_enterprise_code'), ['enterprise_code'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signing_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_certificates_enterprise_code'))
    op.drop_table('signing_certificates')
