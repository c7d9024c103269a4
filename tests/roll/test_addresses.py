"""The matching key: one key per mailbox, whatever variant of it is typed."""

import pytest
from email_validator import validate_email
from hypothesis import assume, given
from hypothesis import strategies as st

from petitions.roll.addresses import _PLAIN, InvalidAddress, matching_key, parse_address

letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)
other_domains = st.sampled_from(["example.org", "example.com", "members.example.net", "yahoo.com"])


def _recase(text: str, flips: list[bool]) -> str:
    flips = flips + [False] * len(text)
    return "".join(c.upper() if flips[i] else c for i, c in enumerate(text))


@given(
    local=letters,
    domain=other_domains,
    flips=st.lists(st.booleans(), max_size=40),
    pad=st.sampled_from(["", " ", "\t", "  "]),
)
def test_case_and_surrounding_space_do_not_change_the_key(local, domain, flips, pad):
    variant = pad + _recase(f"{local}@{domain}", flips) + pad
    assert matching_key(variant) == matching_key(f"{local}@{domain}")


@given(
    local=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=20),
    dots=st.sets(st.integers(min_value=1, max_value=19)),
    tag=st.one_of(st.just(""), letters.map(lambda t: "+" + t)),
    domain=st.sampled_from(["gmail.com", "googlemail.com", "GMail.com", "GOOGLEMAIL.COM"]),
    flips=st.lists(st.booleans(), max_size=40),
)
def test_gmail_dots_tags_and_googlemail_fold_to_one_key(local, dots, tag, domain, flips):
    dotted = "".join(("." if i in dots and i < len(local) else "") + c for i, c in enumerate(local))
    variant = _recase(f"{dotted}{tag}@{domain}", flips)
    assert matching_key(variant) == f"{local}@gmail.com"


@given(a=letters, b=letters, domain=other_domains)
def test_distinct_mailboxes_elsewhere_keep_distinct_keys(a, b, domain):
    assume(a != b)
    assert matching_key(f"{a}@{domain}") != matching_key(f"{b}@{domain}")


@given(local=st.text(alphabet="abcdefghij", min_size=2, max_size=10), domain=other_domains)
def test_dots_and_tags_count_where_the_provider_does_not_ignore_them(local, domain):
    dotted = local[0] + "." + local[1:]
    assert matching_key(dotted + "@" + domain) != matching_key(local + "@" + domain)
    assert matching_key(local + "+x@" + domain) != matching_key(local + "@" + domain)


def test_plus_tags_fold_at_providers_with_subaddressing():
    assert matching_key("Jo+petition@Outlook.com") == matching_key("jo@outlook.com")
    assert matching_key("jo.b@outlook.com") != matching_key("job@outlook.com")


def test_the_address_as_given_is_kept_for_sending():
    address = parse_address("  Jo.Bloggs+Vote@GoogleMail.com ")
    assert address.given == "Jo.Bloggs+Vote@GoogleMail.com"
    assert address.key == "jobloggs@gmail.com"


def test_internationalised_addresses_match_their_punycode_form():
    assert matching_key("Zoë@Exämple.org") == matching_key("zoë@xn--exmple-cua.org")


@given(st.from_regex(_PLAIN, fullmatch=True))
def test_the_fast_check_accepts_only_what_email_validator_accepts(text):
    try:
        fast = parse_address(text)
    except InvalidAddress:
        return
    checked = validate_email(text, check_deliverability=False)
    assert fast.key.split("@")[1] in (checked.ascii_domain.lower(), "gmail.com")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no e-mail address"),
        ("jo", "@"),
        ("jo@", "after the @"),
        ("jo@@example.org", "@"),
        ("jo..b@example.org", "two periods"),
        ("jo@localhost", "period"),
        ("jo@example.test", "special-use"),
        ("jo b@example.org", "invalid characters"),
    ],
)
def test_invalid_addresses_say_why(text, reason):
    with pytest.raises(InvalidAddress, match=reason):
        parse_address(text)
