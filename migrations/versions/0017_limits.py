"""sign_request: an index of the requests answered for each mailbox, for its mail limit

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 04:00:00.000000
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The worker answering a batch of requests to sign reads, per mailbox, the links mailed
    # lately (petitions.signatures.mail_limits): by matching key, then by answer time.
    op.create_index(
        "ix_sign_request_key_done", "sign_request", ["email_key", "done_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sign_request_key_done", table_name="sign_request")
