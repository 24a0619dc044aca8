"""manifests: the pre-loading decision keeps its selection probability, the model's score and version

``manifest_filing.selection_probability`` is the probability that the pre-loading assessment referred the
consignment (1 for a rule's or the model's referral; the exploration rate for one neither referred, whether or
not the random draw picked it; null for a withdrawal and for filings stored before this revision).
``model_score`` and ``model_version`` are the live model's score and its registry version (null: rules only,
or a model loaded from a file). The model registry (``risk_model_versions``) holds manifest models under
``kind = 'manifest'`` (the column is String(12): no schema change there).

Revision ID: 0304_manifests
Revises: 0303_manifests
Create Date: 2026-12-04 11:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0304_manifests'
down_revision = '0303_manifests'
branch_labels = None
depends_on = '0203_risk'

COLUMNS = ('model_version', 'model_score', 'selection_probability')


def upgrade() -> None:
    # nullable columns without default: no table rewrite, and the append-only triggers stay as they are
    op.add_column('manifest_filing', sa.Column('selection_probability', sa.Float(), nullable=True))
    op.add_column('manifest_filing', sa.Column('model_score', sa.Float(), nullable=True))
    op.add_column('manifest_filing', sa.Column('model_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    # manifest models have no place in the older registry
    op.execute("DELETE FROM risk_model_versions WHERE kind = 'manifest'")
    if op.get_bind().dialect.name == "postgresql":
        for c in COLUMNS:
            op.drop_column('manifest_filing', c)
        return
    # SQLite drops a column by copying the table: the append-only triggers go with it and come back
    op.execute("DROP TRIGGER IF EXISTS manifest_filing_no_update")
    op.execute("DROP TRIGGER IF EXISTS manifest_filing_no_delete")
    with op.batch_alter_table('manifest_filing', schema=None) as batch_op:
        for c in COLUMNS:
            batch_op.drop_column(c)
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER manifest_filing_no_{action.lower()} BEFORE {action} ON manifest_filing "
                   f"BEGIN SELECT RAISE(ABORT, 'manifest_filing is append-only'); END")
