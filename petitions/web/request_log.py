"""The development server's request log (werkzeug's, at INFO) without anything personal: a
request line keeps its path but not its query (where links carry their tokens), and a client
address is written as its network (/24 or /64), as the rate limits count it."""

import ipaddress
import logging
import re

from flask import Flask

from petitions.web.rate_limits import network_of

# A request line as werkzeug writes it: "GET /path?query HTTP/1.1".
_QUERY = re.compile(r'("[A-Z]+ [^"?\s]*)\?[^"\s]*')
# Something that may be an IPv4 or IPv6 address; ipaddress decides.
_ADDRESS = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]+(?![\w:.])")


def _network(match: re.Match) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return network_of(text)


def redacted(message: str) -> str:
    """``message`` with queries cut from request lines and client addresses made networks."""
    return _ADDRESS.sub(_network, _QUERY.sub(r"\1?…", message))


class RedactRequests(logging.Filter):
    """Rewrites each record of werkzeug's request log with ``redacted``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redacted(record.getMessage())
        record.args = ()
        return True


def init_app(_app: Flask) -> None:
    """Redact werkzeug's request log (once per process: the logger is the process's)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactRequests) for f in logger.filters):
        logger.addFilter(RedactRequests())
