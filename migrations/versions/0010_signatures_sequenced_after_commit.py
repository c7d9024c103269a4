"""signature: numbered by the sequencer after the confirming commit

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 17:45:00.000000
"""

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=True)
    op.create_index(
        "ix_signature_unsequenced",
        "signature",
        ["petition_id"],
        unique=False,
        postgresql_where=sa.text("number IS NULL"),
        sqlite_where=sa.text("number IS NULL"),
    )


def downgrade() -> None:
    # A signature not yet numbered cannot be kept by the older schema: the service sequences
    # every one within seconds, so stop it and let housekeeping run once before downgrading.
    op.drop_index("ix_signature_unsequenced", table_name="signature")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
