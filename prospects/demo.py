"""Demo investor prospecting, loaded idempotently from `fixtures/demo_prospects.json`.

Runs after the CRM and projects seeders (see `crm.demo.SEEDERS`): investors, contacts,
territories, users and projects are looked up in what they loaded.

As for projects, a demo lead is made the way a person would make it: `save_lead` creates it
at `identified`, then its `history` is replayed through `lead.machine.run` (so winning without a
site or an amount fails to load), and its exchanges through `log_interaction`. Only then are
the timestamps moved back to the file's relative dates. A lead already present (matched on its
title) keeps its history; its plain fields, contacts, sites and sharing follow the file.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypedDict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.actions import log_interaction
from crm.demo import Outcome, SeedReport, assign, dated_events, pick, rows, upsert
from crm.fsm import TransitionRefused
from crm.models import Contact, Organisation, Territory, User
from projects.models import Project
from prospects.actions import save_lead
from prospects.models import Lead, LeadTransition, PromotionEvent, Site

PROSPECTS_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_prospects.json"

SITE_FIELDS: dict[str, Any] = {
    "name": "",
    "kind": "",
    "commune": "",
    "surface_m2": None,
    "owner": "",
    "owner_kind": "",
    "availability": Site.Availability.AVAILABLE,
    "latitude": None,
    "longitude": None,
    "road_access": "",
    "rail_access": "",
    "description": "",
    "description_en": "",
}
EVENT_FIELDS: dict[str, Any] = {
    "name": "",
    "kind": "",
    "city": "",
    "country": "FR",
    "description": "",
}
LEAD_KEYS = {
    "title",
    "organisation",
    "contacts",
    "owner",
    "shared_with",
    "confidential",
    "sector",
    "territory",
    "sites",
    "investment",
    "jobs",
    "probability",
    "source",
    "event",
    "market",
    "next_action",
    "due_in_days",
    "created_days_ago",
    "history",
}


def seed(*, stdout: TextIO | None = None) -> SeedReport:
    """The `crm.demo.Seeder` entry point listed in `crm.demo.SEEDERS`."""
    report = SeedReport(title="Prospects demo data")
    seed_prospects(report=report)
    report.write(stdout)
    return report


@transaction.atomic
def seed_prospects(*, report: SeedReport, path: Path = PROSPECTS_FIXTURE) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    now = timezone.now()
    today = timezone.localdate(now)
    sites = {row["name"]: _seed_site(row, report) for row in rows(data["sites"])}
    events = {}
    for row in rows(data["events"]):
        starts_on = today - timedelta(days=row["starts_days_ago"])
        found = PromotionEvent.objects.filter(name=row["name"]).order_by("pk").first()
        values = pick(row, EVENT_FIELDS, other={"starts_days_ago", "days"})
        # Dates are fixed at the first load, as everywhere in the demo.
        values["starts_on"] = found.starts_on if found else starts_on
        values["ends_on"] = values["starts_on"] + timedelta(days=row["days"] - 1)
        events[row["name"]] = upsert(report, "promotion events", PromotionEvent, found, values)

    usernames = {
        name for row in rows(data["leads"]) for name in [row["owner"], *row.get("shared_with", [])]
    }
    usernames |= {row["author"] for row in rows(data["interactions"])}
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    missing = usernames - users.keys()
    if missing:
        raise ValueError(f"Demo users {sorted(missing)} are missing: run seed_crm first.")

    created: set[str] = set()
    for row in rows(data["leads"]):
        unknown = {key for key in row if not key.startswith("_")} - LEAD_KEYS
        if unknown:
            raise ValueError(f"Unknown keys {sorted(unknown)} in demo lead {row['title']!r}")
        found_lead = Lead.objects.filter(title=row["title"]).order_by("pk").first()
        if found_lead is not None and not found_lead.is_demo:
            report.record("leads", Outcome.KEPT)
            continue
        if found_lead is None:
            _create_lead(row, sites=sites, events=events, users=users, now=now, report=report)
            created.add(row["title"])
        else:
            _update_lead(
                found_lead, row, sites=sites, events=events, users=users, now=now, report=report
            )

    # Exchanges are logged with their lead's creation only: a demo user may add more.
    for row in rows(data["interactions"]):
        if row["lead"] not in created:
            continue
        lead = Lead.objects.select_related("organisation").get(title=row["lead"])
        occurred_at = now - timedelta(days=row["days_ago"])
        with dated_events(lead, occurred_at):
            log_interaction(
                organisation=lead.organisation,
                lead=lead,
                contact=Contact.objects.get(email__iexact=row["contact"])
                if row.get("contact")
                else None,
                by=users[row["author"]],
                kind=row["kind"],
                occurred_at=occurred_at,
                summary=row["summary"],
            )
        report.record("interactions", Outcome.CREATED)


def _seed_site(row: dict[str, Any], report: SeedReport) -> Site:
    values = pick(row, SITE_FIELDS, other={"territory", "projects", "contact_officer"})
    values["territory"] = Territory.objects.get(slug=row["territory"])
    for name in ("latitude", "longitude"):
        if values[name] is not None:
            values[name] = Decimal(values[name])
    officer = row.get("contact_officer")
    values["contact_officer"] = User.objects.get(username=officer) if officer else None
    site = upsert(report, "sites", Site, Site.objects.filter(name=row["name"]).first(), values)
    if site.is_demo:
        titles = row.get("projects", [])
        projects = list(Project.objects.filter(title__in=titles))
        if len(projects) != len(titles):
            raise ValueError(f"Unknown projects in demo site {row['name']!r}: {titles}")
        if set(site.projects.values_list("pk", flat=True)) != {p.pk for p in projects}:
            site.projects.set(projects)
    return site


def _values(
    row: dict[str, Any],
    *,
    events: dict[str, PromotionEvent],
    users: dict[str, User],
    today: Any,
    keep_due: Any = None,
) -> dict[str, Any]:
    due = row.get("due_in_days")
    return {
        "title": row["title"],
        "organisation": Organisation.objects.get(name=row["organisation"]),
        "owner": users[row["owner"]],
        "confidential": row.get("confidential", False),
        "sector": row["sector"],
        "territory": Territory.objects.get(slug=row["territory"]),
        "estimated_investment": Decimal(row["investment"]) if row.get("investment") else None,
        "estimated_jobs": row.get("jobs"),
        "probability": row.get("probability"),
        "source": row["source"],
        "promotion_event": events[row["event"]] if row.get("event") else None,
        "origin_market": row["market"],
        "next_action": row.get("next_action", ""),
        "next_action_due": keep_due
        if keep_due is not None
        else (today + timedelta(days=due) if due is not None else None),
    }


class LeadRelations(TypedDict):
    """A demo lead's people and sites, as `save_lead` takes them."""

    contacts: list[Contact]
    target_sites: list[Site]
    shared_with: list[User]


