"""Members' data: what the service holds about an address, and how a member sees it."""
