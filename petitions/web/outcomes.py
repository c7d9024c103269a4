"""The HTTP status each signing outcome is answered with, by the pages and the API alike."""

from petitions.signatures.outcomes import SigningOutcome

OUTCOME_STATUS = {
    SigningOutcome.CONFIRMED: 200,
    SigningOutcome.ALREADY_SIGNED: 200,
    SigningOutcome.EXPIRED: 400,
    SigningOutcome.INVALID: 400,
    SigningOutcome.PETITION_CLOSED: 409,
    SigningOutcome.NOT_IN_GOOD_STANDING: 403,
    SigningOutcome.NOT_ON_COMMITTED_ROLL: 403,
    SigningOutcome.NOT_FOUND: 404,
    SigningOutcome.INVALID_MEMBER_ID: 400,
}
