"""What asking to sign or confirming a link can come to. Each outcome of confirming has a page
of its own named after it (templates/sign/), and the API answers with the same words, except
that a bad token is ``expired_token`` or ``invalid_token`` there."""

from enum import StrEnum


class SigningOutcome(StrEnum):
    """The end of a request to sign (refused: not_found, petition_closed, invalid_member_id) or
    of confirming a link (every other one, and petition_closed)."""

    CONFIRMED = "confirmed"
    ALREADY_SIGNED = "already_signed"
    EXPIRED = "expired"
    INVALID = "invalid"
    PETITION_CLOSED = "petition_closed"
    NOT_IN_GOOD_STANDING = "not_in_good_standing"
    # In good standing, but not on the roll committed for this petition (README, "The
    # committed roll"): joined after it opened, or left out by its latest re-commit.
    NOT_ON_COMMITTED_ROLL = "not_on_committed_roll"
    NOT_FOUND = "not_found"
    INVALID_MEMBER_ID = "invalid_member_id"
