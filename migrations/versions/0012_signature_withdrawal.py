"""signature: withdrawn by the member, and signed again

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 22:45:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("withdrawn_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("withdrawal_leaf", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_signature_petition_member", type_="unique")
    op.create_index(
        "uq_signature_petition_member",
        "signature",
        ["petition_id", "member_id"],
        unique=True,
        postgresql_where=sa.text("withdrawn_at IS NULL"),
        sqlite_where=sa.text("withdrawn_at IS NULL"),
    )
    with op.batch_alter_table("sign_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="sign",
                nullable=False,
            )
        )


def downgrade() -> None:
    # The older schema holds one signature per member and petition: downgrading fails (and
    # changes nothing) while a member who withdrew has signed again, since dropping either row
    # would break the public log.
    with op.batch_alter_table("sign_request", schema=None) as batch_op:
        batch_op.drop_column("kind")
    op.drop_index("uq_signature_petition_member", table_name="signature")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_signature_petition_member", ["petition_id", "member_id"]
        )
        batch_op.drop_column("withdrawal_leaf")
        batch_op.drop_column("withdrawn_at")
