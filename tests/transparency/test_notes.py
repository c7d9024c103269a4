"""Signed notes, checkpoints and cosignatures, checked against the published examples of the
C2SP specifications and of golang.org/x/mod/sumdb/note (whose keys are public test keys)."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from petitions.transparency import checkpoints, cosignatures, notes

# golang.org/x/mod/sumdb/note's test keys and signatures.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZS"
    "NXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ov"
    "TG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
# The example checkpoint of c2sp.org/tlog-checkpoint and its cosignature in tlog-cosignature.
SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWX"
    "EhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def peter_signer() -> notes.Ed25519Signer:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    return notes.Ed25519Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def verifier(vkey: str) -> notes.Ed25519Verifier:
    key = notes.parse_vkey(vkey)
    return notes.Ed25519Verifier(key.name, key.public_key)


def test_signing_gives_the_published_signature_and_key():
    signer = peter_signer()
    assert signer.verifier().vkey() == PETER_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert notes.sign(TEXT, [signer]).encode() == TEXT + "\n" + PETER_SIG


def test_published_notes_verify_and_unknown_keys_are_ignored():
    message = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    note = notes.open_note(message, [verifier(PETER_VKEY)])
    assert note.text == TEXT
    both = notes.verified(note, [verifier(PETER_VKEY), verifier(ENOCH_VKEY)])
    assert [sig.name for sig, _ in both] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(notes.NoteError, match="no signature"):
        notes.open_note(message, [])


def test_a_known_key_with_a_bad_signature_rejects_the_note():
    forged = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(notes.NoteError, match="does not verify"):
        notes.open_note(TEXT + "\n" + forged, [verifier(PETER_VKEY)])


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter Neumann"),
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        b"\xff" + TEXT.encode() + b"\n" + PETER_SIG.encode(),
    ],
)
def test_malformed_notes_are_refused(message):
    with pytest.raises(notes.NoteError):
        notes.open_note(message, [verifier(PETER_VKEY)])


def test_mangled_verifier_keys_are_refused():
    for bad in (
        PETER_VKEY[:-1],
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(notes.NoteError):
            notes.parse_vkey(bad)


def test_the_published_checkpoint_reads_back_byte_for_byte():
    checkpoint = checkpoints.parse(SOFA)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.text() == SOFA


@pytest.mark.parametrize(
    "text",
    [
        "origin\n12\n",
        "origin\n012\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n12\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "origin\n12\nnot base64!\n",
        "\n12\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ],
)
def test_texts_that_are_not_checkpoints_are_refused(text):
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.parse(text)


def test_a_petition_checkpoint_is_signed_under_its_origin():
    key = Ed25519PrivateKey.generate()
    signer = checkpoints.log_signer(key, "https://petitions.example.org/", "demo")
    assert signer.name == "petitions.example.org/p/demo/log"
    checkpoint = checkpoints.Checkpoint(signer.name, 7, bytes(range(32)))
    message = checkpoints.signed(checkpoint, signer).encode()
    assert message.startswith(
        "petitions.example.org/p/demo/log\n7\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"
        "\u2014 petitions.example.org/p/demo/log "
    )
    # The key ID is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).
    sig = notes.parse(message).signatures[0]
    assert sig.key_id == notes.key_id(signer.name, 0x01, signer.public_key)
    _note, read = checkpoints.open_checkpoint(message, [signer.verifier()])
    assert read == checkpoint


def test_the_published_cosignature_states_its_time_and_key_id():
    line = notes.parse(SOFA + "\n" + SOFA_COSIGNATURE).signatures[0]
    assert line.key_id.hex() == "8d66cf3f"
    assert cosignatures.timestamp_of(line) == 1679315147
    assert len(line.signature) == 8 + 64


def test_a_cosignature_signs_the_header_the_time_and_the_checkpoint():
    witness_key = Ed25519PrivateKey.generate()
    cosigner = cosignatures.Cosigner("witness.example/w1", witness_key)
    sig = cosigner.cosign(SOFA, 1679315147)
    assert sig.key_id == notes.key_id("witness.example/w1", 0x04, cosigner.public_key)
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    witness_key.public_key().verify(
        sig.signature[8:],
        b"cosignature/v1\ntime 1679315147\n" + SOFA.encode(),
    )
    vkey = cosigner.verifier().vkey()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    check = cosignatures.CosignatureVerifier.from_vkey(vkey)
    assert check.timestamp(SOFA.encode(), sig.signature) == 1679315147
    assert not check.verify(SOFA.replace("20852163", "20852164").encode(), sig.signature)
    # A cosignature is not a plain note signature: the 0x01 key ID differs, so it is ignored.
    plain = notes.Ed25519Verifier("witness.example/w1", cosigner.public_key)
    assert notes.verified(notes.Note(SOFA, (sig,)), [plain]) == []


def test_a_note_with_a_cosignature_verifies_with_both_keys():
    log = notes.Ed25519Signer("example.com/log", Ed25519PrivateKey.generate())
    cosigner = cosignatures.Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
    text = checkpoints.Checkpoint("example.com/log", 3, bytes(32)).text()
    note = notes.Note(text, (log.sign(text), cosigner.cosign(text, 1700000000)))
    found = notes.verified(notes.parse(note.encode()), [log.verifier(), cosigner.verifier()])
    assert [sig.name for sig, _ in found] == ["example.com/log", "witness.example/w1"]
    with pytest.raises(cosignatures.notes.NoteError):
        cosignatures.CosignatureVerifier.from_vkey(log.verifier().vkey())
