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


def html_problems(html: str) -> list[str]:
    """What keeps a page (or the part of one that htmx fetches) from being valid HTML, as far
    as a parser can tell: the HTML standard's parse errors (tinyhtml5, the parser WeasyPrint
    brings: stray or misnested tags, duplicate attributes, a missing doctype...) and
    duplicate ids."""
    from collections import Counter

    from tinyhtml5.parser import HTMLParser

    parser = HTMLParser()
    if html.lstrip()[:9].lower() == "<!doctype":
        document = parser.parse(html, full_tree=True)
    else:  # a part of a page, fetched by htmx
        document = parser.parse_fragment(html)
    problems = [
        f"{code} at line {line}, column {column} {data or ''}".strip()
        for (line, column), code, data in parser.errors
    ]
    ids = Counter(element.get("id") for element in document.iter() if element.get("id") is not None)
    problems += [f"duplicate id {name!r} ({count}×)" for name, count in ids.items() if count > 1]
    return problems
