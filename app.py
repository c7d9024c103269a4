"""The application factory: settings, the database, blueprints and commands. Nothing else."""

import os
import sys
from pathlib import Path
from typing import NoReturn

from flask import Flask
from flask_wtf import CSRFProtect

from petitions import (
    auth,
    commands,
    errors,
    mail,
    rate_limits,
    security,
    views_api,
    views_auth,
    views_dashboard,
    views_dev,
    views_invitations,
    views_log,
    views_organiser,
    views_public,
    views_roll,
    views_scrutiny,
    views_sign,
    views_signatures,
    webdb,
    whole_numbers,
)
from petitions.settings import SettingsError, load_settings
from workers import cli as worker_cli
from workers import dispatch

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
    webdb.init_app(app)
    errors.init_app(app)
    app.register_blueprint(views_public.bp)
    app.register_blueprint(views_api.bp)
    app.register_blueprint(views_sign.bp)
    app.register_blueprint(views_log.bp)
    csrf.exempt(views_log.bp)
    for blueprint in (
        views_auth.bp,
        views_organiser.bp,
        views_dashboard.bp,
        views_signatures.bp,
        views_invitations.bp,
        views_roll.bp,
        views_scrutiny.bp,
    ):
        app.register_blueprint(blueprint)
    auth.init_app(app)
    if not app.config["PRODUCTION"]:
        app.register_blueprint(views_dev.bp)
    app.add_template_filter(mail.linkify_filter, "linkify")
    csrf.init_app(app)
    csrf.exempt(views_api.bp)
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
