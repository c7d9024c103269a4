"""The rules for where a petition's own webhook may go: public addresses over http or https,
nothing inside unless WEBHOOK_ALLOWED_NETWORKS names it, whatever form the address is written
in or whatever a name resolves to."""

import ipaddress

import pytest

from petitions import webhook_targets
from petitions.config import SettingsError, load_settings
from petitions.webhook_targets import TargetRefused, Unresolved

ALLOWED_NETWORK = (ipaddress.ip_network("10.20.0.0/16"),)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("fc12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("224.0.1.1", "multicast"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("100.64.0.1", "shared address space"),
        ("100.127.255.254", "shared address space"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "private"),
        ("198.18.0.1", "private"),
        ("fec0::1", "site-local"),
        ("2001:db8::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback address (this machine), inside the IPv6 address"),
        ("2002:a9fe:a9fe::1", "link-local address (where cloud metadata services answer), inside"),
        ("64:ff9b::7f00:1", "loopback address (this machine), inside the IPv6 address"),
        ("64:ff9b::a00:1", "private address, inside the IPv6 address"),
        ("::127.0.0.1", "reserved"),
    ],
)
def test_inside_addresses_are_refused_with_their_kind(address, reason):
    refusal = webhook_targets.address_refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert reason in refusal
    assert not webhook_targets.is_allowed(ipaddress.ip_address(address), ())


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "1.1.1.1"]
)
def test_public_addresses_are_allowed(address):
    assert webhook_targets.address_refusal(ipaddress.ip_address(address)) is None
    assert webhook_targets.is_allowed(ipaddress.ip_address(address), ())


def test_an_allowed_network_lets_its_addresses_through_and_no_others():
    assert webhook_targets.is_allowed(ipaddress.ip_address("10.20.3.4"), ALLOWED_NETWORK)
    assert webhook_targets.is_allowed(ipaddress.ip_address("::ffff:10.20.3.4"), ALLOWED_NETWORK)
    assert not webhook_targets.is_allowed(ipaddress.ip_address("10.21.0.1"), ALLOWED_NETWORK)
    assert not webhook_targets.is_allowed(ipaddress.ip_address("127.0.0.1"), ALLOWED_NETWORK)


def test_unspecified_and_multicast_are_never_allowed_whatever_the_setting():
    everything_but = webhook_targets.parse_networks("0.0.0.0/1 128.0.0.0/1 ::/1 8000::/1")
    assert webhook_targets.is_allowed(ipaddress.ip_address("127.0.0.1"), everything_but)
    for address in ("0.0.0.0", "::", "224.0.0.1", "ff02::1"):
        assert not webhook_targets.is_allowed(ipaddress.ip_address(address), everything_but)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://ballot.example.org/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://ballot.example.org/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https://user:secret@ballot.example.org/", "user name or password"),
        ("https://ballot.example.org@127.0.0.1/", "user name or password"),
        ("http://localhost/hook", "this machine"),
        ("http://LOCALHOST./hook", "this machine"),
        ("http://api.localhost:8080/hook", "this machine"),
        ("http://127.0.0.1:5000/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:7f00:1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00::5]/hook", "private"),
        ("http://[fe80::1%25eth0]/hook", "network interface"),
        ("http://2130706433/hook", "written oddly"),
        ("http://0x7f000001/hook", "written oddly"),
        ("http://0177.0.0.1/hook", "written oddly"),
        ("http://127.1/hook", "written oddly"),
        ("http://10.0.0.010/hook", "written oddly"),
        ("http://ballot.example.org:99999/", "not a valid URL"),
    ],
)
def test_urls_that_could_reach_inside_are_refused_when_saved(url, words):
    with pytest.raises(TargetRefused, match=words):
        webhook_targets.check_url(url, ())


def test_a_name_is_resolved_and_refused_when_any_address_is_inside(dns):
    dns["ballot.example.org"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(TargetRefused) as refused:
        webhook_targets.check_url("https://ballot.example.org/hook", ())
    assert str(refused.value).startswith(
        "the webhook URL may not reach 10.0.0.7 (ballot.example.org resolves to it), "
        "a private address"
    )
    dns["ballot.example.org"] = ["93.184.215.14"]
    webhook_targets.check_url("https://ballot.example.org/hook", ())


def test_a_name_that_does_not_resolve_yet_is_saved_and_checked_on_each_try(dns):
    webhook_targets.check_url("https://not-yet.example.org/hook", ())
    with pytest.raises(Unresolved, match=r"not-yet\.example\.org does not resolve"):
        webhook_targets.resolve_target("https://not-yet.example.org/hook", ())


def test_an_allowed_network_admits_a_ballot_system_on_the_private_network(dns):
    dns["ballot.internal.example"] = ["10.20.0.5"]
    url = "http://ballot.internal.example:8080/hook"
    with pytest.raises(TargetRefused):
        webhook_targets.check_url(url, ())
    webhook_targets.check_url(url, ALLOWED_NETWORK)
    target = webhook_targets.resolve_target(url, ALLOWED_NETWORK)
    assert target == webhook_targets.Target(
        "http", "ballot.internal.example", 8080, ipaddress.ip_address("10.20.0.5")
    )
    assert target.host_header == "ballot.internal.example:8080"
    webhook_targets.check_url("http://10.20.9.9/hook", ALLOWED_NETWORK)


def test_the_target_keeps_the_name_for_host_and_tls_and_the_checked_address(dns):
    dns["xn--bllot-gra.example.org"] = ["93.184.215.14"]
    target = webhook_targets.resolve_target("https://bällot.example.org/hook?x=1", ())
    assert target.host == "xn--bllot-gra.example.org"
    assert target.host_header == "xn--bllot-gra.example.org"
    assert str(target.address) == "93.184.215.14"
    literal = webhook_targets.resolve_target("http://[2606:4700::1]:8443/", ())
    assert literal.host_header == "[2606:4700::1]:8443"


def test_the_setting_reads_networks_and_addresses_and_refuses_names(tmp_path):
    base = {"WEBHOOK_ALLOWED_NETWORKS": "10.20.0.0/16, 192.168.7.9  fd00:1::/64"}
    settings = load_settings(base, tmp_path)
    assert [str(network) for network in settings.webhook_allowed_networks] == [
        "10.20.0.0/16",
        "192.168.7.9/32",
        "fd00:1::/64",
    ]
    assert load_settings({}, tmp_path).webhook_allowed_networks == ()
    for bad, words in (
        ("ballot.internal", "host names are not accepted"),
        ("10.0.0.0/33", "not an IP network"),
        ("0.0.0.0/0", "every address"),
        ("::/0", "every address"),
    ):
        with pytest.raises(SettingsError, match=words):
            load_settings({"WEBHOOK_ALLOWED_NETWORKS": bad}, tmp_path)
