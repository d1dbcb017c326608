"""Helpers the test modules share: a logged-in client, and the queries a page costs."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from crm.models import User


def client_for(user: User, language: str | None = None) -> Client:
    """A client logged in as `user`; with `language`, the language cookie set, as the
    language switch leaves it."""
    client = Client()
    client.force_login(user)
    if language:
        client.cookies["django_language"] = language
    return client


def count_queries(client: Client, url: str) -> int:
    """The queries of one GET of `url`, which must answer 200."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)
