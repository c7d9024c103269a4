"""Whole numbers typed into addresses and forms: ASCII digits only, and no larger than the
database's integer columns hold (a bigger one would fail in the database, not as bad input)."""

from werkzeug.routing import IntegerConverter

# PostgreSQL's INTEGER, the type of every id and number column.
MAX_INT = 2**31 - 1


def parse(raw: str | None, maximum: int = MAX_INT) -> int | None:
    """``raw`` as a whole number from 0 to ``maximum``, or None when it is not one. Only ASCII
    digits count: str.isdigit() also accepts "²", which int() refuses."""
    if raw is None or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= maximum else None


class BoundedIntConverter(IntegerConverter):
    """The URL converter ``<int:...>``, refusing numbers no row can have (a 404, not a 500)."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_INT, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app) -> None:
    """Make every ``<int:...>`` in the app's routes bounded; before blueprints are registered."""
    app.url_map.converters["int"] = BoundedIntConverter
