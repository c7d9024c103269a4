"""E-mail addresses: checking them, and the matching key that makes one mailbox one member.

The address as given is what we send to; the matching key is what we compare, at roll import and
at signing alike, so ``Jo.Bloggs+petition@GoogleMail.com`` and ``jobloggs@gmail.com`` are the
same member while ``jo.bloggs@example.org`` and ``jobloggs@example.org`` stay distinct.
"""

import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS_LENGTH = 254
# Longer text is refused before email-validator sees it, which takes seconds over a megabyte.
# No address is this long: normalising it (NFC) shortens text by at most a third (Hangul jamo).
_MAX_TEXT_LENGTH = 4 * MAX_ADDRESS_LENGTH

# Providers whose mailboxes ignore dots in the local part and/or anything after a "+".
_IGNORES_DOTS = frozenset({"gmail.com"})
_IGNORES_PLUS_TAGS = frozenset(
    {
        "gmail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "proton.me",
        "pm.me",
    }
)
# Domains that deliver to the same mailboxes as another.
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})

# A plain ASCII address that email-validator is known to accept unchanged (a property test holds
# this). Checking it with one regular expression is ~50x cheaper than email-validator, which
# matters for a million-row roll; anything else takes the full check.
_PLAIN = re.compile(
    r"(?P<local>[A-Za-z0-9_%+'-]{1,64}(?:\.[A-Za-z0-9_%+'-]{1,64})*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,63}))"
)


class InvalidAddress(ValueError):
    """The text is not a usable e-mail address; the message says why, for the person."""


@dataclass(frozen=True)
class Address:
    """A checked address: ``given`` (trimmed, for sending) and ``key`` (for matching)."""

    given: str
    key: str


def _plain(text: str) -> Address | None:
    match = _PLAIN.fullmatch(text)
    if (
        match is None
        or len(text) > MAX_ADDRESS_LENGTH
        or len(match["local"]) > 64
        or "--" in match["domain"]
        or match["tld"].lower() in _SPECIAL_USE_TLDS
    ):
        return None
    return Address(text, _key(match["local"], match["domain"].lower()))


def _key(local: str, ascii_domain: str) -> str:
    domain = _DOMAIN_ALIASES.get(ascii_domain, ascii_domain)
    local = unicodedata.normalize("NFC", local).casefold()
    if domain in _IGNORES_PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in _IGNORES_DOTS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def parse_address(text: str) -> Address:
    """Check ``text`` as an e-mail address (syntax only, no DNS) and give its matching key.

    Raises InvalidAddress with a reason a person can act on.
    """
    text = text.strip()
    if not text:
        raise InvalidAddress("no e-mail address given")
    if len(text) > _MAX_TEXT_LENGTH:
        raise InvalidAddress(
            f"The email address is too long ({len(text)} characters; an address has at most "
            f"{MAX_ADDRESS_LENGTH})."
        )
    plain = _plain(text)
    if plain is not None:
        return plain
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return Address(text, _key(checked.local_part, checked.ascii_domain.rstrip(".").lower()))


def matching_key(text: str) -> str:
    """The matching key of an address: one key per mailbox, whatever variant is typed."""
    return parse_address(text).key
