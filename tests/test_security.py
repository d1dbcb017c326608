"""Security hardening: login throttling with its log, and the security headers of responses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from crm.backends import client_ip
from crm.models import User
from tests.factories import PASSWORD, ProjectFactory, approved_deliverable

pytestmark = pytest.mark.django_db

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Carreau-Test"
IP = "203.0.113.7"


def attempt(client: Client, username: str, password: str, *, ip: str = IP, **headers: Any):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=AGENT,
        **headers,
    )


def fail_until_locked(client: Client, username: str, *, ip: str = IP, **headers: Any):
    limit = settings.AXES_FAILURE_LIMIT
    return [attempt(client, username, "wrong", ip=ip, **headers) for _ in range(limit)][-1]


# Login throttling


def test_failures_below_the_limit_answer_with_the_form(staff: User) -> None:
    response = attempt(Client(), "staff", "wrong")

    assert response.status_code == 200
    assert "form" in response.context
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_repeated_failures_lock_the_account_with_a_french_message(staff: User) -> None:
    response = fail_until_locked(Client(), "staff")

    assert response.status_code == 429
    html = response.content.decode()
    assert "Connexion bloquée" in html
    assert f"bloqué pendant {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in html
    assert '<html lang="fr">' in html


def test_correct_password_is_refused_during_the_cool_off(staff: User) -> None:
    client = Client()
    fail_until_locked(client, "staff")

    response = attempt(client, "staff", PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert not AccessLog.objects.filter(username="staff", logout_time=None).exists()


def test_the_lock_holds_per_username_and_ip(staff: User, designer: User) -> None:
    fail_until_locked(Client(), "staff")

    from_elsewhere = attempt(Client(), "staff", PASSWORD, ip="198.51.100.1")
    other_user = attempt(Client(), "designer", PASSWORD)

    assert from_elsewhere.status_code == 302
    assert other_user.status_code == 302


def test_a_forwarded_for_header_is_ignored_when_no_proxy_is_trusted(staff: User) -> None:
    """Served directly, X-Forwarded-For is the client's own word: changing it on every try
    must not escape the lock."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(), "staff", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    response = attempt(Client(), "staff", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99")

    assert response.status_code == 429
    assert set(AccessFailureLog.objects.values_list("ip_address", flat=True)) == {IP}


def test_behind_a_proxy_each_client_has_its_own_lock_and_log(staff: User, settings) -> None:
    settings.TRUSTED_PROXIES = 1
    proxy = "127.0.0.1"
    fail_until_locked(Client(), "staff", ip=proxy, HTTP_X_FORWARDED_FOR=IP)

    locked = attempt(Client(), "staff", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=IP)
    # A client's own claim comes first in the header; the proxy appends the address it saw.
    spoofing = attempt(
        Client(), "staff", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=f"198.51.100.1, {IP}"
    )
    another_client = attempt(
        Client(), "staff", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="2001:db8::1"
    )

    assert (locked.status_code, spoofing.status_code) == (429, 429)
    assert another_client.status_code == 302
    assert set(AccessFailureLog.objects.values_list("ip_address", flat=True)) == {IP}
    assert AccessLog.objects.get().ip_address == "2001:db8::1"


@pytest.mark.parametrize("header", [None, "", "not-an-address", "203.0.113.7, <script>"])
def test_a_missing_or_malformed_forwarded_header_falls_back_to_the_connection(
    header: str | None, settings
) -> None:
    settings.TRUSTED_PROXIES = 1
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")
    if header is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = header

    assert client_ip(request) == "127.0.0.1"


def test_two_trusted_proxies_read_the_second_address_from_the_right(settings) -> None:
    settings.TRUSTED_PROXIES = 2
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.9, 203.0.113.7, 10.0.0.1"
    )

    assert client_ip(request) == "203.0.113.7"


