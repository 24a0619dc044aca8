"""core: scan images, their assessments (routing), TIP projections and officers' reviews, all append-only

Revision ID: 0011_core
Revises: 0010_core
Create Date: 2026-12-04 04:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_core'
down_revision = '0010_core'
branch_labels = None
depends_on = None

APPEND_ONLY = ("images", "image_assessments", "image_tip_projections", "image_reviews")


def upgrade() -> None:
    op.create_table('images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('office', sa.String(length=4), nullable=True),
    sa.Column('importer', sa.String(length=18), nullable=True),
    sa.Column('hs_codes', sa.String(length=400), nullable=False),
    sa.Column('modality', sa.String(length=2), nullable=False),
    sa.Column('source_format', sa.String(length=5), nullable=False),
    sa.Column('dual_energy', sa.Boolean(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('pixel_mm', sa.Float(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('low_sha256', sa.String(length=64), nullable=True),
    sa.Column('dicos_sha256', sa.String(length=64), nullable=False),
    sa.Column('sop_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('sop_class_uid', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.String(length=100), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_images'))
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_images_importer'), ['importer'], unique=False)
        batch_op.create_index(batch_op.f('ix_images_office'), ['office'], unique=False)
        batch_op.create_index(batch_op.f('ix_images_uploaded_at'), ['uploaded_at'], unique=False)
        batch_op.create_index('ix_images_subject', ['subject_kind', 'subject_id'], unique=False)
    op.create_table('image_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('assessed_at', sa.DateTime(), nullable=False),
    sa.Column('anomaly_score', sa.Float(), nullable=False),
    sa.Column('consistent', sa.Boolean(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('region_top', sa.Integer(), nullable=True),
    sa.Column('region_left', sa.Integer(), nullable=True),
    sa.Column('region_height', sa.Integer(), nullable=True),
    sa.Column('region_width', sa.Integer(), nullable=True),
    sa.Column('heatmap_sha256', sa.String(length=64), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('routed', sa.String(length=12), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_assessments_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_assessments')),
    sa.UniqueConstraint('image_id', name=op.f('uq_image_assessments_image_id'))
    )
    with op.batch_alter_table('image_assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_assessments_routed'), ['routed'], unique=False)
    op.create_table('image_tip_projections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('threat', sa.String(length=32), nullable=False),
    sa.Column('top', sa.Integer(), nullable=False),
    sa.Column('left', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_tip_projections_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_tip_projections')),
    sa.UniqueConstraint('image_id', name=op.f('uq_image_tip_projections_image_id'))
    )
    op.create_table('image_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('officer', sa.String(length=100), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('verdict', sa.String(length=6), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('offence_type', sa.String(length=40), nullable=True),
    sa.Column('tip', sa.Boolean(), nullable=False),
    sa.Column('tip_hit', sa.Boolean(), nullable=True),
    sa.Column('inspection_result', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_reviews_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_reviews'))
    )
    with op.batch_alter_table('image_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_reviews_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_reviews_officer'), ['officer'], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # 0001's smartcustoms_append_only() function
        for t in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
    else:
        for t in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")


def downgrade() -> None:
    for t in APPEND_ONLY:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    op.drop_table('image_reviews')
    op.drop_table('image_tip_projections')
    op.drop_table('image_assessments')
    op.drop_table('images')
