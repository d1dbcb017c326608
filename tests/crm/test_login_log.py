"""The login log is kept for LOGIN_LOG_RETENTION_DAYS days, then purged (issue 18): the
username typed is often someone's e-mail address."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

EMAIL = "quelquun@example.org"


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_login_log", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def attempts(staff) -> None:
    """Two failed logins with someone's e-mail as username, and a successful one of staff."""
    for _ in range(2):
        Client().post(reverse("login"), {"username": EMAIL, "password": "pas-le-bon"})
    Client().post(reverse("login"), {"username": "staff", "password": "carreau-test-password"})
    assert AccessFailureLog.objects.filter(username=EMAIL).count() == 2
    assert AccessAttempt.objects.filter(username=EMAIL).exists()
    assert AccessLog.objects.filter(username="staff").exists()


def age(days: int) -> None:
    then = timezone.now() - timedelta(days=days)
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        model.objects.update(attempt_time=then)


def test_rows_older_than_the_retention_are_deleted(attempts: None) -> None:
    age(181)

    output = purge()

    assert not AccessAttempt.objects.exists()
    assert not AccessLog.objects.exists()
    assert not AccessFailureLog.objects.exists()
    assert "4 login log row(s) older than 180 day(s) deleted." in output


def test_recent_rows_stay(attempts: None) -> None:
    age(179)

    assert "0 login log row(s)" in purge()
    assert AccessFailureLog.objects.count() == 2


def test_the_dry_run_deletes_nothing(attempts: None) -> None:
    age(181)

    output = purge("--dry-run")

    assert "4 login log row(s) older than 180 day(s) would be deleted." in output
    assert AccessFailureLog.objects.count() == 2


def test_the_period_comes_from_the_setting_or_the_option(attempts: None, settings) -> None:
    age(40)
    settings.LOGIN_LOG_RETENTION_DAYS = 60
    assert AccessFailureLog.objects.exists() and "0 login log" in purge()

    assert "older than 30 day(s) deleted" in purge("--days", "30")
    assert not AccessFailureLog.objects.exists()


def test_the_retention_is_at_least_a_day() -> None:
    with pytest.raises(SystemExit):
        call_command("purge_login_log", "--days", "0", stderr=io.StringIO())
