"""Delivering the threshold webhook: signed per Standard Webhooks, the same id and body on every
try, every try recorded; a 2xx ends it, a 410 disables it, anything else is retried later."""

import json
import time
from collections.abc import Mapping
from datetime import datetime

import requests
from sqlalchemy import select
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import DevWebhookReceipt, ThresholdEvent, WebhookAttempt, WebhookDelivery

CONNECT_TIMEOUT = 5
RESPONSE_KEPT = 10_000
USER_AGENT = "petitions-webhook/1"


class DeliveryFailed(Exception):
    """The ballot system did not take the webhook this time; it will be tried again."""


class RetryRefused(Exception):
    """A delivery cannot be retried now; the message says why, fit to show as it is."""


def signed_headers(secret: str, webhook_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` sent as ``webhook_id`` at ``now``."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def receive_in_dev(engine, secret: str, headers: Mapping[str, str], body: str, base_url: str):
    """The development receiver: verify and keep what arrived; answer as a ballot system would.

    Returns (status, response body).
    """
    try:
        Webhook(secret).verify(body, dict(headers))
        verified = True
    except WebhookVerificationError:
        verified = False
    with Session(engine) as session, session.begin():
        receipt = DevWebhookReceipt(
            webhook_id=headers.get("webhook-id", ""),
            headers=json.dumps(dict(headers), sort_keys=True),
            body=body,
            verified=verified,
        )
        session.add(receipt)
        session.flush()
        receipt_id = receipt.id
    if not verified:
        return 401, json.dumps({"error": "bad signature"})
    return 200, json.dumps({"ballot_url": f"{base_url}/dev/webhooks#receipt-{receipt_id}"})


def _post(
    url: str, headers: dict[str, str], body: str, timeout: int
) -> tuple[int | None, str, str | None]:
    try:
        response = requests.post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:2000]
    return response.status_code, response.text[:RESPONSE_KEPT], None


def deliver(engine, settings: Settings, delivery_id: int) -> None:
    """Make one try at delivering ``delivery_id``; raise DeliveryFailed to have it retried."""
    with Session(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.done_at is not None:
            return
        url, body, webhook_id, number = (
            delivery.url,
            delivery.payload,
            delivery.webhook_id,
            delivery.attempts,
        )
    started = utcnow()
    headers = signed_headers(settings.ballot_webhook_secret, webhook_id, body, started)
    clock = time.perf_counter()
    if url is None:
        status, answer = receive_in_dev(
            engine, settings.ballot_webhook_secret, headers, body, settings.base_url
        )
        error = None
    else:
        status, answer, error = _post(url, headers, body, settings.webhook_timeout)
    elapsed = round((time.perf_counter() - clock) * 1000)
    if error is None and status is not None and not 200 <= status < 300 and status != 410:
        error = f"HTTP {status}"
    with Session(engine) as session, session.begin():
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                number=number,
                started_at=started,
                duration_ms=elapsed,
                status_code=status,
                error=error,
            )
        )
        delivery = session.get(WebhookDelivery, delivery_id)
        if status is not None and (200 <= status < 300 or status == 410):
            delivery.outcome = "delivered" if status != 410 else "disabled"
            delivery.done_at = utcnow()
            delivery.leased_until = None
            delivery.response_status = status
            delivery.response_body = answer
            delivery.last_error = None
            return
    raise DeliveryFailed(error or "no answer")


def retry_now(
    session: Session, petition_id: int, delivery_id: int, now: datetime | None = None
) -> WebhookDelivery:
    """Make the undelivered ``delivery_id`` of petition ``petition_id`` due now instead of after
    its backoff: the relay offers it within about a second (or the caller dispatches it after
    committing). The same webhook-id and body go again, as on every retry.

    Raises RetryRefused when the delivery is not this petition's, is already delivered or
    disabled, or a try is under way (its lease has not run out): two tries at once would only
    send the same message twice. The caller commits.
    """
    now = now or utcnow()
    delivery = session.scalars(
        select(WebhookDelivery)
        .join(ThresholdEvent, ThresholdEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id, ThresholdEvent.petition_id == petition_id)
        .with_for_update(of=WebhookDelivery)
    ).first()
    if delivery is None:
        raise RetryRefused(f"this petition has no webhook delivery {delivery_id}")
    if delivery.done_at is not None:
        raise RetryRefused(f"webhook {delivery.webhook_id} is {delivery.outcome or 'done'} already")
    if delivery.leased_until is not None and delivery.leased_until > now:
        raise RetryRefused(f"webhook {delivery.webhook_id} is being tried right now")
    delivery.next_attempt_at = now
    delivery.leased_until = None
    session.add(delivery)
    session.flush()
    return delivery


def ballot_url_of(session: Session, petition) -> str | None:
    """The ballot's address, when the ballot system answered the petition's threshold webhook
    with one (``{"ballot_url": ...}``)."""
    delivery = session.scalars(
        select(WebhookDelivery)
        .join(ThresholdEvent, ThresholdEvent.id == WebhookDelivery.event_id)
        .where(ThresholdEvent.petition_id == petition.id, WebhookDelivery.outcome == "delivered")
        .order_by(WebhookDelivery.id)
    ).first()
    if delivery is None or not delivery.response_body:
        return None
    try:
        answer = json.loads(delivery.response_body)
    except ValueError:
        return None
    url = answer.get("ballot_url") if isinstance(answer, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
