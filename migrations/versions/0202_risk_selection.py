"""risk decisions record their selection probability (inverse-propensity training)

Revision ID: 0202_risk
Revises: 0201_risk
Create Date: 2026-12-03 18:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0202_risk'
down_revision = '0201_risk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # decisions made before this revision have no recorded probability (null)
    with op.batch_alter_table('risk_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selection_probability', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risk_decisions', schema=None) as batch_op:
        batch_op.drop_column('selection_probability')
