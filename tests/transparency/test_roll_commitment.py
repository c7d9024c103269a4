"""The committed roll: fixed and published when a petition opens, changed only by a recorded,
public re-commit, checked by signing, `log verify` and `log recount` (README, "The committed
roll")."""

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent, LogLeaf, Member, SignRequest
from petitions.jobs.dispatch import housekeeping
from petitions.lifecycle import actions
from petitions.signatures import signing, tokens
from petitions.transparency import leaves as log_leaves
from petitions.transparency import merkle, roll_commitment
from tests.helpers import petition, sent_mail, sign_in
from tests.transparency.test_recount import export_pack, key_of, roll_text

ROLL = [
    ("M001", "m1@example.org", "active"),
    ("M002", "m2@example.org", "active"),
    ("M003", "m3@example.org", "active"),
    ("M004", "m4@example.org", "active"),
    ("M005", "m5@example.org", "lapsed"),
    ("M006", "m6@example.org", "active"),
]
ACTIVE = ["M001", "M002", "M003", "M004", "M006"]


def independent_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's MTH written out from the RFC, sharing nothing with the service's code."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    left, right = independent_root(leaves[:split]), independent_root(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def expected_root(key_hex: str, numbers) -> str:
    key = bytes.fromhex(key_hex)
    digests = sorted(hmac.new(key, n.encode(), hashlib.sha256).digest() for n in numbers)
    return independent_root(digests).hex()


def import_roll(runner, tmp_path, rows, name="roll.csv"):
    path = tmp_path / name
    path.write_text(roll_text(rows), encoding="utf-8")
    result = runner.invoke(args=["roll", "import", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def opened(app, runner, tmp_path):
    """The roll imported from a file, and the petition opened on the command line (threshold
    3), which commits the roll; returns the roll file."""
    roll = import_roll(runner, tmp_path, ROLL)
    created = runner.invoke(
        args=["petition", "create", "vote", "--title", "Vote", "--threshold", "3", "--open"]
    )
    assert created.exit_code == 0, created.output
    assert "committed the roll of 5 eligible members as the log's first entry" in created.output
    return roll


def leaf_fields(app, index: int) -> dict:
    with Session(flask_db.engine_of(app)) as session:
        leaf = session.exec(
            select(LogLeaf).where(LogLeaf.petition_id == petition(app).id, LogLeaf.index == index)
        ).one()
    return log_leaves.decode(leaf.data)


def token_for(app, member_id: str) -> str:
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == member_id)).one()
    return tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member.id)


def confirm(app, member_id: str) -> signing.Confirmation:
    return signing.confirm(flask_db.engine_of(app), settings_of(app), token_for(app, member_id))


def test_opening_commits_the_eligible_roll_as_the_first_entry(app, runner, opened):
    stored = petition(app)
    assert (stored.roll_generation, stored.log_size, stored.eligible_members) == (1, 1, 5)
    fields = leaf_fields(app, 0)
    assert fields["type"] == "roll_commitment"
    assert (fields["index"], fields["generation"], fields["count"]) == (0, 1, 5)
    assert "previous_count" not in fields
    # The root is the one anyone computes from the roll file and the key, by the RFC alone.
    assert fields["root_hash"] == expected_root(stored.log_secret, ACTIVE)
    # Signed with the log's key over canonical JSON naming the petition.
    statement = {k: v for k, v in fields.items() if k not in ("index", "signature")}
    message = json.dumps(
        {**statement, "petition": "vote"}, sort_keys=True, separators=(",", ":")
    ).encode()
    public = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert public.exit_code == 0, public.output
    assert "the roll was committed at the log's first entry (5 eligible members)" in public.output
    key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(app.test_client().get("/api/v1/log/public-key").get_json()["public_key"])
    )
    key.verify(base64.b64decode(fields["signature"]), message)
    with Session(flask_db.engine_of(app)) as session:
        opened_event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "petition.open")
        ).one()
    assert "the roll committed as the public log's first entry" in opened_event.detail


