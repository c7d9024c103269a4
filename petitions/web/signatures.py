"""One petition's signatures for organisers and scrutineers: the list (paged, filtered), the
anomaly signals with their evidence, and invalidating a selection with a reason.

Scrutineers may look; only organisers act. Invalidating takes two steps: the selection and the
reason are reviewed on a page listing exactly the signatures concerned, and only the button on
that page changes anything (all or none, as on the command line).
"""

from datetime import datetime
from urllib.parse import urlencode

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.signatures import anomalies, invalidation
from petitions.signatures import listing as signature_list
from petitions.signatures.listing import MAX_SELECTION
from petitions.web import auth, moments
from petitions.web.forms import sentence
from petitions.web.loaders import petition_or_404
from petitions.web.signature_forms import FilterForm, InvalidationForm, SelectionForm

bp = Blueprint("signatures", __name__)

# How each kind of signal is named on the page, and what its evidence's figures mean.
SIGNAL_TITLES = {
    "burst": "Burst of confirmations",
    "late_surge": "Late surge before closing",
    "network": "Many requests from one network",
}
EVIDENCE_LABELS = {
    "confirmations": "Confirmations in the window",
    "still_counted": "Of them still counted",
    "minutes": "Minutes",
    "peak_per_minute": "Busiest minute",
    "baseline_per_minute": "Recent rate (median a minute over the trailing hour)",
    "threshold_per_minute": "Signal above (a minute)",
    "trailing_minutes": "Trailing window (minutes)",
    "factor": "Factor over the usual rate",
    "floor": "Never below (a minute)",
    "closes_at": "Closing time",
    "late_rate_per_hour": "Rate in the window (an hour)",
    "earlier_confirmations": "Confirmations before the window",
    "earlier_since": "Counted from",
    "earlier_rate_per_hour": "Rate before the window (an hour)",
    "minimum": "Never fewer than (confirmations)",
    "network": "Network",
    "requests": "Sign requests from it",
    "all_requests": "Sign requests from everywhere",
    "share_percent": "Its share (%)",
    "addresses": "Different addresses",
    "first_request": "First request",
    "last_request": "Last request",
    "busiest_hour_requests": "Requests in its busiest window",
    "outcomes": "What the requests led to",
    "signatures": "Signatures of those addresses' members",
    "window_requests": "Notice level (requests in the window)",
    "notice_window": "Window",
    "share_threshold_percent": "Or at a share of (%)",
}


def _can_act() -> bool:
    user = auth.current_user()
    return user is not None and user.role in auth.ORGANISERS


def _problem(petition, problems: list[str], back: str | None = None):
    """The 400 page: what is wrong with the request, and that nothing was changed."""
    return render_template(
        "signatures/problem.html",
        section="petitions",
        petition=petition,
        # For the error summary: about the request as a whole, since its form is on another page.
        faults=[("", problem) for problem in problems],
        back=back or url_for("signatures.index", slug=petition.slug),
    ), 400


def _list_url(slug: str, filters: signature_list.Filters, page: int | None = None) -> str:
    args = signature_list.query_args(filters)
    if page and page > 1:
        args["page"] = str(page)
    return url_for("signatures.index", slug=slug, **args)


@bp.get("/organiser/p/<slug>/signatures")
@auth.require_role(*auth.READERS)
def index(slug: str):
    """The petition's signatures, newest first, filtered and paged; organisers may select some
    to invalidate."""
    form = FilterForm(request.args)
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        petition = petition_or_404(slug, drafts=True, session=session)
        if not form.validate():
            return _problem(petition, form.form_errors)
        filters = form.filters
        listing = signature_list.page(session, petition, filters, form.page_number)
        regions = signature_list.regions(session, petition)
    return render_template(
        "signatures/index.html",
        section="petitions",
        petition=petition,
        filters=filters,
        filter_args=signature_list.query_args(filters),
        listing=listing,
        regions=regions,
        statuses=signature_list.STATUSES,
        reasons=invalidation.REASONS,
        can_act=_can_act(),
        max_selection=MAX_SELECTION,
        page_url=lambda number: _list_url(slug, filters, number),
    )


@bp.get("/organiser/p/<slug>/signatures/signals")
@auth.require_role(*auth.READERS)
def signals(slug: str):
    """The anomaly signals of the petition with their evidence. They change nothing."""
    settings = settings_of(current_app)
    notice = anomalies.NetworkNotice.of(settings.sign_notice_per_network)
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        petition = petition_or_404(slug, drafts=True, session=session)
        found = anomalies.signals(session, petition, notice=notice)
    entries = [
        {
            "signal": signal,
            "evidence": _evidence_rows(signal),
            "links": _signal_links(slug, signal),
            "peak": max((count for _, count in signal.buckets), default=0),
        }
        for signal in found
    ]
    return render_template(
        "signatures/signals.html",
        section="petitions",
        petition=petition,
        entries=entries,
        titles=SIGNAL_TITLES,
        anomalies=anomalies,
        notice=notice,
        valve=settings.sign_limit_per_network,
    )


