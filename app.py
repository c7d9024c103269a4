"""The application factory: settings, the database, blueprints and commands. Nothing else."""

import os
import sys
from pathlib import Path
from typing import NoReturn

from flask import Flask
from flask_wtf import CSRFProtect

from petitions import config
from petitions.cli import commands
from petitions.config import FIELDS, SettingsError, load_settings
from petitions.db import flask_db
from petitions.jobs import dispatch
from petitions.outbox import mail
from petitions.web import (
    auth,
    body_limits,
    dashboard,
    dev,
    erasure,
    errors,
    invitations,
    labels,
    log_pages,
    moments,
    name_check,
    organiser,
    privacy,
    public,
    rate_limits,
    request_log,
    roll,
    scrutiny,
    security,
    sign,
    sign_in,
    signatures,
    theme,
    whole_numbers,
    withdraw,
)
from petitions.web.api import docs, views

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app from the environment. ``test_config`` (tests, benchmarks) overrides settings
    by their environment names, and sets anything else in Flask's own ``app.config``."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        static_folder="petitions/static",
        template_folder="templates",
    )
    try:
        settings = load_settings(os.environ, Path(app.instance_path))
    except SettingsError as exc:
        _refuse_to_start(exc)
    flask_only = dict(test_config or {})
    settings = settings.replace(
        **{name: flask_only.pop(name) for name in list(flask_only) if name.lower() in FIELDS}
    )
    config.keep(app, settings)
    app.config.update(settings.flask_config())
    app.config.update(flask_only)

    whole_numbers.init_app(app)
    labels.init_app(app)
    moments.init_app(app)
    flask_db.init_app(app)
    body_limits.init_app(app)
    errors.init_app(app)
    theme.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(sign.bp)
    app.register_blueprint(withdraw.bp)
    app.register_blueprint(name_check.bp)
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
        privacy.bp,
        erasure.bp,
    ):
        app.register_blueprint(blueprint)
    auth.init_app(app)
    if not settings.production:
        app.register_blueprint(dev.bp)
    app.add_template_filter(mail.linkify_filter, "linkify")
    csrf.init_app(app)
    csrf.exempt(views.bp)
    commands.init_app(app)
    dispatch.init_app(app)
    security.init_app(app)
    request_log.init_app(app)
    try:
        rate_limits.init_app(app)
    except SettingsError as exc:
        _refuse_to_start(exc)
    return app


def _refuse_to_start(exc: SettingsError) -> NoReturn:
    """Stop start-up with the setting's one-line reason."""
    print(f"petitions: refusing to start: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
