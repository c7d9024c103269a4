"""The threshold: crossing it moves a petition to triggered and writes its one threshold event
and the webhook deliveries that announce it, inside the transaction of the crossing signature."""

import json
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.models import Petition, PetitionState, ThresholdEvent, WebhookDelivery
from petitions.lifecycle.rules import iso_utc
from petitions.transparency import store


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
        )
    )
    return event
