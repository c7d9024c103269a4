"""The organisation's look on every page: its name, logo and contact in the templates, its
colour as /theme.css (custom properties, no inline style), its logo file, and the favicon."""

import functools
import hashlib
import logging
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request, send_file, url_for

from petitions.config import settings_of
from petitions.organisation import Organisation, theme_css

bp = Blueprint("theme", __name__)
log = logging.getLogger(__name__)
FAVICON = Path(__file__).resolve().parents[1] / "static" / "favicon.svg"
# The stylesheet's and logo's addresses carry a digest of their content, so a browser may keep
# them a long time: a changed setting is a new address.
LONG_CACHE = "public, max-age=31536000, immutable"
# /favicon.ico has no digest in its address: browsers ask for it by that name.
DAY_CACHE = "public, max-age=86400"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@functools.cache
def _versions(organisation: Organisation) -> dict[str, str]:
    """The digests of ``organisation``'s stylesheet and logo, worked out once."""
    versions = {"css": _digest(_css(organisation).encode())}
    if organisation.logo_file is not None:
        # Checked at start-up; a file removed since then leaves the header without a logo
        # rather than every page failing.
        try:
            versions["logo"] = _digest(organisation.logo_file.read_bytes())
        except OSError as exc:
            log.warning("ORG_LOGO_FILE cannot be read: %s", exc)
    return versions


def _site() -> dict:
    """What base.html needs of the organisation: ``organisation`` and the addresses of its
    stylesheet (None without a colour) and logo (None without one)."""
    organisation = settings_of(current_app).organisation
    versions = _versions(organisation)
    return {
        "organisation": organisation,
        "theme_css_url": (
            url_for("theme.stylesheet", v=versions["css"]) if organisation.primary_colour else None
        ),
        "logo_url": url_for("theme.logo", v=versions["logo"]) if "logo" in versions else None,
    }


@functools.cache
def _css(organisation: Organisation) -> str:
    return theme_css(organisation)


def _cached(response: Response, cache_control: str) -> Response:
    response.headers["Cache-Control"] = cache_control
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/theme.css")
def stylesheet():
    """The organisation's colour as style.css's custom properties (empty without one)."""
    css = _css(settings_of(current_app).organisation)
    return _cached(Response(css, mimetype="text/css"), LONG_CACHE)


@bp.get("/theme/logo")
def logo():
    """The organisation's logo file, or 404 without one."""
    organisation = settings_of(current_app).organisation
    if organisation.logo_file is None or not organisation.logo_file.is_file():
        abort(404)
    response = send_file(organisation.logo_file, mimetype=organisation.logo_type, etag=True)
    response.headers["Cache-Control"] = LONG_CACHE
    return response


@bp.get("/favicon.ico")
def favicon():
    """The favicon, for browsers that ask for it by its old name (pages link the SVG)."""
    response = send_file(FAVICON, mimetype="image/svg+xml", etag=True)
    response.headers["Cache-Control"] = DAY_CACHE
    return response


def init_app(app: Flask) -> None:
    """Serve the theme's routes and give every template the organisation."""
    app.register_blueprint(bp)
    app.context_processor(_site)