def _evidence_rows(signal: anomalies.Signal) -> list[tuple[str, str]]:
    """A signal's evidence as (label, value) lines for people."""
    return [
        (EVIDENCE_LABELS.get(key, key), _shown(value)) for key, value in signal.evidence.items()
    ]


def _shown(value) -> str:
    if isinstance(value, datetime):
        return moments.moment(value, "second")
    if isinstance(value, dict):
        return ", ".join(f"{key} {count:,}" for key, count in value.items()) or "none"
    if isinstance(value, int | float):
        return anomalies.figure(value)
    return str(value)


def _signal_links(slug: str, signal: anomalies.Signal) -> list[tuple[str, str]]:
    """Links to the signatures a signal concerns: (text, address)."""
    links = []
    if signal.network:
        links.append(
            (
                f"Signatures of members whose address was given from {signal.network}",
                url_for("signatures.index", slug=slug, network=signal.network),
            )
        )
    else:
        window = signature_list.Filters(since=signal.when, until=signal.until)
        links.append(("Signatures confirmed in this window", _list_url(slug, window)))
    # A network's signatures are scattered through the numbers: its filter is the link.
    if signal.first_number is not None and not signal.network:
        numbers = (signature_list.NumberRange(signal.first_number, signal.last_number),)
        links.append(
            (
                f"Signatures numbered {signal.first_number:,} to {signal.last_number:,}",
                _list_url(slug, signature_list.Filters(numbers=numbers)),
            )
        )
    return links


def _selected_numbers(
    session: Session, petition, form: SelectionForm
) -> tuple[list[int], list[str]]:
    """The numbers a selection names: ticked boxes, typed numbers, and (when asked for) every
    counted signature matching the list's filter; and what is wrong with it."""
    numbers = {*form.number.data, *form.also.data}
    problems = [*form.number.errors, *form.also.errors]
    if form.all_matching.data and not form.also.errors:
        problems += form.filter.errors
        if not form.filter.errors:
            numbers.update(
                signature_list.matching_numbers(session, petition, form.filter.data, MAX_SELECTION)
            )
    if len(numbers) > MAX_SELECTION:
        problems.append(f"Select at most {MAX_SELECTION:,} signatures at a time.")
    return sorted(numbers), problems


@bp.post("/organiser/p/<slug>/signatures/review")
@auth.require_role(*auth.ORGANISERS)
def review(slug: str):
    """The confirmation step: exactly which signatures would be invalidated, and why."""
    form = SelectionForm(request.form)
    # Every field is checked here; the page lists the problems in the order of the selection.
    form.validate()
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        petition = petition_or_404(slug, drafts=True, session=session)
        numbers, problems = _selected_numbers(session, petition, form)
        chosen = signature_list.selection(session, petition, numbers if not problems else [])
    if not problems and chosen.problem():
        problems.append(sentence(chosen.problem()))
    problems += form.reason_errors()
    back = _list_url(slug, form.filter.data)
    if problems:
        return _problem(petition, problems, back)
    return render_template(
        "signatures/review.html",
        section="petitions",
        petition=petition,
        rows=chosen.rows,
        numbers=signature_list.format_numbers(numbers),
        reason=form.reason.data,
        reason_text=invalidation.REASONS[form.reason.data],
        note=form.note.data,
        back=back,
    )


@bp.post("/organiser/p/<slug>/signatures/invalidate")
@auth.require_role(*auth.ORGANISERS)
def invalidate(slug: str):
    """Invalidate the reviewed signatures, all or none, recording who decided and why."""
    petition = petition_or_404(slug, drafts=True)
    form = InvalidationForm(request.form)
    if not form.validate():
        return _problem(petition, [*form.numbers.errors, *form.reason_errors()])
    numbers, reason, note = form.numbers.data, form.reason.data, form.note.data
    actor = auth.actor()
    try:
        made = invalidation.invalidate(
            flask_db.engine(),
            settings_of(current_app),
            slug,
            numbers,
            reason,
            decided_by=actor,
            note=note,
            audit_actor=actor,
        )
    except invalidation.InvalidationError as exc:
        return _problem(petition, [sentence(str(exc))])
    written = signature_list.format_numbers(numbers)
    flash(
        f"Invalidated {len(made):,} signature{'s' if len(made) != 1 else ''} ({written}): "
        f"{invalidation.REASONS[reason]}. Nothing was deleted; the public log records each one."
    )
    shown = urlencode({"status": "invalidated", "numbers": written})
    return redirect(f"{url_for('signatures.index', slug=slug)}?{shown}", code=303)
