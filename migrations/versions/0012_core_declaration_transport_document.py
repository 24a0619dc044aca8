"""core: the transport document (bill of lading, air waybill, consignment note) a declaration is lodged against

A goods declaration (报关单) names its transport document (提运单号); manifests reconciliation matches it with
the manifest lines (declarations without a manifest line, unmanifested goods, lines never declared). Optional:
declarations lodged before have none.

Revision ID: 0012_core
Revises: 0011_core
Create Date: 2026-12-04 04:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_core'
down_revision = '0011_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('declarations', sa.Column('transport_document_no', sa.String(length=35), nullable=True))
    op.create_index('ix_declarations_transport_document', 'declarations', ['transport_document_no'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_declarations_transport_document', table_name='declarations')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('transport_document_no')
