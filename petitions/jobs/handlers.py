"""What each kind of outbox work does: the one table from a work kind to the area that handles
it. It sits above every area so that none of them needs to know the others' work."""

from datetime import timedelta

from petitions.accounts import users
from petitions.config import Settings
from petitions.invitations import runs
from petitions.outbox import mail, webhooks, work
from petitions.outbox.work import DEFAULT_LEASE, WorkItem
from petitions.roll import uploads
from petitions.signatures import signing

HANDLERS = {
    "sign_request": signing.answer_request,
    "mail": mail.send,
    "webhook": webhooks.deliver,
    "roll_upload": uploads.run_upload,
    "invitation_run": runs.send_batch,
    "sign_in_request": users.answer_sign_in,
}


def perform(engine, settings: Settings, item: WorkItem, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Do one try of ``item``'s work with the handler for its kind; see outbox.work.run()."""
    handler = HANDLERS[item.kind]
    return work.run(engine, item, lambda row_id: handler(engine, settings, row_id), lease)
