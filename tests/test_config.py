"""Settings from the environment, with the embedded defaults and the production refusals."""

import pytest

from app import create_app
from petitions import organisation
from petitions.config import DEFAULT_CONFIRM_LINK_MAX_AGE, SettingsError, load_settings


def test_embedded_defaults_make_and_keep_secrets_under_instance(tmp_path):
    first = load_settings({}, tmp_path)
    second = load_settings({}, tmp_path)
    assert first.database_url == f"sqlite:///{tmp_path / 'petitions.db'}"
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    assert first.ballot_webhook_secret.startswith("whsec_")
    assert first.ballot_webhook_secret == second.ballot_webhook_secret
    assert first.log_signing_key == second.log_signing_key
    assert (tmp_path / "log_signing_key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first.redis_url is None
    assert first.smtp_url is None
    assert first.base_url == "http://127.0.0.1:5000"
    assert first.mail_from == "petitions@localhost"
    assert first.confirm_link_max_age == DEFAULT_CONFIRM_LINK_MAX_AGE == 259200


def test_every_setting_is_read_from_the_environment(tmp_path):
    settings = load_settings(
        {
            "DATABASE_URL": "postgres://u:p@db:5432/petitions",
            "REDIS_URL": "redis://cache:6379/0",
            "SECRET_KEY": "s3cret",
            "BASE_URL": "https://petitions.example.org/",
            "SMTP_URL": "smtp://user:pass@mail.example.org:587?starttls=1",
            "MAIL_FROM": "votes@example.org",
            "BALLOT_WEBHOOK_URL": "https://ballot.example.org/hooks",
            "BALLOT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "CONFIRM_LINK_MAX_AGE": "3600",
        },
        tmp_path,
    )
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/petitions"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.secret_key == "s3cret"
    assert settings.base_url == "https://petitions.example.org"
    assert settings.smtp_url.startswith("smtp://user:pass@")
    assert settings.mail_from == "votes@example.org"
    assert settings.ballot_webhook_url == "https://ballot.example.org/hooks"
    assert settings.confirm_link_max_age == 3600
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PETITIONS_ENV": "production"}, "SECRET_KEY must be set"),
        (
            {"PETITIONS_ENV": "production", "SECRET_KEY": "x"},
            "BALLOT_WEBHOOK_SECRET must be set",
        ),
        (
            {
                "PETITIONS_ENV": "production",
                "SECRET_KEY": "x",
                "BALLOT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            },
            "LOG_SIGNING_KEY must be set",
        ),
        (
            {
                "PETITIONS_ENV": "production",
                "SECRET_KEY": "x",
                "BALLOT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "LOG_SIGNING_KEY": "dGVzdC1sb2ctc2lnbmluZy1rZXktMzItYnl0ZXMuLi4=",
            },
            "SMTP_URL must be set",
        ),
        ({"LOG_SIGNING_KEY": "c2hvcnQ="}, "32-byte Ed25519"),
        ({"PETITIONS_ENV": "staging"}, "PETITIONS_ENV must be"),
        ({"CONFIRM_LINK_MAX_AGE": "three days"}, "whole number"),
        ({"CONFIRM_LINK_MAX_AGE": "0"}, "greater than zero"),
        ({"BASE_URL": "petitions.example.org"}, "BASE_URL must be an http"),
        ({"SMTP_URL": "mail.example.org:25"}, "SMTP_URL must look like"),
        ({"SMTP_URL": "smtp://mail.example.org:port"}, "bad port"),
        ({"DATABASE_URL": "mysql://db/petitions"}, "DATABASE_URL must be"),
        ({"BALLOT_WEBHOOK_SECRET": "secret"}, "must start with whsec_"),
        ({"BALLOT_WEBHOOK_SECRET": "whsec_???"}, "base64"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(tmp_path, environ, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ, tmp_path)


def test_production_without_secret_key_refuses_to_start_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("PETITIONS_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as stopped:
        create_app()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert (
        error
        == "petitions: refusing to start: SECRET_KEY must be set when PETITIONS_ENV=production\n"
    )


def test_account_invitation_and_upload_settings(tmp_path):
    defaults = load_settings({}, tmp_path)
    assert defaults.sign_in_link_max_age == 900
    assert defaults.session_idle_seconds == 8 * 3600
    assert defaults.session_max_seconds == 24 * 3600
    assert defaults.invitation_rate_per_minute == 600
    assert defaults.roll_upload_max_bytes == 64 * 1024 * 1024
    assert defaults.flask_config()["MAX_CONTENT_LENGTH"] > defaults.roll_upload_max_bytes
    assert defaults.flask_config()["SESSION_COOKIE_HTTPONLY"] is True
    assert defaults.flask_config()["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert defaults.flask_config()["SESSION_COOKIE_SECURE"] is False
    chosen = load_settings(
        {
            "SIGN_IN_LINK_MAX_AGE": "300",
            "INVITATION_RATE_PER_MINUTE": "60",
            "BASE_URL": "https://petitions.example.org",
        },
        tmp_path,
    )
    assert chosen.sign_in_link_max_age == 300
    assert chosen.invitation_rate_per_minute == 60
    assert chosen.flask_config()["SESSION_COOKIE_SECURE"] is True
    for name in ("SESSION_IDLE_SECONDS", "ROLL_UPLOAD_MAX_BYTES"):
        with pytest.raises(SettingsError, match=name):
            load_settings({name: "soon"}, tmp_path)


def test_mail_counts_as_slow_from_a_setting(tmp_path):
    assert load_settings({}, tmp_path).mail_slow_after_seconds == 120
    chosen = load_settings({"MAIL_SLOW_AFTER_SECONDS": "300"}, tmp_path)
    assert chosen.mail_slow_after_seconds == 300
    for wrong in ("two minutes", "0"):
        with pytest.raises(SettingsError, match="MAIL_SLOW_AFTER_SECONDS"):
            load_settings({"MAIL_SLOW_AFTER_SECONDS": wrong}, tmp_path)


PRODUCTION = {
    "PETITIONS_ENV": "production",
    "SECRET_KEY": "k" * 32,
    "BALLOT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "LOG_SIGNING_KEY": "dGVzdC1sb2ctc2lnbmluZy1rZXktMzItYnl0ZXMuLi4=",
    "SMTP_URL": "smtp://mail.example.org:587",
    "BALLOT_WEBHOOK_URL": "https://ballot.example.org/hooks",
    "BASE_URL": "https://petitions.example.org",
    "REDIS_URL": "redis://cache:6379/0",
}


def test_production_starts_with_strong_settings(tmp_path):
    settings = load_settings(PRODUCTION, tmp_path)
    assert settings.production
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": "k" * 31}, "SECRET_KEY must be at least 32 bytes .*it is 31"),
        ({"SECRET_KEY": "é" * 15}, "it is 30"),
        ({"BASE_URL": "http://petitions.example.org"}, "BASE_URL must be an https:// URL"),
        ({"REDIS_URL": ""}, "REDIS_URL must be set when PETITIONS_ENV=production"),
    ],
)
def test_production_refuses_weak_settings_with_one_line_each(tmp_path, change, message):
    with pytest.raises(SettingsError, match=message) as refused:
        load_settings({**PRODUCTION, **change}, tmp_path)
    assert "\n" not in str(refused.value)


def test_development_accepts_what_production_refuses(tmp_path):
    lax = {**PRODUCTION, "PETITIONS_ENV": "development", "SECRET_KEY": "short"}
    assert load_settings({**lax, "BASE_URL": "http://127.0.0.1:5000", "REDIS_URL": ""}, tmp_path)


def test_the_organisation_defaults_to_a_neutral_look(tmp_path):
    organisation = load_settings({}, tmp_path).organisation
    assert organisation.name == "Member petitions"
    assert organisation.logo_file is None
    assert organisation.primary_colour is None
    assert not organisation.has_contact


def test_the_organisation_is_read_from_the_environment(tmp_path):
    logo = tmp_path / "logo.svg"
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    organisation = load_settings(
        {
            "ORG_NAME": " Northern Rail Union ",
            "ORG_LOGO_FILE": str(logo),
            "ORG_PRIMARY_COLOUR": "#C8102E",
            "ORG_CONTACT_EMAIL": "help@nru.example.org",
            "ORG_CONTACT_URL": "https://nru.example.org/contact/",
        },
        tmp_path,
    ).organisation
    assert organisation.name == "Northern Rail Union"
    assert organisation.logo_file == logo
    assert organisation.logo_type == "image/svg+xml"
    assert organisation.primary_colour == "#c8102e"
    assert organisation.contact_email == "help@nru.example.org"
    assert organisation.contact_url == "https://nru.example.org/contact"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ORG_PRIMARY_COLOUR": "red"}, "ORG_PRIMARY_COLOUR must be a colour written #rrggbb"),
        ({"ORG_PRIMARY_COLOUR": "#abc"}, "#rrggbb, got '#abc'"),
        ({"ORG_PRIMARY_COLOUR": "#12345g"}, "#rrggbb"),
        # Yellow cannot be read on white, nor white on it: refused, with a shade that passes.
        (
            {"ORG_PRIMARY_COLOUR": "#ffcc00"},
            r"#ffcc00 has a contrast of 1\.\d\d:1 .* needs 4\.5:1 .* such as #[0-9a-f]{6}$",
        ),
        # Just under 4.5:1 is under.
        ({"ORG_PRIMARY_COLOUR": "#e4002b"}, r"contrast of 4\.4\d:1"),
        ({"ORG_NAME": "Two\nlines"}, "ORG_NAME must be one line"),
        ({"ORG_NAME": "x" * 81}, "at most 80 characters"),
        ({"ORG_CONTACT_EMAIL": "help at union"}, "ORG_CONTACT_EMAIL must be an e-mail address"),
        ({"ORG_CONTACT_URL": "union.example.org"}, "ORG_CONTACT_URL must be an http"),
        ({"ORG_LOGO_FILE": "/no/such/logo.png"}, "ORG_LOGO_FILE must name a readable file"),
        ({"ORG_LOGO_FILE": "/etc/passwd"}, r"ORG_LOGO_FILE must be an image file \(.svg"),
    ],
)
def test_bad_organisation_settings_stop_start_up_in_one_line(tmp_path, environ, message):
    for environment in ({}, PRODUCTION):
        with pytest.raises(SettingsError, match=message) as refused:
            load_settings({**environment, **environ}, tmp_path)
        assert "\n" not in str(refused.value)


def test_the_suggested_shade_passes_and_keeps_the_hue(tmp_path):
    with pytest.raises(SettingsError) as refused:
        load_settings({"ORG_PRIMARY_COLOUR": "#ffcc00"}, tmp_path)
    suggested = str(refused.value).rsplit(" ", 1)[-1]
    assert organisation.worst_contrast(suggested) >= organisation.MIN_CONTRAST
    assert load_settings({"ORG_PRIMARY_COLOUR": suggested}, tmp_path).org_primary_colour
    assert suggested[1:3] > suggested[5:7]  # still a yellow: more red than blue


def test_a_bad_colour_stops_the_app_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("ORG_PRIMARY_COLOUR", "#ffff00")
    with pytest.raises(SystemExit) as stopped:
        create_app()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("petitions: refusing to start: ORG_PRIMARY_COLOUR #ffff00 has")
    assert error.count("\n") == 1
