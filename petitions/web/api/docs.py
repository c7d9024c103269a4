"""The API's page for people, /api/docs: Swagger UI (from the flask-swagger-ui package's copy
of its dist files, served from here, never a CDN) reading /api/v1/openapi.json.

Swagger UI is configured by a static script (petitions/static/api_docs.js), so the page keeps
the strict content security policy: no inline script or style.
"""

from importlib.metadata import version
from importlib.resources import files

from flask import Blueprint, abort, render_template, send_from_directory

bp = Blueprint("api_docs", __name__, url_prefix="/api/docs")
DIST = files("flask_swagger_ui") / "dist"
# The files of Swagger UI the page loads, and its licence.
SERVED = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "LICENSE"})
# The files' addresses carry the package's version, so a browser may keep them a day.
MAX_AGE = 86400


def swagger_ui_version() -> str:
    """The version of flask-swagger-ui, whose number is that of the Swagger UI it ships."""
    return version("flask-swagger-ui")


@bp.get("/")
def page():
    """The API described for people, generated in the browser from the OpenAPI document."""
    return render_template("api_docs.html", swagger_ui_version=swagger_ui_version())


@bp.get("/swagger-ui/<name>")
def swagger_ui(name: str):
    """One of Swagger UI's own files."""
    if name not in SERVED:
        abort(404)
    mimetype = "text/plain" if name == "LICENSE" else None
    return send_from_directory(str(DIST), name, max_age=MAX_AGE, mimetype=mimetype)
