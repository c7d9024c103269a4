"""`log recount`: matching every counted signature to an active member on the roll with the
petition's commitment key, from the database or offline from an evidence pack."""

import csv
import hashlib
import hmac
import io
import json

import pytest
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import invalidation
from petitions.transparency import evidence, recount
from petitions.transparency import leaves as log_leaves
from tests.helpers import open_petition, petition
from tests.transparency.test_store import confirm

ROLL = [(f"M{n:03d}", f"m{n}@example.org", "active") for n in range(1, 9)]
SIGNERS = ["M001", "M002", "M003", "M004", "M005"]


def roll_text(rows) -> str:
    """A roll file with a header row."""
    lines = ["member_id,email,status"] + [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


@pytest.fixture
def signed(app, runner, tmp_path):
    """The roll imported from a file, a petition (threshold 4) opened against it, five members'
    signatures and a signed head; returns the roll file."""
    roll = tmp_path / "roll.csv"
    roll.write_text(roll_text(ROLL), encoding="utf-8")
    imported = runner.invoke(args=["roll", "import", str(roll)])
    assert imported.exit_code == 0, imported.output
    open_petition(app, threshold=4)
    for member_id in SIGNERS:
        confirm(app, member_id)
    housekeeping(app)
    return roll


def export_pack(client, tmp_path):
    response = client.get("/api/v1/petitions/vote/evidence")
    assert response.status_code == 200
    pack = tmp_path / "vote-evidence.jsonl"
    pack.write_bytes(response.get_data())
    return pack


def key_of(runner) -> str:
    result = runner.invoke(args=["log", "commitment-key", "vote"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def recount_slug(runner, roll, *args):
    return runner.invoke(args=["log", "recount", "--slug", "vote", "--roll", str(roll), *args])


def test_an_honest_petition_recounts_from_the_database(app, runner, signed):
    result = recount_slug(runner, signed)
    assert result.exit_code == 0, result.output
    assert "log: 5 leaves, 5 signatures, nothing cancelled; the log counts 5" in result.output
    assert "the petition reports 5" in result.output
    assert "eligible: 5 of the 5 counted signatures" in result.output
    assert "no member is counted twice" in result.output
    assert "threshold: 4; the eligible count meets it" in result.output
    assert "roll: 8 rows (8 active)" in result.output
    assert "WARNING" not in result.output  # the same file as the snapshot the pack names
    assert "the recount agrees" in result.output
    with Session(flask_db.engine_of(app)) as session:
        used = session.exec(select(AuditEvent).where(AuditEvent.action == "log.commitment_key"))
        assert [(e.actor, e.detail) for e in used] == [
            ("command line", "used by log recount --slug")
        ]


def test_an_honest_petition_recounts_offline_from_the_evidence_pack(
    app, client, runner, signed, tmp_path
):
    pack = export_pack(client, tmp_path)
    key = key_of(runner)
    # Nothing of the database is needed: the pack, the roll and the key are enough.
    flask_db.engine_of(app).dispose()
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(signed), "--key", key.upper()]
    )
    assert result.exit_code == 0, result.output
    assert "eligible: 5 of the 5 counted signatures" in result.output
    assert "the recount agrees" in result.output


def test_the_key_can_come_from_the_environment(client, runner, signed, tmp_path):
    pack = export_pack(client, tmp_path)
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(signed)],
        env={"PETITIONS_COMMITMENT_KEY": key_of(runner)},
    )
    assert result.exit_code == 0, result.output


def test_a_counted_member_missing_from_the_roll_is_named(client, runner, signed, tmp_path):
    smaller = tmp_path / "smaller.csv"
    smaller.write_text(roll_text([row for row in ROLL if row[0] != "M003"]), encoding="utf-8")
    pack = export_pack(client, tmp_path)
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(smaller), "--key", key_of(runner)]
    )
    assert result.exit_code != 0
    commitment = log_leaves.commitment(key_of(runner), "M003")
    assert (
        f"NOT ELIGIBLE: leaf 2 (commitment {commitment[:16]}...): matches no member on the roll"
        in result.output
    )
    assert "eligible: 4 of the 5 counted signatures" in result.output
    assert "PROBLEM: 4 eligible signatures, but the log counts 5" in result.output
    # A different file from the snapshot the pack names: said, but not itself an error.
    assert "WARNING: this roll file" in result.output
    assert "the roll may have changed since" in result.output
    assert "the recount does not agree: 1 counted signature(s) not eligible" in result.output


