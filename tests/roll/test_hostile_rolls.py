"""Roll files made to break the reader: NUL bytes, lone surrogates, bidi and zero-width marks,
byte-order marks, CR-only line ends, 1 MB fields, 10,000 columns, many rows.

Whatever the bytes, reading a roll ends in one of two clean ways: rows (each valid, or rejected
with its line and a reason), or RollFileError saying why the file as a whole cannot be read. It
never raises anything else, and reading the same bytes twice gives the same rows. Importing
goes the same way on both databases, and importing the same file again changes nothing.
"""

import io

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import Member
from petitions.roll.file import MeteredReader, RollFileError, read_roll
from petitions.roll.importer import import_roll
from tests.fuzz_budget import hostile

HEADER = "member_id,email,name,region,status,joined_on"
# Characters that have broken CSV readers, databases or the eye: NUL, lone surrogates, bidi
# controls, zero-width characters, a byte-order mark, line ends of every kind, CSV's own quote
# and separator, and Unicode's other line breaks.
HOSTILE = (
    "\x00",
    "\ud800",
    "\udfff",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\r",
    "\n",
    '"',
    ",",
    "\x85",
    "\u2028",
    " ",
)
FIELDS = ("member_id", "email", "name", "region", "status", "joined_on", "notes", " Email ")
PLAUSIBLE = ("jo@example.org", "M1", "M2", "active", "LAPSED", "2020-02-29", "2021-02-29")

cells = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.text(st.sampled_from(HOSTILE) | st.characters(exclude_categories=()), max_size=12),
)


def read(data: bytes) -> list | str:
    """The rows read from ``data``, or the refusal's message."""
    try:
        return list(read_roll(MeteredReader(io.BytesIO(data))))
    except RollFileError as exc:
        return f"refused: {exc}"


def encode(text: str) -> bytes:
    """``text`` as UTF-8, lone surrogates and all (which makes the bytes invalid UTF-8)."""
    return text.encode("utf-8", "surrogatepass")


def assert_clean(result: list | str) -> None:
    """Rows that can be stored and reported, in file order, or a refusal that says why."""
    if isinstance(result, str):
        assert len(result) > len("refused: ")
        return
    lines = [row.line for row in result]
    assert lines == sorted(set(lines))
    for row in result:
        assert row.line >= 2
        assert (row.reason is None) == bool(row.email_key), row
        for value in row:
            if isinstance(value, str):
                assert "\x00" not in value
                value.encode("utf-8")  # no lone surrogate reaches the database


