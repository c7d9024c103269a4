"""``flask --app app privacy ...``: keeping personal data no longer than its retention."""

import click
from flask import current_app
from flask.cli import AppGroup

from petitions.cli.support import needs_schema
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.privacy import purge as privacy_purge
from petitions.privacy import retention

privacy_cli = AppGroup("privacy", help="Purge personal data whose retention has run out.")


@privacy_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed; change nothing.")
@needs_schema
def purge_command(dry_run: bool) -> None:
    """Remove or blank the personal data whose retention has run out (as the worker does each
    night), in batches of PURGE_BATCH_SIZE, and say what went, kind by kind."""
    settings = settings_of(current_app)
    for kept in retention.in_force(settings):
        click.echo(f"{kept.kind}: kept {kept.days} days {kept.counted_from} ({kept.setting})")
    report = privacy_purge.purge(flask_db.engine(), settings, utcnow(), dry_run=dry_run)
    verb = "would remove or blank" if dry_run else "removed or blanked"
    for name, count in report.counts.items():
        click.echo(f"{name}: {verb} {count}")
    click.echo(f"{report.total} rows in all" + (" (dry run: nothing changed)" if dry_run else ""))
    if not report.finished:
        click.echo("stopped at the time bound; run it again to purge the rest")
