"""French typography for documents: the no-break spaces that keep punctuation with its word.

`{{ text|typography }}` escapes user text, then, when French is active, turns the ordinary
space before `; ! ?` into a narrow no-break space, the one before `:` and inside « » into a
no-break space, so a line never starts with a lone "!" or "»". It only replaces spaces that
the author typed: it never adds one, so URLs ("https://…") and times ("10:30") are untouched.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

NARROW_NBSP = "\u202f"
NBSP = "\u00a0"

_BEFORE_NARROW = re.compile(r"[ \u00a0]+([;!?])")
_BEFORE_COLON = re.compile(r"[ \u202f]+(:)")
_AFTER_OPENING = re.compile(r"(«)[ \u202f]+")
_BEFORE_CLOSING = re.compile(r"[ \u202f]+(»)")


def french_spaces(text: str) -> str:
    text = _BEFORE_NARROW.sub(NARROW_NBSP + r"\1", text)
    text = _BEFORE_COLON.sub(NBSP + r"\1", text)
    text = _AFTER_OPENING.sub(r"\1" + NBSP, text)
    return _BEFORE_CLOSING.sub(NBSP + r"\1", text)


@register.filter(is_safe=True)
def typography(value: object) -> SafeString:
    """Escaped text with French no-break spaces when the active language is French."""
    escaped = str(conditional_escape(value if value is not None else ""))
    if (get_language() or "").startswith("fr"):
        escaped = french_spaces(escaped)
    return mark_safe(escaped)  # noqa: S308 - escaped above; only spaces were changed.
