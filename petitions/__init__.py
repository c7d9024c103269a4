"""Member petitions that trigger an all-member vote, counted in the open."""
