"""Members' personal data: how long each kind is kept, and the purge that keeps to it."""
