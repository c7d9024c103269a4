"""Roll import through the real command, on SQLite and PostgreSQL."""

import hashlib

import pytest
from sqlalchemy import select
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import Member, RollImport, RollImportNote
from petitions.roll.importer import import_roll

HEADER = "member_id,email,name,region,status,joined_on\n"


def members(app) -> list[tuple]:
    """Every member row, in full, in member-number order."""
    with Session(flask_db.engine_of(app)) as session:
        rows = session.exec(select(Member).order_by(Member.number)).scalars()
        return [
            (
                m.id,
                m.number,
                m.email,
                m.email_key,
                m.name,
                m.region,
                m.status,
                m.joined_on,
                m.updated_at,
            )
            for m in rows
        ]


def imports(app) -> list[RollImport]:
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return list(session.exec(select(RollImport).order_by(RollImport.id)).scalars())


def notes(app, import_id: int, kind: str) -> list[tuple]:
    with Session(flask_db.engine_of(app)) as session:
        query = (
            select(RollImportNote.line, RollImportNote.member_number, RollImportNote.detail)
            .where(RollImportNote.import_id == import_id, RollImportNote.kind == kind)
            .order_by(RollImportNote.line)
        )
        return [tuple(row) for row in session.exec(query)]


@pytest.fixture
def run_import(runner, tmp_path):
    """Write ``content`` to a file and run ``flask roll import`` on it with ``args``."""
    counter = iter(range(1000))

    def run(content: str | bytes, *args: str):
        path = tmp_path / f"roll{next(counter)}.csv"
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return runner.invoke(args=["roll", "import", str(path), *args])

    return run


def test_real_export_quirks_are_read(app, run_import):
    content = (
        "\ufeff Member_ID ,EMAIL, Name ,region,Status,joined_on\r\n"
        '1001, jo@example.org ,"Bloggs, Jo",North, Active ,2019-04-01\r\n'
        '1002,zoe@example.org,"Zoë ""Z"" Ünal",Sud-Ouest,lapsed,\r\n'
        "1003,sam@example.org,Sam,,,\r\n"
        "\r\n"
        '1004,"multi@example.org","Line\r\nBreak",East,suspended,2001-02-03\r\n'
    )
    result = run_import(content)
    assert result.exit_code == 0, result.output
    assert "added: 4" in result.output
    assert "rejected: 0" in result.output
    rows = {row[1]: row[2:8] for row in members(app)}
    assert rows["1001"][:5] == ("jo@example.org", "jo@example.org", "Bloggs, Jo", "North", "active")
    assert str(rows["1001"][5]) == "2019-04-01"
    assert rows["1002"][2:5] == ('Zoë "Z" Ünal', "Sud-Ouest", "lapsed")
    assert rows["1003"][2:6] == ("Sam", None, "active", None)
    assert rows["1004"][2:5] == ("Line\r\nBreak", "East", "suspended")


def test_lf_and_no_bom_and_no_optional_columns(app, run_import):
    result = run_import("email,member_id\nA@Example.org,1\nb@example.org,2\n")
    assert result.exit_code == 0, result.output
    assert [(m[1], m[2], m[3], m[6]) for m in members(app)] == [
        ("1", "A@Example.org", "a@example.org", "active"),
        ("2", "b@example.org", "b@example.org", "active"),
    ]


def test_every_bad_row_is_rejected_with_its_line_and_reason(app, run_import):
    content = HEADER + (
        "1,ok@example.org,Ok,North,active,2020-01-01\n"  # line 2: fine
        ",nobody@example.org,,,,\n"  # 3
        "3,not-an-address,,,,\n"  # 4
        "4,four@example.org,,,retired,\n"  # 5
        "5,five@example.org,,,,\n"  # 6: repeated below
        "6,six@example.org,,,,31/12/2020\n"  # 7
        "5,five.again@example.org,,,,\n"  # 8
        "8,,,,,\n"  # 9
        "9,nine@example.org,Nine,North,active,2020-01-01,extra\n"  # 10
        f"10,ten@example.org,{'x' * 201},,,\n"  # 11
        f"{'1' * 65},long@example.org,,,,\n"  # 12
    )
    result = run_import(content)
    assert result.exit_code == 0, result.output
    assert "added: 1" in result.output
    assert "rejected: 10" in result.output
    expected = [
        "line 3: no member number",
        "line 4 (member 3): invalid e-mail address 'not-an-address'",
        "line 5 (member 4): unknown status 'retired'",
        "line 6 (member 5): member number 5 is given more than once in the file (lines 6, 8)",
        "line 7 (member 6): joined_on '31/12/2020' is not a date",
        "line 8 (member 5): member number 5 is given more than once in the file (lines 6, 8)",
        "line 9 (member 8): no e-mail address",
        "line 10 (member 9): 7 fields where the header has 6",
        "line 11 (member 10): name longer than 200 characters",
        "line 12 (member " + "1" * 64 + "): member number too long",
    ]
    for text in expected:
        assert text in result.output
    assert [m[1] for m in members(app)] == ["1"]
    record = imports(app)[-1]
    assert (record.outcome, record.rows, record.added, record.rejected) == ("accepted", 11, 1, 10)
    assert [line for line, _, _ in notes(app, record.id, "rejected")] == list(range(3, 13))


