"""The public signature log: leaves, proofs, signed heads, the evidence pack and its verifier."""

import base64
import hashlib
import hmac
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, select, update
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import LogLeaf, Member, Petition, TreeHead
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import signing, tokens
from petitions.transparency import leaves as log_leaves
from petitions.transparency import merkle, store
from petitions.transparency import verify as log_verify
from tests.helpers import add_members, open_petition, petition

MEMBERS = [(f"M{n:03d}", f"m{n}@example.org") for n in range(1, 13)]


@pytest.fixture
def signed(app):
    """A petition (threshold 5) with the first 7 members' signatures and a signed head."""
    add_members(app, *MEMBERS)
    open_petition(app, threshold=5)
    receipts = [confirm(app, member_id) for member_id, _ in MEMBERS[:7]]
    housekeeping(app)
    return receipts


def confirm(app, member_id: str) -> dict:
    """Confirm ``member_id``'s signature through the domain, as the link would; the receipt."""
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == member_id)).scalar_one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member.id)
    result = signing.confirm(flask_db.engine_of(app), settings_of(app), token)
    assert result.status == "confirmed"
    return result.receipt


def verify_slug(runner, *args):
    return runner.invoke(args=["log", "verify", "--slug", "vote", *args])


def test_each_confirmation_appends_one_canonical_leaf(app, signed):
    stored = petition(app)
    with Session(flask_db.engine_of(app)) as session:
        rows = session.scalars(select(LogLeaf).order_by(LogLeaf.index)).all()
    assert [row.index for row in rows] == list(range(7)) == [r["leaf_index"] for r in signed]
    assert stored.log_size == 7 == stored.signature_count
    for row, receipt, (member_id, _) in zip(rows, signed, MEMBERS, strict=False):
        fields = log_leaves.decode(row.data)
        assert fields["type"] == "signature"
        assert fields["index"] == row.index
        assert fields["time"].endswith("Z")
        assert len(fields["time"]) == 20
        expected = hmac.new(bytes.fromhex(stored.log_secret), member_id.encode(), hashlib.sha256)
        assert fields["commitment"] == expected.hexdigest()
        assert member_id not in row.data.decode()
        assert row.leaf_hash == merkle.leaf_hash(row.data)
        assert receipt["leaf_hash"] == row.leaf_hash.hex()


def test_the_api_publishes_leaves_heads_and_proofs_that_verify(app, client, signed):
    head = client.get("/api/v1/petitions/vote/log/head").get_json()
    assert head["size"] == 7
    key = client.get("/api/v1/log/public-key").get_json()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    message = store.head_message("vote", 7, head["root_hash"], head["timestamp"])
    public.verify(base64.b64decode(head["signature"]), message)  # raises if wrong

    page = client.get("/api/v1/petitions/vote/log?start=2&limit=3").get_json()
    assert [leaf["index"] for leaf in page["leaves"]] == [2, 3, 4]
    assert page["next"] == 5
    assert page["size"] == 7
    leaves = [
        base64.b64decode(leaf["leaf_input"])
        for leaf in client.get("/api/v1/petitions/vote/log").get_json()["leaves"]
    ]
    assert merkle.MemoryTree(leaves).root().hex() == head["root_hash"]

    root = bytes.fromhex(head["root_hash"])
    for receipt in signed:
        proof = client.get(
            f"/api/v1/petitions/vote/log/proof?index={receipt['leaf_index']}&size=7"
        ).get_json()
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        leaf = bytes.fromhex(receipt["leaf_hash"])
        assert merkle.verify_inclusion(leaf, receipt["leaf_index"], 7, path, root)
    for first in range(1, 8):
        proof = client.get(f"/api/v1/petitions/vote/log/consistency?first={first}&second=7")
        first_root = merkle.MemoryTree(leaves[:first]).root()
        nodes = [bytes.fromhex(node) for node in proof.get_json()["consistency"]]
        assert merkle.verify_consistency(first, 7, first_root, root, nodes)

    answer = client.get("/api/v1/petitions/vote").get_json()
    assert answer["log"] == {"size": 7, "root_hash": head["root_hash"]}


