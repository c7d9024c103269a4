"""``flask petition ...``: create, open, close and list petitions from the command line, through
the same actions as the organisers' pages, so each change is in the audit trail."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from petitions.cli.support import AUDIT_ACTOR, needs_schema
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Petition
from petitions.lifecycle import actions, rules
from petitions.lifecycle.rules import PetitionError
from petitions.transparency import roll_commitment

petition_cli = AppGroup("petition", help="Create, open, close and list petitions.")


class IsoDateTime(click.ParamType):
    """An ISO 8601 date and time; one without a zone is taken as UTC."""

    name = "ISO8601"

    def convert(self, value, param, ctx):
        """Parse ``value`` into a timezone-aware datetime."""
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date and time, e.g. 2026-12-31T18:00:00Z", param, ctx
            )
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _report_opened(petition: Petition) -> None:
    line = (
        f"opened petition {petition.slug!r}: threshold frozen at {petition.threshold:,} "
        f"of {petition.eligible_members:,} active members"
    )
    if petition.closes_at is not None:
        line += f"; closes {_when(petition.closes_at)}"
    click.echo(line)
    if petition.roll_generation is not None:
        click.echo(
            f"committed the roll of {petition.eligible_members:,} eligible members as the "
            "log's first entry: later imports change nobody's eligibility for this petition "
            f"until `petition recommit {petition.slug}`"
        )
    if petition.threshold > petition.eligible_members:
        click.echo(
            f"warning: the threshold ({petition.threshold:,}) is more than the active members "
            f"({petition.eligible_members:,})",
            err=True,
        )


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn a refusal or a database error into one ``Error:`` line instead of a traceback.

    The petition actions have rolled their transaction back by then, so nothing is left
    holding locks.
    """
    try:
        yield
    except PetitionError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        first_line = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise click.ClickException(f"database error: {first_line}") from None


@petition_cli.command("create")
@click.argument("slug")
@click.option("--title", required=True, help="The petition's title (at most 200 characters).")
@click.option("--threshold", type=int, help="Signatures needed, as a number.")
@click.option(
    "--threshold-percent",
    type=float,
    help="Signatures needed, as a percentage of active members, fixed when the petition opens.",
)
@click.option(
    "--closes-at",
    type=IsoDateTime(),
    help="When signing stops, ISO 8601 (e.g. 2026-12-31T18:00:00Z); without a zone it is UTC.",
)
@click.option("--webhook-url", help="Where this petition's threshold event goes (http/https).")
@click.option(
    "--witnesses-required",
    type=click.IntRange(0, None),
    default=0,
    show_default=True,
    help="How many configured witnesses (WITNESSES) must cosign the crossing checkpoint "
    "before the threshold webhook goes out.",
)
@click.option("--text", help="The petition's text.")
@click.option(
    "--text-file",
    type=click.File("r", encoding="utf-8-sig"),
    help="Read the petition's text from this UTF-8 file ('-' for standard input).",
)
@click.option("--open", "open_now", is_flag=True, help="Open the petition straight away.")
@needs_schema
def create_command(
    slug,
    title,
    threshold,
    threshold_percent,
    closes_at,
    webhook_url,
    witnesses_required,
    text,
    text_file,
    open_now,
):
    """Create the petition SLUG as a draft (or open it with --open).

    Give exactly one of --threshold or --threshold-percent.
    """
    if (threshold is None) == (threshold_percent is None):
        raise click.UsageError("give exactly one of --threshold or --threshold-percent")
    if text is not None and text_file is not None:
        raise click.UsageError("give --text or --text-file, not both")
    configured = len(settings_of(current_app).witnesses)
    if witnesses_required > configured:
        raise click.UsageError(
            f"--witnesses-required {witnesses_required} needs as many witnesses in WITNESSES; "
            f"{configured} are configured"
        )
    if text_file is not None:
        try:
            text = text_file.read()
        except UnicodeDecodeError:
            raise click.ClickException(f"{text_file.name} is not UTF-8 text") from None

    with _refusals():
        petition = actions.create_petition(
            flask_db.engine(),
            AUDIT_ACTOR,
            open_now=open_now,
            commit_roll=_committer(),
            slug=slug,
            title=title,
            body=text,
            threshold=threshold,
            threshold_percent=threshold_percent,
            closes_at=closes_at,
            webhook_url=webhook_url,
            webhook_allowed=settings_of(current_app).webhook_allowed_networks,
            witnesses_required=witnesses_required,
        )

    click.echo(f"created petition {slug!r}: threshold {actions.describe_rule(petition)}")
    if open_now:
        _report_opened(petition)
    else:
        click.echo(f"it is a draft; open it with: flask petition open {slug}")


def _committer() -> rules.RollCommitter:
    return roll_commitment.committer(settings_of(current_app), AUDIT_ACTOR)


@petition_cli.command("open")
@click.argument("slug")
@needs_schema
def open_command(slug):
    """Open the draft petition SLUG, freezing its threshold against the active members."""
    with _refusals():
        petition = actions.open_petition(
            flask_db.engine(), AUDIT_ACTOR, slug, commit_roll=_committer()
        )
    _report_opened(petition)


@petition_cli.command("close")
@click.argument("slug")
@needs_schema
def close_command(slug):
    """Close the petition SLUG so that signing stops."""
    with _refusals():
        petition = actions.close_petition(flask_db.engine(), AUDIT_ACTOR, slug)
    click.echo(
        f"closed petition {slug!r} at {_when(petition.closed_at)} with "
        f"{petition.signature_count:,} signatures (threshold {petition.threshold:,})"
    )


@petition_cli.command("recommit")
@click.argument("slug")
@click.option("--by", "by", required=True, help="Who decided (recorded in the audit trail).")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@needs_schema
def recommit_command(slug, by, reason):
    """Commit the roll as it stands now for the open petition SLUG: members count for it by
    the new committed roll from then on. Published in its log with both counts."""
    with _refusals():
        done = roll_commitment.recommit(
            flask_db.engine(), settings_of(current_app), AUDIT_ACTOR, slug, reason, committed_by=by
        )
    before = (
        f"{done.previous.eligible_count:,} eligible members (generation {done.previous.generation})"
        if done.previous is not None
        else "no committed roll"
    )
    click.echo(
        f"re-committed the roll of petition {slug!r}: {before} -> "
        f"{done.current.eligible_count:,} (generation {done.current.generation}, root "
        f"{done.current.root_hash}, log entry {done.current.leaf_index + 1})"
    )


@petition_cli.command("list")
@needs_schema
def list_command():
    """List every petition with its state, count and threshold."""
    with _refusals(), Session(flask_db.engine(), expire_on_commit=False) as session:
        petitions = rules.all_petitions(session)
    if not petitions:
        click.echo("no petitions")
        return
    click.echo(f"{'SLUG':<24} {'STATE':<10} {'SIGNED':>9} {'NEEDED':>9}  CLOSES")
    for petition in petitions:
        if petition.threshold is not None:
            needed = f"{petition.threshold:,}"
        elif petition.threshold_absolute is not None:
            needed = f"{petition.threshold_absolute:,}"
        else:
            needed = f"{petition.threshold_percent:g}%"
        click.echo(
            f"{petition.slug:<24} {rules.effective_state(petition):<10} "
            f"{petition.signature_count:>9,} {needed:>9}  {_when(petition.closes_at)}"
        )
