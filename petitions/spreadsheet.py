"""Text written into CSV downloads that people open in spreadsheets."""

# A cell starting with one of these is run as a formula by spreadsheet programs; uploaded file
# names, notes and rejected rows come from outside, so they are quoted with a leading apostrophe
# (OWASP's advice for CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """``value`` as CSV cell text that a spreadsheet shows rather than runs."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
