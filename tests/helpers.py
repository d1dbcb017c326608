"""Helpers the test modules share: a logged-in client, and the queries a page costs."""

from __future__ import annotations

import re
from typing import Any

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


XHTML = "{http://www.w3.org/1999/xhtml}"
# The elements of the HTML standard's phrasing content (the only content a <summary> takes here).
PHRASING = set(
    [
        "a",
        "abbr",
        "audio",
        "b",
        "bdi",
        "bdo",
        "br",
        "button",
        "canvas",
        "cite",
        "code",
        "data",
        "datalist",
        "del",
        "dfn",
        "em",
        "embed",
        "i",
        "iframe",
        "img",
        "input",
        "ins",
        "kbd",
        "label",
        "map",
        "mark",
        "math",
        "meter",
        "noscript",
        "object",
        "output",
        "picture",
        "progress",
        "q",
        "ruby",
        "s",
        "samp",
        "script",
        "select",
        "slot",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "svg",
        "template",
        "textarea",
        "time",
        "u",
        "var",
        "video",
        "wbr",
    ]
)
# A date, or a date and time with at most milliseconds and an optional offset.
DATETIME_VALUE = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?"
)


def content_problems(document: Any) -> list[str]:
    """What the parser accepts but the standard does not: a `<time datetime>` it cannot read
    (microseconds, say), a `<summary>` holding more than phrasing content."""
    problems = []
    for element in document.iter():
        tag = element.tag.removeprefix(XHTML) if isinstance(element.tag, str) else ""
        if tag == "time" and element.get("datetime") is not None:
            value = element.get("datetime")
            if not DATETIME_VALUE.fullmatch(value):
                problems.append(f"<time datetime={value!r}> is not a valid date or time")
        if tag == "summary":
            for inner in element.iter():
                name = inner.tag.removeprefix(XHTML) if isinstance(inner.tag, str) else ""
                if inner is not element and name and name not in PHRASING:
                    problems.append(f"<{name}> inside <summary> (only phrasing content)")
    return problems


def html_problems(html: str) -> list[str]:
    """What keeps a page (or the part of one that htmx fetches) from being valid HTML, as far
    as a parser can tell: the HTML standard's parse errors (tinyhtml5, the parser WeasyPrint
    brings: stray or misnested tags, duplicate attributes, a missing doctype...), duplicate
    ids, and the content rules of `content_problems()`."""
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
    return problems + content_problems(document)
