"""Request bodies are bounded before anything reads them.

Every request gets a limit for its body by what it is for: small for JSON and ordinary forms,
the roll upload its own (its view says how big a file may be). A body whose declared length is
over the limit is a 413 at once, unread; one sent without a length stops being read at the
limit. JSON is also refused (400) when nested deeper than a small bound, before any parser
recurses into it.
"""

from flask import Flask, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

# The API's bodies are a few short strings.
JSON_MAX_BYTES = 64 * 1024
# A petition's text (up to 50,000 characters, each up to 4 bytes, percent-encoded) and the
# rest of its form.
FORM_MAX_BYTES = 1024 * 1024
JSON_MAX_DEPTH = 32
# Endpoints that set their own limit in their own hook (the roll upload).
OWN_LIMIT = {"roll.upload"}
_OPENING, _CLOSING, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), 0x22, 0x5C


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``raw`` (brackets inside strings do
    not count); counted without parsing, so it cannot recurse."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSING:
            depth -= 1
    return deepest


def bound_body() -> None:
    """Set this request's body limit, refuse a body declared larger at once, and refuse JSON
    nested too deeply."""
    if request.endpoint in OWN_LIMIT:
        return
    limit = JSON_MAX_BYTES if request.is_json else FORM_MAX_BYTES
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(
            description=f"The request's body is larger than the {limit // 1024} KiB allowed here."
        )
    if request.is_json and json_depth(request.get_data(cache=True)) > JSON_MAX_DEPTH:
        raise BadRequest(
            description=f"The JSON is nested deeper than the {JSON_MAX_DEPTH} levels allowed."
        )


def init_app(app: Flask) -> None:
    """Bound every request's body; before any other hook reads it."""
    app.before_request(bound_body)