def test_a_lapsed_member_is_named(runner, signed, tmp_path):
    lapsed = tmp_path / "lapsed.csv"
    rows = [(m, e, "lapsed" if m == "M002" else s) for m, e, s in ROLL]
    lapsed.write_text(roll_text(rows), encoding="utf-8")
    result = recount_slug(runner, lapsed)
    assert result.exit_code != 0
    assert "NOT ELIGIBLE: leaf 1: member M002 (line 3) is lapsed on the roll" in result.output
    assert "roll: 8 rows (7 active, 1 lapsed)" in result.output


def test_a_suspended_member_and_a_row_the_importer_rejects_are_named(runner, signed, tmp_path):
    rows = [
        ("M001", "m1@example.org", "suspended"),
        ("M002", "not-an-address", "active"),
        ("M003", "m3@example.org", "active"),
        ("M003", "m3b@example.org", "active"),
        ("M004", "m4@example.org", "active"),
        ("M005", "m5@example.org", "active"),
    ]
    roll = tmp_path / "mixed.csv"
    roll.write_text(roll_text(rows), encoding="utf-8")
    result = recount_slug(runner, roll)
    assert result.exit_code != 0
    assert "leaf 0: member M001 (line 2) is suspended on the roll" in result.output
    assert "leaf 1: member M002's row (line 3) is one the importer rejects" in result.output
    assert "leaf 2: member M003 is listed 2 times on the roll (lines 4, 5)" in result.output
    assert "eligible: 2 of the 5" in result.output


def test_a_wrong_key_matches_nobody(client, runner, signed, tmp_path):
    pack = export_pack(client, tmp_path)
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(signed), "--key", "ab" * 32]
    )
    assert result.exit_code != 0
    assert "eligible: 0 of the 5" in result.output
    assert result.output.count("matches no member on the roll") == 5
    assert "no counted signature matches anyone on the roll: is the key" in result.output


def test_invalidated_signatures_are_not_counted(app, client, runner, signed, tmp_path):
    invalidation.invalidate(
        flask_db.engine_of(app), settings_of(app), "vote", [2], "not_a_member", "ann@example.org"
    )
    housekeeping(app)
    # M002 (signature 2) lapsed before signing: invalidated, so the recount agrees.
    lapsed = tmp_path / "lapsed.csv"
    rows = [(m, e, "lapsed" if m == "M002" else s) for m, e, s in ROLL]
    lapsed.write_text(roll_text(rows), encoding="utf-8")
    pack = export_pack(client, tmp_path)
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(lapsed), "--key", key_of(runner)]
    )
    assert result.exit_code == 0, result.output
    assert "log: 6 leaves, 5 signatures, 1 invalidation(s); the log counts 4" in result.output
    assert "the petition reports 4" in result.output
    assert "eligible: 4 of the 4 counted signatures" in result.output
    assert "threshold: 4; the eligible count meets it" in result.output
    # Against the original roll too; but without the cancelling leaf, M002 would count.
    assert recount_slug(runner, signed).exit_code == 0
    lines = pack.read_text().splitlines()
    header = json.loads(lines[0])
    header["petition"]["count"] = 5
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("\n".join([json.dumps(header), *lines[1:6]]) + "\n")
    cut = runner.invoke(
        args=["log", "recount", str(truncated), "--roll", str(lapsed), "--key", key_of(runner)]
    )
    assert cut.exit_code != 0
    assert "leaf 1: member M002 (line 3) is lapsed" in cut.output


