"""Delivering the threshold webhook: signed per Standard Webhooks, the same id and body on every
try, every try recorded; a 2xx ends it, a 410 disables it, anything else is retried later.

A petition's own webhook URL goes only where petitions.webhook_targets allows, checked on every
try; a redirect is never followed; at most RESPONSE_KEPT bytes of an answer are read and kept.
"""

import json
import time
from collections.abc import Mapping
from datetime import datetime

import requests
import urllib3
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from petitions import webhook_targets
from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import DevWebhookReceipt, ThresholdEvent, WebhookAttempt, WebhookDelivery

CONNECT_TIMEOUT = 5
# The most of a ballot system's answer that is kept (and read): enough for {"ballot_url": ...}
# and an error message, not a page of HTML.
RESPONSE_KEPT = 2048
ERROR_KEPT = 2000
LOCATION_KEPT = 500
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


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address that was checked (``target.address``) whatever the URL's name
    resolves to by now, while the request still names the host (``Host``) and TLS still
    offers and verifies that name (SNI, the certificate). Never through a proxy: a proxy
    would resolve the name itself."""

    def __init__(self, target: webhook_targets.Target):
        self._target = target
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        """The pool for the checked address, with the URL's name for TLS."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host_params["host"] = str(self._target.address)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._target.host
            pool_kwargs["assert_hostname"] = self._target.host
        return host_params, pool_kwargs

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        """A direct connection, never one through a proxy."""
        return super().get_connection_with_tls_context(request, verify, None, cert)

    def request_url(self, request, proxies):
        """The path, as a direct connection sends it."""
        return request.path_url


def kept_answer(raw: bytes) -> str:
    """What is kept of a ballot system's answer: its first RESPONSE_KEPT bytes as text, with a
    note when there was more."""
    text = raw[:RESPONSE_KEPT].decode("utf-8", errors="replace")
    if len(raw) > RESPONSE_KEPT:
        text += f"\n[cut: only the first {RESPONSE_KEPT:,} bytes of the answer are kept]"
    return text


def _post(
    url: str,
    headers: dict[str, str],
    body: str,
    timeout: int,
    target: webhook_targets.Target | None,
) -> tuple[int | None, str, str | None]:
    """POST ``body`` to ``url`` (at ``target``'s address when it was checked); return the
    status, what is kept of the answer, and an error in words."""
    with requests.Session() as session:
        if target is not None:
            adapter = _PinnedAdapter(target)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            headers = {**headers, "host": target.host_header}
        try:
            with session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                # Read no more than is kept (and one byte to know there was more).
                raw = response.raw.read(RESPONSE_KEPT + 1, decode_content=True) or b""
                status, location = response.status_code, response.headers.get("location")
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            return None, "", f"{type(exc).__name__}: {exc}"[:ERROR_KEPT]
    error = None
    if 300 <= status < 400:
        # Never followed: the new address was not checked, and a redirect is how a checked
        # URL would be turned towards an inside one.
        error = f"HTTP {status}: redirect to {(location or 'nowhere')[:LOCATION_KEPT]} not followed"
    return status, kept_answer(raw), error


def _try(
    url: str, headers: dict[str, str], body: str, settings: Settings
) -> tuple[int | None, str, str | None]:
    """One try at ``url``: the deployment's own BALLOT_WEBHOOK_URL as it is, any other (a
    petition's own) only to an address that the target rules allow, checked now."""
    target = None
    if url != settings.ballot_webhook_url:
        try:
            target = webhook_targets.resolve_target(url, settings.webhook_allowed_networks)
        except webhook_targets.TargetRefused as exc:
            return None, "", f"refused: {exc}"[:ERROR_KEPT]
        except webhook_targets.Unresolved as exc:
            return None, "", f"not sent: {exc}"[:ERROR_KEPT]
    return _post(url, headers, body, settings.webhook_timeout, target)


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
        status, answer, error = _try(url, headers, body, settings)
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
