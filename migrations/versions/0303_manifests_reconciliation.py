"""manifests: discrepancies of reconciliation and their events (append-only); linked legs on filings

``manifest_discrepancy`` holds what reconciliation found (one row per finding key: a run opens each once),
``manifest_discrepancy_event`` its steps (opened by a run, resolved by an officer with the reason); both are
append-only like the other evidence tables. ``manifest_filing.previous_document_no`` names the earlier leg's
transport document when the goods changed mode (sea leg then rail leg).

Revision ID: 0303_manifests
Revises: 0302_manifests
Create Date: 2026-12-04 04:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0303_manifests'
down_revision = '0302_manifests'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
APPEND_ONLY = ("manifest_discrepancy", "manifest_discrepancy_event")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # a nullable column without default: no table rewrite, and the append-only triggers stay as they are
    op.add_column('manifest_filing', sa.Column('previous_document_no', sa.String(length=35), nullable=True))
    op.create_index('ix_manifest_filing_document', 'manifest_filing', ['transport_document_no'], unique=False)
    op.create_index('ix_manifest_filing_previous', 'manifest_filing', ['previous_document_no'], unique=False)
    op.create_table('manifest_discrepancy',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('transport_document_no', sa.String(length=35), nullable=False),
    sa.Column('filer_code', sa.String(length=64), nullable=True),
    sa.Column('declaration_no', sa.String(length=18), nullable=True),
    sa.Column('mode', sa.String(length=8), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest_discrepancy')),
    sa.UniqueConstraint('key', name='uq_manifest_discrepancy_key')
    )
    op.create_index('ix_manifest_discrepancy_document', 'manifest_discrepancy', ['transport_document_no'])
    op.create_index('ix_manifest_discrepancy_declaration', 'manifest_discrepancy', ['declaration_no'])
    op.create_index('ix_manifest_discrepancy_kind', 'manifest_discrepancy', ['kind', 'id'])
    op.create_table('manifest_discrepancy_event',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('discrepancy_id', ID, nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.String(length=32), nullable=True),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['discrepancy_id'], ['manifest_discrepancy.id'],
                            name=op.f('fk_manifest_discrepancy_event_discrepancy_id_manifest_discrepancy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest_discrepancy_event'))
    )
    op.create_index('ix_manifest_discrepancy_event_discrepancy', 'manifest_discrepancy_event',
                    ['discrepancy_id', 'id'])
    # one resolution per discrepancy, even when two officers resolve at once
    op.create_index('ux_manifest_discrepancy_event_resolved', 'manifest_discrepancy_event', ['discrepancy_id'],
                    unique=True, sqlite_where=sa.text("action = 'resolved'"),
                    postgresql_where=sa.text("action = 'resolved'"))
    for t in APPEND_ONLY:
        if _postgres():
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")


def downgrade() -> None:
    for t in reversed(APPEND_ONLY):
        if _postgres():
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    op.drop_index('ux_manifest_discrepancy_event_resolved', table_name='manifest_discrepancy_event')
    op.drop_index('ix_manifest_discrepancy_event_discrepancy', table_name='manifest_discrepancy_event')
    op.drop_table('manifest_discrepancy_event')
    op.drop_index('ix_manifest_discrepancy_kind', table_name='manifest_discrepancy')
    op.drop_index('ix_manifest_discrepancy_declaration', table_name='manifest_discrepancy')
    op.drop_index('ix_manifest_discrepancy_document', table_name='manifest_discrepancy')
    op.drop_table('manifest_discrepancy')
    op.drop_index('ix_manifest_filing_previous', table_name='manifest_filing')
    op.drop_index('ix_manifest_filing_document', table_name='manifest_filing')
    if _postgres():
        op.drop_column('manifest_filing', 'previous_document_no')
    else:  # SQLite drops a column by copying the table: the append-only triggers go with it and come back
        op.execute("DROP TRIGGER IF EXISTS manifest_filing_no_update")
        op.execute("DROP TRIGGER IF EXISTS manifest_filing_no_delete")
        with op.batch_alter_table('manifest_filing', schema=None) as batch_op:
            batch_op.drop_column('previous_document_no')
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER manifest_filing_no_{action.lower()} BEFORE {action} ON manifest_filing "
                       f"BEGIN SELECT RAISE(ABORT, 'manifest_filing is append-only'); END")
