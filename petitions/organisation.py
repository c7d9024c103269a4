"""The organisation that runs the petitions: its name, logo, colour and contact, as the pages
and the mails show them, and the colour's checks against WCAG 2.1 AA.

The pages use the colour for links and buttons on white (and the footer's light grey) and, a
shade darker, as the header's background under white text; a colour that white cannot be read
on, or that cannot be read on white, is refused with a darker one that would pass.
"""

from dataclasses import dataclass
from pathlib import Path

from coloraide import Color

DEFAULT_NAME = "Member petitions"
# WCAG 2.1 AA, 1.4.3: normal text needs 4.5:1 against its background.
MIN_CONTRAST = 4.5
# What the colour meets in the pages: text on white and on the footer's grey (--surface in
# style.css), and white text on it.
BACKGROUNDS = ("#ffffff", "#f5f6f8")
# The header's shade: dark enough for white text and its yellow focus ring (#fbbf24) to stand
# out as clearly as they do on the default header.
DARK_CONTRAST = 10.0
# The logo files a browser shows, by suffix.
LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


@dataclass(frozen=True)
class Organisation:
    """Who runs the petitions, as ORG_NAME, ORG_LOGO_FILE, ORG_PRIMARY_COLOUR,
    ORG_CONTACT_EMAIL and ORG_CONTACT_URL say; every part but the name is optional."""

    name: str = DEFAULT_NAME
    logo_file: Path | None = None
    primary_colour: str | None = None
    contact_email: str | None = None
    contact_url: str | None = None

    @property
    def has_contact(self) -> bool:
        """True when a contact address or page is set."""
        return bool(self.contact_email or self.contact_url)

    @property
    def logo_type(self) -> str | None:
        """The logo's media type, or None without a logo."""
        return LOGO_TYPES[self.logo_file.suffix.lower()] if self.logo_file else None


def contrast(colour: str, background: str) -> float:
    """The WCAG 2.1 contrast ratio between two sRGB colours."""
    return Color(colour).contrast(background, method="wcag21")


def worst_contrast(colour: str) -> float:
    """The lowest contrast ``colour`` has with the backgrounds and white text it meets."""
    return min(contrast(colour, background) for background in BACKGROUNDS)


def darkened(colour: str, at_least: float) -> str:
    """``colour`` with its lightness (OKLCH) lowered until its contrast with white and the
    footer's grey is ``at_least``: the same hue, as little darker as that takes."""
    oklch = Color(colour).convert("oklch")
    lightness = oklch["lightness"]
    step = 0.005
    while lightness > 0:
        candidate = oklch.clone().set("lightness", lightness).convert("srgb").fit("srgb")
        hex_value = candidate.to_string(hex=True)
        if worst_contrast(hex_value) >= at_least:
            return hex_value
        lightness -= step
    return "#000000"


def theme_css(organisation: Organisation) -> str:
    """The stylesheet that gives the pages the organisation's colour: style.css's custom
    properties, overridden. Empty without a colour."""
    colour = organisation.primary_colour
    if colour is None:
        return ""
    dark = darkened(colour, DARK_CONTRAST)
    return f":root {{\n  --accent: {colour};\n  --accent-dark: {dark};\n}}\n"
