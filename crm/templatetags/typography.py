"""French typography for documents: the no-break spaces that keep punctuation with its word.

`{{ text|typography }}` escapes user text, then, when French is active, turns the ordinary
space before `; ! ?` into a narrow no-break space, the one before `:` and inside « » into a
no-break space, so a line never starts with a lone "!" or "»". It only replaces spaces that
the author typed: it never adds one, so URLs ("https://…") and times ("10:30") are untouched.

A word longer than `LONG_WORD` characters (a URL, a pasted hash, a held-down key) gets an
invisible break opportunity every `WORD_PIECE` characters: WeasyPrint's search for a place to
break an unbreakable run grows with the square of its length (eleven 20,000-character words
took over a minute to lay out), and the line would overflow anyway.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

NARROW_NBSP = "\u202f"
NBSP = "\u00a0"
ZERO_WIDTH_SPACE = "\u200b"
LONG_WORD = 40
WORD_PIECE = 20

_BEFORE_NARROW = re.compile(r"[ \u00a0]+([;!?])")
_BEFORE_COLON = re.compile(r"[ \u202f]+(:)")
_AFTER_OPENING = re.compile(r"(«)[ \u202f]+")
_BEFORE_CLOSING = re.compile(r"[ \u202f]+(»)")
_LONG_WORD = re.compile(rf"[^\s\u200b]{{{LONG_WORD},}}")


def french_spaces(text: str) -> str:
    text = _BEFORE_NARROW.sub(NARROW_NBSP + r"\1", text)
    text = _BEFORE_COLON.sub(NBSP + r"\1", text)
    text = _AFTER_OPENING.sub(r"\1" + NBSP, text)
    return _BEFORE_CLOSING.sub(NBSP + r"\1", text)


def breakable(text: str) -> str:
    """`text` with a zero-width space every `WORD_PIECE` characters of its long words."""
    return _LONG_WORD.sub(
        lambda word: ZERO_WIDTH_SPACE.join(
            word[0][start : start + WORD_PIECE] for start in range(0, len(word[0]), WORD_PIECE)
        ),
        text,
    )


@register.filter(is_safe=True)
def typography(value: object) -> SafeString:
    """Escaped text with French no-break spaces when the active language is French, and
    break opportunities in its long words."""
    if value is None:
        value = ""
    if not isinstance(value, SafeData):
        value = breakable(str(value))
    escaped = str(conditional_escape(value))
    if (get_language() or "").startswith("fr"):
        escaped = french_spaces(escaped)
    return mark_safe(escaped)  # noqa: S308 - escaped above; only spaces were changed.
