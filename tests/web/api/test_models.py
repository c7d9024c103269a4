"""The request models: how a JSON body becomes the arguments of a view, or its 400."""

import pytest

from petitions.web.api import models


def test_a_membership_number_sent_as_a_number_is_taken_as_its_digits():
    body = models.SignRequest.parse({"email": "jo@example.org", "member_id": 1234})
    assert (body.email, body.member_id) == ("jo@example.org", "1234")
    assert models.SignRequest.parse({"email": "jo@example.org", "extra": 1}).member_id is None


def test_the_first_field_that_does_not_fit_names_the_error():
    with pytest.raises(models.BodyRefused) as refused:
        models.SignRequest.parse({"email": 42, "member_id": []})
    assert refused.value.code == "invalid_email"
    with pytest.raises(models.BodyRefused) as refused:
        models.SignRequest.parse(None)
    assert refused.value.code == "invalid_json"
