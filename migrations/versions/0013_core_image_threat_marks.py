"""core: threat regions officers mark on a scan with their review (append-only)

Revision ID: 0013_core
Revises: 0012_core
Create Date: 2026-12-04 11:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_core'
down_revision = '0012_core'
branch_labels = None
depends_on = None

TABLE = "image_threat_marks"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('top', sa.Integer(), nullable=False),
    sa.Column('left', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_threat_marks_image_id_images')),
    sa.ForeignKeyConstraint(['review_id'], ['image_reviews.id'],
                            name=op.f('fk_image_threat_marks_review_id_image_reviews')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_threat_marks'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_threat_marks_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_threat_marks_review_id'), ['review_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # 0001's smartcustoms_append_only() function
        op.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    op.drop_table(TABLE)
