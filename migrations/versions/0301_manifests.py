"""manifests: accepted messages, filings with their pre-loading assessment (both append-only), history aggregates

Revision ID: 0301_manifests
Revises: 0001_core
Create Date: 2026-12-03 22:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0301_manifests'
down_revision = '0001_core'
branch_labels = ('manifests',)
depends_on = None

APPEND_ONLY = ("manifest_message", "manifest_filing")
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table('manifest_message',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('filer_code', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('function_code', sa.String(length=2), nullable=False),
    sa.Column('sender_id', sa.String(length=50), nullable=False),
    sa.Column('journey_id', sa.String(length=17), nullable=True),
    sa.Column('conveyance_id', sa.String(length=35), nullable=True),
    sa.Column('consignments', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest_message')),
    sa.UniqueConstraint('filer_code', 'message_id', name='uq_manifest_message_filer_id')
    )
    op.create_table('manifest_filing',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('message_row_id', ID, nullable=False),
    sa.Column('filer_code', sa.String(length=64), nullable=False),
    sa.Column('transport_document_no', sa.String(length=35), nullable=False),
    sa.Column('master_document_no', sa.String(length=35), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('journey_id', sa.String(length=17), nullable=True),
    sa.Column('conveyance_id', sa.String(length=35), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('amended', sa.Boolean(), nullable=False),
    sa.Column('withdrawn', sa.Boolean(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['message_row_id'], ['manifest_message.id'],
                            name=op.f('fk_manifest_filing_message_row_id_manifest_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest_filing'))
    )
    with op.batch_alter_table('manifest_filing', schema=None) as batch_op:
        batch_op.create_index('ix_manifest_filing_doc', ['filer_code', 'transport_document_no'], unique=False)
        batch_op.create_index('ix_manifest_filing_master', ['master_document_no'], unique=False)
        batch_op.create_index('ix_manifest_filing_outcome', ['outcome', 'id'], unique=False)
    op.create_table('manifest_history_stat',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('mean', sa.Float(), nullable=False),
    sa.Column('m2', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_manifest_history_stat'))
    )
    # customs decisions and what they were made on are never changed (0001's function on PostgreSQL)
    for t in APPEND_ONLY:
        if _postgres():
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")


def downgrade() -> None:
    for t in APPEND_ONLY:
        if _postgres():
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    op.drop_table('manifest_history_stat')
    with op.batch_alter_table('manifest_filing', schema=None) as batch_op:
        batch_op.drop_index('ix_manifest_filing_outcome')
        batch_op.drop_index('ix_manifest_filing_master')
        batch_op.drop_index('ix_manifest_filing_doc')
    op.drop_table('manifest_filing')
    op.drop_table('manifest_message')
