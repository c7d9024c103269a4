"""Every answer the tests get from the JSON API must be one that /api/v1/openapi.json describes:
its operation lists the status, and the body fits the schema given for it there.

tests/conftest.py wraps the Flask test client with ``checked`` for every test, so a test that
calls the API checks it without saying so. A request for a path the document does not list must
be a 404, and one for a method it does not list a 405, each with an Error body (an HTML error page
for the pages it lists outside the API).
"""

import functools
import json
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from petitions.web.api import openapi

DOCUMENT_URI = "urn:petitions:openapi"
FORMATS = Draft202012Validator.FORMAT_CHECKER
if "date-time" not in FORMATS.checkers:  # jsonschema skips formats it cannot check
    raise RuntimeError("rfc3339-validator is needed to check date-times: pip install -e '.[test]'")


class UndocumentedAnswer(AssertionError):
    """An API answer that the OpenAPI document does not describe."""


def is_api(path: str) -> bool:
    """True for the paths the OpenAPI document is about (not /api/docs, the page for people)."""
    return path.startswith("/api/v1/") or path == "/healthz"


@functools.cache
def document() -> dict:
    """The document, as the app serves it."""
    return openapi.document()


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document()))


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=_registry(), format_checker=FORMATS
    )


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@functools.cache
def _templates() -> list[tuple[re.Pattern, str]]:
    # Paths without parameters first: they win over a template that also matches.
    found = []
    for template in sorted(document()["paths"], key=lambda t: ("{" in t, t)):
        parts = re.split(r"(\{[^{}]+\})", template)
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        found.append((re.compile(pattern), template))
    return found


def _template_of(path: str) -> str | None:
    return next((t for pattern, t in _templates() if pattern.fullmatch(path)), None)


def _fits(pointer: str, body: bytes, what: str) -> None:
    try:
        instance = json.loads(body)
    except ValueError as exc:
        raise UndocumentedAnswer(f"{what}: the body is not JSON ({exc}): {body[:200]!r}") from None
    error = best_match(_validator(pointer).iter_errors(instance))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(the body)"
        raise UndocumentedAnswer(
            f"{what}: the body does not fit {pointer} at {where}: {error.message}\n{instance!r}"
        )


def _schemas_for(method: str, path: str, status: int) -> dict[str, str]:
    """The media types the document gives for this answer, each with the JSON pointer of its
    schema in the document."""
    template = _template_of(path)
    operation = "get" if method == "head" else method
    if template is None or operation not in document()["paths"][template]:
        if status != (404 if template is None else 405):
            raise UndocumentedAnswer("the document lists no such operation")
        if template is not None and not is_api(template):
            # A page the document lists beside the API (the checkpoint) answers a method it
            # does not take as every page does: the site's HTML error page.
            return {"text/html": ""}
        return {"application/json": "/components/schemas/Error"}
    responses = document()["paths"][template][operation]["responses"]
    if str(status) not in responses:
        raise UndocumentedAnswer(f"{template} {operation} documents only {', '.join(responses)}")
    parts = ("paths", template, operation, "responses", str(status), "content")
    base = "/" + "/".join(_escape(part) for part in parts)
    content = responses[str(status)].get("content", {})
    return {media: f"{base}/{_escape(media)}/schema" for media in content}


def check(method: str, path: str, status: int, mimetype: str, body: bytes) -> None:
    """Raise UndocumentedAnswer unless the document describes this answer to ``method path``."""
    what = f"{method} {path} answered {status}"
    try:
        schemas = _schemas_for(method.lower(), path, status)
    except UndocumentedAnswer as exc:
        raise UndocumentedAnswer(f"{what}: {exc}") from None
    if mimetype not in schemas:
        raise UndocumentedAnswer(f"{what} as {mimetype}; documented: {', '.join(schemas)}")
    if method.upper() != "HEAD" and mimetype == "application/json":
        _fits(schemas[mimetype], body, what)


def checked(open_):
    """``open_`` (FlaskClient.open), checking each API answer it returns against the document."""

    @functools.wraps(open_)
    def open_and_check(self, *args, **kwargs):
        response = open_(self, *args, **kwargs)
        request = response.request
        if is_api(request.path):
            body = response.get_data() if response.mimetype == "application/json" else b""
            check(request.method, request.path, response.status_code, response.mimetype, body)
        return response

    return open_and_check
