"""signing, mail, webhooks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:42:53.094454
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dev_webhook_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "mail",
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_until", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=True),
        sa.Column("transport", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.create_index("ix_mail_due", ["done_at", "next_attempt_at"], unique=False)

    op.create_table(
        "sign_request",
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_until", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("member_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sign_request", schema=None) as batch_op:
        batch_op.create_index("ix_sign_request_due", ["done_at", "next_attempt_at"], unique=False)

    op.create_table(
        "signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("confirmed_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "member_id", name="uq_signature_petition_member"),
        sa.UniqueConstraint("petition_id", "number", name="uq_signature_petition_number"),
    )
    op.create_table(
        "threshold_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("eligible_members", sa.Integer(), nullable=False),
        sa.Column("reached_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signature.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", name="uq_threshold_event_petition"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_until", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["threshold_event.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", name="uq_webhook_delivery_webhook_id"),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_delivery_due", ["done_at", "next_attempt_at"], unique=False
        )

    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_attempt_delivery", ["delivery_id"], unique=False)

    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_number", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.drop_column("last_number")

    with op.batch_alter_table("webhook_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_attempt_delivery")

    op.drop_table("webhook_attempt")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_delivery_due")

    op.drop_table("webhook_delivery")
    op.drop_table("threshold_event")
    op.drop_table("signature")
    with op.batch_alter_table("sign_request", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_request_due")

    op.drop_table("sign_request")
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_due")

    op.drop_table("mail")
    op.drop_table("dev_webhook_receipt")
