"""The organisers' live dashboard of one petition: the count moving, progress to the threshold,
signatures over time, regions, the funnel from request to signature, the mail waiting to be
sent, the threshold event and every webhook try, with a button to try an undelivered webhook
again now.

The page is complete without JavaScript. With it, dashboard.js polls live.json every few seconds
and swaps in the sections whose figures changed, and live_count.js polls the public count
endpoint every second. The figures are computed at most once per DASHBOARD_TTL (longer for a
petition whose figures are slow to compute) per petition per process, however many organisers
watch.
"""

import hashlib

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    url_for,
)
from sqlmodel import Session

from petitions import audit
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Petition, PetitionState
from petitions.jobs import dispatch
from petitions.lifecycle import rules
from petitions.outbox import webhooks as webhook_delivery
from petitions.outbox import work
from petitions.reports import chart as dashboard_chart
from petitions.reports import dashboard as dashboard_stats
from petitions.transparency import witnessing
from petitions.web import auth, mail_delay
from petitions.web import live_count as live
from petitions.web.errors import json_error
from petitions.web.labels import STATE_LABELS
from petitions.web.loaders import petition_or_404

bp = Blueprint("dashboard", __name__)
bp.add_app_template_filter(mail_delay.duration, "duration")

DASHBOARD_TTL = 5.0
# A petition whose figures take s seconds to compute keeps them for at least 10 s: on a huge
# petition the dashboard costs each process at most a tenth of a thread, however many watch.
DASHBOARD_COST_FACTOR = 10.0
_EXTENSION = "petitions.reports.dashboard"
SECTIONS_TEMPLATE = "dashboard/_sections.html"
# Each section of the page: the macro that draws it, and the part of the figures it shows.
SECTIONS = {
    "chart": "series",
    "regions": "regions",
    "funnel": "funnel",
    "reasons": "reasons",
    "threshold": "threshold",
    "webhooks": "deliveries",
    "mail": "mail",
}


def _stats_cache(app) -> live.TTLCache:
    """The figures of each petition, per process; Settings.dashboard_ttl overrides DASHBOARD_TTL."""

    def make() -> live.TTLCache:
        engine = flask_db.engine_of(app)
        max_age = settings_of(app).confirm_link_max_age

        def load(slug: str) -> dashboard_stats.Dashboard | None:
            with Session(engine, expire_on_commit=False) as session:
                petition = rules.find_petition(session, slug)
                if petition is None:
                    return None
                return dashboard_stats.dashboard(session, petition, max_age)

        chosen = settings_of(app).dashboard_ttl
        ttl = DASHBOARD_TTL if chosen is None else chosen
        return live.TTLCache(load, ttl, cost_factor=DASHBOARD_COST_FACTOR)

    return live.cache_of(app, _EXTENSION, make)


def _digests(context: dict) -> dict[str, str]:
    # A section's HTML follows its figures, and also the petition's threshold and state and
    # whether this viewer may retry: all of that goes into its digest.
    extra = f"{context['petition'].threshold}|{context['state']}|{context['can_retry']}"
    return {
        name: hashlib.sha256(f"{context['figures'].digest(part)}|{extra}".encode()).hexdigest()[:16]
        for name, part in SECTIONS.items()
    }


def _live_url(petition: Petition) -> str | None:
    if petition.state == PetitionState.DRAFT:
        return None
    return url_for("api.live_count", slug=petition.slug)


def _context(petition: Petition, figures: dashboard_stats.Dashboard) -> dict:
    state = rules.effective_state(petition)
    user = auth.current_user()
    return {
        "petition": petition,
        "figures": figures,
        "chart": dashboard_chart.build(figures.series, petition.threshold),
        "narrow_chart": dashboard_chart.build(
            figures.series, petition.threshold, dashboard_chart.NARROW, x_labels=3
        ),
        "state": state,
        "state_label": STATE_LABELS[state].short,
        "progress": rules.progress_percent(petition),
        "live_url": _live_url(petition),
        "can_retry": user is not None and user.role in auth.ORGANISERS,
        "max_age_hours": round(settings_of(current_app).confirm_link_max_age / 3600),
        "mail_slow_after": settings_of(current_app).mail_slow_after_seconds,
    }


@bp.get("/organiser/p/<slug>")
@auth.require_role(*auth.READERS)
def show(slug: str):
    """The dashboard page, complete without JavaScript."""
    petition = petition_or_404(slug, drafts=True)
    figures = _stats_cache(current_app).get(slug)
    # None when the figures were looked up before the petition existed, for the cache's age.
    if figures is None:
        abort(404, description="There is no petition at this address.")
    context = _context(petition, figures)
    return render_template(
        "dashboard/show.html",
        section="petitions",
        digests=_digests(context),
        ctx=context,
        witnesses=witnessing.statuses(flask_db.session(), petition, settings_of(current_app)),
        **context,
    )


@bp.get("/organiser/p/<slug>/live.json")
@auth.require_role(*auth.READERS)
def live_json(slug: str):
    """The dashboard's figures for its script: the count, the data, and each section's HTML
    with a digest of its data (the script swaps in only the sections that changed)."""
    petition = petition_or_404(slug, drafts=True, as_json=True)
    figures = _stats_cache(current_app).get(slug)
    if figures is None:
        return json_error(404, "not_found", f"no petition with slug {slug!r}")
    context = _context(petition, figures)
    digests = _digests(context)
    sections = {
        name: {
            "digest": digests[name],
            "html": str(get_template_attribute(SECTIONS_TEMPLATE, name)(context)),
        }
        for name in SECTIONS
    }
    current = live.read(current_app, slug) if petition.state != PetitionState.DRAFT else None
    response = jsonify(
        slug=petition.slug,
        count=current.count if current else petition.signature_count,
        threshold=petition.threshold,
        state=current.state if current else context["state"],
        computed_at=rules.iso_utc(figures.computed_at),
        figures=figures.as_json(),
        sections=sections,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/organiser/p/<slug>/webhooks/<int:delivery_id>/retry")
@auth.require_role(*auth.ORGANISERS)
def retry_webhook(slug: str, delivery_id: int):
    """Try an undelivered threshold webhook again now, instead of after its backoff."""
    back = url_for(".show", slug=slug, _anchor="webhooks")
    session = flask_db.session()
    petition = petition_or_404(slug, drafts=True, session=session)
    try:
        delivery = webhook_delivery.retry_now(session, petition.id, delivery_id)
    except webhook_delivery.RetryRefused as exc:
        session.rollback()
        flash(f"Not retried: {exc}.", "error")
        return redirect(back)
    audit.record(
        session,
        auth.actor(),
        "webhook.retry",
        petition,
        f"delivery {delivery.id} ({delivery.webhook_id}) made due now",
    )
    item = work.WorkItem(work.WorkKind.WEBHOOK, delivery.id, delivery.attempts)
    webhook_id = delivery.webhook_id
    session.commit()
    # The fast path; the relay offers it within a second anyway.
    dispatch.dispatcher_of(current_app).submit(item)
    _stats_cache(current_app).forget(slug)
    flash(f"Webhook {webhook_id} will be tried again within a few seconds.")
    return redirect(back)
