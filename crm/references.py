"""Human references of the year (DS-2026-014, PI-2026-0007), allocated once, on creation.

A reference is what people quote on the phone and what a re-imported spreadsheet matches on,
so it never changes once given. Two people creating at the same moment may compute the same
next number: the unique constraint refuses the second, which takes the following one.
"""

from __future__ import annotations

from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone


def year_prefix(prefix: str) -> str:
    """ "DS-2026-": what every reference given this year starts with."""
    return f"{prefix}-{timezone.localdate().year}-"


def last_number(model: type[models.Model], start: str) -> int:
    """The highest number given after `start` (0 when none): one indexed query."""
    last = model._default_manager.filter(reference__startswith=start).aggregate(
        last=Max("reference")
    )["last"]
    return int(last.rsplit("-", 1)[1]) if last else 0


def save_with_reference(instance: models.Model, *, prefix: str, digits: int) -> None:
    """Give a new `instance` the next free `<prefix>-<year>-<number>` and save it.

    Runs inside the caller's transaction; each attempt is a savepoint, so a lost race costs
    one retry, not the caller's work.
    """
    model = type(instance)
    start = year_prefix(prefix)
    for _attempt in range(5):
        number = last_number(model, start) + 1
        # The models given a reference (projects, leads) declare the field.
        instance.reference = f"{start}{number:0{digits}d}"  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                instance.save()
        except IntegrityError:
            continue  # someone took that number a moment ago: take the next one
        return
    raise IntegrityError(f"Could not allocate a {model._meta.verbose_name} reference.")
