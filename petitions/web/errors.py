"""Error pages for people and JSON errors for the API, so no bad request ends in a traceback."""

import re

from flask import Flask, current_app, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
)

from petitions.text import one_line

# On the embedded SQLite database one long write (a large roll import) holds the only write lock;
# a request that waited out the busy timeout behind it is told to come back, not shown a 500.
BUSY_RETRY_AFTER = 10
# A database that dropped the connection (restarted, failed over, or an operator ended it) or
# cannot be reached is usually back within seconds; pool_pre_ping then opens a fresh connection.
UNAVAILABLE_RETRY_AFTER = 2
# SQLSTATE codes of a database refusing work for now: class 08 (connection exception), and
# 57P01-57P03 (shut down by an operator, crash shutdown, cannot connect now).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def wants_json() -> bool:
    """True when the request is for the JSON API (or asks for JSON before HTML)."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _error_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def json_error(status: int, code: str, message: str):
    """A JSON error response: ``{"error": code, "message": message}`` with ``status``."""
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


def _handle_http(exc: HTTPException):
    # The error's own headers (a 405's Allow, which HTTP requires) go with the answer; its
    # Content-Type is the answer's own.
    headers = [(name, value) for name, value in exc.get_headers() if name != "Content-Type"]
    if wants_json():
        response = json_error(exc.code or 500, _error_code(exc), exc.description or exc.name)
        response.headers.extend(headers)
        return response
    page = render_template("error.html", error=exc)
    return page, exc.code, headers


def _handle_unexpected(exc: Exception):
    # The traceback goes to the log for the operator; the person sees a plain page.
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http(InternalServerError())


def _database_unavailable(exc: DBAPIError) -> bool:
    """True when ``exc`` says the database dropped the connection or could not be reached,
    rather than that the statement was wrong."""
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    # psycopg gives no SQLSTATE for what failed on the client's side: connecting, or reading
    # from a connection the server closed. SQLite's errors carry no SQLSTATE attribute at all.
    sqlstate = getattr(exc.orig, "sqlstate", "")
    return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _retry_later(description: str, seconds: int):
    response = current_app.make_response(_handle_http(ServiceUnavailable(description=description)))
    response.headers["Retry-After"] = str(seconds)
    return response


def _handle_database_error(exc: DBAPIError):
    if _database_unavailable(exc):
        current_app.logger.warning(
            "%s %s: lost the database connection: %s",
            request.method,
            request.path,
            one_line(str(exc.orig))[:200],
        )
        return _retry_later(
            "The service lost its connection to its database for a moment. Please try again "
            f"in {UNAVAILABLE_RETRY_AFTER} seconds.",
            UNAVAILABLE_RETRY_AFTER,
        )
    if not isinstance(exc, OperationalError) or "database is locked" not in str(exc.orig):
        return _handle_unexpected(exc)
    current_app.logger.warning("%s %s: the database stayed locked", request.method, request.path)
    return _retry_later(
        "The service is busy finishing a long piece of work (such as a roll import). Please "
        f"try again in {BUSY_RETRY_AFTER} seconds.",
        BUSY_RETRY_AFTER,
    )


def _strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_in(key)
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


# A lone UTF-16 surrogate (JSON's "\ud800") is not a character: it cannot be encoded as UTF-8,
# so it could be neither stored nor compared.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_unstorable_characters() -> None:
    """No input here may hold a NUL character or a lone surrogate: no text field means one, and
    neither can be stored (PostgreSQL refuses NUL; UTF-8 has no surrogates), so either would
    fail later as a 500. Refused up front, whichever view it was for."""
    fields = [request.path, *request.args.values(), *request.form.values()]
    if request.is_json:
        fields.extend(_strings_in(request.get_json(silent=True)))
    if any("\x00" in field for field in fields):
        raise BadRequest(description="The request holds a NUL character, which no field allows.")
    if any(_LONE_SURROGATE.search(field) for field in fields):
        raise BadRequest(
            description="The request holds a lone surrogate (\\ud800 to \\udfff), which is not "
            "a character: no field allows one."
        )


def init_app(app: Flask) -> None:
    """Route every HTTP error, and anything unexpected, through the handlers above."""
    app.before_request(refuse_unstorable_characters)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
