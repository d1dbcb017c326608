"""The request a Carreau page receives, as the type checker should see it.

`LoginRequiredMiddleware` lets no anonymous visitor reach a page that is not marked
`@login_not_required`, and django-htmx's middleware adds `request.htmx`. Views behind the login
annotate their request with `AuthenticatedRequest`, so `request.user` is a Carreau `User` (its
role methods included) rather than "a user or an anonymous visitor". It is an annotation only:
the request Django builds is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from crm.models import User


class AuthenticatedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails
