"""Membership numbers compared as members type them: case and surrounding spaces aside."""

from petitions.db.models import Member
from petitions.roll.member_numbers import matching, member_number_key


def test_the_key_ignores_case_and_surrounding_white_space():
    assert member_number_key("  Ab-12\t") == member_number_key("AB-12") == "ab-12"
    assert member_number_key("STRASSE-1") == member_number_key("straße-1")
    assert member_number_key("A 1") != member_number_key("A1")


def test_matching_prefers_the_exact_number_and_falls_back_to_the_key():
    candidates = [Member(number="h1", email="a"), Member(number="H1", email="b")]
    assert [m.email for m in matching("H1", candidates)] == ["b"]
    assert [m.email for m in matching(" h1 ", candidates)] == ["a", "b"]
    assert matching("H2", candidates) == []