def test_the_first_signature_follows_the_commitment_and_verify_passes(app, runner, opened):
    result = confirm(app, "M001")
    assert result.status == "confirmed"
    assert (result.number, result.leaf_index) == (1, 1)
    housekeeping(app)
    verified = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert verified.exit_code == 0, verified.output
    assert "2 leaves" in verified.output
    assert "the log counts 1 signatures, the petition reports 1" in verified.output


def test_a_later_import_changes_nobody_until_a_recommit(
    app, runner, client, worker, opened, tmp_path
):
    # A new member joins, and a committed one lapses.
    later = [(m, e, "lapsed" if m in ("M002", "M003") else s) for m, e, s in ROLL]
    later.append(("M009", "m9@example.org", "active"))
    import_roll(runner, tmp_path, later, "later.csv")

    # The newcomer is not on the committed roll: not mailed, told so on the page.
    before = len(sent_mail(app))
    assert client.post("/p/vote/sign", data={"email": "m9@example.org"}).status_code == 303
    worker.run_pending()
    with Session(flask_db.engine_of(app)) as session:
        asked = session.exec(select(SignRequest).order_by(SignRequest.id.desc())).first()
    assert asked.outcome == "not_on_committed_roll"
    assert sent_mail(app)[before:] == []
    refused = client.post("/p/vote/confirm", data={"token": token_for(app, "M009")})
    assert refused.status_code == 403
    assert "You are not on the roll this petition counts" in refused.get_data(as_text=True)
    api = client.post("/api/v1/signatures/confirm", json={"token": token_for(app, "M009")})
    assert (api.status_code, api.get_json()["error"]) == (403, "not_on_committed_roll")

    # A member on the committed roll who has lapsed since still counts for this petition.
    assert confirm(app, "M002").status == "confirmed"
    assert petition(app).signature_count == 1

    # The organiser re-commits: recorded and published with both counts.
    done = runner.invoke(
        args=["petition", "recommit", "vote", "--by", "Sam Organiser", "--reason", "new roll"]
    )
    assert done.exit_code == 0, done.output
    assert "5 eligible members (generation 1) -> 4 (generation 2" in done.output
    stored = petition(app)
    assert (stored.roll_generation, stored.log_size) == (2, 3)
    fields = leaf_fields(app, 2)
    assert (fields["type"], fields["generation"], fields["count"]) == ("roll_commitment", 2, 4)
    assert fields["previous_count"] == 5
    assert fields["root_hash"] == expected_root(stored.log_secret, ["M001", "M004", "M006", "M009"])
    with Session(flask_db.engine_of(app)) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "petition.recommit")
        ).one()
    assert event.actor == "command line"
    assert "5 eligible members (generation 1) -> 4 eligible members" in event.detail
    assert "decided by Sam Organiser; reason: new roll" in event.detail

    # Now the newcomer signs, and the member left out by the re-commit cannot; the one counted
    # before stays counted.
    assert confirm(app, "M009").status == "confirmed"
    assert confirm(app, "M003").status == "not_in_good_standing"
    assert petition(app).signature_count == 2
    # M002, off the new roll, has signed: told so, and may still ask for the link to withdraw.
    assert confirm(app, "M002").status == "already_signed"
    assert client.post("/p/vote/manage", data={"email": "m2@example.org"}).status_code == 303
    worker.run_pending()
    with Session(flask_db.engine_of(app)) as session:
        asked = session.exec(select(SignRequest).order_by(SignRequest.id.desc())).first()
    assert (asked.kind, asked.outcome) == ("manage", "manage_link")

    results = client.get("/p/vote/results").get_data(as_text=True)
    assert "Who can sign: the committed roll" in results
    assert fields["root_hash"] in results
    assert fields["signature"] in results
    assert "(was 5)" in results
    assert "new roll" not in results  # the reason is for scrutineers, not published
    housekeeping(app)
    verified = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert verified.exit_code == 0, verified.output
    assert "2 generation(s), the newest counting 4" in verified.output