def test_a_repeated_member_number_rejects_every_row_even_one_bad_already(app, run_import):
    result = run_import(HEADER + "7,seven@example.org,,,,\n7,broken,,,,\n")
    assert "line 2 (member 7): member number 7 is given more than once" in result.output
    assert "line 3 (member 7): invalid e-mail address" in result.output
    assert members(app) == []


def test_households_are_accepted_and_reported(app, run_import):
    content = HEADER + (
        "1,Jo.Bloggs@gmail.com,Jo,,,\n"
        "2,jobloggs+family@googlemail.com,Sam,,,\n"
        "3,home@example.org,A,,,\n"
        "4,HOME@example.org,B,,,\n"
        "5,home@example.org,C,,,\n"
        "6,alone@example.org,D,,,\n"
    )
    result = run_import(content)
    assert result.exit_code == 0, result.output
    assert "added: 6" in result.output
    assert "households: 2 addresses shared by 5 members (accepted)" in result.output
    assert "line 2 (member 1): shares its address with 1 other member(s)" in result.output
    assert "line 4 (member 3): shares its address with 2 other member(s)" in result.output
    record = imports(app)[-1]
    assert (record.household_addresses, record.household_members) == (2, 5)
    assert [line for line, _, _ in notes(app, record.id, "household")] == [2, 3, 4, 5, 6]
    keys = {m[1]: m[3] for m in members(app)}
    assert keys["1"] == keys["2"] == "jobloggs@gmail.com"


def test_upsert_by_member_number(app, run_import):
    run_import(HEADER + "1,a@example.org,A,North,active,\n2,b@example.org,B,South,active,\n")
    before = {m[1]: m for m in members(app)}
    result = run_import(
        HEADER + "1,a@example.org,A,North,active,\n2,new-b@example.org,B,East,lapsed,\n"
        "3,c@example.org,C,,,\n"
    )
    assert result.exit_code == 0, result.output
    for text in ("added: 1", "updated: 1", "unchanged: 1", "lapsed: 0"):
        assert text in result.output
    after = {m[1]: m for m in members(app)}
    assert after["1"] == before["1"]
    assert after["2"][0] == before["2"][0]
    assert after["2"][2:7] == ("new-b@example.org", "new-b@example.org", "B", "East", "lapsed")
    assert after["2"][8] > before["2"][8]


def test_reimporting_the_same_file_changes_nothing(app, run_import):
    content = HEADER + "".join(f"{n},m{n}@example.org,Name {n},North,active,\n" for n in range(50))
    first = run_import(content)
    assert "added: 50" in first.output
    before = members(app)
    second = run_import(content)
    assert second.exit_code == 0
    for text in ("added: 0", "updated: 0", "unchanged: 50", "lapsed: 0"):
        assert text in second.output
    assert members(app) == before
    first_record, second_record = imports(app)
    assert first_record.sha256 == second_record.sha256


def test_replace_lapses_members_missing_from_the_file(app, run_import):
    run_import(HEADER + "1,a@example.org,,,,\n2,b@example.org,,,,\n3,c@example.org,,,,\n")
    result = run_import(HEADER + "1,a@example.org,,,,\n3,not-valid-any-more,,,,\n", "--replace")
    assert result.exit_code == 0, result.output
    assert "lapsed: 1" in result.output
    status = {m[1]: m[6] for m in members(app)}
    # 2 is absent: lapsed. 3 is in the file, though its row was rejected: left as it was.
    assert status == {"1": "active", "2": "lapsed", "3": "active"}
    again = run_import(HEADER + "1,a@example.org,,,,\n", "--replace")
    assert "lapsed: 1" in again.output


def test_without_replace_absent_members_stay(app, run_import):
    run_import(HEADER + "1,a@example.org,,,,\n2,b@example.org,,,,\n")
    run_import(HEADER + "1,a@example.org,,,,\n")
    assert {m[1]: m[6] for m in members(app)} == {"1": "active", "2": "active"}


def test_strict_refuses_the_whole_file_on_any_bad_row(app, run_import):
    run_import(HEADER + "1,a@example.org,,,,\n")
    before = members(app)
    result = run_import(
        HEADER + "1,changed@example.org,,,,\n2,b@example.org,,,,\n3,bad,,,,\n", "--strict"
    )
    assert result.exit_code != 0
    assert "import refused: 1 row(s) rejected and --strict given" in result.output
    assert "line 4 (member 3): invalid e-mail address" in result.output
    assert members(app) == before
    record = imports(app)[-1]
    assert record.outcome == "refused"
    assert record.strict
    ok = run_import(HEADER + "1,changed@example.org,,,,\n", "--strict")
    assert ok.exit_code == 0
    assert members(app)[0][2] == "changed@example.org"


