"""The matching keys under hostile text: any string at all, NUL, lone surrogates, bidi and
zero-width marks, other normal forms.

The rules (README, "The roll file" and "Signing"): an address's key ignores case, surrounding
spaces, and the dots and +tags that providers such as Gmail ignore; a membership number's key
ignores case and surrounding white space. A key is the same every time, never an error other
than a reason the address is refused, and never the same for two clearly different mailboxes;
an invisible character is refused, never quietly dropped into another member's key.
"""

import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from petitions.roll.addresses import InvalidAddress, matching_key, parse_address
from petitions.roll.member_numbers import member_number_key
from tests.fuzz_budget import hostile

# Any code point at all, lone surrogates included (which Hypothesis leaves out by default).
any_text = st.text(st.characters(exclude_categories=()), max_size=80)
INVISIBLE = (
    "\x00",
    "\ud800",
    "\udfff",
    "\u00ad",
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2060",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\ufeff",
)
# Letters and digits of any script, for local parts.
locals_ = st.text(st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1, max_size=12)
domains = st.sampled_from(
    ["example.org", "members.example.net", "exämple.org", "пример.рф", "gmail.com", "outlook.com"]
)
# Domains that fold neither dots nor +tags.
plain_domains = st.sampled_from(["example.org", "members.example.net", "exämple.org"])


def key_or_refusal(text: str) -> str | InvalidAddress:
    """The key, or the InvalidAddress that refused the text; nothing else may come out."""
    try:
        return matching_key(text)
    except InvalidAddress as exc:
        return exc


def valid_key(text: str) -> str:
    """The key of an address the generated case needs to be valid."""
    key = key_or_refusal(text)
    assume(isinstance(key, str))
    return key


@hostile
@given(any_text)
@example("jo@example.org\x00")
@example("\ud800@example.org")
@example("jo@\udfffexample.org")
@example("\u202ejo@example.org")
@example("a" * (1 << 20) + "@example.org")
def test_any_text_gets_a_key_or_a_reason_and_the_same_each_time(text):
    first = key_or_refusal(text)
    second = key_or_refusal(text)
    if isinstance(first, InvalidAddress):
        assert str(first) == str(second)
        assert str(first)
    else:
        assert first == second


@hostile
@given(locals_, domains, st.sampled_from(INVISIBLE), st.integers(min_value=0))
def test_an_invisible_character_anywhere_is_refused_not_dropped(local, domain, mark, where):
    text = f"{local}@{domain}"
    valid_key(text)
    where %= len(text) + 1
    with pytest.raises(InvalidAddress):
        parse_address(text[:where] + mark + text[where:])


@hostile
@given(locals_, domains)
def test_a_key_is_folded_printable_and_its_own_key(local, domain):
    key = valid_key(f"{local}@{domain}")
    assert key.casefold() == key
    categories = {unicodedata.category(character) for character in key}
    assert not categories & {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
    assert matching_key(key) == key


@hostile
@given(locals_, domains, st.sampled_from(["NFC", "NFD"]))
def test_canonically_equivalent_forms_share_a_key(local, domain, form):
    key = valid_key(f"{local}@{domain}")
    assert matching_key(unicodedata.normalize(form, f"{local}@{domain}")) == key


@hostile
@given(locals_, domains)
def test_case_is_ignored_in_any_script(local, domain):
    # Only where upper and lower case are the same letters to Unicode's case folding (not, for
    # instance, the Turkish dotless i, whose capital is the Latin I).
    assume(local.upper().casefold() == local.lower().casefold() == local.casefold())
    key = valid_key(f"{local}@{domain}")
    for variant in (local.upper(), local.lower(), local.swapcase()):
        assert matching_key(f"{variant}@{domain.upper()}") == key


@hostile
@given(locals_, locals_, plain_domains)
def test_different_mailboxes_never_share_a_key(a, b, domain):
    assume(unicodedata.normalize("NFC", a).casefold() != unicodedata.normalize("NFC", b).casefold())
    assert valid_key(f"{a}@{domain}") != valid_key(f"{b}@{domain}")


@hostile
@given(locals_, plain_domains, plain_domains)
def test_the_same_name_at_different_domains_never_shares_a_key(local, one, other):
    assume(one != other)
    assert valid_key(f"{local}@{one}") != valid_key(f"{local}@{other}")


# --- membership numbers ---------------------------------------------------------------------


@hostile
@given(any_text)
@example("\x00")
@example("\ud800AB-12")
@example("\u200fAB-12")
@example("STRASSE-1")
def test_a_member_number_key_is_total_stable_and_its_own_key(number):
    key = member_number_key(number)
    assert key == member_number_key(number)
    assert member_number_key(key) == key
    assert key == key.strip()


@hostile
@given(any_text, st.sampled_from(["", " ", "\t", "\u00a0", "  \n"]))
def test_a_member_number_key_ignores_case_and_surrounding_space(number, pad):
    assume(number.upper().casefold() == number.casefold())
    expected = member_number_key(number)
    assert member_number_key(pad + number.upper() + pad) == expected
    assert member_number_key(pad + number.lower() + pad) == expected


@hostile
@given(any_text, st.sampled_from(INVISIBLE))
def test_an_invisible_character_makes_another_member_number(number, mark):
    assume(number.strip())
    assert member_number_key(number + mark + "1") != member_number_key(number + "1")


def test_a_megabyte_of_text_is_refused_as_too_long():
    with pytest.raises(InvalidAddress, match=r"too long \(1048588 characters; .* at most 254\)"):
        parse_address("a" * (1 << 20) + "@example.org")
