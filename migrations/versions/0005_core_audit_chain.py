"""core: hash-chained audit log, trace of declaration status changes, more append-only tables

* ``audit_log`` gets ``prev_hash`` and ``hash`` (existing entries are chained here, in id order) and
  ``audit_chain_head``, the one row every append locks (see ``smartcustoms.audit.service``).
* ``declaration_status_changes``: a trigger on ``declarations`` appends a row whenever ``status``
  changes, through the service or not; ``smartcustoms audit verify`` matches them with lifecycle events.
* UPDATE and DELETE are refused on ``declaration_status_changes`` and ``inspection_results`` (the
  latter is the risk branch's table, hence ``depends_on``), as 0001 does for the other event tables.

Revision ID: 0005_core
Revises: 0004_core
Create Date: 2026-12-03 13:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_core'
down_revision = '0004_core'
branch_labels = None
depends_on = '0201_risk'

GENESIS = "0" * 64
APPEND_ONLY = ("declaration_status_changes", "inspection_results")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _append_only(tables) -> None:
    """The same triggers as 0001's (its ``smartcustoms_append_only`` function on PostgreSQL)."""
    for t in tables:
        if _postgres():
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION smartcustoms_append_only()")
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")


def _drop_append_only(tables) -> None:
    for t in tables:
        if _postgres():
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")


def _chain_existing_entries() -> tuple[int, str]:
    """Hash the entries written before the chain existed, in id order; the last id and hash."""
    from smartcustoms.audit.service import entry_hash

    log = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", sa.DateTime),
                   sa.column("actor", sa.String), sa.column("role", sa.String), sa.column("action", sa.String),
                   sa.column("object_type", sa.String), sa.column("object_id", sa.String),
                   sa.column("detail", sa.JSON), sa.column("prev_hash", sa.String), sa.column("hash", sa.String))
    bind = op.get_bind()
    last_id, prev = 0, GENESIS
    rows = bind.execute(sa.select(log).order_by(log.c.id)).mappings().all()
    for row in rows:
        digest = entry_hash({**row, "detail": row["detail"] or {}}, prev)
        bind.execute(log.update().where(log.c.id == row["id"]).values(prev_hash=prev, hash=digest))
        last_id, prev = row["id"], digest
    return last_id, prev


def upgrade() -> None:
    op.create_table('declaration_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'],
                            name=op.f('fk_declaration_status_changes_declaration_id_declarations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_status_changes'))
    )
    with op.batch_alter_table('declaration_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_declaration_status_changes_declaration_id'), ['declaration_id'],
                              unique=False)

    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )

    # the audit log: its append-only triggers are lifted while the existing entries are chained
    _drop_append_only(["audit_log"])
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    last_id, last_hash = _chain_existing_entries()
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
    op.execute(sa.text("INSERT INTO audit_chain_head (id, entry_id, hash) VALUES (1, :id, :hash)")
               .bindparams(id=last_id, hash=last_hash))
    _append_only(["audit_log", *APPEND_ONLY])

    if _postgres():
        op.execute("""CREATE OR REPLACE FUNCTION smartcustoms_declaration_status_trace() RETURNS trigger AS $$
            BEGIN
              INSERT INTO declaration_status_changes (declaration_id, from_status, to_status, at)
              VALUES (NEW.id, OLD.status, NEW.status, clock_timestamp() AT TIME ZONE 'UTC');
              RETURN NULL;
            END; $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER declarations_status_trace AFTER UPDATE OF status ON declarations "
                   "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
                   "EXECUTE FUNCTION smartcustoms_declaration_status_trace()")
    else:
        op.execute("CREATE TRIGGER declarations_status_trace AFTER UPDATE OF status ON declarations "
                   "WHEN OLD.status IS NOT NEW.status BEGIN "
                   "INSERT INTO declaration_status_changes (declaration_id, from_status, to_status, at) "
                   "VALUES (NEW.id, OLD.status, NEW.status, strftime('%Y-%m-%d %H:%M:%f', 'now')); END")


def downgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER IF EXISTS declarations_status_trace ON declarations")
        op.execute("DROP FUNCTION IF EXISTS smartcustoms_declaration_status_trace()")
    else:
        op.execute("DROP TRIGGER IF EXISTS declarations_status_trace")
    _drop_append_only(["audit_log", *APPEND_ONLY])
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
    _append_only(["audit_log"])
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('declaration_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_declaration_status_changes_declaration_id'))
    op.drop_table('declaration_status_changes')