def test_the_lock_lifts_after_the_cool_off(staff: User) -> None:
    client = Client()
    fail_until_locked(client, "staff")
    # Age the failures past the cool-off instead of waiting for it.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(minutes=1)
    )

    response = attempt(client, "staff", PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("crm:dashboard")
    assert client.session["_auth_user_id"] == str(staff.pk)
    # A success starts the count afresh.
    assert not AccessAttempt.objects.exists()


def test_failures_are_recorded_with_time_ip_and_user_agent(staff: User) -> None:
    attempt(Client(), "staff", "wrong")
    attempt(Client(), "nobody", "wrong")

    failures = AccessFailureLog.objects.order_by("attempt_time")
    assert [(f.username, f.ip_address, f.user_agent) for f in failures] == [
        ("staff", IP, AGENT),
        ("nobody", IP, AGENT),
    ]
    assert all(f.attempt_time is not None for f in failures)


def test_successes_are_recorded_with_time_ip_and_user_agent(staff: User) -> None:
    attempt(Client(), "staff", PASSWORD)

    log = AccessLog.objects.get()
    assert (log.username, log.ip_address, log.user_agent) == ("staff", IP, AGENT)
    assert log.attempt_time is not None


def test_failures_are_logged(staff: User, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="axes"):
        attempt(Client(), "staff", "wrong")

    failures = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(failures) == 1
    assert "staff" in failures[0]
    assert IP in failures[0]
    assert "wrong" not in failures[0]


def test_staff_read_the_login_log_in_the_admin_without_editing_it(staff: User) -> None:
    attempt(Client(), "staff", "wrong")
    attempt(Client(), "staff", PASSWORD)
    client = Client()
    client.force_login(staff)

    for model in ("accessattempt", "accesslog", "accessfailurelog"):
        assert client.get(reverse(f"admin:axes_{model}_changelist")).status_code == 200
    failure = AccessFailureLog.objects.get()
    page = client.get(reverse("admin:axes_accessfailurelog_change", args=[failure.pk]))
    assert page.status_code == 200
    assert AGENT in page.content.decode()
    assert client.get(reverse("admin:axes_accesslog_add")).status_code == 403
    client.post(reverse("admin:axes_accessfailurelog_delete", args=[failure.pk]), {"post": "yes"})
    assert AccessFailureLog.objects.filter(pk=failure.pk).exists()


def test_other_roles_do_not_see_the_login_log(designer: User) -> None:
    client = Client()
    client.force_login(designer)

    response = client.get(reverse("admin:axes_accesslog_changelist"))

    assert response.status_code == 302


# Headers


def csp_directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (item.strip() for item in header.split(";"))
        if part
    }


def test_pages_carry_a_strict_content_security_policy(staff: User) -> None:
    client = Client()
    client.force_login(staff)

    response = client.get(reverse("crm:dashboard"))

    assert response.status_code == 200
    directives = csp_directives(response)
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert directives["base-uri"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_login_page_has_no_inline_script_or_style(client: Client) -> None:
    html = client.get(reverse("login")).content.decode()

    assert "<script>" not in html
    assert "<style" not in html
    assert " style=" not in html
    assert '"includeIndicatorStyles": false' in html


def test_production_settings_are_secure() -> None:
    import os
    import subprocess
    import sys

    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'crm.settings'; "
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_CONTENT_TYPE_NOSNIFF)"
    )
    env = {**os.environ, "DJANGO_DEBUG": "false", "SECRET_KEY": "x" * 50}
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()

    assert out == ["31536000", "True", "True", "True", "True", "True"]


def test_files_and_exports_still_download_under_the_policy(staff: User) -> None:
    project = ProjectFactory(state="listen")
    deliverable = approved_deliverable(project, "trend_board")
    client = Client()
    client.force_login(staff)

    export = client.get(reverse("crm:organisation_export"))
    assert export.status_code == 200
    assert export.getvalue()[:2] == (b"PK")
    version = deliverable.versions.get()
    download = client.get(
        reverse("projects:version_file", kwargs={"pk": project.pk, "version_pk": version.pk})
    )
    assert download.status_code == 200
    assert download.getvalue()[:4] == b"%PDF"
    sheet = client.get(reverse("projects:project_sheet", args=[project.pk]))
    assert sheet.status_code == 200
    assert sheet.content[:4] == b"%PDF"
