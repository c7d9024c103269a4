"""``flask --app app signature ...``: invalidating signatures, and listing what was invalidated."""

import click
from flask import current_app
from flask.cli import AppGroup

from petitions.cli.support import AUDIT_ACTOR, needs_schema
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.signatures import invalidation

signature_cli = AppGroup("signature", help="Invalidate signatures and list invalidations.")


@signature_cli.command("invalidate")
@click.argument("slug")
@click.argument("numbers", nargs=-1, required=True, type=click.IntRange(1))
@click.option(
    "--reason",
    required=True,
    type=click.Choice(list(invalidation.REASONS)),
    help="The reason code, published in the log.",
)
@click.option("--by", "decided_by", required=True, help="Who decides (name or address).")
@click.option("--note", default="", help="What happened, for the scrutineers (not published).")
@needs_schema
def invalidate_command(
    slug: str, numbers: tuple[int, ...], reason: str, decided_by: str, note: str
) -> None:
    """Invalidate the signatures numbered NUMBERS (from their receipts) on petition SLUG.

    All or none: nothing changes if any number is unknown or already invalidated. The count
    goes down; nothing is deleted; the public log records each invalidation with its reason.
    """
    try:
        made = invalidation.invalidate(
            flask_db.engine(),
            settings_of(current_app),
            slug,
            list(numbers),
            reason,
            decided_by,
            note,
            audit_actor=AUDIT_ACTOR,
        )
    except invalidation.InvalidationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"invalidated {len(made)} signature(s) on {slug!r} ({reason})")


@signature_cli.command("invalidations")
@click.argument("slug")
@needs_schema
def invalidations_command(slug: str) -> None:
    """List the invalidations of petition SLUG: which signature, when, by whom and why."""
    session = flask_db.session()
    petition = rules.find_petition(session, slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    for record, number in invalidation.invalidations(session, petition):
        when = record.decided_at.strftime("%Y-%m-%d %H:%M:%SZ")
        note = f" - {record.note}" if record.note else ""
        click.echo(
            f"signature {number}: {record.reason} by {record.decided_by} at {when} "
            f"(log leaf {record.leaf_index}){note}"
        )