def test_recount_checks_signatures_against_the_committed_roll(
    app, runner, client, opened, tmp_path
):
    for member_id in ("M001", "M002", "M004"):
        assert confirm(app, member_id).status == "confirmed"
    housekeeping(app)
    pack = export_pack(client, tmp_path)
    key = key_of(runner)
    good = runner.invoke(args=["log", "recount", str(pack), "--roll", str(opened), "--key", key])
    assert good.exit_code == 0, good.output
    assert "committed roll: generation 1, 5 members" in good.output
    assert "this roll file gives 5 members" in good.output
    assert "it matches" in good.output
    assert "outside the committed roll: 0 counted signature(s)" in good.output
    assert "the roll file is the committed roll, and every counted signature is on it" in (
        good.output
    )

    # A roll file that is not the committed one: its root does not match.
    other = tmp_path / "other.csv"
    other.write_text(roll_text([*ROLL, ("M010", "m10@example.org", "active")]), "utf-8")
    wrong = runner.invoke(args=["log", "recount", str(pack), "--roll", str(other), "--key", key])
    assert wrong.exit_code != 0
    assert "it DOES NOT MATCH" in wrong.output
    assert "not the roll committed for this petition" in wrong.output


def test_recount_lists_a_counted_signature_outside_the_committed_roll(
    app, runner, client, opened, tmp_path
):
    assert confirm(app, "M002").status == "confirmed"
    later = [(m, e, "lapsed" if m == "M002" else s) for m, e, s in ROLL]
    later_roll = import_roll(runner, tmp_path, later, "later.csv")
    done = runner.invoke(args=["petition", "recommit", "vote", "--by", "Sam", "--reason", "x"])
    assert done.exit_code == 0, done.output
    housekeeping(app)
    pack = export_pack(client, tmp_path)
    key = key_of(runner)
    result = runner.invoke(
        args=["log", "recount", str(pack), "--roll", str(later_roll), "--key", key]
    )
    assert result.exit_code != 0
    assert "committed roll: generation 2, 4 members" in result.output
    assert "it matches" in result.output
    assert "outside the committed roll: 1 counted signature(s)" in result.output
    assert "NOT ELIGIBLE: leaf 1: not on the committed roll (generation 2)" in result.output
    # From the database, the stored set finds it too, whatever roll file is given.
    slug = runner.invoke(args=["log", "recount", "--slug", "vote", "--roll", str(opened)])
    assert slug.exit_code != 0
    assert "DOES NOT MATCH" in slug.output
    assert "outside the committed roll: 1 counted signature(s)" in slug.output


def test_verify_catches_a_committed_roll_changed_in_the_pack(app, runner, client, opened, tmp_path):
    housekeeping(app)
    pack = export_pack(client, tmp_path)
    header, *rest = pack.read_text(encoding="utf-8").splitlines()
    fields = json.loads(header)
    fields["roll_commitments"][0]["count"] = 6
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join([json.dumps(fields), *rest]) + "\n", encoding="utf-8")
    result = runner.invoke(args=["log", "verify", str(changed)])
    assert result.exit_code != 0
    assert "the header's committed roll generation 1 does not match the log's leaf 0" in (
        result.output
    )

    # A leaf whose count was changed no longer carries a valid signature (nor fits its head).
    leaf = json.loads(rest[0])
    data = json.loads(base64.b64decode(leaf["leaf_input"]))
    data["count"] = 6
    leaf["leaf_input"] = base64.b64encode(log_leaves.encode(data)).decode()
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([header, json.dumps(leaf), *rest[1:]]) + "\n", encoding="utf-8")
    result = runner.invoke(args=["log", "verify", str(forged)])
    assert result.exit_code != 0
    assert "leaf 0 (roll commitment) does not carry a valid signature" in result.output


