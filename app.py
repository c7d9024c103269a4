"""The application factory: settings, the database, blueprints and commands. Nothing else."""

import os
import sys
from pathlib import Path
from typing import NoReturn

from flask import Flask
from flask_wtf import CSRFProtect

from petitions.cli import commands
from petitions.cli import worker as worker_cli
from petitions.config import SettingsError, load_settings
from petitions.db import flask_db
from petitions.jobs import dispatch
from petitions.outbox import mail
from petitions.web import (
    auth,
    dashboard,
    dev,
    errors,
    invitations,
    log_pages,
    organiser,
    public,
    rate_limits,
    roll,
    scrutiny,
    security,
    sign,
    sign_in,
    signatures,
    whole_numbers,
)
from petitions.web.api import views

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app from the environment; ``test_config`` overrides settings in tests."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        static_folder="petitions/static",
        template_folder="templates",
    )
    try:
        app.config.update(load_settings(dict(os.environ), Path(app.instance_path)))
    except SettingsError as exc:
        _refuse_to_start(exc)
    if test_config:
        app.config.update(test_config)

    whole_numbers.init_app(app)
    flask_db.init_app(app)
    errors.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(sign.bp)
    app.register_blueprint(log_pages.bp)
    csrf.exempt(log_pages.bp)
    for blueprint in (
        sign_in.bp,
        organiser.bp,
        dashboard.bp,
        signatures.bp,
        invitations.bp,
        roll.bp,
        scrutiny.bp,
    ):
        app.register_blueprint(blueprint)
    auth.init_app(app)
    if not app.config["PRODUCTION"]:
        app.register_blueprint(dev.bp)
    app.add_template_filter(mail.linkify_filter, "linkify")
    csrf.init_app(app)
    csrf.exempt(views.bp)
    commands.init_app(app)
    dispatch.init_app(app)
    app.cli.add_command(worker_cli.worker_command)
    try:
        security.init_app(app, os.environ)
        rate_limits.init_app(app, os.environ)
    except SettingsError as exc:
        _refuse_to_start(exc)
    return app


def _refuse_to_start(exc: SettingsError) -> NoReturn:
    """Stop start-up with the setting's one-line reason."""
    print(f"petitions: refusing to start: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
