"""Checkpoints and cosignatures made here, read by the Go implementations that logs and witnesses
use (golang.org/x/mod/sumdb/note and filippo.io/torchwood).

Needs the ``go`` command and the two modules (downloaded through GOPROXY, or already in the
module cache); without them the test is skipped and says what to install.
"""

import shutil
import subprocess
import textwrap

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from petitions.transparency import checkpoints, cosignatures, notes

INSTALL = (
    "install Go 1.23 or newer (Debian: apt-get install golang-go) and make golang.org/x/mod "
    "and filippo.io/torchwood available (GOPROXY reachable, or both in the Go module cache) "
    "to check checkpoints against the Go implementations"
)
PROGRAM = textwrap.dedent(
    """\
    package main

    import (
    \t"fmt"
    \t"io"
    \t"os"

    \t"filippo.io/torchwood"
    \t"golang.org/x/mod/sumdb/note"
    )

    func main() {
    \tmsg, _ := io.ReadAll(os.Stdin)
    \tlogKey, err := note.NewVerifier(os.Args[1])
    \tif err != nil {
    \t\tpanic(err)
    \t}
    \twitness, err := torchwood.NewCosignatureVerifier(os.Args[2])
    \tif err != nil {
    \t\tpanic(err)
    \t}
    \tn, err := note.Open(msg, note.VerifierList(logKey, witness))
    \tif err != nil {
    \t\tpanic(err)
    \t}
    \tc, err := torchwood.ParseCheckpoint(n.Text)
    \tif err != nil {
    \t\tpanic(err)
    \t}
    \tfor _, sig := range n.Sigs {
    \t\tif sig.Name == witness.Name() {
    \t\t\tt, err := torchwood.CosignatureTimestamp(sig)
    \t\t\tif err != nil {
    \t\t\t\tpanic(err)
    \t\t\t}
    \t\t\tfmt.Printf("cosigned %d\\n", t)
    \t\t}
    \t}
    \tfmt.Printf("%s %d %d\\n", c.Origin, c.N, len(n.Sigs))
    }
    """
)


def test_go_reads_our_checkpoint_and_cosignature(tmp_path):
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"the go command is missing: {INSTALL}")
    log = checkpoints.log_signer(Ed25519PrivateKey.generate(), "http://127.0.0.1:5000", "demo")
    witness = cosignatures.Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
    text = checkpoints.Checkpoint(log.name, 42, bytes(range(32))).text()
    note = notes.Note(text, (log.sign(text), witness.cosign(text, 1700000000)))
    (tmp_path / "main.go").write_text(PROGRAM)
    (tmp_path / "go.mod").write_text("module interop\n\ngo 1.23\n")
    tidy = subprocess.run(
        [go, "mod", "tidy"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    if tidy.returncode != 0:
        pytest.skip(f"the Go modules could not be had ({tidy.stderr.strip()[:200]}): {INSTALL}")
    run = subprocess.run(
        [go, "run", ".", log.verifier().vkey(), witness.verifier().vkey()],
        cwd=tmp_path,
        input=note.encode(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["cosigned 1700000000", "127.0.0.1:5000/p/demo/log 42 2"]
