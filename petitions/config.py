"""The service's settings: one typed, frozen object read from the environment at start, with the
embedded defaults the README describes.

Every setting has one parser here, so a bad value is refused at start-up with a one-line reason
instead of failing later inside a request. The rest of the code reads ``Settings`` attributes,
never string-keyed mappings; the Flask app keeps it in ``app.extensions`` (see settings_of).
"""

import base64
import binascii
import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from limits import parse_many

from petitions import organisation, webhook_targets
from petitions.text import breaks_lines

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_MAIL_FROM = "petitions@localhost"
DEFAULT_CONFIRM_LINK_MAX_AGE = 259200
ENVIRONMENTS = ("development", "production")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


@dataclass(frozen=True)
class WitnessSetting:
    """One witness of WITNESSES: its key name, its submission URL and its Ed25519 public key
    (raw 32 bytes), whose cosignatures are type 0x04 (c2sp.org/tlog-cosignature)."""

    name: str
    url: str
    public_key: bytes


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
    # Seconds an invitation's opt-out link stays valid.
    "OPT_OUT_LINK_MAX_AGE": 90 * 24 * 3600,
    # The most mails a worker claims and sends in one job, over one SMTP connection.
    "MAIL_BATCH_SIZE": 50,
    # The most requests to sign a worker answers in one job, in one commit.
    "SIGN_REQUEST_BATCH_SIZE": 50,
    # From this estimated delay (seconds) on, pages and the API say links are arriving slowly.
    "MAIL_SLOW_AFTER_SECONDS": 120,
    # The most rows the privacy purge removes or blanks in one commit.
    "PURGE_BATCH_SIZE": 500,
    # Seconds a mailed link to a member's data export stays valid.
    "PRIVACY_EXPORT_LINK_MAX_AGE": 24 * 3600,
    # A witness is shown as stalled when a head it has not cosigned is older than this.
    "WITNESS_STALLED_AFTER_SECONDS": 600,
}
# How many days each kind of personal data is kept once it is no longer needed (README,
# "Retention"): what each is counted from is said in petitions.privacy.retention.
RETENTION_DAYS = {
    "MAIL_BODY_RETENTION_DAYS": 30,
    "SIGN_REQUEST_RETENTION_DAYS": 90,
    "SESSION_RETENTION_DAYS": 30,
    "INVITATION_RETENTION_DAYS": 90,
    "ROLL_REPORT_RETENTION_DAYS": 90,
    "PRIVACY_REQUEST_RETENTION_DAYS": 30,
}
# The longest a retention may be set to: ten years, so that a typo cannot keep data forever.
MAX_RETENTION_DAYS = 3650
# Each limit in Flask-Limiter's notation ("60 per hour", "10/minute;100/day"). Asking to sign
# and confirming from one network are refused only past a safety valve that a branch meeting or
# a carrier-grade NAT full of members stays well under (README, "Security"); per address, what
# is limited is the mail the requests cause, never the requests themselves.
DEFAULT_LIMITS = {
    "SIGN_LIMIT_PER_NETWORK": "2000 per hour",
    "SIGN_LIMIT_PER_ADDRESS": "5 per hour",
    "CONFIRM_LIMIT_PER_NETWORK": "2000 per hour",
    "SIGN_IN_LIMIT_PER_NETWORK": "30 per hour",
    "SIGN_IN_LIMIT_PER_ADDRESS": "5 per hour",
    "PRIVACY_LIMIT_PER_NETWORK": "60 per hour",
    "PRIVACY_LIMIT_PER_ADDRESS": "5 per hour",
}
# Levels that refuse nothing: past them the organisers see an anomaly signal. One limit each.
DEFAULT_NOTICES = {
    "SIGN_NOTICE_PER_NETWORK": "60 per hour",
}
# Room around an uploaded file for the rest of its form.
FORM_OVERHEAD = 1024 * 1024
_EXTENSION = "petitions.settings"


