"""Host names in tests resolve only as a test says: no test asks a real DNS server, and a test
can make a name resolve to any address (an inside one, or a loopback test server)."""

import ipaddress

from petitions import webhook_targets


class FakeDns(dict):
    """Names to the addresses they resolve to; any other name does not resolve."""

    def resolve(self, host: str, port: int) -> list[webhook_targets.Address]:
        """What petitions.webhook_targets.resolve answers while this is in place."""
        if host not in self:
            raise webhook_targets.Unresolved(f"the host name {host} does not resolve")
        return [ipaddress.ip_address(address) for address in self[host]]
