"""``flask --app app user ...``: accounts for organisers and scrutineers."""

import click
from flask.cli import AppGroup

from petitions import audit
from petitions.accounts import users as accounts
from petitions.cli.support import AUDIT_ACTOR, needs_schema
from petitions.db import flask_db
from petitions.db.models import Role

user_cli = AppGroup("user", help="Add, list and disable organiser and scrutineer accounts.")


@user_cli.command("add")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    # The words themselves: given enum members, click would offer their names.
    type=click.Choice([role.value for role in Role]),
    help="What the account may do.",
)
@needs_schema
def add_command(email: str, role: str) -> None:
    """Let EMAIL sign in with ROLE (an existing account gets the role and is re-enabled)."""
    session = flask_db.session()
    try:
        account, new = accounts.add_user(session, email, role)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(
        session,
        AUDIT_ACTOR,
        "user.add" if new else "user.role",
        detail=f"{account.email} as {role}",
    )
    session.commit()
    click.echo(f"{'added' if new else 'updated'} {account.email} as {role}")


@user_cli.command("list")
@needs_schema
def list_command() -> None:
    """List every account with its role."""
    for account in accounts.users(flask_db.session()):
        state = " (disabled)" if account.disabled_at else ""
        click.echo(f"{account.email}\t{account.role}{state}")


@user_cli.command("disable")
@click.argument("email")
@needs_schema
def disable_command(email: str) -> None:
    """Stop EMAIL signing in, and sign out its every session."""
    session = flask_db.session()
    try:
        account = accounts.disable_user(session, email)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(session, AUDIT_ACTOR, "user.disable", detail=account.email)
    session.commit()
    click.echo(f"disabled {account.email}")
