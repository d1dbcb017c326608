"""Authentication backends, and the client address they throttle and record logins by."""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for logins that come with a request.

    Every web login (the login page, the admin) passes its request. A call without one (a
    management command, a script checking a password) has no IP address to throttle on: axes
    would raise, so it is left to the next backend instead."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        # axes only checks the lockout (raising when locked): it never returns a user.
        checked: None = super().authenticate(request, username, password, **kwargs)
        return checked


def client_ip(request: HttpRequest) -> str | None:
    """The address a request came from, for login throttling and the login log
    (`AXES_CLIENT_IP_CALLABLE`).

    Directly served (`TRUSTED_PROXIES` = 0, the default), it is the connection's address:
    X-Forwarded-For is then the client's own claim, and trusting it would let anyone escape the
    lock by changing it on every try. Behind N reverse proxies that each append the address
    they received from, the client is the N-th address from the right of X-Forwarded-For;
    addresses to its left are the client's claims and are ignored. A missing or malformed
    header falls back to the connection's address."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(chain) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(chain[-proxies]))
    except ValueError:
        return remote


def login_log_models() -> list[Any]:
    # django-axes' models: the library ships no types.
    """django-axes' three logs: attempts (with the lock-out count), successes, failures. They
    hold the username typed, often someone's e-mail address: `manage.py purge_login_log`
    keeps them `LOGIN_LOG_RETENTION_DAYS` days."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    return [AccessAttempt, AccessLog, AccessFailureLog]
