"""The pages and the API answer each signing outcome with the status of one table."""

from petitions.signatures.outcomes import SigningOutcome
from petitions.web.outcomes import OUTCOME_STATUS


def test_every_signing_outcome_has_a_status():
    assert set(OUTCOME_STATUS) == set(SigningOutcome)
