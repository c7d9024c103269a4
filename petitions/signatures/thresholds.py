"""The threshold: crossing it moves a petition to triggered and writes its one threshold event
and the webhook deliveries that announce it, inside the transaction of the crossing signature."""

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import Petition, PetitionState, ThresholdEvent, WebhookDelivery
from petitions.lifecycle.rules import iso_utc
from petitions.outbox import webhooks
from petitions.transparency import store, witnessing

# While it waits for cosignatures, a threshold webhook is looked at again this often, and at
# once whenever a witness's cosignature of its petition arrives.
COSIGNATURE_POLL = timedelta(seconds=30)


def webhook_body(
    petition: Petition, event: ThresholdEvent, base_url: str, head: dict | None
) -> dict:
    """The body the README's "The threshold webhook" fixes for ``petition.threshold_reached``."""
    return {
        "type": "petition.threshold_reached",
        "timestamp": iso_utc(event.reached_at),
        "data": {
            "petition": {
                "slug": petition.slug,
                "title": petition.title,
                "url": f"{base_url}/p/{petition.slug}",
            },
            "threshold": event.threshold,
            "count": event.count,
            "eligible_members": event.eligible_members,
            "reached_at": iso_utc(event.reached_at),
            "log": head,
        },
    }


def record_crossing(
    session: Session,
    petition: Petition,
    signature_id: int,
    count: int,
    log_size: int,
    settings: Settings,
    now: datetime,
) -> ThresholdEvent | None:
    """If ``count`` has just reached the threshold of the open ``petition``, trigger it.

    ``log_size`` is the size of the petition's log with the crossing signature's leaf in it.
    The caller holds the petition's row lock (it has just incremented the count), so exactly one
    transaction sees the petition open with the count at the threshold; the unique constraint on
    the event's petition is the last line of defence.
    """
    if (
        petition.state != PetitionState.OPEN
        or petition.threshold is None
        or count < petition.threshold
    ):
        return None
    session.execute(
        update(Petition)
        .where(Petition.id == petition.id, Petition.state == PetitionState.OPEN)
        .values(state=PetitionState.TRIGGERED, reached_at=now)
    )
    event = ThresholdEvent(
        petition_id=petition.id,
        signature_id=signature_id,
        count=count,
        threshold=petition.threshold,
        eligible_members=petition.eligible_members or 0,
        reached_at=now,
    )
    session.add(event)
    session.flush()
    # The log's signed head at the crossing goes to the ballot system: an independent checkpoint
    # of the history that reached the threshold.
    head = store.sign_head(session, petition, log_size, settings, now)
    body = webhook_body(petition, event, settings.base_url, head.as_json())
    session.add(
        WebhookDelivery(
            event_id=event.id,
            webhook_id=f"msg_{uuid.uuid4().hex}",
            url=petition.webhook_url or settings.ballot_webhook_url,
            payload=json.dumps(body, separators=(",", ":"), sort_keys=True),
            created_at=now,
            next_attempt_at=now,
            awaiting_witnesses=petition.witnesses_required > 0,
        )
    )
    return event


def deliver(engine, settings: Settings, delivery_id: int) -> None:
    """One try at a threshold webhook; while its petition's witnesses have not cosigned the
    crossing checkpoint (or a later one) k times, the try waits instead of sending.

    The body is completed, once and under the delivery's row lock, with the cosigned checkpoint
    (``data.checkpoint``) before it is first sent; every try after that sends the same bytes.
    """
    with Session(engine) as session, session.begin():
        delivery = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        ).first()
        if delivery is None or delivery.done_at is not None:
            return
        if delivery.awaiting_witnesses and not _complete(session, delivery, settings):
            return
    webhooks.deliver(engine, settings, delivery_id)


def _complete(session: Session, delivery: WebhookDelivery, settings: Settings) -> bool:
    """Add the cosigned checkpoint to the waiting ``delivery``'s body if there is one (True);
    else put the delivery off (False). The caller holds its row lock."""
    event = session.get(ThresholdEvent, delivery.event_id)
    petition = session.get(Petition, event.petition_id)
    body = json.loads(delivery.payload)
    crossing_size = (body["data"].get("log") or {}).get("size") or 0
    required = petition.witnesses_required
    cosigned = witnessing.cosigned_checkpoint(session, petition, settings, crossing_size, required)
    now = utcnow()
    if cosigned is None:
        delivery.next_attempt_at = now + COSIGNATURE_POLL
        delivery.leased_until = None
        # Waiting is not failing: the tries that count towards the retry delays start when
        # the webhook is first sent.
        delivery.attempts = max(0, delivery.attempts - 1)
        delivery.last_error = (
            f"waiting for {required} witness cosignatures of the crossing checkpoint or a later one"
        )
        return False
    body["data"]["checkpoint"] = cosigned.as_json()
    delivery.payload = json.dumps(body, separators=(",", ":"), sort_keys=True)
    delivery.awaiting_witnesses = False
    delivery.last_error = None
    return True
