"""Registers the command-line groups; each group lives beside the concern it drives."""

import click
from flask import Flask
from flask.cli import AppGroup

from petitions.cli import demo, log, petition, privacy, roll, signature, user, witness, worker
from petitions.db import flask_db, schema

db_cli = AppGroup("db", help="Create or migrate the database schema.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create the schema, or migrate it to the newest revision."""
    schema.upgrade(flask_db.engine())
    click.echo("database schema is up to date")


def init_app(app: Flask) -> None:
    """Attach every command group to the app's ``flask`` command."""
    app.cli.add_command(db_cli)
    app.cli.add_command(roll.roll_cli)
    app.cli.add_command(petition.petition_cli)
    app.cli.add_command(log.log_cli)
    app.cli.add_command(signature.signature_cli)
    app.cli.add_command(user.user_cli)
    app.cli.add_command(demo.demo_command)
    app.cli.add_command(worker.worker_command)
    app.cli.add_command(privacy.privacy_cli)
    app.cli.add_command(witness.witness_cli)