GOOD_ROWS = "".join(f"{n},m{n}@example.org,,,,\n" for n in range(2000))
BROKEN_FILES = {
    "empty": (b"", "the file is empty"),
    "header only": (HEADER.encode(), "the file has a header but no members"),
    "no header": (b"1,a@example.org,A\n2,b@example.org,B\n", "no header row"),
    "column missing": (b"member_id,name\n1,A\n", "required column missing: email"),
    "column named twice": (b"member_id,email,email\n1,a@b.org,c@d.org\n", "named twice"),
    "binary": (bytes(range(256)) * 4, "not a text file"),
    "spreadsheet": (b"PK\x03\x04" + b"\x00" * 100, "spreadsheet file"),
    "utf-16": (("\ufeff" + HEADER + "1,a@example.org,,,,\n").encode("utf-16-le"), "UTF-16"),
    "latin-1 deep in the file": (
        (HEADER + GOOD_ROWS).encode() + "9999,caf\xe9@example.org,,,,\n".encode("latin-1"),
        "not UTF-8 text (byte 0xe9 on line 2002)",
    ),
    "unclosed quote": (
        (HEADER + GOOD_ROWS + '9999,"x@example.org,,,,\n').encode(),
        "not well-formed CSV",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_a_broken_file_is_refused_whole_and_changes_nothing(app, run_import, case):
    run_import(HEADER + "1,keep@example.org,Keep,North,active,\n5,five@example.org,,,,\n")
    before = members(app)
    content, message = BROKEN_FILES[case]
    result = run_import(content)
    assert result.exit_code != 0
    assert "import refused" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert members(app) == before
    record = imports(app)[-1]
    assert record.outcome == "refused"
    assert message in record.refusal
    assert record.sha256 == hashlib.sha256(content).hexdigest()


def test_refused_with_replace_lapses_nobody(app, run_import):
    run_import(HEADER + "1,a@example.org,,,,\n2,b@example.org,,,,\n")
    before = members(app)
    result = run_import(HEADER + "1,a@example.org,,,,\n" + "3,\xff,,,,\n", "--replace")
    assert result.exit_code == 0  # a bad address is a rejected row, not a broken file
    result = run_import(HEADER.encode() + b"1,a@example.org,,,,\n3,\xff@x.org,,,,\n", "--replace")
    assert result.exit_code != 0
    assert [m[6] for m in members(app) if m[1] == "2"] == ["lapsed"]
    assert len(members(app)) == len(before)


def test_every_import_is_recorded_with_digest_counts_and_report(app, run_import, runner):
    content = HEADER + "1,a@example.org,,,,\n2,bad,,,,\n"
    run_import(content)
    record = imports(app)[-1]
    assert record.sha256 == hashlib.sha256(content.encode()).hexdigest()
    assert record.filename == "roll0.csv"
    assert record.finished_at >= record.started_at
    assert (record.rows, record.added, record.rejected, record.outcome) == (2, 1, 1, "accepted")
    history = runner.invoke(args=["roll", "history"])
    assert f"#{record.id}" in history.output
    assert record.sha256[:12] in history.output
    report = runner.invoke(args=["roll", "report", str(record.id)])
    assert "line 3 (member 2): invalid e-mail address 'bad'" in report.output
    missing = runner.invoke(args=["roll", "report", "999"])
    assert missing.exit_code != 0
    assert "there is no roll import #999" in missing.output


def test_progress_is_reported_over_the_whole_file(app, tmp_path):
    content = (HEADER + "".join(f"{n},m{n}@example.org,,,,\n" for n in range(20000))).encode()
    seen = []
    phases = []
    path = tmp_path / "roll.csv"
    path.write_bytes(content)
    with path.open("rb") as source:
        report = import_roll(
            flask_db.engine_of(app),
            source,
            "roll.csv",
            on_progress=seen.append,
            on_phase=phases.append,
        )
    assert report.counts["added"] == 20000
    assert sum(seen) == len(content)
    assert len(seen) > 1
    assert phases == ["checking", "merging"]


def test_commands_say_when_the_schema_is_missing(tmp_path, monkeypatch):
    from app import create_app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("SECRET_KEY", "x")
    fresh = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False})
    (tmp_path / "roll.csv").write_text(HEADER + "1,a@example.org,,,,\n")
    result = fresh.test_cli_runner().invoke(args=["roll", "import", str(tmp_path / "roll.csv")])
    assert result.exit_code != 0
    assert "run `flask --app app db upgrade` first" in result.output