def test_a_count_the_log_does_not_give_is_a_problem(client, runner, signed, tmp_path):
    pack = export_pack(client, tmp_path)
    lines = pack.read_text().splitlines()
    header = json.loads(lines[0])
    header["petition"]["count"] = 6
    pack.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(signed), "--key", key_of(runner)]
    )
    assert result.exit_code != 0
    assert "PROBLEM: the petition reports 6 signatures but the log counts 5" in result.output


def test_matches_are_written_for_every_counted_signature(runner, signed, tmp_path):
    out = tmp_path / "matches.csv"
    lapsed = tmp_path / "lapsed.csv"
    rows = [(m, e, "lapsed" if m == "M005" else s) for m, e, s in ROLL]
    lapsed.write_text(roll_text(rows), encoding="utf-8")
    result = recount_slug(runner, lapsed, "--matches", str(out))
    assert result.exit_code != 0
    assert f"wrote 5 counted signatures with their members to {out}" in result.output
    with out.open(encoding="utf-8") as written_file:
        written = list(csv.DictReader(written_file))
    assert [row["member_id"] for row in written] == SIGNERS
    assert [row["leaf_index"] for row in written] == ["0", "1", "2", "3", "4"]
    assert written[4]["status"] == "lapsed"
    assert written[4]["verdict"] == "member M005 (line 6) is lapsed on the roll"
    assert {row["verdict"] for row in written[:4]} == {"eligible"}


def test_findings_are_listed_fifty_at_a_time_unless_all_are_asked_for(
    client, runner, signed, tmp_path, monkeypatch
):
    from petitions.cli import log as log_cli

    monkeypatch.setattr(log_cli, "_LISTED", 2)
    pack = export_pack(client, tmp_path)
    args = ["log", "recount", str(pack), "--roll", str(signed), "--key", "cd" * 32]
    short = runner.invoke(args=args)
    assert short.output.count("NOT ELIGIBLE") == 2
    assert "... and 3 more (--all lists every one" in short.output
    assert runner.invoke(args=[*args, "--all"]).output.count("NOT ELIGIBLE") == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "vote"], "Missing option '--roll'"),
        (["PACK", "--roll", "ROLL"], "--key is required with an evidence pack FILE"),
        (["PACK", "--slug", "vote", "--roll", "ROLL"], "give either an evidence pack FILE"),
        (["--roll", "ROLL"], "give either an evidence pack FILE"),
        (["--slug", "nope", "--roll", "ROLL"], "there is no petition 'nope'"),
        (["--slug", "vote", "--roll", "ROLL", "--key", "xyz"], "must be 64 hexadecimal digits"),
        (["PACK", "--roll", "ROLL", "--key", "ab" * 31], "must be 64 hexadecimal digits"),
        (["NOTPACK", "--roll", "ROLL", "--key", "ab" * 32], "not an evidence pack"),
        (["--slug", "vote", "--roll", "NOTROLL"], "required column missing: email"),
        (["--slug", "vote", "--roll", "XLSX"], "this is a spreadsheet file"),
    ],
)
def test_bad_input_gets_a_clear_error(client, runner, signed, tmp_path, args, message):
    files = {
        "PACK": export_pack(client, tmp_path),
        "ROLL": signed,
        "NOTPACK": tmp_path / "not.jsonl",
        "NOTROLL": tmp_path / "not.csv",
        "XLSX": tmp_path / "roll.xlsx",
    }
    files["NOTPACK"].write_text('{"format": "something else"}\n')
    files["NOTROLL"].write_text("member_id,name\n1,Jo\n")
    files["XLSX"].write_bytes(b"PK\x03\x04 a zip file")
    result = runner.invoke(args=["log", "recount", *[str(files.get(a, a)) for a in args]])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_pack_without_a_roll_snapshot_is_warned_about(app, runner, tmp_path):
    from tests.helpers import add_members

    add_members(app, *[(m, e) for m, e, _ in ROLL])
    open_petition(app, threshold=4)
    confirm(app, "M001")
    roll = tmp_path / "roll.csv"
    roll.write_text(roll_text(ROLL), encoding="utf-8")
    result = recount_slug(runner, roll)
    assert result.exit_code == 0, result.output
    assert "WARNING: the evidence pack names no roll snapshot" in result.output


