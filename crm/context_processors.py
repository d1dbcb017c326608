from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, object]:
    """What the navigation needs to fit the user's role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_can_crm": user.has_perm("crm.view_organisation"),
    }