def _relations(
    row: dict[str, Any],
    lead_organisation: Organisation,
    sites: dict[str, Site],
    users: dict[str, User],
) -> LeadRelations:
    contacts = list(
        Contact.objects.filter(organisation=lead_organisation, email__in=row.get("contacts", []))
    )
    if len(contacts) != len(row.get("contacts", [])):
        raise ValueError(f"Unknown contacts in demo lead {row['title']!r}")
    return {
        "contacts": contacts,
        "target_sites": [sites[name] for name in row.get("sites", [])],
        "shared_with": [users[name] for name in row.get("shared_with", [])],
    }


def _create_lead(
    row: dict[str, Any],
    *,
    sites: dict[str, Site],
    events: dict[str, PromotionEvent],
    users: dict[str, User],
    now: datetime,
    report: SeedReport,
) -> None:
    values = _values(row, events=events, users=users, today=timezone.localdate(now))
    lead = Lead(**values)
    lead.is_demo = True
    owner = values["owner"]
    created = now - timedelta(days=row["created_days_ago"])
    # What the actions tell others (a share, a move) is dated as they are, not as the load.
    with dated_events(lead, created):
        save_lead(
            lead=lead,
            by=owner,
            seen_version=None,
            **_relations(row, values["organisation"], sites, users),
        )
    report.record("leads", Outcome.CREATED)
    history = rows(row.get("history", []))
    stamps: list[tuple[int, datetime]] = []
    for index, event in enumerate(history, start=1):
        at = now - timedelta(days=event["days_ago"], minutes=len(history) - index)
        try:
            with dated_events(lead, at):
                log = lead.machine.run(
                    name=event["run"],
                    by=owner,
                    comment=event.get("comment", ""),
                )
        except TransitionRefused as error:
            raise ValueError(
                f"Demo lead {row['title']!r}: {event['run']} refused: {error}"
            ) from error
        stamps.append((log.pk, at))
        report.record("lead transitions", Outcome.CREATED)
    for pk, at in stamps:
        LeadTransition.objects.filter(pk=pk).update(at=at)
    last = stamps[-1][1] if stamps else created
    Lead.objects.filter(pk=lead.pk).update(created_at=created, last_activity_at=last)


def _update_lead(
    lead: Lead,
    row: dict[str, Any],
    *,
    sites: dict[str, Site],
    events: dict[str, PromotionEvent],
    users: dict[str, User],
    now: datetime,
    report: SeedReport,
) -> None:
    values = _values(
        row,
        events=events,
        users=users,
        today=timezone.localdate(now),
        keep_due=lead.next_action_due,
    )
    changed = assign(lead, values)
    relations = _relations(row, values["organisation"], sites, users)
    current = {
        "contacts": set(lead.contacts.values_list("pk", flat=True)),
        "target_sites": set(lead.target_sites.values_list("pk", flat=True)),
        "shared_with": set(lead.shared_with.values_list("pk", flat=True)),
    }
    if any(
        current[name] != {item.pk for item in items}
        for name, items in relations.items()
        if isinstance(items, list)  # all of them: the TypedDict's values read as objects
    ):
        changed = True
    if changed:
        save_lead(lead=lead, by=lead.owner, seen_version=lead.version, **relations)
    report.record("leads", Outcome.UPDATED if changed else Outcome.UNCHANGED)
