"""manifests: referral events (officers' decisions, filers' answers to requests for information), append-only

Revision ID: 0302_manifests
Revises: 0301_manifests
Create Date: 2026-12-03 23:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0302_manifests'
down_revision = '0301_manifests'
branch_labels = None
depends_on = None

TABLE = "manifest_referral_event"
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('filing_id', ID, nullable=False),
    sa.Column('filer_code', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('text', sa.String(length=4000), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['filing_id'], ['manifest_filing.id'],
                            name=op.f('fk_manifest_referral_event_filing_id_manifest_filing')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest_referral_event'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index('ix_manifest_referral_event_filing', ['filing_id', 'id'], unique=False)
        # one closing decision per referral, even when two officers decide at once
        batch_op.create_index('ux_manifest_referral_event_closed', ['filing_id'], unique=True,
                              sqlite_where=sa.text('closed'), postgresql_where=sa.text('closed'))
    if _postgres():
        op.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")


def downgrade() -> None:
    if _postgres():
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index('ux_manifest_referral_event_closed')
        batch_op.drop_index('ix_manifest_referral_event_filing')
    op.drop_table(TABLE)
