"""Where a petition's own webhook may be sent: only to a public address on the internet, over
http or https, unless the deployment's ``WEBHOOK_ALLOWED_NETWORKS`` names the network.

An organiser types the URL, and the service then sends a request to it from inside the
deployment: without these rules the URL could reach this machine (loopback), the private network
behind it, a cloud's metadata service (link-local 169.254.169.254) and the like. The URL is
checked when it is saved and again on every try, after resolving its name; the try connects to
the very address that was checked (see ``resolve_target``), so a name that resolves elsewhere a
moment later (DNS rebinding) changes nothing. The deployment-wide ``BALLOT_WEBHOOK_URL`` is the
operator's own and is not checked here.
"""

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = {"http": 80, "https": 443}
# 100.64.0.0/10, shared address space (RFC 6598): carrier-grade NAT, and in some clouds and
# overlay networks the addresses of internal services; not a public address.
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
# 64:ff9b::/96 (RFC 6052): the well-known NAT64 prefix, an IPv4 address in its last 32 bits.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# The last label of a host that URL parsers and the C library read as an IPv4 number (WHATWG
# URL standard): decimal, octal (leading 0) or hexadecimal (0x).
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


class TargetRefused(Exception):
    """The URL may not be a webhook's target; the message is one line, fit to show as it is."""


class Unresolved(Exception):
    """The host name resolves to no address (now); the message says which name."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: its scheme, the host name as sent in ``Host`` and for TLS, its
    port, and the address the connection must go to."""

    scheme: str
    host: str
    port: int
    address: Address

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the name (bracketed if an IPv6 literal), and the port unless it is
        the scheme's own."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def parse_networks(raw: str) -> tuple[Network, ...]:
    """The networks of ``WEBHOOK_ALLOWED_NETWORKS``: CIDR networks or single addresses separated
    by commas or spaces. Raise ValueError, with a one-line reason, for anything else.

    Host names are not accepted: a name is exactly what DNS rebinding changes, so an exception
    is granted to addresses only.
    """
    networks = []
    for item in re.split(r"[,\s]+", raw.strip()):
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP network such as 10.1.2.0/24 or an address such as "
                "10.1.2.3 (host names are not accepted)"
            ) from None
        if network.prefixlen == 0:
            raise ValueError(f"{item!r} is every address: it would turn the check off")
        networks.append(network)
    return tuple(networks)


def address_refusal(address: Address) -> str | None:
    """Why ``address`` is not a public address a webhook may go to, in words, or None.

    An IPv4-mapped IPv6 address is judged as its IPv4 address; one that carries an IPv4
    address (6to4, NAT64) is refused when the IPv4 address is.
    """
    if address.version == 6 and address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is the IPv4 address itself, as a dual-stack socket reaches it.
        return address_refusal(address.ipv4_mapped)
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_refusal(embedded)
            if reason is not None:
                return f"{reason}, inside the IPv6 address {address}"
    if address.is_unspecified:
        return "an unspecified address, which reaches this machine"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if address in SHARED_ADDRESS_SPACE:
        return "in shared address space (100.64.0.0/10, carrier-grade NAT)"
    if address.version == 6 and address.is_site_local:
        return "a site-local address (a private network)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_allowed(address: Address, allowed: Iterable[Network]) -> bool:
    """True when ``address`` may be a webhook's target: public, or inside an allowed network
    (an IPv4-mapped IPv6 address counts as its IPv4 address). An unspecified or multicast
    address is never one ballot system, whatever is allowed."""
    if address.is_unspecified or address.is_multicast:
        return False
    if address_refusal(address) is None:
        return True
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(
        candidate in network
        for candidate in candidates
        for network in allowed
        if candidate.version == network.version
    )


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to for a TCP connection on ``port``; raise Unresolved
    when there is none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolved(f"the host name {host} does not resolve") from None
    addresses = []
    for *_rest, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolved(f"the host name {host} does not resolve")
    return addresses


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    literal: Address | None


def _parse(url: str) -> _Parsed:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused(f"the webhook URL {url!r} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise TargetRefused("the webhook URL must begin with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the webhook URL must not carry a user name or password")
    host = parts.hostname.rstrip(".")
    if "%" in host:
        raise TargetRefused("the webhook URL must not name a network interface (a % zone)")
    port = port or SCHEMES[scheme]
    try:
        return _Parsed(scheme, host, port, ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise TargetRefused(
            f"the webhook URL's host {host} is an IP address written oddly; write it as four "
            "decimal numbers, such as 203.0.113.7"
        )
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetRefused(f"the webhook URL's host {host!r} is not a valid host name") from None
    if ascii_host == "localhost" or ascii_host.endswith(".localhost"):
        raise TargetRefused(f"the webhook URL's host {host} is this machine (loopback)")
    return _Parsed(scheme, ascii_host, port, None)


def _check(host: str, addresses: list[Address], allowed: Iterable[Network]) -> Address:
    allowed = tuple(allowed)
    for address in addresses:
        if not is_allowed(address, allowed):
            reason = address_refusal(address) or "never a webhook's target"
            where = str(address) if host == str(address) else f"{address} ({host} resolves to it)"
            raise TargetRefused(
                f"the webhook URL may not reach {where}, {reason}: only public addresses, or "
                "those the deployment allows in WEBHOOK_ALLOWED_NETWORKS, are allowed"
            )
    return addresses[0]


def check_url(url: str, allowed: Iterable[Network]) -> None:
    """Refuse (TargetRefused) a webhook URL an organiser wants to save when it is not http or
    https, carries a user name or password, or names, or resolves to, an address that is not
    allowed (see is_allowed).

    A name that does not resolve now is accepted: it is resolved and checked again on every
    try, which is when it matters.
    """
    parsed = _parse(url)
    if parsed.literal is not None:
        _check(parsed.host, [parsed.literal], allowed)
        return
    try:
        addresses = resolve(parsed.host, parsed.port)
    except Unresolved:
        return
    _check(parsed.host, addresses, allowed)


def resolve_target(url: str, allowed: Iterable[Network]) -> Target:
    """The checked target of a webhook URL about to be tried: resolved once, every address
    allowed, and the first one to connect to. Raise TargetRefused, or Unresolved when the name
    does not resolve."""
    parsed = _parse(url)
    addresses = (
        [parsed.literal] if parsed.literal is not None else resolve(parsed.host, parsed.port)
    )
    address = _check(parsed.host, addresses, allowed)
    return Target(parsed.scheme, parsed.host, parsed.port, address)
