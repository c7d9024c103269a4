"""What each kind of outbox work does: the one table from a work kind to the area that handles
it. It sits above every area so that none of them needs to know the others' work."""

from datetime import timedelta

from petitions.accounts import links
from petitions.config import Settings
from petitions.invitations import runs
from petitions.outbox import mail, webhooks, work
from petitions.outbox.work import DEFAULT_LEASE, WorkItem, WorkKind
from petitions.roll import uploads
from petitions.signatures import signing

HANDLERS = {
    WorkKind.SIGN_REQUEST: signing.answer_request,
    WorkKind.MAIL: mail.send,
    WorkKind.WEBHOOK: webhooks.deliver,
    WorkKind.ROLL_UPLOAD: uploads.run_upload,
    WorkKind.INVITATION_RUN: runs.send_batch,
    WorkKind.SIGN_IN_REQUEST: links.answer_sign_in,
}


def perform(engine, settings: Settings, item: WorkItem, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Do one try of ``item``'s work with the handler for its kind; see outbox.work.run()."""
    handler = HANDLERS[item.kind]
    return work.run(engine, item, lambda row_id: handler(engine, settings, row_id), lease)
