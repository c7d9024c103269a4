"""``flask petition ...``: what each command does, says, and refuses."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from app import create_app
from petitions.db.models import AuditEvent, Member, Petition
from petitions.lifecycle import rules


def add_members(db, count, *, status="active"):
    """Put ``count`` members with ``status`` on the roll."""
    for number in range(count):
        db.add(
            Member(
                number=f"{status}-{number}",
                email=f"{status}{number}@example.org",
                email_key=f"{status}{number}@example.org",
                status=status,
            )
        )
    db.commit()


def stored(db, slug):
    """The petition ``slug`` as the database holds it now."""
    db.expire_all()
    return db.exec(select(Petition).where(Petition.slug == slug)).first()


def refused(result, message, code=1):
    """Assert the command failed cleanly with a one-line ``Error: message``."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    assert message in errors[0]


def future(days=30):
    """An ISO 8601 UTC time ``days`` from now."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- create ---------------------------------------------------------------------------------


def test_create_makes_a_draft(runner, db):
    result = runner.invoke(
        args=["petition", "create", "fair-pay", "--title", "Fair pay", "--threshold", "4000"]
    )
    assert result.exit_code == 0, result.output
    assert "created petition 'fair-pay': threshold 4,000 signatures" in result.output
    assert "flask petition open fair-pay" in result.output
    petition = stored(db, "fair-pay")
    assert (petition.state, petition.threshold_absolute, petition.title) == (
        "draft",
        4000,
        "Fair pay",
    )


def test_create_with_open_freezes_a_percentage_threshold(runner, db):
    add_members(db, 4120)
    add_members(db, 30, status="lapsed")
    result = runner.invoke(
        args=[
            "petition",
            "create",
            "fair-pay",
            "--title",
            "Fair pay",
            "--threshold-percent",
            "10",
            "--open",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "threshold frozen at 412 of 4,120 active members" in result.output
    petition = stored(db, "fair-pay")
    assert (petition.state, petition.threshold, petition.eligible_members) == ("open", 412, 4120)


def test_create_takes_every_option(runner, db, tmp_path):
    result = runner.invoke(
        args=[
            "petition",
            "create",
            "fair-pay",
            "--title",
            "Fair pay",
            "--threshold",
            "2",
            "--closes-at",
            "2099-12-31T18:00:00",
            "--webhook-url",
            "https://ballot.example.org/hook",
            "--text",
            "We ask for a vote.",
        ]
    )
    assert result.exit_code == 0, result.output
    petition = stored(db, "fair-pay")
    # A time without a zone is taken as UTC.
    assert petition.closes_at == datetime(2099, 12, 31, 18, 0, tzinfo=UTC)
    assert petition.webhook_url == "https://ballot.example.org/hook"
    assert petition.body == "We ask for a vote."


def test_create_reads_the_text_from_a_file(runner, db, tmp_path):
    text_file = tmp_path / "text.md"
    text_file.write_bytes("\ufeffFirst paragraph.\r\n\r\nSecond — with a dash.\r\n".encode())
    result = runner.invoke(
        args=[
            "petition",
            "create",
            "fair-pay",
            "--title",
            "T",
            "--threshold",
            "1",
            "--text-file",
            str(text_file),
        ]
    )
    assert result.exit_code == 0, result.output
    assert stored(db, "fair-pay").body == "First paragraph.\n\nSecond — with a dash."


def test_create_with_a_zoned_closing_time(runner, db):
    result = runner.invoke(
        args=[
            "petition",
            "create",
            "p",
            "--title",
            "T",
            "--threshold",
            "1",
            "--closes-at",
            "2099-06-01T12:00:00+02:00",
            "--open",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "closes 2099-06-01 10:00 UTC" in result.output
    assert stored(db, "p").closes_at == datetime(2099, 6, 1, 10, 0, tzinfo=UTC)


def test_create_with_open_warns_when_the_threshold_exceeds_the_roll(runner, db):
    add_members(db, 2)
    result = runner.invoke(
        args=["petition", "create", "p", "--title", "T", "--threshold", "5", "--open"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: the threshold (5) is more than the active members (2)" in result.output


def test_create_help_says_a_time_without_zone_is_utc(runner):
    result = runner.invoke(args=["petition", "create", "--help"])
    assert result.exit_code == 0
    assert "without a zone it is UTC" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("extra", "message", "code"),
    [
        ([], "give exactly one of --threshold or --threshold-percent", 2),
        (
            ["--threshold", "1", "--threshold-percent", "5"],
            "give exactly one of --threshold or --threshold-percent",
            2,
        ),
        (["--threshold", "0"], "threshold must be at least 1, got 0", 1),
        (["--threshold", "many"], "Invalid value for '--threshold'", 2),
        (["--threshold-percent", "0"], "greater than 0 and at most 100", 1),
        (["--threshold-percent", "150"], "greater than 0 and at most 100", 1),
        (["--threshold-percent", "nan"], "greater than 0 and at most 100", 1),
        (["--threshold", "1", "--closes-at", "soon"], "is not an ISO 8601 date and time", 2),
        (
            ["--threshold", "1", "--closes-at", "2001-01-01T00:00:00Z"],
            "closing time 2001-01-01T00:00:00Z is not in the future",
            1,
        ),
        (
            ["--threshold", "1", "--webhook-url", "ftp://x.example/"],
            "webhook URL must be an http:// or https:// URL",
            1,
        ),
        (["--threshold", "1", "--text", "a", "--text-file", "-"], "not both", 2),
        (["--threshold", "1", "--text-file", "/nonexistent/x.txt"], "Invalid value", 2),
    ],
)
def test_create_refuses_bad_options(runner, db, extra, message, code):
    result = runner.invoke(args=["petition", "create", "p", "--title", "T", *extra])
    refused(result, message, code)
    assert stored(db, "p") is None


def test_create_refuses_a_file_that_is_not_utf8(runner, db, tmp_path):
    text_file = tmp_path / "latin1.txt"
    text_file.write_bytes("caf\xe9".encode("latin-1"))
    result = runner.invoke(
        args=[
            "petition",
            "create",
            "p",
            "--title",
            "T",
            "--threshold",
            "1",
            "--text-file",
            text_file,
        ]
    )
    refused(result, "is not UTF-8 text")
    assert stored(db, "p") is None


def test_create_refuses_a_bad_slug_or_title(runner, db):
    refused(
        runner.invoke(args=["petition", "create", "Fair Pay", "--title", "T", "--threshold", "1"]),
        "slug 'Fair Pay' is not valid",
    )
    refused(
        runner.invoke(args=["petition", "create", "p", "--title", " ", "--threshold", "1"]),
        "title must not be empty",
    )
    refused(runner.invoke(args=["petition", "create", "p", "--threshold", "1"]), "Missing", 2)
    assert db.exec(select(Petition)).all() == []


def test_create_refuses_a_taken_slug(runner, db):
    args = ["petition", "create", "p", "--title", "First", "--threshold", "1"]
    assert runner.invoke(args=args).exit_code == 0
    refused(runner.invoke(args=[*args[:4], "Second", *args[5:]]), "'p' already exists")
    assert stored(db, "p").title == "First"


def test_create_with_open_that_cannot_open_creates_nothing(runner, db):
    result = runner.invoke(
        args=["petition", "create", "p", "--title", "T", "--threshold-percent", "10", "--open"]
    )
    refused(result, "no active members")
    assert stored(db, "p") is None


# --- open, close, list ----------------------------------------------------------------------


def test_open_then_close(runner, db):
    add_members(db, 50)
    runner.invoke(args=["petition", "create", "p", "--title", "T", "--threshold-percent", "5"])
    result = runner.invoke(args=["petition", "open", "p"])
    assert result.exit_code == 0, result.output
    assert "opened petition 'p': threshold frozen at 3 of 50 active members" in result.output
    assert stored(db, "p").state == "open"

    petition = stored(db, "p")
    petition.signature_count = 1234
    db.commit()
    result = runner.invoke(args=["petition", "close", "p"])
    assert result.exit_code == 0, result.output
    assert "closed petition 'p'" in result.output
    assert "with 1,234 signatures (threshold 3)" in result.output
    petition = stored(db, "p")
    assert petition.state == "closed"
    assert petition.closed_at is not None


def test_open_refusals(runner, db):
    refused(runner.invoke(args=["petition", "open", "nope"]), "no petition with slug 'nope'")
    runner.invoke(args=["petition", "create", "p", "--title", "T", "--threshold", "1", "--open"])
    refused(runner.invoke(args=["petition", "open", "p"]), "is open; only a draft can be opened")
    refused(runner.invoke(args=["petition", "open"]), "Missing argument 'SLUG'", 2)


def test_close_refusals(runner, db):
    refused(runner.invoke(args=["petition", "close", "nope"]), "no petition with slug 'nope'")
    runner.invoke(args=["petition", "create", "p", "--title", "T", "--threshold", "1"])
    refused(runner.invoke(args=["petition", "close", "p"]), "is a draft")
    runner.invoke(args=["petition", "open", "p"])
    runner.invoke(args=["petition", "close", "p"])
    refused(runner.invoke(args=["petition", "close", "p"]), "already closed")


def test_list_shows_every_petition_with_its_effective_state(runner, db):
    assert runner.invoke(args=["petition", "list"]).output == "no petitions\n"
    add_members(db, 20)
    runner.invoke(args=["petition", "create", "draft-one", "--title", "T", "--threshold", "7"])
    runner.invoke(args=["petition", "create", "pct", "--title", "T", "--threshold-percent", "12.5"])
    runner.invoke(
        args=[
            "petition",
            "create",
            "live",
            "--title",
            "T",
            "--threshold",
            "2",
            "--open",
            "--closes-at",
            future(1),
        ]
    )
    # Its closing time passes without anyone closing it.
    rules.find_petition(db, "live").closes_at = datetime.now(UTC) - timedelta(minutes=1)
    db.commit()

    result = runner.invoke(args=["petition", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["SLUG", "STATE", "SIGNED", "NEEDED", "CLOSES"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows == {
        "draft-one": ["draft", "0", "7"],
        "pct": ["draft", "0", "12.5%"],
        "live": ["closed", "0", "2"],
    }


def test_a_database_error_is_one_line_not_a_traceback(runner, db, monkeypatch):
    def broken(session):
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(rules, "all_petitions", broken)
    refused(
        runner.invoke(args=["petition", "list"]),
        "database error: server closed the connection",
    )


def test_commands_on_a_database_without_schema_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("BALLOT_WEBHOOK_SECRET", "whsec_dGVzdC13ZWJob29rLXNlY3JldA==")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    runner = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False}).test_cli_runner()
    for args in (["list"], ["open", "p"], ["close", "p"], ["create", "p", "--title", "T"]):
        refused(runner.invoke(args=["petition", *args]), "db upgrade")


# --- the audit trail ------------------------------------------------------------------------


def audit_events(db) -> list[AuditEvent]:
    """Every audit record, oldest first (the read ends its transaction: on SQLite it would hold
    the lock the next command waits for)."""
    events = list(db.exec(select(AuditEvent).order_by(AuditEvent.id)))
    db.rollback()
    return events


def test_create_open_and_close_are_recorded_as_in_the_browser(runner, db):
    """The same actions, with the same notes, as the organisers' pages write
    (tests/web/test_organiser_petitions.py); the actor is the command line."""
    add_members(db, 10)
    runner.invoke(args=["petition", "create", "p", "--title", "T", "--threshold-percent", "10"])
    runner.invoke(args=["petition", "open", "p"])
    runner.invoke(args=["petition", "close", "p"])
    petition = stored(db, "p")
    events = audit_events(db)
    assert [(event.actor, event.action, event.petition_id) for event in events] == [
        ("command line", "petition.create", petition.id),
        ("command line", "petition.open", petition.id),
        ("command line", "petition.close", petition.id),
    ]
    assert "slug p" in events[0].detail
    assert "threshold 10% of active members" in events[0].detail
    assert "threshold frozen at 1 of 10 active members (10% of active members)" in events[1].detail
    assert "with 0 signatures (threshold 1)" in events[2].detail


def test_create_with_open_records_both(runner, db):
    result = runner.invoke(
        args=["petition", "create", "p", "--title", "T", "--threshold", "1", "--open"]
    )
    assert result.exit_code == 0, result.output
    assert [event.action for event in audit_events(db)] == ["petition.create", "petition.open"]


def test_a_refused_command_records_nothing(runner, db):
    refused(
        runner.invoke(
            args=["petition", "create", "p", "--title", "T", "--threshold-percent", "10", "--open"]
        ),
        "no active members",
    )
    refused(runner.invoke(args=["petition", "open", "nope"]), "no petition with slug 'nope'")
    runner.invoke(args=["petition", "create", "p", "--title", "T", "--threshold", "1"])
    refused(runner.invoke(args=["petition", "close", "p"]), "is a draft")
    assert [event.action for event in audit_events(db)] == ["petition.create"]
    assert stored(db, "p").state == "draft"