@hostile
@given(
    header=st.lists(st.sampled_from(FIELDS) | cells, min_size=0, max_size=7),
    rows=st.lists(st.lists(cells, max_size=8), max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.sampled_from(["", "\ufeff", "\ufeff\ufeff"]),
    tail=st.binary(max_size=16),
)
@example(header=FIELDS[:2], rows=[["1", "jo@example.org"]], newline="\r", bom="\ufeff", tail=b"")
@example(header=FIELDS[:2], rows=[["1", "jo\u200f@example.org"]], newline="\n", bom="", tail=b"")
@example(header=FIELDS[:2], rows=[["\u202e1", "a@example.org"]], newline="\n", bom="", tail=b"")
@example(header=FIELDS[:2], rows=[["1", "jo@example.org"]], newline="\n", bom="", tail=b"\xff")
def test_any_bytes_are_read_cleanly_and_the_same_each_time(header, rows, newline, bom, tail):
    data = encode(bom + newline.join(",".join(row) for row in [header, *rows])) + tail
    first = read(data)
    assert_clean(first)
    assert read(data) == first


def test_a_lone_surrogate_in_a_row_refuses_the_file_naming_its_line():
    data = encode(f"{HEADER}\n1,jo@example.org\n2,\ud800sam@example.org\n")
    assert read(data) == (
        "refused: the file is not UTF-8 text (byte 0xed on line 3): export the roll as CSV UTF-8"
    )


def test_a_nul_byte_far_into_the_file_refuses_it_naming_its_line():
    # The reader looks for NUL bytes in the file's first 8 KB; this one is past them.
    rows = "".join(f"M{n:05d},m{n}@example.org\n" for n in range(1000))
    data = encode(f"member_id,email\n{rows}X1,x\x00@example.org\n")
    assert len(data) > 8192
    assert read(data) == (
        "refused: this is not a text file (line 1002 contains a NUL byte): export the roll as CSV"
    )


def test_bidi_and_zero_width_marks_in_an_address_reject_only_that_row():
    data = encode("member_id,email\n1,jo\u200b@example.org\n2,\u202esam@example.org\n3,a@b.org\n")
    rows = read(data)
    assert [(row.line, row.reason is None) for row in rows] == [(2, False), (3, False), (4, True)]
    assert "ZERO WIDTH SPACE" in rows[0].reason
    assert "RIGHT-TO-LEFT OVERRIDE" in rows[1].reason


def test_cr_only_line_ends_and_a_byte_order_mark_are_read():
    data = encode("\ufeffmember_id,email\r1,jo@example.org\r2,sam@example.org\r")
    assert [(row.line, row.member_id, row.email) for row in read(data)] == [
        (2, "1", "jo@example.org"),
        (3, "2", "sam@example.org"),
    ]


def test_a_second_byte_order_mark_is_a_column_name_that_is_not_member_id():
    result = read(encode("\ufeff\ufeffmember_id,email\n1,jo@example.org\n"))
    assert result.startswith("refused: required column missing: member_id")


@pytest.mark.parametrize("column", ["email", "name", "notes"])
def test_a_one_megabyte_field_refuses_the_file_saying_so(column):
    big = "a" * (1 << 20)
    values = {"member_id": "1", "email": "jo@example.org", "name": "Jo", "notes": ""}
    values[column] = big + ("@example.org" if column == "email" else "")
    data = encode("member_id,email,name,notes\n" + ",".join(values.values()) + "\n")
    assert read(data) == (
        "refused: the file is not well-formed CSV at line 2: field larger than field limit (131072)"
    )


def test_ten_thousand_columns_in_the_header_are_read():
    header = ",".join(f"c{n}" for n in range(9998)) + ",member_id,email"
    row = "," * 9998 + "1,jo@example.org"
    [only] = read(encode(f"{header}\n{row}\n"))
    assert (only.member_id, only.email, only.reason) == ("1", "jo@example.org", None)


def test_ten_thousand_fields_in_a_row_reject_that_row():
    data = encode("member_id,email\n1,jo@example.org" + "," * 9998 + "\n2,sam@example.org\n")
    first, second = read(data)
    assert first.reason == (
        "10000 fields where the header has 2 (is a comma inside a value not quoted?)"
    )
    assert (second.member_id, second.reason) == ("2", None)


def test_many_rows_are_all_read():
    count = 20_000
    data = encode("member_id,email\n" + "".join(f"{n},m{n}@example.org\n" for n in range(count)))
    rows = read(data)
    assert len(rows) == count
    assert all(row.reason is None for row in rows)
    assert rows[-1].line == count + 1


# --- through the importer, on SQLite and PostgreSQL ----------------------------------------------

HOSTILE_BUT_READABLE = encode(
    "\ufeffmember_id,email,name,region\r"
    "1,jo@example.org,\u05d9\u05d5\u05e1\u05e3 \u200fCohen,\u202bNorth\u202c\r"
    "2,sam\u200b@example.org,Sam,South\r"
    '3,"al@example.org","Al ""the"" \u2066Pal\u2069",East\r'
    "5,zoe@example.org,Zo\u00eb,\u2028West\r"
)


def count_members(app) -> int:
    with Session(flask_db.engine_of(app)) as session:
        return session.scalar(select(func.count()).select_from(Member))


def test_a_hostile_but_readable_roll_imports_once_and_again_changes_nothing(app):
    engine = flask_db.engine_of(app)
    first = import_roll(engine, io.BytesIO(HOSTILE_BUT_READABLE), "roll.csv")
    assert first.outcome == "accepted", first.refusal
    assert (first.counts["added"], first.counts["rejected"]) == (3, 1)
    with Session(engine) as session:
        names = dict(session.execute(select(Member.number, Member.name)).all())
    assert names["1"] == "\u05d9\u05d5\u05e1\u05e3 \u200fCohen"
    assert names["3"] == 'Al "the" \u2066Pal\u2069'
    again = import_roll(engine, io.BytesIO(HOSTILE_BUT_READABLE), "roll.csv")
    assert again.counts["added"] == again.counts["updated"] == 0
    assert again.counts["unchanged"] == 3
    assert count_members(app) == 3


def test_a_nul_byte_past_the_head_refuses_the_import_and_writes_nothing(app):
    rows = "".join(f"M{n:05d},m{n}@example.org\n" for n in range(1000))
    data = encode(f"member_id,email\n{rows}X1,x\x00@example.org\n")
    report = import_roll(flask_db.engine_of(app), io.BytesIO(data), "roll.csv")
    assert report.refused
    assert "line 1002 contains a NUL byte" in report.refusal
    assert count_members(app) == 0
