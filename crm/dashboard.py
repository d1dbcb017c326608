"""The home page is made of panels that the apps contribute.

`crm` knows none of the apps built on it: each app registers its panels in its
`AppConfig.ready()` with `register(Panel(...))`, and the dashboard shows, in `order`, every
panel the person's role allows. A panel is a template fragment and the function that builds
its context (dotted path, imported when the page is drawn, so registering costs no import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string

from crm.listing import tally
from crm.models import Contact, Interaction, Organisation, User


@dataclass(frozen=True)
class Panel:
    """One section of the dashboard.

    `build(user)` returns the fragment's context, or None when it has nothing to show this
    person; `perm` is the model permission the panel needs (empty: everyone signed in).
    """

    key: str
    template: str
    build: str | Callable[[User], dict[str, Any] | None]
    perm: str = ""
    order: int = 100

    def context_for(self, user: User) -> dict[str, Any] | None:
        if self.perm and not user.has_perm(self.perm):
            return None
        build = import_string(self.build) if isinstance(self.build, str) else self.build
        return build(user)


@dataclass(frozen=True)
class ShownPanel:
    key: str
    template: str
    context: dict[str, Any]


PANELS: dict[str, Panel] = {}


def register(panel: Panel) -> None:
    """Add (or replace, by key) a panel of the dashboard."""
    PANELS[panel.key] = panel


def panels_for(user: User) -> list[ShownPanel]:
    """The panels this person sees, in order, each with its context built."""
    shown = []
    for panel in sorted(PANELS.values(), key=lambda panel: (panel.order, panel.key)):
        context = panel.context_for(user)
        if context is not None:
            shown.append(ShownPanel(panel.key, panel.template, context))
    return shown


def crm_figures(user: User) -> dict[str, Any]:
    """The CRM in figures and its latest interactions."""
    since = timezone.now() - timedelta(days=30)
    # Separate counts, each answered from an index, rather than one conditional aggregate that
    # scans every interaction.
    recent = Interaction.objects.visible_to(user).filter(occurred_at__gte=since)
    return {
        "counts": {
            # The tables grow without bound: counted up to LIST_COUNT_LIMIT, then the
            # database's estimate (at 500,000 rows each COUNT(*) took 48 ms).
            "organisations": tally(Organisation.objects.visible_to(user)),
            "contacts": tally(Contact.objects.visible_to(user)),
            "recent": recent.count(),
            "mine": recent.filter(author=user).count(),
        },
        "recent_interactions": Interaction.objects.visible_to(user).for_timeline()[:8],
    }


register(
    Panel(
        key="crm",
        template="crm/includes/_dashboard_crm.html",
        build=crm_figures,
        perm="crm.view_organisation",
        order=50,
    )
)
