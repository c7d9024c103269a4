"""``flask --app app roll ...``: importing the membership roll and reading import reports."""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlmodel import select

from petitions.cli.support import needs_schema
from petitions.db import flask_db
from petitions.db.models import RollImport, RollImportNote
from petitions.roll.importer import ImportReport, import_roll

roll_cli = AppGroup("roll", help="Import the membership roll and read import reports.")

_HOUSEHOLD_EXAMPLES = 20


def _echo_notes(import_id: int, kind: str, limit: int | None = None) -> None:
    query = (
        select(RollImportNote.line, RollImportNote.member_number, RollImportNote.detail)
        .where(RollImportNote.import_id == import_id, RollImportNote.kind == kind)
        .order_by(RollImportNote.line)
    )
    if limit is not None:
        query = query.limit(limit)
    for line, number, detail in flask_db.session().execute(query.execution_options(yield_per=1000)):
        who = f" (member {number})" if number else ""
        click.echo(f"  line {line}{who}: {detail}")


def _echo_report(report: ImportReport) -> None:
    counts = report.counts
    click.echo(f"import #{report.import_id} of {report.filename} (sha256 {report.sha256})")
    if "rows" in counts:
        click.echo(f"rows read: {counts['rows']}")
    for name in ("added", "updated", "unchanged", "lapsed", "rejected"):
        if name in counts:
            click.echo(f"{name}: {counts[name]}")
    if counts.get("household_addresses"):
        click.echo(
            f"households: {counts['household_addresses']} addresses shared by "
            f"{counts['household_members']} members (accepted)"
        )
    if counts.get("rejected"):
        click.echo("rejected rows:")
        _echo_notes(report.import_id, "rejected")
    if counts.get("household_addresses"):
        click.echo(f"members sharing an address (first {_HOUSEHOLD_EXAMPLES}; all in the report):")
        _echo_notes(report.import_id, "household", _HOUSEHOLD_EXAMPLES)


@roll_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Mark members missing from the file as lapsed.")
@click.option("--strict", is_flag=True, help="Refuse the whole file if any row is bad.")
@needs_schema
def import_command(file: Path, replace: bool, strict: bool) -> None:
    """Import FILE, a CSV export of the roll (member_id,email[,name,region,status,joined_on]).

    Members are matched by member number: new ones are added, changed ones updated. The import
    is one transaction: a refused file changes nothing.
    """
    show_bar = sys.stderr.isatty()
    with file.open("rb") as source:
        if show_bar:
            with click.progressbar(
                length=file.stat().st_size, label="reading", file=sys.stderr
            ) as bar:
                report = import_roll(
                    flask_db.engine(),
                    source,
                    file.name,
                    replace=replace,
                    strict=strict,
                    on_progress=bar.update,
                )
        else:
            report = import_roll(
                flask_db.engine(), source, file.name, replace=replace, strict=strict
            )
    _echo_report(report)
    if report.refused:
        raise click.ClickException(f"import refused: {report.refusal}")


@roll_cli.command("history")
@needs_schema
def history_command() -> None:
    """List every roll import, newest first."""
    query = select(RollImport).order_by(RollImport.id.desc())
    for record in flask_db.session().exec(query):
        when = record.started_at.strftime("%Y-%m-%d %H:%M:%SZ")
        summary = (
            f"refused: {record.refusal}"
            if record.outcome == "refused"
            else f"{record.rows} rows, +{record.added} ~{record.updated} "
            f"lapsed {record.lapsed}, rejected {record.rejected}"
        )
        click.echo(f"#{record.id} {when} {record.filename} sha256 {record.sha256[:12]} {summary}")


@roll_cli.command("report")
@click.argument("import_id", type=int)
@needs_schema
def report_command(import_id: int) -> None:
    """Show the full report of import IMPORT_ID: every rejected row and every household."""
    record = flask_db.session().get(RollImport, import_id)
    if record is None:
        raise click.ClickException(f"there is no roll import #{import_id}")
    counts = {
        name: getattr(record, name)
        for name in (
            "rows",
            "added",
            "updated",
            "unchanged",
            "lapsed",
            "rejected",
            "household_addresses",
            "household_members",
        )
    }
    report = ImportReport(
        record.id, record.filename, record.sha256, record.outcome, record.refusal, counts
    )
    _echo_report(report)
    if record.household_addresses > _HOUSEHOLD_EXAMPLES:
        _echo_notes(import_id, "household")
    if report.refused:
        click.echo(f"refused: {record.refusal}")
