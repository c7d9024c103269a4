"""Settings read from the environment, with the embedded defaults DESIGN.md describes.

Every setting has one parser here, so a bad value is refused at start-up with a one-line reason
instead of failing later inside a request.
"""

import base64
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_MAIL_FROM = "petitions@localhost"
DEFAULT_CONFIRM_LINK_MAX_AGE = 259200
ENVIRONMENTS = ("development", "production")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


def _kept_secret(instance_path: Path, name: str, make) -> str:
    """Return the secret stored in instance/NAME, making and keeping it on first use."""
    path = instance_path / name
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()
    # O_EXCL so two processes starting together cannot both write (and disagree on) the secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def database_url(raw: str | None, instance_path: Path) -> str:
    """The SQLAlchemy URL for DATABASE_URL ``raw``, or the SQLite file under ``instance_path``."""
    raw = (raw or "").strip()
    if not raw:
        instance_path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance_path / 'petitions.db'}"
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the driver named.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    if not (raw.startswith("sqlite:") or raw.startswith("postgresql+psycopg:")):
        raise SettingsError(
            "DATABASE_URL must be a postgresql+psycopg:// or sqlite:/// URL, "
            f"not {raw.split(':', 1)[0]}:..."
        )
    return raw


def _http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw.rstrip("/")


def _smtp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(f"SMTP_URL must look like smtp://[user:pass@]host:port, got {raw!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise SettingsError(f"SMTP_URL has a bad port: {exc}") from None
    return raw


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than zero, got {value}")
    return value


def _webhook_secret(raw: str) -> str:
    if not raw.startswith("whsec_"):
        raise SettingsError("BALLOT_WEBHOOK_SECRET must start with whsec_ followed by base64")
    try:
        base64.b64decode(raw[len("whsec_") :], validate=True)
    except ValueError:
        raise SettingsError("BALLOT_WEBHOOK_SECRET must be whsec_ followed by base64") from None
    return raw


def _log_key(raw: str) -> str:
    try:
        seed = base64.b64decode(raw, validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise SettingsError("LOG_SIGNING_KEY must be the base64 of a 32-byte Ed25519 private key")
    return raw


# Whole-number settings added after the first release, with their defaults.
INT_SETTINGS = {
    # Seconds a mailed sign-in link stays valid.
    "SIGN_IN_LINK_MAX_AGE": 900,
    # A signed-in session ends after this many seconds without a request ...
    "SESSION_IDLE_SECONDS": 8 * 3600,
    # ... and after this many seconds in all.
    "SESSION_MAX_SECONDS": 24 * 3600,
    # Invitations mailed per minute, per run, unless the organiser chooses fewer.
    "INVITATION_RATE_PER_MINUTE": 600,
    # The largest roll file that may be uploaded in the browser, in bytes.
    "ROLL_UPLOAD_MAX_BYTES": 64 * 1024 * 1024,
}
# Room around an uploaded file for the rest of its form.
FORM_OVERHEAD = 1024 * 1024


def load_settings(environ: dict[str, str], instance_path: Path) -> dict:
    """Read every setting from ``environ``; raise SettingsError with a one-line reason if bad.

    ``PETITIONS_ENV=production`` turns off the embedded conveniences: there, a missing
    SECRET_KEY or BALLOT_WEBHOOK_SECRET is an error instead of being made and kept in instance/.
    """
    env = environ.get("PETITIONS_ENV", "development").strip() or "development"
    if env not in ENVIRONMENTS:
        raise SettingsError(f"PETITIONS_ENV must be development or production, got {env!r}")
    production = env == "production"

    secret_key = environ.get("SECRET_KEY", "").strip()
    if not secret_key:
        if production:
            raise SettingsError("SECRET_KEY must be set when PETITIONS_ENV=production")
        secret_key = _kept_secret(instance_path, "secret_key", lambda: secrets.token_hex(32))

    webhook_secret = environ.get("BALLOT_WEBHOOK_SECRET", "").strip()
    if webhook_secret:
        webhook_secret = _webhook_secret(webhook_secret)
    elif production:
        raise SettingsError("BALLOT_WEBHOOK_SECRET must be set when PETITIONS_ENV=production")
    else:
        webhook_secret = _kept_secret(
            instance_path,
            "webhook_secret",
            lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        )

    log_key = environ.get("LOG_SIGNING_KEY", "").strip()
    if log_key:
        log_key = _log_key(log_key)
    elif production:
        raise SettingsError("LOG_SIGNING_KEY must be set when PETITIONS_ENV=production")
    else:
        log_key = _kept_secret(
            instance_path,
            "log_signing_key",
            lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        )

    smtp_url = environ.get("SMTP_URL", "").strip() or None
    webhook_url = environ.get("BALLOT_WEBHOOK_URL", "").strip() or None
    # The dev mailbox and the dev receiver do not exist in production: mail and the threshold
    # webhook must have somewhere real to go.
    if production and not smtp_url:
        raise SettingsError("SMTP_URL must be set when PETITIONS_ENV=production")
    if production and not webhook_url:
        raise SettingsError("BALLOT_WEBHOOK_URL must be set when PETITIONS_ENV=production")
    fallbacks = [key.strip() for key in environ.get("SECRET_KEY_FALLBACKS", "").split(",")]
    max_age = environ.get("CONFIRM_LINK_MAX_AGE", "").strip()
    timeout = environ.get("WEBHOOK_TIMEOUT", "").strip()
    lease = environ.get("WORK_LEASE_SECONDS", "").strip()
    base_url = _http_url("BASE_URL", environ.get("BASE_URL", "").strip() or DEFAULT_BASE_URL)
    numbers = {name: _int_setting(environ, name, default) for name, default in INT_SETTINGS.items()}
    return {
        "PETITIONS_ENV": env,
        "PRODUCTION": production,
        "SECRET_KEY": secret_key,
        "SECRET_KEY_FALLBACKS": [key for key in fallbacks if key],
        "DATABASE_URL": database_url(environ.get("DATABASE_URL"), instance_path),
        "REDIS_URL": environ.get("REDIS_URL", "").strip() or None,
        "BASE_URL": base_url,
        "SMTP_URL": _smtp_url(smtp_url) if smtp_url else None,
        "MAIL_FROM": environ.get("MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM,
        "BALLOT_WEBHOOK_URL": _http_url("BALLOT_WEBHOOK_URL", webhook_url) if webhook_url else None,
        "BALLOT_WEBHOOK_SECRET": webhook_secret,
        "CONFIRM_LINK_MAX_AGE": (
            _positive_int("CONFIRM_LINK_MAX_AGE", max_age)
            if max_age
            else DEFAULT_CONFIRM_LINK_MAX_AGE
        ),
        "LOG_SIGNING_KEY": log_key,
        "WEBHOOK_TIMEOUT": _positive_int("WEBHOOK_TIMEOUT", timeout) if timeout else 15,
        "WORK_LEASE_SECONDS": _positive_int("WORK_LEASE_SECONDS", lease) if lease else 120,
        **numbers,
        # Any larger request body is refused (413) before it is read.
        "MAX_CONTENT_LENGTH": numbers["ROLL_UPLOAD_MAX_BYTES"] + FORM_OVERHEAD,
        # The session cookie: never readable by scripts, not sent on cross-site requests, and
        # only over https where the service is served over https.
        "SESSION_COOKIE_NAME": "petitions_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": base_url.startswith("https://"),
    }


def _int_setting(environ: dict[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    return _positive_int(name, raw) if raw else default