def test_a_petition_opened_without_a_commitment_counts_the_live_roll(app, runner, tmp_path):
    """As petitions opened before rolls were committed do; committing one later is a
    re-commit from nothing, at the end of its log."""
    import_roll(runner, tmp_path, ROLL)
    engine = flask_db.engine_of(app)
    actions.create_petition(engine, "test", slug="vote", title="Vote", threshold=3, open_now=True)
    assert petition(app).roll_generation is None
    assert confirm(app, "M001").status == "confirmed"
    assert confirm(app, "M005").status == "not_in_good_standing"
    before = app.test_client().get("/p/vote/results").get_data(as_text=True)
    assert "This petition opened before rolls were committed, so no list" in before
    done = roll_commitment.recommit(engine, settings_of(app), "test", "vote", "fix who counts")
    assert done.previous is None
    assert (done.current.generation, done.current.leaf_index) == (1, 1)
    housekeeping(app)
    verified = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert verified.exit_code == 0, verified.output
    assert "the roll was committed at leaf 1" in verified.output
    after = app.test_client().get("/p/vote/results").get_data(as_text=True)
    words = " ".join(after.split())
    assert "This petition opened before rolls were committed; on" in words
    assert "published as entry 2 of the log" in words


def test_recommit_is_refused_without_a_reason_or_once_closed(app, runner, opened):
    missing = runner.invoke(args=["petition", "recommit", "vote", "--by", "Sam", "--reason", " "])
    assert missing.exit_code != 0
    assert "Error: give the reason for re-committing the roll" in missing.output
    assert runner.invoke(args=["petition", "close", "vote"]).exit_code == 0
    closed = runner.invoke(args=["petition", "recommit", "vote", "--by", "Sam", "--reason", "x"])
    assert closed.exit_code != 0
    assert "only an open petition's roll can be re-committed" in closed.output
    assert petition(app).roll_generation == 1


def test_the_organiser_recommits_from_the_browser(app, runner, opened, tmp_path):
    client = app.test_client()
    sign_in(app, client)
    import_roll(runner, tmp_path, [*ROLL, ("M009", "m9@example.org", "active")], "later.csv")
    page = client.get("/organiser/p/vote/roll")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "In good standing now" in text
    assert "Re-commit the roll" in text
    settings = client.get("/organiser/p/vote/settings").get_data(as_text=True)
    assert "/organiser/p/vote/roll" in settings

    refused = client.post("/organiser/p/vote/roll", data={"reason": "", "confirm": ""})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "Say why the roll is being re-committed." in body
    assert "Tick the box to confirm" in body
    assert petition(app).roll_generation == 1

    done = client.post(
        "/organiser/p/vote/roll", data={"reason": "members who joined", "confirm": "yes"}
    )
    assert done.status_code == 303
    shown = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Roll re-committed from 5 to 6 eligible members" in shown
    assert "members who joined" in shown  # organisers see the reason
    assert petition(app).roll_generation == 2
    with Session(flask_db.engine_of(app)) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "petition.recommit")
        ).one()
    assert event.actor == "organiser@example.org"


def test_scrutineers_cannot_recommit(app, opened):
    client = app.test_client()
    sign_in(app, client, "scrutineer@example.org", "scrutineer")
    assert client.get("/organiser/p/vote/roll").status_code == 403
    assert (
        client.post("/organiser/p/vote/roll", data={"reason": "x", "confirm": "yes"}).status_code
        == 403
    )


def test_the_frontier_gives_the_rfc_root():
    for size in (0, 1, 2, 3, 5, 8, 13):
        leaves = [bytes([n]) * 32 for n in range(size)]
        assert (
            merkle.root_of(leaves) == independent_root(leaves) == merkle.MemoryTree(leaves).root()
        )
