"""``flask --app app log ...``: checking a petition's public log, here or from an evidence pack,
and recounting its eligibility against the roll."""

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from petitions import audit
from petitions.cli.log_sample import sample_command
from petitions.cli.support import AUDIT_ACTOR, needs_schema
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.reports.scrutiny import KEY_ACTION
from petitions.roll.file import RollFileError
from petitions.transparency import evidence, recount, roll_commitment, witnessing
from petitions.transparency import verify as log_verify

log_cli = AppGroup("log", help="Check a petition's public signature log.")
log_cli.add_command(sample_command)


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
    if report.checkpoints:
        click.echo(
            f"{report.checkpoints} checkpoints signed by the log key, carrying "
            f"{report.cosignatures} valid witness cosignatures"
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
    session = flask_db.session()
    petition = rules.find_petition(session, slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    header = evidence.header(session, petition, settings_of(current_app))
    return log_verify.verify(header, evidence.stored_leaves(session, petition), extra)


@log_cli.command("vkey")
@click.option("--slug", required=True, help="The petition whose log's key to print.")
@needs_schema
def vkey_command(slug: str) -> None:
    """Print the verifier key of a petition's checkpoints (origin+keyid+base64 key): what a
    witness is started with (``witness serve --log VKEY``)."""
    if rules.find_petition(flask_db.session(), slug) is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    click.echo(witnessing.log_vkey(settings_of(current_app), slug))


@log_cli.command("commitment-key")
@click.argument("slug")
@needs_schema
def commitment_key_command(slug: str) -> None:
    """Print the petition's commitment key, for a scrutineer matching commitments to members:
    a commitment is HMAC-SHA256(key, member number), hex. The audit trail records it."""
    session = flask_db.session()
    petition = rules.find_petition(session, slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    audit.record(session, AUDIT_ACTOR, KEY_ACTION, petition, "printed by log commitment-key")
    session.commit()
    click.echo(petition.log_secret)


_LISTED = 50


@log_cli.command("recount")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--slug", help="Recount this petition's log in the database instead of a FILE.")
@click.option(
    "--roll",
    "roll_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The membership roll, a CSV file as `roll import` reads it.",
)
@click.option(
    "--key",
    envvar="PETITIONS_COMMITMENT_KEY",
    help="The petition's commitment key (64 hex digits; or set PETITIONS_COMMITMENT_KEY). "
    "Required with a FILE; with --slug it is read from the database.",
)
@click.option(
    "--matches",
    "matches_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write every counted signature with its member and verdict to this CSV file.",
)
@click.option(
    "--all", "list_all", is_flag=True, help=f"List every finding, not the first {_LISTED}."
)
def recount_command(
    file: Path | None,
    slug: str | None,
    roll_path: Path,
    key: str | None,
    matches_path: Path | None,
    list_all: bool,
) -> None:
    """Recount eligibility: match every counted signature of FILE (an evidence pack) to a member
    of the roll with the commitment key.

    Exits 0 only when every counted signature belongs to an active member on the roll and the
    eligible count equals the count of the log and of the petition; otherwise lists why not.
    """
    if (file is None) == (slug is None):
        raise click.UsageError("give either an evidence pack FILE or --slug SLUG")
    if file is not None and key is None:
        raise click.UsageError("--key is required with an evidence pack FILE")
    try:
        if slug is not None:
            result = _recount_slug(slug, roll_path, key)
        else:
            with file.open(encoding="utf-8") as lines:
                header, leaves = evidence.read(lines)
                result = _recount(header, leaves, roll_path, recount.parse_key(key))
    except (ValueError, RollFileError) as exc:
        raise click.ClickException(str(exc)) from None
    _echo_recount(result, list_all)
    if matches_path is not None:
        with matches_path.open("w", encoding="utf-8", newline="") as out:
            written = recount.write_matches(result, out)
        click.echo(f"wrote {written} counted signatures with their members to {matches_path}")
    if not result.ok:
        raise click.ClickException(
            f"the recount does not agree: {len(result.findings)} counted signature(s) not "
            f"eligible, {len(result.problems)} problem(s)"
        )
    if result.committed is not None:
        click.echo(
            "the recount agrees: the roll file is the committed roll, and every counted "
            "signature is on it"
        )
    else:
        click.echo("the recount agrees: every counted signature is an active member on the roll")


@needs_schema
def _recount_slug(slug: str, roll_path: Path, key: str | None) -> recount.Recount:
    session = flask_db.session()
    petition = rules.find_petition(session, slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    if key is None:
        # The key read from the database, like `log commitment-key`, is recorded.
        secret = recount.parse_key(petition.log_secret)
        audit.record(session, AUDIT_ACTOR, KEY_ACTION, petition, "used by log recount --slug")
        session.commit()
    else:
        secret = recount.parse_key(key)
    header = evidence.header(session, petition, settings_of(current_app))
    stored = None
    if petition.roll_generation is not None:
        stored = roll_commitment.committed_set(session, petition, petition.roll_generation)
    return _recount(header, evidence.stored_leaves(session, petition), roll_path, secret, stored)


def _recount(
    header: dict, leaves, roll_path: Path, key: bytes, stored: set[bytes] | None = None
) -> recount.Recount:
    with roll_path.open("rb") as roll:
        if not sys.stderr.isatty():
            return recount.recount(header, leaves, roll, key, committed_set=stored)
        with click.progressbar(
            length=roll_path.stat().st_size, label="reading the roll", file=sys.stderr
        ) as bar:
            return recount.recount(header, leaves, roll, key, bar.update, committed_set=stored)


def _echo_recount(result: recount.Recount, list_all: bool) -> None:
    replayed, scan = result.replay, result.scan
    cancelled = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(replayed.cancelled.items()))
    click.echo(
        f"log: {replayed.leaves} leaves, {replayed.signatures} signatures"
        f"{', ' + cancelled if cancelled else ', nothing cancelled'}; "
        f"the log counts {result.log_count}, the petition reports {result.reported}"
    )
    statuses = ", ".join(f"{scan.by_status[s]} {s}" for s in sorted(scan.by_status))
    click.echo(f"roll: {scan.rows} rows ({statuses or 'none'}), sha256 {scan.sha256}")
    for warning in result.warnings:
        click.echo(f"WARNING: {warning}")
    committed = result.committed
    if committed is None:
        click.echo("committed roll: none in the log (eligibility is judged by this roll file)")
    else:
        verdict = "matches" if result.roll_matches else "DOES NOT MATCH"
        click.echo(
            f"committed roll: generation {committed['generation']}, {committed['count']} "
            f"members, root {committed['root_hash']}; this roll file gives "
            f"{result.roll_count} members, root {result.roll_root}: it {verdict}"
        )
        click.echo(
            f"outside the committed roll: {len(result.outside)} counted signature(s)"
            if result.judged_by_committed
            else "outside the committed roll: unknown (the roll file is not the committed one; "
            "--slug checks against the stored set)"
        )
    click.echo(
        f"eligible: {result.eligible} of the {result.log_count} counted signatures belong to an "
        "active member on the roll"
    )
    if not replayed.counted_again:
        click.echo("no member is counted twice")
    if result.threshold is not None:
        side = "meets" if result.eligible >= result.threshold else "is below"
        click.echo(f"threshold: {result.threshold}; the eligible count {side} it")
    shown = result.findings if list_all else result.findings[:_LISTED]
    for finding in shown:
        who = "" if finding.member_id else f" (commitment {finding.commitment[:16]}...)"
        click.echo(f"NOT ELIGIBLE: leaf {finding.leaf}{who}: {finding.message}", err=True)
    if len(shown) < len(result.findings):
        click.echo(
            f"... and {len(result.findings) - len(shown)} more (--all lists every one, "
            "--matches FILE writes them all)",
            err=True,
        )
    for problem in result.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
