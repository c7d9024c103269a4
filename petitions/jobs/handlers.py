"""What each kind of outbox work does: the one table from a work kind to the area that handles
it. It sits above every area so that none of them needs to know the others' work."""

from datetime import timedelta

from petitions.accounts import links
from petitions.config import Settings
from petitions.invitations import opt_out, runs
from petitions.outbox import mail, work
from petitions.outbox.work import DEFAULT_LEASE, WorkItem, WorkKind
from petitions.privacy import erasure_links
from petitions.privacy import links as privacy_links
from petitions.roll import uploads
from petitions.signatures import name_check, signing, thresholds, withdrawal
from petitions.transparency import witnessing

# How each kind of link in a mail is made when the mail is sent (see outbox.mail).
LINK_MAKERS = {
    "confirm": signing.make_confirm_link,
    "manage": withdrawal.make_manage_link,
    "name_report": name_check.make_report_link,
    "sign_in": links.make_link,
    "opt_out": opt_out.make_link,
    "data_export": privacy_links.make_link,
    "erasure": erasure_links.make_link,
}


def send_mails(engine, settings: Settings, mail_ids: list[int]) -> dict[int, str]:
    """Send a batch of mails, their links made now."""
    return mail.send_batch(engine, settings, mail_ids, LINK_MAKERS)


HANDLERS = {
    WorkKind.WEBHOOK: thresholds.deliver,
    WorkKind.ROLL_UPLOAD: uploads.run_upload,
    WorkKind.INVITATION_RUN: runs.send_batch,
    WorkKind.SIGN_IN_REQUEST: links.answer_sign_in,
    WorkKind.DATA_EXPORT_REQUEST: privacy_links.answer_request,
    WorkKind.ERASURE_REQUEST: erasure_links.answer_request,
    WorkKind.WITNESS_SUBMISSION: witnessing.submit,
}
# Kinds done many rows to a job: the handler, and the setting that bounds the batch.
BATCH_HANDLERS = {
    WorkKind.SIGN_REQUEST: (signing.answer_requests, "sign_request_batch_size"),
    WorkKind.MAIL: (send_mails, "mail_batch_size"),
}


def perform(engine, settings: Settings, item: WorkItem, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Do one try of ``item``'s work with the handler for its kind (with a batch of other due
    rows of its kind, for the kinds done in batches); see outbox.work.run() and run_batch()."""
    if item.kind in BATCH_HANDLERS:
        batch_handler, size = BATCH_HANDLERS[item.kind]
        return work.run_batch(
            engine,
            item,
            lambda row_ids: batch_handler(engine, settings, row_ids),
            getattr(settings, size),
            lease,
        )
    handler = HANDLERS[item.kind]
    return work.run(engine, item, lambda row_id: handler(engine, settings, row_id), lease)
