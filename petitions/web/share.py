"""Sharing a petition: its public address (BASE_URL, as in e-mailed links) and a QR code of it
drawn by segno, as SVG, for a slide or a printed sheet at a branch meeting."""

import io

import segno
from flask import current_app, url_for

from petitions.config import settings_of
from petitions.db.models import Petition


def public_url(petition: Petition) -> str:
    """The address members open the petition at."""
    base = settings_of(current_app).base_url.rstrip("/")
    return base + url_for("public.petition", slug=petition.slug)


def qr_svg(url: str) -> bytes:
    """A QR code of ``url`` as a standalone SVG document: black modules on white, with the
    quiet zone the standard asks for, scaled by the page that shows it."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=8, border=4, dark="#000", light="#fff", xmldecl=False)
    return out.getvalue()
