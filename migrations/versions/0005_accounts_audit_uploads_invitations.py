"""accounts, audit, uploads, invitations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:48:03.450617
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_key", name="uq_mail_opt_out_email_key"),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_key", name="uq_user_account_email_key"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_petition", ["petition_id", "id"], unique=False)

    op.create_table(
        "invitation_run",
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
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invitation_run", schema=None) as batch_op:
        batch_op.create_index("ix_invitation_run_due", ["done_at", "next_attempt_at"], unique=False)

    op.create_table(
        "roll_upload",
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_until", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["roll_import.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("roll_upload", schema=None) as batch_op:
        batch_op.create_index("ix_roll_upload_due", ["done_at", "next_attempt_at"], unique=False)

    op.create_table(
        "sign_in_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce", name="uq_sign_in_link_nonce"),
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_user_session_token_hash"),
    )
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=True),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["mail.id"],
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["invitation_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "member_id", name="uq_invitation_petition_member"),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index("ix_invitation_run", ["run_id"], unique=False)

    with op.batch_alter_table("sign_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("network", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_index(
            "ix_sign_request_petition_created", ["petition_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sign_request", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_request_petition_created")
        batch_op.drop_column("network")

    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_invitation_run")

    op.drop_table("invitation")
    op.drop_table("user_session")
    op.drop_table("sign_in_link")
    with op.batch_alter_table("roll_upload", schema=None) as batch_op:
        batch_op.drop_index("ix_roll_upload_due")

    op.drop_table("roll_upload")
    with op.batch_alter_table("invitation_run", schema=None) as batch_op:
        batch_op.drop_index("ix_invitation_run_due")

    op.drop_table("invitation_run")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_petition")

    op.drop_table("audit_event")
    op.drop_table("user_account")
    op.drop_table("mail_opt_out")
