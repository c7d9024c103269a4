"""The messages a batch makes read exactly as ones made the plain way with the standard
library's modern policy: the same headers, parts and words, for ASCII and for names, subjects
and addresses that are not; the parsed sender and subjects a batch shares never leak one
message's fields into another; and no header can be injected."""

from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest

from petitions.outbox.messages import MessageMaker

TEXT = "Dear member,\n\nConfirm here:\n\nhttps://petitions.example.org/p/vote/confirm?token=abc\n"
HTML = '<p>Dear member,</p><p><a href="https://petitions.example.org/p/vote/confirm?token=abc">Confirm</a></p>'


def plain(sender, to_address, subject, text, html) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to_address
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def wire(message: EmailMessage, utf8: bool = False) -> bytes:
    return message.as_bytes(policy=message.policy.clone(utf8=utf8, linesep="\r\n"))


def read(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def same_reading(ours, theirs):
    for name in ("From", "To", "Subject", "MIME-Version", "Content-Type"):
        if name == "Content-Type":
            assert ours.get_content_type() == theirs.get_content_type()
        else:
            assert ours[name] == theirs[name], name
    for kind in ("plain", "html"):
        mine, other = ours.get_body((kind,)), theirs.get_body((kind,))
        assert mine.get_content() == other.get_content()
        assert mine["Content-Type"] == other["Content-Type"]
        assert mine["Content-Transfer-Encoding"] == other["Content-Transfer-Encoding"]


@pytest.mark.parametrize(
    ("sender", "to_address", "subject", "utf8"),
    [
        ("Member petitions <petitions@example.org>", "ann@example.org", "Confirm: Fair pay", False),
        (
            "Syndicat Métallurgie <petitions@example.org>",
            "zoë@example.org",
            "Confirmez : Salaire équitable — maintenant",
            True,
        ),
        ("Member petitions <petitions@example.org>", "bob@example.org", "A" * 300, False),
    ],
)
def test_a_message_reads_as_one_made_the_plain_way(sender, to_address, subject, utf8):
    maker = MessageMaker(sender)
    text = TEXT + "Ça va, évidemment.\n" * 3
    ours = read(wire(maker.make(7, to_address, subject, text, HTML), utf8))
    theirs = read(wire(plain(sender, to_address, subject, text, HTML), utf8))
    same_reading(ours, theirs)
    assert ours["Message-ID"].endswith("@example.org>")
    assert "mail7" in ours["Message-ID"]
    assert ours["Date"]


def test_an_ascii_only_server_gets_encoded_words_for_a_name_and_subject_that_are_not_ascii():
    maker = MessageMaker("Syndicat Métallurgie <petitions@example.org>")
    data = wire(maker.make(1, "ann@example.org", "Salaire équitable", TEXT, HTML))
    assert data.isascii()
    message = read(data)
    assert message["From"] == "Syndicat Métallurgie <petitions@example.org>"
    assert message["Subject"] == "Salaire équitable"


def test_messages_of_one_batch_share_nothing_but_sender_and_subject():
    maker = MessageMaker("Member petitions <petitions@example.org>")
    made = [
        read(wire(maker.make(n, f"m{n}@example.org", subject, f"{TEXT}{n}\n", HTML)))
        for n, subject in enumerate(["One", "Two", "One"])
    ]
    assert [m["To"] for m in made] == ["m0@example.org", "m1@example.org", "m2@example.org"]
    assert [m["Subject"] for m in made] == ["One", "Two", "One"]
    assert len({m["Message-ID"] for m in made}) == 3
    boundaries = {m.get_boundary() for m in made}
    assert len(boundaries) == 3
    for n, message in enumerate(made):
        assert message.get_body(("plain",)).get_content().splitlines()[-1] == str(n)
        assert len(message.get_payload()) == 2


@pytest.mark.parametrize("field", ["to", "subject", "sender"])
def test_a_line_break_in_a_header_is_refused_not_sent(field):
    evil = "x@example.org\r\nBcc: everyone@example.org"
    if field == "sender":
        with pytest.raises(ValueError, match="linefeed or carriage return"):
            MessageMaker(evil)
        return
    maker = MessageMaker("Member petitions <petitions@example.org>")
    to_address, subject = (evil, "Hi") if field == "to" else ("ann@example.org", evil)
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        maker.make(1, to_address, subject, TEXT, HTML)
