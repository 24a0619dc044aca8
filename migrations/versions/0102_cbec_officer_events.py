"""cbec: partial index of officers' parcel events (what the writers read to learn from results)

Revision ID: 0102_cbec
Revises: 0101_cbec
Create Date: 2026-11-29 11:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0102_cbec'
down_revision = '0101_cbec'
branch_labels = None
depends_on = None

_WHERE = sa.text("actor <> 'system'")


def upgrade() -> None:
    # only the rare officer rows are indexed: the pipeline's own events cost nothing more to insert
    op.create_index('ix_cbec_parcel_event_officer', 'cbec_parcel_event', ['id'], unique=False,
                    sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index('ix_cbec_parcel_event_officer', table_name='cbec_parcel_event')
