"""core: declaration versions (for the amendment diff) and tax payments, both append-only

Revision ID: 0008_core
Revises: 0007_core
Create Date: 2026-12-03 22:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_core'
down_revision = '0007_core'
branch_labels = None
depends_on = None

APPEND_ONLY = ("declaration_versions", "tax_payments")


def upgrade() -> None:
    op.create_table('declaration_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'],
                            name=op.f('fk_declaration_versions_declaration_id_declarations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_versions')),
    sa.UniqueConstraint('declaration_id', 'version', name='uq_declaration_versions_version')
    )
    op.create_table('tax_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('amount_cny', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'],
                            name=op.f('fk_tax_payments_declaration_id_declarations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_payments')),
    sa.UniqueConstraint('declaration_id', 'reference', name='uq_tax_payments_reference')
    )
    with op.batch_alter_table('tax_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tax_payments_declaration_id'), ['declaration_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # 0001's smartcustoms_append_only() function
        for t in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
    else:
        for t in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")


def downgrade() -> None:
    for t in APPEND_ONLY:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    with op.batch_alter_table('tax_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tax_payments_declaration_id'))
    op.drop_table('tax_payments')
    op.drop_table('declaration_versions')
