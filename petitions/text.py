"""One-line text: titles and names end up in mail headers and on one line of a page, where a
line break (including Unicode's U+2028, U+2029 and U+0085) or a control character breaks them."""

import unicodedata

# Control characters (C0, DEL and C1, which holds U+0085 NEXT LINE), and the line and
# paragraph separators U+2028 and U+2029.
_BREAKING = frozenset(("Cc", "Zl", "Zp"))


def breaks_lines(text: str) -> bool:
    """True when ``text`` holds a line break or a control character (a tab included)."""
    return any(unicodedata.category(ch) in _BREAKING for ch in text)


def one_line(text: str) -> str:
    """``text`` with every line break and control character replaced by a space."""
    return "".join(" " if unicodedata.category(ch) in _BREAKING else ch for ch in text)
