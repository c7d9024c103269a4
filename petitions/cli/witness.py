"""``flask --app app witness serve`` and ``petitions-witness serve``: a C2SP tlog-witness that a
scrutineer runs on their own machine, with its own key and state file, and no access to (or need
of) the service's database."""

import base64
import contextlib
import os
import secrets
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from petitions.transparency import cosignatures, notes
from petitions.transparency import witness as witness_state
from petitions.web import witness_app


def load_key(path: Path) -> Ed25519PrivateKey:
    """The witness's Ed25519 key from ``path`` (base64 of the 32-byte seed), made on first use."""
    if not path.exists():
        seed = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_key(path)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(base64.b64encode(seed).decode() + "\n")
    try:
        seed = base64.b64decode(path.read_text(encoding="utf-8").strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the witness key in {path}: {exc}") from None
    if len(seed) != 32:
        raise click.ClickException(f"{path} must hold the base64 of a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _log_keys(values: tuple[str, ...], files: tuple[Path, ...]) -> list[notes.Ed25519Verifier]:
    lines = list(values)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc}") from None
        lines += [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    if not lines:
        raise click.UsageError("name at least one log: --log VKEY or --logs FILE")
    try:
        return witness_state.load_logs(lines)
    except notes.NoteError as exc:
        raise click.ClickException(f"bad log key: {exc}") from None


_KEY = click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's key file (base64 of an Ed25519 seed); made if it does not exist.",
)
_NAME = click.option(
    "--name", required=True, help="The witness's key name, a schema-less URL (example.org/w1)."
)


@click.group("witness", help="Run a witness that cosigns petition logs' checkpoints.")
def witness_cli() -> None:
    """The witness commands."""


@witness_cli.command("serve")
@_KEY
@_NAME
@click.option(
    "--state",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file of what was cosigned and what was refused; made if missing.",
)
@click.option("--log", "log_keys", multiple=True, help="A log's verifier key (repeatable).")
@click.option(
    "--logs",
    "log_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of log verifier keys, one a line.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7380, show_default=True, type=click.IntRange(0, 65535))
def serve_command(
    key_file: Path,
    name: str,
    state: Path,
    log_keys: tuple[str, ...],
    log_files: tuple[Path, ...],
    host: str,
    port: int,
) -> None:
    """Serve POST /add-checkpoint (c2sp.org/tlog-witness) for the logs named."""
    try:
        cosigner = cosignatures.Cosigner(name, load_key(key_file))
    except notes.NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    logs = _log_keys(log_keys, log_files)
    witness = witness_state.Witness(cosigner, logs, witness_state.State(state))
    server = witness_app.Server(witness, host, port)
    click.echo(f"witness {cosigner.verifier().vkey()}")
    for key in logs:
        click.echo(f"log {key.vkey()}")
    click.echo(f"serving on {server.url}/add-checkpoint (Ctrl-C stops)", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@witness_cli.command("key")
@_KEY
@_NAME
def key_command(key_file: Path, name: str) -> None:
    """Print the witness's verifier key (for the service's WITNESSES), making the key if new."""
    try:
        cosigner = cosignatures.Cosigner(name, load_key(key_file))
    except notes.NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    click.echo(cosigner.verifier().vkey())


@witness_cli.command("refusals")
@click.option("--state", required=True, type=click.Path(dir_okay=False, path_type=Path))
def refusals_command(state: Path) -> None:
    """Print every refused submission kept as evidence, with the checkpoint cosigned before."""
    refusals = witness_state.State(state).refusals()
    if not refusals:
        click.echo("no refusals")
    for refusal in refusals:
        click.echo(f"== {refusal.received_at} {refusal.origin}: {refusal.reason}")
        click.echo(f"-- cosigned before (size {refusal.cosigned_size}):")
        click.echo(refusal.cosigned_note or "(nothing)\n", nl=False)
        click.echo("-- submitted:")
        click.echo(refusal.request, nl=False)


def main() -> None:
    """The ``petitions-witness`` console script."""
    witness_cli(prog_name="petitions-witness")
