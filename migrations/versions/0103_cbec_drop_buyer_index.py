"""cbec: drop the index of parcels by buyer id number

Nothing reads parcels by buyer (a buyer's annual total is the quota ledger's row), and a B-tree keyed by
a random id number dirties about one page per parcel in every batch's commit once it has many more leaves
than a batch has parcels: on a 300,000-parcel run it cost a tenth of the pipeline's throughput
(docs/benchmarks.md).

Revision ID: 0103_cbec
Revises: 0102_cbec
Create Date: 2026-11-29 18:40:00
"""
from alembic import op

revision = '0103_cbec'
down_revision = '0102_cbec'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_cbec_parcel_buyer_id_number', table_name='cbec_parcel')


def downgrade() -> None:
    op.create_index('ix_cbec_parcel_buyer_id_number', 'cbec_parcel', ['buyer_id_number'], unique=False)
