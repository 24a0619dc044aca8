"""cbec: partial indexes of officers' rows: their parcel events (what the writers read to learn from
results) and the parcels they work on (held 300/500, detained 501-599, returned 700: the officers' page)

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
_HELD = sa.text("status >= 300 AND status < 800")


def upgrade() -> None:
    # only the rare officer rows are indexed: the pipeline's own events cost nothing more to insert
    op.create_index('ix_cbec_parcel_event_officer', 'cbec_parcel_event', ['id'], unique=False,
                    sqlite_where=_WHERE, postgresql_where=_WHERE)
    op.create_index('ix_cbec_parcel_held', 'cbec_parcel', ['status', 'id'], unique=False,
                    sqlite_where=_HELD, postgresql_where=_HELD)


def downgrade() -> None:
    op.drop_index('ix_cbec_parcel_held', table_name='cbec_parcel')
    op.drop_index('ix_cbec_parcel_event_officer', table_name='cbec_parcel_event')
