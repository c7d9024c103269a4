"""One way to show a moment on every page: ``{{ when | moment }}`` renders
``<time datetime="2026-12-03T18:00:00+00:00">3 December 2026, 18:00 UTC</time>``, and
static/local_time.js (included by base.html) rewrites the text into the reader's time zone,
keeping the ``datetime`` attribute."""

import re
from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup

# What each style shows; the script reads the same name from ``data-style``.
STYLES = {
    "minute": "{day} {moment:%B %Y, %H:%M} UTC",
    "second": "{day} {moment:%B %Y, %H:%M:%S} UTC",
    "date": "{day} {moment:%B %Y}",
    "month": "{moment:%B %Y}",
    "time": "{moment:%H:%M:%S} UTC",
}


# A moment as free text (an audit event's detail, say) records it: ISO 8601 with a zone.
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})")


def as_utc(value: datetime | str | None) -> datetime | None:
    """``value`` (an aware or naive-UTC datetime, or an ISO 8601 string) in UTC, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def words(value: datetime | str | None, style: str = "minute") -> str:
    """``value`` written for people in UTC, e.g. ``3 December 2026, 18:00 UTC``."""
    moment = as_utc(value)
    if moment is None:
        return ""
    return STYLES[style].format(day=moment.day, moment=moment)


def moment(value: datetime | str | None, style: str = "minute") -> Markup:
    """A ``<time>`` element for ``value`` in words (``style``: a key of STYLES), which the page's
    script shows in the reader's time zone; empty for no value."""
    when = as_utc(value)
    if when is None:
        return Markup("")
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(
        when.isoformat(), style, words(when, style)
    )


def moments_in(text: str | None) -> Markup:
    """``text`` (escaped) with every ISO 8601 moment in it shown as ``moment`` shows it."""
    if not text:
        return Markup("")
    parts = ISO_MOMENT.split(text)
    found = ISO_MOMENT.findall(text)
    shown = Markup("")
    for part, when in zip(parts, [*found, None], strict=True):
        shown += part
        if when is not None:
            shown += moment(when) or when
    return shown


def init_app(app: Flask) -> None:
    """Give every template the ``moment`` and ``moments_in`` filters."""
    app.add_template_filter(moment, "moment")
    app.add_template_filter(moments_in, "moments_in")
