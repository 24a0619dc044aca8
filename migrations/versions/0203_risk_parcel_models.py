"""the model registry holds parcel models too: risk_model_versions.kind ('declaration' or 'parcel');
status widened to 12 characters ('rolled_back')

Revision ID: 0203_risk
Revises: 0202_risk
Create Date: 2026-12-03 18:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0203_risk'
down_revision = '0202_risk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every version stored before this revision is a declaration model
    with op.batch_alter_table('risk_model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), server_default='declaration', nullable=False))
        batch_op.create_index(batch_op.f('ix_risk_model_versions_kind'), ['kind'], unique=False)
        # 'rolled_back' has 11 letters: PostgreSQL refused a roll-back under String(10) (SQLite does not check)
        batch_op.alter_column('status', existing_type=sa.String(length=10), type_=sa.String(length=12),
                              existing_nullable=False)


def downgrade() -> None:
    # parcel models have no place in the older registry
    op.execute("DELETE FROM risk_model_versions WHERE kind = 'parcel'")
    # the old width cannot hold 'rolled_back': such versions become 'retired' (not live, never promoted again)
    op.execute("UPDATE risk_model_versions SET status = 'retired' WHERE status = 'rolled_back'")
    with op.batch_alter_table('risk_model_versions', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=12), type_=sa.String(length=10),
                              existing_nullable=False)
        batch_op.drop_index(batch_op.f('ix_risk_model_versions_kind'))
        batch_op.drop_column('kind')
