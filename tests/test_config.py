"""Settings from the environment, with the embedded defaults and the production refusals."""

import pytest

from app import create_app
from petitions.config import DEFAULT_CONFIRM_LINK_MAX_AGE, SettingsError, load_settings


def test_embedded_defaults_make_and_keep_secrets_under_instance(tmp_path):
    first = load_settings({}, tmp_path)
    second = load_settings({}, tmp_path)
    assert first["DATABASE_URL"] == f"sqlite:///{tmp_path / 'petitions.db'}"
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 32
    assert first["BALLOT_WEBHOOK_SECRET"].startswith("whsec_")
    assert first["BALLOT_WEBHOOK_SECRET"] == second["BALLOT_WEBHOOK_SECRET"]
    assert first["LOG_SIGNING_KEY"] == second["LOG_SIGNING_KEY"]
    assert (tmp_path / "log_signing_key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first["REDIS_URL"] is None
    assert first["SMTP_URL"] is None
    assert first["BASE_URL"] == "http://127.0.0.1:5000"
    assert first["MAIL_FROM"] == "petitions@localhost"
    assert first["CONFIRM_LINK_MAX_AGE"] == DEFAULT_CONFIRM_LINK_MAX_AGE == 259200


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
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u:p@db:5432/petitions"
    assert settings["REDIS_URL"] == "redis://cache:6379/0"
    assert settings["SECRET_KEY"] == "s3cret"
    assert settings["BASE_URL"] == "https://petitions.example.org"
    assert settings["SMTP_URL"].startswith("smtp://user:pass@")
    assert settings["MAIL_FROM"] == "votes@example.org"
    assert settings["BALLOT_WEBHOOK_URL"] == "https://ballot.example.org/hooks"
    assert settings["CONFIRM_LINK_MAX_AGE"] == 3600
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
    assert defaults["SIGN_IN_LINK_MAX_AGE"] == 900
    assert defaults["SESSION_IDLE_SECONDS"] == 8 * 3600
    assert defaults["SESSION_MAX_SECONDS"] == 24 * 3600
    assert defaults["INVITATION_RATE_PER_MINUTE"] == 600
    assert defaults["ROLL_UPLOAD_MAX_BYTES"] == 64 * 1024 * 1024
    assert defaults["MAX_CONTENT_LENGTH"] > defaults["ROLL_UPLOAD_MAX_BYTES"]
    assert defaults["SESSION_COOKIE_HTTPONLY"] is True
    assert defaults["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert defaults["SESSION_COOKIE_SECURE"] is False
    chosen = load_settings(
        {
            "SIGN_IN_LINK_MAX_AGE": "300",
            "INVITATION_RATE_PER_MINUTE": "60",
            "BASE_URL": "https://petitions.example.org",
        },
        tmp_path,
    )
    assert chosen["SIGN_IN_LINK_MAX_AGE"] == 300
    assert chosen["INVITATION_RATE_PER_MINUTE"] == 60
    assert chosen["SESSION_COOKIE_SECURE"] is True
    for name in ("SESSION_IDLE_SECONDS", "ROLL_UPLOAD_MAX_BYTES"):
        with pytest.raises(SettingsError, match=name):
            load_settings({name: "soon"}, tmp_path)