@pytest.mark.parametrize(
    "query",
    ["index=7&size=7", "index=0&size=8", "index=-1&size=3", "index=x&size=3", "size=3", ""],
)
def test_bad_proof_requests_get_a_clear_400(client, signed, query):
    response = client.get(f"/api/v1/petitions/vote/log/proof?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_parameter"


def test_log_endpoints_404_for_unknown_petitions_and_before_the_first_head(app, client):
    assert client.get("/api/v1/petitions/nope/log/head").status_code == 404
    open_petition(app)
    response = client.get("/api/v1/petitions/vote/log/head")
    assert response.status_code == 404
    assert response.get_json()["error"] == "no_head"
    assert client.get("/api/v1/petitions/vote").get_json()["log"] is None


def test_heads_are_signed_as_the_log_grows(app, client, signed):
    confirm(app, "M008")
    assert client.get("/api/v1/petitions/vote/log/head").get_json()["size"] == 7
    housekeeping(app)
    assert client.get("/api/v1/petitions/vote/log/head").get_json()["size"] == 8
    housekeeping(app)  # nothing new: no new head
    with Session(flask_db.engine_of(app)) as session:
        sizes = session.scalars(select(TreeHead.size).order_by(TreeHead.size)).all()
    assert sizes == [5, 7, 8]  # 5: the head signed in the crossing transaction


def test_the_crossing_head_is_in_the_webhook_and_fits_later_heads(app, client, signed, worker):
    worker.run_pending()
    receipt = client.get("/dev/webhooks").get_data(as_text=True)
    assert "verified" in receipt
    with Session(flask_db.engine_of(app)) as session:
        from petitions.db.models import WebhookDelivery

        body = json.loads(session.scalars(select(WebhookDelivery.payload)).one())
    crossing = body["data"]["log"]
    assert crossing["size"] == 5
    latest = client.get("/api/v1/petitions/vote/log/head").get_json()
    proof = client.get("/api/v1/petitions/vote/log/consistency?first=5&second=7").get_json()
    assert merkle.verify_consistency(
        5,
        7,
        bytes.fromhex(crossing["root_hash"]),
        bytes.fromhex(latest["root_hash"]),
        [bytes.fromhex(node) for node in proof["consistency"]],
    )


def test_the_evidence_pack_verifies_offline(app, client, runner, signed, tmp_path):
    response = client.get("/api/v1/petitions/vote/evidence")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    pack = tmp_path / "vote-evidence.jsonl"
    pack.write_bytes(response.get_data())
    header = json.loads(pack.read_text().splitlines()[0])
    assert header["petition"]["count"] == 7
    assert [head["size"] for head in header["heads"]] == [5, 7]
    result = runner.invoke(args=["log", "verify", str(pack)])
    assert result.exit_code == 0, result.output
    assert "7 leaves, 2 signed heads; the log counts 7 signatures" in result.output
    assert "the log verifies" in result.output
    assert verify_slug(runner).exit_code == 0


def _tamper(app, statement):
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.execute(statement)


def test_a_deleted_leaf_is_caught(app, runner, signed):
    _tamper(app, delete(LogLeaf).where(LogLeaf.index == 3))
    result = verify_slug(runner)
    assert result.exit_code != 0
    assert "leaf 3 is missing" in result.output
    assert "the history was changed" in result.output


def test_an_altered_leaf_is_caught(app, runner, signed):
    with Session(flask_db.engine_of(app)) as session:
        data = session.scalars(select(LogLeaf.data).where(LogLeaf.index == 2)).one()
    fields = log_leaves.decode(data)
    fields["time"] = "2020-01-01T00:00:00Z"
    _tamper(app, update(LogLeaf).where(LogLeaf.index == 2).values(data=log_leaves.encode(fields)))
    result = verify_slug(runner)
    assert result.exit_code != 0
    assert "the head of size 5 signs root" in result.output


def test_reordered_leaves_are_caught(app, runner, signed):
    with Session(flask_db.engine_of(app)) as session:
        one, four = (
            session.scalars(select(LogLeaf.data).where(LogLeaf.index == n)).one() for n in (1, 4)
        )
    _tamper(app, update(LogLeaf).where(LogLeaf.index == 1).values(data=four))
    _tamper(app, update(LogLeaf).where(LogLeaf.index == 4).values(data=one))
    result = verify_slug(runner)
    assert result.exit_code != 0
    assert "leaf 1 says it is leaf 4" in result.output


def test_an_inserted_leaf_is_caught(app, runner, signed):
    stored = petition(app)
    # An insider adds a signature for a member who never signed, and the count to match.
    commitment = log_leaves.commitment(stored.log_secret, "M012")
    with Session(flask_db.engine_of(app)) as session, session.begin():
        store.append(
            session, stored, 7, "signature", log_leaves.signature_leaf(7, commitment, utcnow())
        )
        session.execute(
            update(Petition).values(signature_count=8, log_size=8).where(Petition.id == stored.id)
        )
    # Unsigned by a head, the extra leaf shows; once a head is signed over it, the earlier heads
    # kept elsewhere (here the crossing head, which the ballot system holds) still fit, so the
    # insertion is in the open log for anyone to see and count.
    result = verify_slug(runner)
    assert "1 leaves are newer than the newest signed head" in result.output
    # An insertion in the middle instead changes every later leaf's position: caught.
    _tamper(app, update(LogLeaf).where(LogLeaf.index == 7).values(index=100))
    _tamper(app, update(LogLeaf).where(LogLeaf.index == 2).values(index=7))
    _tamper(app, update(LogLeaf).where(LogLeaf.index == 100).values(index=2))
    result = verify_slug(runner)
    assert result.exit_code != 0
    assert "the history was changed" in result.output


def test_a_head_resigned_over_another_history_is_caught(app, runner, signed, tmp_path):
    # The crossing head, as the ballot system keeps it from the webhook.
    with Session(flask_db.engine_of(app)) as session:
        crossing = session.scalars(select(TreeHead).where(TreeHead.size == 5)).one()
        kept = {
            "size": 5,
            "root_hash": crossing.root_hash,
            "timestamp": log_leaves.leaf_time(crossing.timestamp),
            "signature": crossing.signature,
        }
    (tmp_path / "kept.json").write_text(json.dumps(kept))
    # An insider with the key rewrites leaf 0 and re-signs every head over the new history.
    with Session(flask_db.engine_of(app)) as session:
        data = session.scalars(select(LogLeaf.data).where(LogLeaf.index == 0)).one()
    fields = log_leaves.decode(data)
    fields["commitment"] = "0" * 64
    stored = petition(app)
    rewritten = [log_leaves.encode(fields)]
    with Session(flask_db.engine_of(app)) as session:
        rewritten += session.scalars(
            select(LogLeaf.data).where(LogLeaf.index > 0).order_by(LogLeaf.index)
        ).all()
    _tamper(app, delete(TreeHead))
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.execute(delete(LogLeaf))
        from petitions.db.models import LogNode

        session.execute(delete(LogNode))
        for index, leaf in enumerate(rewritten):
            store.append(session, stored, index, "signature", leaf)
        store.sign_head(session, stored, 7, settings_of(app), utcnow())
    alone = verify_slug(runner)
    assert alone.exit_code == 0  # a consistent forgery, seen alone, cannot be told apart
    result = verify_slug(runner, "--head", str(tmp_path / "kept.json"))
    assert result.exit_code != 0
    assert "the head of size 5 signs root" in result.output


def test_a_commitment_counted_twice_is_caught(app, runner, signed):
    stored = petition(app)
    with Session(flask_db.engine_of(app)) as session:
        first = log_leaves.decode(session.scalars(select(LogLeaf.data)).first())
    with Session(flask_db.engine_of(app)) as session, session.begin():
        leaf = log_leaves.signature_leaf(7, first["commitment"], utcnow())
        store.append(session, stored, 7, "signature", leaf)
        session.execute(
            update(Petition).values(signature_count=8, log_size=8).where(Petition.id == stored.id)
        )
        store.sign_head(session, stored, 8, settings_of(app), utcnow())
    result = verify_slug(runner)
    assert result.exit_code != 0
    assert "leaf 7 counts commitment" in result.output
    assert "again (already counted at leaf 0)" in result.output


def test_a_count_that_differs_from_the_log_is_caught(app, runner, signed):
    _tamper(app, update(Petition).values(signature_count=9))
    result = verify_slug(runner)
    assert result.exit_code != 0
    assert "the petition reports 9 signatures but the log counts 7" in result.output


def test_cancelling_leaves_take_a_signature_out_of_the_count():
    leaves = [
        log_leaves.signature_leaf(0, "aa", utcnow()),
        log_leaves.signature_leaf(1, "bb", utcnow()),
        log_leaves.cancelling_leaf("invalidation", 2, "aa", 0, "not_a_member", utcnow()),
        log_leaves.signature_leaf(3, "aa", utcnow()),  # signing again after an invalidation
        log_leaves.cancelling_leaf("withdrawal", 4, "bb", 0, "withdrawn", utcnow()),
    ]
    header = {"petition": {"slug": "x", "count": 2}, "heads": [], "public_key": ""}
    report = log_verify.verify(header, enumerate(leaves))
    # Leaf 4 cancels leaf 0, which is already cancelled and belongs to someone else.
    assert report.counted == 2
    assert any("leaf 4 (withdrawal) cancels leaf 0" in problem for problem in report.problems)


def test_a_bad_pack_is_refused_clearly(runner, tmp_path, app):
    (tmp_path / "bad.jsonl").write_text("not json\n")
    result = runner.invoke(args=["log", "verify", str(tmp_path / "bad.jsonl")])
    assert result.exit_code != 0
    assert "not an evidence pack" in result.output
    both = runner.invoke(args=["log", "verify", str(tmp_path / "bad.jsonl"), "--slug", "vote"])
    assert both.exit_code != 0
    assert "either an evidence pack FILE or --slug" in both.output


def test_the_results_page_works_without_javascript(client, signed):
    page = client.get("/p/vote/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # The one script on the page only rewrites dates into the reader's time zone.
    (script,) = re.findall(r"<script[^>]*>", html)
    assert "local_time.js" in script
    head = client.get("/api/v1/petitions/vote/log/head").get_json()
    assert head["root_hash"] in html
    assert head["signature"] in html
    assert "flask --app app log verify" in html
    assert client.get("/p/nope/results").status_code == 404


def test_the_confirmed_page_links_to_a_receipt_check(app, client, signed):
    receipt = signed[0]
    page = client.get(
        f"/p/vote/receipt?index={receipt['leaf_index']}&leaf_hash={receipt['leaf_hash']}"
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-leaf-hash="{receipt["leaf_hash"]}"' in html
    assert "receipt.js" in html


def test_heads_are_never_dated_before_a_smaller_head(app, runner, signed):
    from datetime import timedelta

    confirm(app, "M008")
    stored = petition(app)
    with Session(flask_db.engine_of(app)) as session, session.begin():
        newest = store.latest_head(session, stored.id)
        # A signer whose clock reading is older than the newest head (it waited for the lock).
        late = store.sign_head(
            session, stored, 8, settings_of(app), utcnow() - timedelta(minutes=5)
        )
    assert late.timestamp >= newest.timestamp
    assert verify_slug(runner).exit_code == 0
