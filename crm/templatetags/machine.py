"""Values for machines inside pages: `{{ when|datetime_attr }}` for `<time datetime="…">`.

Django's `date:"c"` writes microseconds, which the HTML standard does not accept in a
`datetime` attribute (at most milliseconds); this writes seconds, in local time with its
offset, and a plain date as YYYY-MM-DD.
"""

from __future__ import annotations

import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def datetime_attr(value: datetime.date | datetime.datetime | None) -> str:
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return ""
