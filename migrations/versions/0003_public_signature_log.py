"""public signature log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:12:50.993507
"""

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_node",
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("petition_id", "level", "index"),
    )
    op.create_table(
        "tree_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("timestamp", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "size", name="uq_tree_head_size"),
    )
    op.create_table(
        "log_leaf",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signature.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "index", name="uq_log_leaf_index"),
    )
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_size", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("log_secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )

    # Each petition's commitment key is its own secret, made here for petitions that exist.
    petition = sa.table("petition", sa.column("id", sa.Integer), sa.column("log_secret", sa.String))
    connection = op.get_bind()
    for (petition_id,) in connection.execute(sa.select(petition.c.id)).all():
        connection.execute(
            petition.update()
            .where(petition.c.id == petition_id)
            .values(log_secret=secrets.token_hex(32))
        )
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.alter_column(
            "log_secret", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.drop_column("log_secret")
        batch_op.drop_column("log_size")

    op.drop_table("log_leaf")
    op.drop_table("tree_head")
    op.drop_table("log_node")