# The domain, without the command line.


def _leaf(kind, index, member, cancels=None, key="11" * 32):
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 26, tzinfo=UTC)
    commitment = log_leaves.commitment(key, member)
    if kind == "signature":
        return index, log_leaves.signature_leaf(index, commitment, moment)
    return index, log_leaves.cancelling_leaf(kind, index, commitment, cancels, "other", moment)


def test_replay_counts_signatures_minus_cancellations():
    leaves = [
        _leaf("signature", 0, "A"),
        _leaf("signature", 1, "B"),
        _leaf("withdrawal", 2, "A", cancels=0),
        _leaf("signature", 3, "A"),  # signed again after withdrawing: counts again
        _leaf("invalidation", 4, "B", cancels=1),
        _leaf("invalidation", 5, "B", cancels=1),  # cancels nothing counted
        _leaf("signature", 6, "A"),  # counted twice
        (7, b"not a leaf"),
    ]
    replayed = recount.replay(leaves)
    key = bytes.fromhex("11" * 32)
    assert replayed.counted == {hmac.digest(key, b"A", "sha256"): 3}
    assert replayed.signatures == 4
    assert dict(replayed.cancelled) == {"withdrawal": 1, "invalidation": 1}
    assert replayed.counted_again == 1
    assert [problem.split(" ", 2)[1] for problem in replayed.problems] == ["5", "6", "7"]


def test_the_roll_is_read_with_the_importers_parser_and_hashed_whole():
    data = ("\ufeffMember_ID,EMAIL,Status\r\n" + '"M001",m1@example.org,Active\r\n').encode()
    counted = {hmac.digest(b"k" * 32, b"M001", "sha256"): 0}
    scan = recount.scan_roll(io.BytesIO(data), b"k" * 32, counted)
    assert scan.sha256 == hashlib.sha256(data).hexdigest()
    assert scan.rows == 1
    assert scan.entries(0) == [recount.RollEntry(2, "M001", "active", None)]
    assert scan.entries(1) == []


def test_the_recount_works_from_a_pack_read_back(app, client, signed, tmp_path):
    pack = export_pack(client, tmp_path)
    with pack.open(encoding="utf-8") as lines, signed.open("rb") as roll:
        header, leaves = evidence.read(lines)
        result = recount.recount(header, leaves, roll, bytes.fromhex(petition(app).log_secret))
    assert result.ok
    assert (result.eligible, result.log_count, result.reported, result.threshold) == (5, 5, 5, 4)
    assert result.warnings == []


def test_printing_the_key_is_recorded_in_the_audit_trail(app, runner, signed):
    from sqlmodel import Session, select

    from petitions.db.models import AuditEvent

    assert key_of(runner) == petition(app).log_secret
    with Session(flask_db.engine_of(app)) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "log.commitment_key"))
        recorded = [(event.actor, event.petition_id, event.detail) for event in events]
    assert recorded == [("command line", petition(app).id, "printed by log commitment-key")]


def test_the_matches_csv_runs_no_formula(app, runner, tmp_path):
    hostile = ["=1+1", "@SUM(A1)", "-2+3", "+cmd"]
    roll = tmp_path / "roll.csv"
    roll.write_text(
        roll_text([(number, f"h{n}@example.org", "active") for n, number in enumerate(hostile)]),
        encoding="utf-8",
    )
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    open_petition(app, threshold=10)
    for number in hostile:
        confirm(app, number)
    housekeeping(app)
    out = tmp_path / "matches.csv"
    result = recount_slug(runner, roll, "--matches", str(out))
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as written_file:
        written = list(csv.DictReader(written_file))
    assert [row["member_id"] for row in written] == [f"'{number}" for number in hostile]
    for row in written:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
