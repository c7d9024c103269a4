"""Registers the command-line groups; each group lives beside the concern it drives."""

import click
from flask import Flask
from flask.cli import AppGroup

from petitions import (
    demo,
    log_cli,
    petition_cli,
    roll_cli,
    schema,
    signature_cli,
    user_cli,
    webdb,
)

db_cli = AppGroup("db", help="Create or migrate the database schema.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create the schema, or migrate it to the newest revision."""
    schema.upgrade(webdb.engine())
    click.echo("database schema is up to date")


def init_app(app: Flask) -> None:
    """Attach every command group to the app's ``flask`` command."""
    app.cli.add_command(db_cli)
    app.cli.add_command(roll_cli.roll_cli)
    app.cli.add_command(petition_cli.petition_cli)
    app.cli.add_command(log_cli.log_cli)
    app.cli.add_command(signature_cli.signature_cli)
    app.cli.add_command(user_cli.user_cli)
    app.cli.add_command(demo.demo_command)
