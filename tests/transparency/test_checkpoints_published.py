"""Checkpoints as the service publishes them: beside the JSON heads in the evidence pack, checked
by `log verify` (the log's signature, the head they state, the witnesses' cosignatures), and the
settings and commands around them."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, select

from petitions.config import SettingsError, WitnessSetting, load_settings, settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Petition, WitnessCosignature
from petitions.transparency import checkpoints, cosignatures, notes, store, witnessing
from tests.helpers import configure, open_petition, petition, sign_in
from tests.outbox.test_webhooks import confirm_members
from tests.transparency.test_witnessing import heads_signed

WITNESS = cosignatures.Cosigner("w1.example/a", Ed25519PrivateKey.generate())


def with_a_cosignature(app, client) -> None:
    """A petition with two heads; the newest cosigned by WITNESS, stored as a submission would."""
    configure(
        app,
        witnesses=(WitnessSetting(WITNESS.name, "http://127.0.0.1:9", WITNESS.public_key),),
    )
    open_petition(app, "vote", threshold=100)
    confirm_members(app, client, "vote", 2, prefix="A")
    heads_signed(app)
    confirm_members(app, client, "vote", 2, prefix="B")
    heads_signed(app)
    petition_id = petition(app).id
    with Session(flask_db.engine_of(app)) as session:
        head = store.latest_head(session, petition_id)
        text = witnessing.checkpoint_of(settings_of(app), "vote", head).text()
        line = WITNESS.cosign(text, 1700000000)
        session.add(
            WitnessCosignature(
                petition_id=petition_id,
                witness=WITNESS.name,
                size=head.size,
                root_hash=head.root_hash,
                signed_at=utcnow(),
                line=line.line(),
            )
        )
        session.commit()


def pack(client, tmp_path):
    response = client.get("/api/v1/petitions/vote/evidence")
    path = tmp_path / "vote-evidence.jsonl"
    path.write_bytes(response.get_data())
    return path, json.loads(response.get_data(as_text=True).splitlines()[0])


def test_the_pack_carries_every_head_as_a_checkpoint_and_verify_checks_them(
    app, client, runner, tmp_path
):
    with_a_cosignature(app, client)
    path, header = pack(client, tmp_path)
    assert len(header["checkpoints"]) == len(header["heads"]) == 2
    assert header["checkpoint_origin"] == "127.0.0.1:5000/p/vote/log"
    assert header["witnesses"] == [WITNESS.verifier().vkey()]
    for head, note in zip(header["heads"], header["checkpoints"], strict=True):
        checkpoint = checkpoints.parse(notes.parse(note).text)
        assert (checkpoint.size, checkpoint.root_hash.hex()) == (head["size"], head["root_hash"])
    assert header["checkpoints"][-1].count("\u2014 w1.example/a ") == 1
    result = runner.invoke(args=["log", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 checkpoints signed by the log key, carrying 1 valid witness cosignatures" in (
        result.output
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: note.replace("\n4\n", "\n5\n", 1),
        lambda note: note.replace("127.0.0.1:5000/p/vote/log\n", "elsewhere/log\n", 1),
        # The cosignature line of another checkpoint.
        lambda note: (
            note.rsplit("\u2014 w1.example/a ", 1)[0]
            + WITNESS.cosign("127.0.0.1:5000/p/vote/log\n1\n" + "A" * 43 + "=\n", 1).line()
        ),
    ],
    ids=["size", "origin", "cosignature"],
)
def test_a_tampered_checkpoint_is_caught(app, client, runner, tmp_path, tamper):
    with_a_cosignature(app, client)
    path, header = pack(client, tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    header["checkpoints"][-1] = tamper(header["checkpoints"][-1])
    lines[0] = json.dumps(header) + "\n"
    path.write_text("".join(lines))
    result = runner.invoke(args=["log", "verify", str(path)])
    assert result.exit_code != 0
    assert "checkpoint 2 does not check out" in result.output


def test_log_vkey_prints_what_a_witness_is_started_with(app, client, runner):
    open_petition(app, "vote", threshold=5)
    result = runner.invoke(args=["log", "vkey", "--slug", "vote"])
    assert result.exit_code == 0, result.output
    key = notes.parse_vkey(result.output.strip())
    assert key.name == "127.0.0.1:5000/p/vote/log"
    assert key.public_key == notes.raw_public_key(store.signing_key(settings_of(app)).public_key())
    assert runner.invoke(args=["log", "vkey", "--slug", "nope"]).exit_code != 0


def test_petition_create_takes_witnesses_required_up_to_those_configured(app, runner, db):
    args = ["petition", "create", "vote", "--title", "Vote", "--threshold", "5"]
    refused = runner.invoke(args=[*args, "--witnesses-required", "1"])
    assert refused.exit_code != 0
    assert "0 are configured" in refused.output
    configure(
        app,
        witnesses=(WitnessSetting(WITNESS.name, "http://127.0.0.1:9", WITNESS.public_key),),
    )
    made = runner.invoke(args=[*args, "--witnesses-required", "1"])
    assert made.exit_code == 0, made.output
    assert petition(app).witnesses_required == 1
    assert runner.invoke(args=[*args[:2], "other", *args[3:]]).exit_code == 0
    assert petition(app, "other").witnesses_required == 0


def test_the_petition_form_takes_witnesses_required(app, client):
    sign_in(app, client)
    form = {
        "title": "Witnessed",
        "slug": "witnessed",
        "threshold_kind": "absolute",
        "threshold": "10",
        "witnesses_required": "1",
    }
    refused = client.post("/organiser/petitions/new", data=form)
    assert refused.status_code == 400
    assert "Only 0 witnesses are configured" in refused.get_data(as_text=True)
    configure(
        app,
        witnesses=(WitnessSetting(WITNESS.name, "http://127.0.0.1:9", WITNESS.public_key),),
    )
    assert "Witnesses required" in client.get("/organiser/petitions/new").get_data(as_text=True)
    assert client.post("/organiser/petitions/new", data=form).status_code == 303
    with Session(flask_db.engine_of(app)) as session:
        made = session.exec(select(Petition).where(Petition.slug == "witnessed")).one()
    assert made.witnesses_required == 1
    edited = client.post(
        "/organiser/p/witnessed/settings", data={**form, "witnesses_required": "x"}
    )
    assert edited.status_code == 400
    assert "whole number from 0 to" in edited.get_data(as_text=True)


def test_witnesses_are_read_from_their_setting(tmp_path):
    cosigner = cosignatures.Cosigner("w1.example/a", Ed25519PrivateKey.generate())
    raw = json.dumps(
        [
            {
                "name": "w1.example/a",
                "url": "https://w1.example",
                "public_key": cosigner.verifier().vkey(),
            },
            {"name": "w2.example/b", "url": "http://127.0.0.1:7380/", "public_key": "A" * 43 + "="},
        ]
    )
    settings = load_settings({"WITNESSES": raw}, tmp_path)
    assert [(w.name, w.url) for w in settings.witnesses] == [
        ("w1.example/a", "https://w1.example"),
        ("w2.example/b", "http://127.0.0.1:7380"),
    ]
    assert settings.witnesses[0].public_key == cosigner.public_key
    assert load_settings({}, tmp_path).witnesses == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not JSON"),
        ('{"name": "a"}', "JSON list"),
        ('[{"name": "a", "url": "https://a"}]', "lacks one of them"),
        ('[{"name": "a b", "url": "https://a", "public_key": "AAAA"}]', "no spaces"),
        ('[{"name": "a", "url": "ftp://a", "public_key": "' + "A" * 43 + '="}]', "http"),
        ('[{"name": "a", "url": "https://a", "public_key": "AAAA"}]', "public_key of a"),
        ('[{"name": "a", "url": "https://a", "public_key": "b+00000000+AAAA"}]', "public_key"),
    ],
)
def test_bad_witnesses_are_refused_with_a_reason(tmp_path, raw, message):
    with pytest.raises(SettingsError, match=message):
        load_settings({"WITNESSES": raw}, tmp_path)


def test_flask_witness_key_and_refusals_need_no_database(runner, tmp_path):
    key_file = tmp_path / "witness.key"
    made = runner.invoke(args=["witness", "key", "--key", str(key_file), "--name", "w.example/x"])
    assert made.exit_code == 0, made.output
    vkey = made.output.strip()
    assert cosignatures.CosignatureVerifier.from_vkey(vkey).name == "w.example/x"
    again = runner.invoke(args=["witness", "key", "--key", str(key_file), "--name", "w.example/x"])
    assert again.output.strip() == vkey
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    empty = runner.invoke(args=["witness", "refusals", "--state", str(tmp_path / "w.db")])
    assert empty.output == "no refusals\n"
    bad = runner.invoke(args=["witness", "key", "--key", str(key_file), "--name", "a b"])
    assert bad.exit_code != 0
    assert "cannot be a key name" in bad.output
