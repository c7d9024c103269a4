"""How a typed membership number is matched to the roll's: regardless of case and of white
space around it, as members copy it from a card or an old e-mail."""

from petitions.db.models import Member


def member_number_key(number: str) -> str:
    """The form in which membership numbers are compared: stripped, with case folded. The roll
    keeps each number as its file gave it (stripped at import, roll/file.py), so rows imported
    before numbers were compared this way match without any change."""
    return number.strip().casefold()


def matching(number: str, candidates: list[Member]) -> list[Member]:
    """The ``candidates`` whose number is ``number``: exactly, when one is; otherwise regardless
    of case and surrounding white space."""
    exact = [member for member in candidates if member.number == number]
    if exact:
        return exact
    key = member_number_key(number)
    return [member for member in candidates if member_number_key(member.number) == key]
