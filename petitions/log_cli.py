"""``flask --app app log ...``: checking a petition's public log, here or from an evidence pack."""

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from petitions import evidence, lifecycle, log_verify, webdb
from petitions.cli_support import needs_schema

log_cli = AppGroup("log", help="Check a petition's public signature log.")


def _heads_from(paths: tuple[Path, ...]) -> list[dict]:
    heads = []
    for path in paths:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read the head in {path}: {exc}") from None
        # A webhook body, a head, or a list of heads.
        if isinstance(loaded, dict) and "data" in loaded:
            loaded = loaded["data"].get("log")
        heads.extend(loaded if isinstance(loaded, list) else [loaded])
    return [head for head in heads if isinstance(head, dict)]


@log_cli.command("verify")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--slug", help="Check this petition's log in the database instead of a FILE.")
@click.option(
    "--head",
    "head_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A head kept elsewhere (JSON: a head, a list, or the threshold webhook's body) that "
    "must fit the same history. May be given more than once.",
)
def verify_command(file: Path | None, slug: str | None, head_files: tuple[Path, ...]) -> None:
    """Check a petition's log: FILE is an evidence pack (GET /api/v1/petitions/SLUG/evidence).

    Exits non-zero and says what is wrong when anything is.
    """
    if (file is None) == (slug is None):
        raise click.UsageError("give either an evidence pack FILE or --slug SLUG")
    extra = _heads_from(head_files)
    if slug is not None:
        report = _verify_slug(slug, extra)
    else:
        with file.open(encoding="utf-8") as lines:
            try:
                header, leaves = evidence.read(lines)
                report = log_verify.verify(header, leaves, extra)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
    click.echo(
        f"{report.leaves} leaves, {report.heads} signed heads; "
        f"the log counts {report.counted} signatures, the petition reports {report.reported}"
    )
    for note in report.notes:
        click.echo(f"note: {note}")
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if not report.ok:
        raise click.ClickException(f"the log does not verify: {len(report.problems)} problem(s)")
    click.echo("the log verifies")


@needs_schema
def _verify_slug(slug: str, extra: list[dict]) -> log_verify.Report:
    session = webdb.session()
    petition = lifecycle.find_petition(session, slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    header = evidence.header(session, petition, current_app.config)
    return log_verify.verify(header, evidence.stored_leaves(session, petition), extra)


@log_cli.command("commitment-key")
@click.argument("slug")
@needs_schema
def commitment_key_command(slug: str) -> None:
    """Print the petition's commitment key, for a scrutineer matching commitments to members:
    a commitment is HMAC-SHA256(key, member number), hex."""
    petition = lifecycle.find_petition(webdb.session(), slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    click.echo(petition.log_secret)
