"""Members' personal data: how long each kind is kept and the purge that keeps to it, and what
the service holds about an address and how a member sees it."""
