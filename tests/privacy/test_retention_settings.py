"""The retention settings: safe defaults, read from the environment, bad values refused at
start-up with a one-line reason."""

import pytest

from petitions.config import SettingsError, load_settings
from petitions.privacy import retention


def test_the_defaults_keep_data_no_longer_than_needed(tmp_path):
    settings = load_settings({}, tmp_path)
    assert settings.mail_body_retention_days == 30
    assert settings.sign_request_retention_days == 90
    assert settings.session_retention_days == 30
    assert settings.invitation_retention_days == 90
    assert settings.roll_report_retention_days == 90
    assert settings.purge_batch_size == 500


def test_each_retention_is_read_from_the_environment_and_shown(tmp_path):
    settings = load_settings(
        {
            "MAIL_BODY_RETENTION_DAYS": "7",
            "SIGN_REQUEST_RETENTION_DAYS": "14",
            "SESSION_RETENTION_DAYS": "2",
            "INVITATION_RETENTION_DAYS": "30",
            "ROLL_REPORT_RETENTION_DAYS": "1",
            "PURGE_BATCH_SIZE": "100",
        },
        tmp_path,
    )
    shown = {kept.setting: kept.days for kept in retention.in_force(settings)}
    assert shown == {
        "MAIL_BODY_RETENTION_DAYS": 7,
        "SIGN_REQUEST_RETENTION_DAYS": 14,
        "SESSION_RETENTION_DAYS": 2,
        "INVITATION_RETENTION_DAYS": 30,
        "ROLL_REPORT_RETENTION_DAYS": 1,
        "PRIVACY_REQUEST_RETENTION_DAYS": 30,
    }
    assert settings.purge_batch_size == 100


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAIL_BODY_RETENTION_DAYS", "thirty", "MAIL_BODY_RETENTION_DAYS must be a whole number"),
        ("SIGN_REQUEST_RETENTION_DAYS", "0", "from 1 to 3650 days, got 0"),
        ("SESSION_RETENTION_DAYS", "-5", "from 1 to 3650 days, got -5"),
        ("INVITATION_RETENTION_DAYS", "99999", "from 1 to 3650 days, got 99999"),
        ("ROLL_REPORT_RETENTION_DAYS", "1.5", "ROLL_REPORT_RETENTION_DAYS must be a whole number"),
        ("PURGE_BATCH_SIZE", "0", "PURGE_BATCH_SIZE must be greater than zero"),
    ],
)
def test_bad_retention_settings_are_refused(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message):
        load_settings({name: value}, tmp_path)
