"""core: declarant-importer mandates, the lodged body's hash, amendment idempotency keys

Revision ID: 0002_core
Revises: 0001_core
Create Date: 2026-12-03 13:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_core'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mandates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declarant_code', sa.String(length=18), nullable=False),
    sa.Column('importer_code', sa.String(length=18), nullable=False),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('valid_to', sa.DateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['declarant_code'], ['enterprises.code'],
                            name=op.f('fk_mandates_declarant_code_enterprises')),
    sa.ForeignKeyConstraint(['importer_code'], ['enterprises.code'],
                            name=op.f('fk_mandates_importer_code_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mandates'))
    )
    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.create_index('ix_mandates_declarant_importer', ['declarant_code', 'importer_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandates_importer_code'), ['importer_code'], unique=False)

    op.create_table('declaration_amendments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('client_message_id', sa.String(length=64), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'],
                            name=op.f('fk_declaration_amendments_declaration_id_declarations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_amendments')),
    sa.UniqueConstraint('declaration_id', 'client_message_id', name='uq_declaration_amendments_key')
    )
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('body_hash')
    op.drop_table('declaration_amendments')
    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mandates_importer_code'))
        batch_op.drop_index('ix_mandates_declarant_importer')
    op.drop_table('mandates')