@dataclass(frozen=True)
class Settings:
    """Every setting, checked. Field names are the environment variables' names in lower case."""

    petitions_env: str
    secret_key: str
    secret_key_fallbacks: tuple[str, ...]
    database_url: str
    redis_url: str | None
    base_url: str
    smtp_url: str | None
    mail_from: str
    ballot_webhook_url: str | None
    ballot_webhook_secret: str
    confirm_link_max_age: int
    log_signing_key: str
    webhook_timeout: int
    work_lease_seconds: int
    sign_in_link_max_age: int
    session_idle_seconds: int
    session_max_seconds: int
    invitation_rate_per_minute: int
    roll_upload_max_bytes: int
    opt_out_link_max_age: int
    mail_batch_size: int
    sign_request_batch_size: int
    mail_slow_after_seconds: int
    purge_batch_size: int
    mail_body_retention_days: int
    sign_request_retention_days: int
    session_retention_days: int
    invitation_retention_days: int
    roll_report_retention_days: int
    privacy_request_retention_days: int
    privacy_export_link_max_age: int
    sign_limit_per_network: str
    sign_limit_per_address: str
    confirm_limit_per_network: str
    sign_in_limit_per_network: str
    sign_in_limit_per_address: str
    privacy_limit_per_network: str
    privacy_limit_per_address: str
    sign_notice_per_network: str = DEFAULT_NOTICES["SIGN_NOTICE_PER_NETWORK"]
    proxy_fix_hops: int | None = None
    witnesses: tuple[WitnessSetting, ...] = ()
    witness_stalled_after_seconds: int = 600
    # Not read from the environment: how this process runs, chosen by whoever builds the app
    # (tests and benchmarks). False: no background thread runs jobs without Redis; the caller
    # runs them (the in-process worker's run_pending()).
    inprocess_worker_thread: bool = True
    # Seconds a web process keeps the live count, the dashboard's figures and the mail
    # backlog; None: the modules' own defaults.
    live_count_ttl: float | None = None
    dashboard_ttl: float | None = None
    mail_backlog_ttl: float | None = None
    # The organisation's own look (README, "Settings"): checked by _organisation_settings.
    org_name: str = organisation.DEFAULT_NAME
    org_logo_file: Path | None = None
    org_primary_colour: str | None = None
    org_contact_email: str | None = None
    org_contact_url: str | None = None
    # Networks a petition's own webhook URL may reach although they are not public (README,
    # "Security"): checked by _allowed_networks.
    webhook_allowed_networks: tuple[webhook_targets.Network, ...] = ()

    @property
    def production(self) -> bool:
        """True when PETITIONS_ENV=production: nothing is made up, nothing is for development."""
        return self.petitions_env == "production"

    @property
    def organisation(self) -> organisation.Organisation:
        """The organisation's name, logo, colour and contact, as pages and mails show them."""
        return organisation.Organisation(
            name=self.org_name,
            logo_file=self.org_logo_file,
            primary_colour=self.org_primary_colour,
            contact_email=self.org_contact_email,
            contact_url=self.org_contact_url,
        )

    def flask_config(self) -> dict[str, Any]:
        """The settings Flask and its extensions read from ``app.config`` under their own names."""
        return {
            "SECRET_KEY": self.secret_key,
            "SECRET_KEY_FALLBACKS": list(self.secret_key_fallbacks),
            # Any larger request body is refused (413) before it is read.
            "MAX_CONTENT_LENGTH": self.roll_upload_max_bytes + FORM_OVERHEAD,
            # The session cookie: never readable by scripts, not sent on cross-site requests,
            # and only over https where the service is served over https.
            "SESSION_COOKIE_NAME": "petitions_session",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.base_url.startswith("https://"),
        }

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` (field names, or the environment's upper-case names)."""
        return dataclasses.replace(self, **{name.lower(): value for name, value in changes.items()})


FIELDS = frozenset(item.name for item in dataclasses.fields(Settings))


def settings_of(app) -> Settings:
    """The settings of a Flask ``app`` (anything with ``extensions``), as create_app kept them."""
    return app.extensions[_EXTENSION]


def keep(app, settings: Settings) -> None:
    """Make ``settings`` those of ``app``; the object is frozen, so a change is a new one."""
    app.extensions[_EXTENSION] = settings


def _limit(environ: Mapping[str, str], name: str) -> str:
    default = DEFAULT_LIMITS[name]
    value = (environ.get(name) or "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(
            f'{name} must be a rate limit such as "{default}", got {value!r}'
        ) from None
    return value


def _notice(environ: Mapping[str, str], name: str) -> str:
    default = DEFAULT_NOTICES[name]
    value = (environ.get(name) or "").strip() or default
    try:
        levels = parse_many(value)
    except ValueError:
        levels = []
    if len(levels) != 1:
        raise SettingsError(f'{name} must be one rate such as "{default}", got {value!r}') from None
    return value


def proxy_hops(environ: Mapping[str, str]) -> int | None:
    """PROXY_FIX_HOPS from ``environ``: how many proxies in front of the app to trust, or None."""
    raw = (environ.get("PROXY_FIX_HOPS") or "").strip()
    if not raw:
        return None
    try:
        hops = int(raw)
    except ValueError:
        raise SettingsError(f"PROXY_FIX_HOPS must be a whole number, got {raw!r}") from None
    if hops < 1:
        raise SettingsError(f"PROXY_FIX_HOPS must be 1 or more, got {hops}")
    return hops


def load_settings(environ: Mapping[str, str], instance_path: Path) -> Settings:
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
    numbers = {
        name.lower(): _int_setting(environ, name, default) for name, default in INT_SETTINGS.items()
    }
    limits = {name.lower(): _limit(environ, name) for name in DEFAULT_LIMITS}
    limits |= {name.lower(): _notice(environ, name) for name in DEFAULT_NOTICES}
    retention = {
        name.lower(): _retention_days(environ, name, default)
        for name, default in RETENTION_DAYS.items()
    }
    redis_url = environ.get("REDIS_URL", "").strip() or None
    if production:
        _refuse_weak(secret_key, base_url, redis_url)
    return Settings(
        petitions_env=env,
        secret_key=secret_key,
        secret_key_fallbacks=tuple(key for key in fallbacks if key),
        database_url=database_url(environ.get("DATABASE_URL"), instance_path),
        redis_url=redis_url,
        base_url=base_url,
        smtp_url=_smtp_url(smtp_url) if smtp_url else None,
        mail_from=_mail_from(environ.get("MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM),
        ballot_webhook_url=(_http_url("BALLOT_WEBHOOK_URL", webhook_url) if webhook_url else None),
        ballot_webhook_secret=webhook_secret,
        confirm_link_max_age=(
            _positive_int("CONFIRM_LINK_MAX_AGE", max_age)
            if max_age
            else DEFAULT_CONFIRM_LINK_MAX_AGE
        ),
        log_signing_key=log_key,
        webhook_timeout=_positive_int("WEBHOOK_TIMEOUT", timeout) if timeout else 15,
        work_lease_seconds=_positive_int("WORK_LEASE_SECONDS", lease) if lease else 120,
        proxy_fix_hops=proxy_hops(environ),
        webhook_allowed_networks=_allowed_networks(environ),
        witnesses=witnesses(environ.get("WITNESSES", "")),
        **_organisation_settings(environ),
        **numbers,
        **limits,
        **retention,
    )


# A key for HMAC-SHA256 (links, sessions) should be as long as its output.
MIN_SECRET_KEY_BYTES = 32


def _refuse_weak(secret_key: str, base_url: str, redis_url: str | None) -> None:
    """In production, refuse settings that work but are unsafe, one reason at a time."""
    length = len(secret_key.encode())
    if length < MIN_SECRET_KEY_BYTES:
        raise SettingsError(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes when "
            f"PETITIONS_ENV=production (it is {length}); make one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    if not base_url.startswith("https://"):
        raise SettingsError(
            "BASE_URL must be an https:// URL when PETITIONS_ENV=production: the links mailed "
            f"to members carry their tokens, got {base_url!r}"
        )
    if not redis_url:
        raise SettingsError(
            "REDIS_URL must be set when PETITIONS_ENV=production: without it the rate limits "
            "are counted per process and jobs run inside the web processes"
        )


def _mail_from(raw: str) -> str:
    # It becomes the From header of every mail: a line break there would end the header.
    if breaks_lines(raw):
        raise SettingsError(
            f"MAIL_FROM must be one line, without line breaks or control characters, got {raw!r}"
        )
    return raw


def _allowed_networks(environ: Mapping[str, str]) -> tuple[webhook_targets.Network, ...]:
    try:
        return webhook_targets.parse_networks(environ.get("WEBHOOK_ALLOWED_NETWORKS", ""))
    except ValueError as exc:
        raise SettingsError(f"WEBHOOK_ALLOWED_NETWORKS: {exc}") from None


def _int_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    return _positive_int(name, raw) if raw else default


def _retention_days(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        days = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of days, got {raw!r}") from None
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise SettingsError(f"{name} must be from 1 to {MAX_RETENTION_DAYS} days, got {days}")
    return days


# Long enough for a union's full name, short enough for a page header and a mail's From.
MAX_ORG_NAME = 80


def _organisation_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ORG_* settings, checked: the same in development and production."""
    name = environ.get("ORG_NAME", "").strip() or organisation.DEFAULT_NAME
    if breaks_lines(name) or len(name) > MAX_ORG_NAME:
        raise SettingsError(
            f"ORG_NAME must be one line of at most {MAX_ORG_NAME} characters, got {name!r}"
        )
    logo = environ.get("ORG_LOGO_FILE", "").strip()
    colour = environ.get("ORG_PRIMARY_COLOUR", "").strip()
    email = environ.get("ORG_CONTACT_EMAIL", "").strip()
    url = environ.get("ORG_CONTACT_URL", "").strip()
    return {
        "org_name": name,
        "org_logo_file": _logo_file(logo) if logo else None,
        "org_primary_colour": _colour(colour) if colour else None,
        "org_contact_email": _contact_email(email) if email else None,
        "org_contact_url": _http_url("ORG_CONTACT_URL", url) if url else None,
    }


def _logo_file(raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if path.suffix.lower() not in organisation.LOGO_TYPES:
        kinds = ", ".join(organisation.LOGO_TYPES)
        raise SettingsError(f"ORG_LOGO_FILE must be an image file ({kinds}), got {raw!r}")
    if not path.is_file():
        raise SettingsError(f"ORG_LOGO_FILE must name a readable file, and {raw!r} is not one")
    return path


def _colour(raw: str) -> str:
    if not (
        len(raw) == 7 and raw[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in raw[1:])
    ):
        raise SettingsError(f"ORG_PRIMARY_COLOUR must be a colour written #rrggbb, got {raw!r}")
    colour = raw.lower()
    ratio = organisation.worst_contrast(colour)
    needed = organisation.MIN_CONTRAST
    if ratio < needed:
        raise SettingsError(
            f"ORG_PRIMARY_COLOUR {colour} has a contrast of {ratio:.2f}:1 with white or the "
            f"footer's light grey; WCAG AA needs {needed}:1 for text, so "
            f"choose a darker shade such as {organisation.darkened(colour, needed)}"
        )
    return colour


def _contact_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        raise SettingsError(f"ORG_CONTACT_EMAIL must be an e-mail address, got {raw!r}") from None


_WITNESS_FORMAT = (
    'WITNESSES must be a JSON list of {"name": ..., "url": ..., "public_key": ...}, the key '
    "as the witness's verifier key (name+keyid+base64) or the base64 of its 32 bytes"
)


def witnesses(raw: str) -> tuple[WitnessSetting, ...]:
    """The WITNESSES setting: a JSON list of objects with a name, a URL and a public key."""
    raw = raw.strip()
    if not raw:
        return ()
    try:
        entries = json.loads(raw)
    except ValueError:
        raise SettingsError(f"{_WITNESS_FORMAT}; it is not JSON") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SettingsError(_WITNESS_FORMAT)
    found = []
    for number, entry in enumerate(entries, start=1):
        name, url, key = (entry.get(field) for field in ("name", "url", "public_key"))
        if not all(isinstance(value, str) and value.strip() for value in (name, url, key)):
            raise SettingsError(f"{_WITNESS_FORMAT}; witness {number} lacks one of them")
        name = name.strip()
        if "+" in name or any(ch.isspace() for ch in name) or len(name) > 200:
            raise SettingsError(
                f"WITNESSES: the name of witness {number} must have no spaces or + "
                "(at most 200 characters)"
            )
        found.append(
            WitnessSetting(
                name, _http_url(f"WITNESSES url of {name}", url.strip()), _witness_key(name, key)
            )
        )
    if len({witness.name for witness in found}) != len(found):
        raise SettingsError("WITNESSES names each witness once")
    return tuple(found)


def _witness_key(name: str, raw: str) -> bytes:
    raw = raw.strip()
    parts = raw.split("+", 2)
    try:
        if len(parts) == 1:
            key = base64.b64decode(raw, validate=True)
            if len(key) == 32:
                return key
        else:
            key_name, key_id, encoded = parts
            material = base64.b64decode(encoded, validate=True)
            digest = hashlib.sha256(key_name.encode() + b"\n" + material).digest()[:4]
            if (
                key_name == name
                and len(material) == 33
                and material[0] == 0x04
                and digest.hex() == key_id.lower()
            ):
                return material[1:]
    except (ValueError, binascii.Error):
        pass
    raise SettingsError(
        f"WITNESSES: the public_key of {name} must be its cosignature verifier key "
        f"({name}+keyid+base64 of 0x04 and the key) or the base64 of its 32-byte Ed25519 key"
    )
