from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm import fsm, jobs
from crm.forms import InteractionForm
from crm.http import AuthenticatedRequest
from crm.listing import (
    ListPaginator,
    filter_visible,
    first_rows_by,
    paginate,
    querystring_without_page,
    render_list,
)
from crm.models import Contact, User
from crm.pages import bars, prefilled_ids
from crm.permissions import Access, get_for_user, require_permission
from crm.timeline import TimelineEntry, interaction_entries, merge
from crm.uploads import serve_private_file
from crm.views import log_interaction_view
from prospects import actions, calendar, exports, pdf
from prospects.filters import LeadFilter, SiteFilter
from prospects.forms import (
    LeadForm,
    PromotionEventForm,
    SheetLanguageForm,
    SiteForm,
    SitePhotoForm,
)
from prospects.models import (
    FUNNEL,
    OPEN_STAGES,
    STAGE_PROBABILITY,
    CalendarToken,
    Lead,
    LeadQuerySet,
    LeadTransition,
    PromotionEvent,
    PromotionEventQuerySet,
    Site,
    SitePhoto,
    Stage,
)

BOARD_COLUMN_LIMIT = 10
# The open stages, then dormant (it may wake up), then the closed ones, folded at the end.
OPEN_BOARD_STAGES = [*OPEN_STAGES, Stage.DORMANT]
CLOSED_BOARD_STAGES = [Stage.WON, Stage.LOST]
BOARD_STAGES = [*OPEN_BOARD_STAGES, *CLOSED_BOARD_STAGES]
TIMELINE_SIZE = 40
MY_DAY_PAGE_SIZE = 20
MY_DAY_COUNT_LIMIT = 1000
# The pipeline report's figures are kept this long at most (see `cached_report_figures`).
REPORT_CACHE_SECONDS = 300
UPCOMING_DAYS = 14
DEFAULT_IDLE_DAYS = 30
REPORT_MONTHS = 12
VIEW_LEAD = "prospects.view_lead"
CHANGE_LEAD = "prospects.change_lead"
ADD_INTERACTION = "crm.add_interaction"


# Leads ------------------------------------------------------------------------------------


def lead_list(request: AuthenticatedRequest) -> HttpResponse:
    filterset = filter_visible(request, LeadFilter, Lead.objects.for_list(), perm=VIEW_LEAD)
    return render_list(request, "prospects/lead_list.html", filterset)


def lead_export(request: AuthenticatedRequest) -> HttpResponseBase:
    return jobs.export_list(request, "leads")


def lead_board(request: AuthenticatedRequest) -> HttpResponse:
    """Leads in columns by stage; each column shows its first cards and its count."""
    require_permission(request.user, VIEW_LEAD)
    visible = Lead.objects.visible_to(request.user)
    # Each column's count, € total and weighted total: one grouped query over every visible
    # lead (36 ms at 100,000), kept until a lead changes (`report_stamp`).
    scope = "all" if request.user.is_mission_staff else f"user-{request.user.pk}"
    figures: dict[str, dict[str, Any]] = (
        cache.get_or_set(
            f"prospects:board:{scope}:{hashlib.sha256(repr(report_stamp()).encode()).hexdigest()}",
            visible.by_stage,
            timeout=REPORT_CACHE_SECONDS,
        )
        or {}
    )
    # The first cards of every column, each read from the (stage, due date) index.
    by_stage = first_rows_by(
        visible.for_cards().order_by(F("next_action_due").asc(nulls_last=True), "pk"),
        "stage",
        BOARD_STAGES,
        limit=BOARD_COLUMN_LIMIT,
        order=_card_order,
    )

    def column(stage: str) -> dict[str, object]:
        row = figures.get(stage, {})
        return {
            "stage": Stage(stage),
            "leads": by_stage[stage],
            "count": row.get("count", 0),
            "investment": row.get("investment", 0),
            # A closed lead's chance is settled: its weighted value says nothing.
            "weighted": row.get("weighted", 0) if stage not in CLOSED_BOARD_STAGES else None,
        }

    context = {
        "columns": [column(stage) for stage in OPEN_BOARD_STAGES],
        "closed": [column(stage) for stage in CLOSED_BOARD_STAGES],
    }
    return render(request, "prospects/lead_board.html", context)


def _card_order(lead: Lead) -> tuple[bool, date, int]:
    """A board column's order: next action due first, leads without one last."""
    return (lead.next_action_due is None, lead.next_action_due or date.min, lead.pk)


def board_card_moves(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    lead, _may = get_for_user(request, Lead.objects.all(), pk)
    return fsm.card_moves_view(request, lead)


def lead_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    lead, may = get_for_user(
        request,
        Lead.objects.for_detail().prefetch_related(
            Prefetch(
                "contacts",
                queryset=Contact.objects.only(
                    "pk", "first_name", "last_name", "objected_at", "anonymised_at"
                ),
            ),
            Prefetch("target_sites", queryset=Site.objects.select_related("territory")),
            "shared_with",
        ),
        pk,
    )
    user: User = request.user
    context = {
        "lead": lead,
        "moves": lead.machine.moves(user),
        "timeline": _lead_timeline(lead),
        "interaction_form": InteractionForm(organisation=lead.organisation)
        if may.contribute and user.has_perm(ADD_INTERACTION)
        else None,
        "may_edit": may.contribute and user.has_perm(CHANGE_LEAD),
        "default_probability": STAGE_PROBABILITY[lead.stage],
    }
    return TemplateResponse(request, "prospects/lead_detail.html", context)


def _lead_timeline(lead: Lead) -> list[TimelineEntry]:
    transitions = lead.transitions.select_related("by")[:TIMELINE_SIZE]
    moves = (transition.timeline_entry() for transition in transitions)
    exchanges = interaction_entries(lead.interactions.for_timeline()[:TIMELINE_SIZE])
    return merge(moves, exchanges, limit=TIMELINE_SIZE)


@require_http_methods(["GET", "POST"])
def lead_create(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "prospects.add_lead")
    # Prefilled from an organisation's, a contact's, a site's or an event's page; only ids go
    # into the form, whose choices are scoped (an id the person may not see selects nothing).
    ids = prefilled_ids(request, "organisation", "contact", "site", "promotion_event")
    initial: dict[str, Any] = {}
    if "organisation" in ids:
        initial["organisation"] = ids["organisation"]
    if "site" in ids:
        initial["target_sites"] = [ids["site"]]
    if "contact" in ids:
        contact = (
            Contact.objects.visible_to(request.user)
            .filter(pk=ids["contact"])
            .only("pk", "organisation_id")
            .first()
        )
        if contact is not None:
            initial["contacts"] = [contact.pk]
            initial.setdefault("organisation", contact.organisation_id)
    if "promotion_event" in ids:
        initial.update(promotion_event=ids["promotion_event"], source=Lead.Source.PROMOTION_EVENT)
    return _lead_form(request, Lead(), initial=initial)


@require_http_methods(["GET", "POST"])
def lead_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    scope = Lead.objects.select_related("organisation")
    lead, _may = get_for_user(request, scope, pk, need=Access.CONTRIBUTE, perm=CHANGE_LEAD)
    return _lead_form(request, lead)


def _lead_form(
    request: AuthenticatedRequest, lead: Lead, *, initial: dict[str, Any] | None = None
) -> HttpResponse:
    """Create or edit a lead. An edit over a newer save is refused, and the form comes back
    with what the person typed and what changed in the meantime: nothing is lost."""
    editing = lead.pk is not None
    form = LeadForm(request.POST or None, instance=lead, user=request.user, initial=initial)
    changed_since: list[tuple[str, str]] = []
    if request.method == "POST" and form.is_valid():
        try:
            saved = actions.save_lead(
                lead=form.instance,
                by=request.user,
                seen_version=form.cleaned_data["version"],
                contacts=form.cleaned_data["contacts"],
                target_sites=form.cleaned_data["target_sites"],
                shared_with=form.cleaned_data["shared_with"],
                objection_reason=form.objection_reason_given,
            )
        except actions.LeadChanged:
            current, _may = get_for_user(request, Lead.objects.all(), lead.pk)
            changed_since = _differences(form, current)
            # Saving again is now a deliberate choice made after seeing the other changes.
            # A bound form's data is the request's QueryDict, whose copy can be changed.
            data = cast(QueryDict, form.data).copy()
            data["version"] = str(current.version)
            form.data = data
            messages.error(
                request,
                _(
                    "Quelqu'un a enregistré cette piste depuis que vous l'avez ouverte : "
                    "rien n'a été enregistré. Vos saisies sont conservées ci-dessous ; "
                    "vérifiez les valeurs enregistrées entre-temps, puis enregistrez de nouveau."
                ),
            )
        else:
            messages.success(request, _("Piste « %s » enregistrée.") % saved.title)
            return redirect(saved)
    context = {
        "form": form,
        "lead": lead if editing else None,
        "changed_since": changed_since,
    }
    status = 409 if changed_since else (400 if form.errors else 200)
    return render(request, "prospects/lead_form.html", context, status=status)


def _differences(form: LeadForm, current: Lead) -> list[tuple[str, str]]:
    """(label, value now saved) for each simple field where the saved lead differs from what
    the person submitted."""
    differences = []
    for name in form.Meta.fields:
        field = Lead._meta.get_field(name)
        if field.many_to_many:
            continue
        submitted = form.cleaned_data.get(name)
        saved = getattr(current, name)
        if submitted != saved:
            shown = getattr(current, f"get_{name}_display", lambda value=saved: value)()
            differences.append(
                (str(form.fields[name].label), "—" if shown in (None, "") else str(shown))
            )
    return differences


@require_POST
def lead_transition(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Run one move from the lead page or the board, then go back there."""
    lead, _may = get_for_user(request, Lead.objects.all(), pk)
    return fsm.transition_view(request, lead)


@require_http_methods(["GET", "POST"])
def lead_log_interaction(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """A call, meeting or visit with the investor, on the lead's timeline."""
    scope = Lead.objects.select_related("organisation")
    lead, _may = get_for_user(request, scope, pk, need=Access.CONTRIBUTE, perm=ADD_INTERACTION)
    return log_interaction_view(
        request, organisation=lead.organisation, about={"lead": lead}, back=lead, anchor="#timeline"
    )


# My day -----------------------------------------------------------------------------------


def my_day(request: AuthenticatedRequest) -> HttpResponse:
    """The officer's day: overdue and upcoming next actions, and leads gone quiet."""
    require_permission(request.user, VIEW_LEAD)
    user: User = request.user
    raw = request.GET.get("idle_days", "")
    idle_days = int(raw) if raw.isdigit() and 0 < int(raw) <= 365 else DEFAULT_IDLE_DAYS
    today = timezone.localdate()
    mine = Lead.objects.visible_to(user).followed_by(user).open().for_cards()
    sections = {
        "overdue": mine.filter(next_action_due__lt=today).order_by("next_action_due", "pk"),
        "upcoming": mine.filter(
            next_action_due__gte=today, next_action_due__lte=today + timedelta(days=UPCOMING_DAYS)
        ).order_by("next_action_due", "pk"),
        "idle": mine.filter(
            last_activity_at__lt=timezone.now() - timedelta(days=idle_days)
        ).order_by("last_activity_at", "pk"),
    }
    # Each list is paged on its own (?overdue_page=2), so its badge counts every lead in it.
    context: dict[str, Any] = {
        name: _day_section(request, leads, param=f"{name}_page") for name, leads in sections.items()
    }
    context.update(idle_days=idle_days, upcoming_days=UPCOMING_DAYS, today=today)
    return render(request, "prospects/my_day.html", context)


def _day_section(
    request: AuthenticatedRequest, leads: QuerySet[Lead], *, param: str
) -> dict[str, Any]:
    # A day's list past a thousand leads reads "more than 1,000": counting each of them
    # cost 33 ms at 16,000 followed leads, for a figure nobody acts on.
    page = paginate(
        request, leads, per_page=MY_DAY_PAGE_SIZE, param=param, count_limit=MY_DAY_COUNT_LIMIT
    )
    return {
        "page": page,
        "tally": cast(ListPaginator, page.paginator).tally,
        "leads": page.object_list,
        "param": param,
        "querystring": querystring_without_page(request, param),
    }


# Pipeline report ----------------------------------------------------------------------------


def pipeline_report(request: AuthenticatedRequest) -> HttpResponse:
    """Count and weighted value by stage, conversion from the log, breakdowns and events:
    every figure an aggregate of the filtered, visible leads, computed in the database."""
    filterset = filter_visible(request, LeadFilter, Lead.objects.all(), perm=VIEW_LEAD)
    # The LeadFilter filters Lead.objects: its rows are a LeadQuerySet.
    figures = cached_report_figures(request, cast(LeadQuerySet, filterset.qs))
    return render(request, "prospects/pipeline_report.html", figures)


def cached_report_figures(request: AuthenticatedRequest, leads: LeadQuerySet) -> dict[str, Any]:
    """`report_figures`, computed again only when the data behind them changed.

    Eleven aggregates over every visible lead take most of a second at 20,000 leads; the
    report is read far more often than leads change. The key holds who sees what (staff see
    every lead, an officer their own scope), the filters, the language (labels are
    translated), and a stamp of the data (`report_stamp`). Renamed owners or territories
    show after `REPORT_CACHE_SECONDS` at most."""
    user: User = request.user
    scope = "all" if user.is_mission_staff else f"user-{user.pk}"
    filters = sorted((key, value) for key, value in request.GET.lists() if key != "page")
    raw = f"{scope}|{get_language()}|{filters}|{report_stamp()}"
    key = "prospects:report:" + hashlib.sha256(raw.encode()).hexdigest()
    figures: dict[str, Any] = (
        cache.get_or_set(key, lambda: report_figures(leads), timeout=REPORT_CACHE_SECONDS) or {}
    )
    return figures


def report_stamp() -> tuple[Any, ...]:
    """What changes when any figure of the report or the board may: one query, no user
    input in it, each part read from the end of an index (it cost 39 ms at 100,000 leads
    when it counted them). A lead's edit, move or share touches its `updated_at`; a new
    lead raises the last id. A lead deleted (from the admin, or with its organisation)
    shows after `REPORT_CACHE_SECONDS` at most. Promotion events are few: counted."""
    quote = connection.ops.quote_name
    lead, log, event = (quote(m._meta.db_table) for m in (Lead, LeadTransition, PromotionEvent))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(updated_at) FROM {lead}), (SELECT MAX(id) FROM {lead}), "  # noqa: S608 - table names from the models
            f"(SELECT MAX(id) FROM {log}), (SELECT COUNT(*) FROM {event}), "
            f"(SELECT MAX(id) FROM {event})"
        )
        return tuple(cursor.fetchone())


def report_figures(leads: LeadQuerySet) -> dict[str, Any]:
    """The report's figures for `leads` (already scoped): a fixed number of queries."""
    leads = leads.order_by()
    by_stage = leads.by_stage()
    reached = LeadTransition.objects.filter(lead__in=leads.values("pk")).reached_by_stage()
    totals = leads.totals()
    # Every lead starts as identified; later stages are reached through the log.
    reached[Stage.IDENTIFIED] = totals["leads"]
    stages = []
    for stage in Stage:
        row = by_stage.get(stage.value, {})
        stages.append(
            {
                "stage": stage,
                "count": row.get("count", 0),
                "investment": row.get("investment", Decimal("0")),
                "weighted": row.get("weighted", Decimal("0")),
                "probability": STAGE_PROBABILITY[stage],
            }
        )
    conversion = []
    for index in range(len(FUNNEL) - 1):
        here, there = FUNNEL[index], FUNNEL[index + 1]
        entered, moved_on = reached.get(here, 0), reached.get(there, 0)
        conversion.append(
            {
                "source": Stage(here),
                "target": Stage(there),
                "entered": entered,
                "moved_on": moved_on,
                "rate": round(100 * moved_on / entered) if entered else None,
            }
        )
    labels = {
        "source": dict(Lead.Source.choices),
        "sector": dict(Lead.Sector.choices),
        "origin_market": dict(Lead.Market.choices),
    }
    breakdowns: list[dict[str, Any]] = []
    for field, title in [
        ("source", _("Par source")),
        ("sector", _("Par secteur")),
        ("territory__name", _("Par territoire")),
        ("origin_market", _("Par marché d'origine")),
        ("owner", _("Par chargé·e")),
    ]:
        rows = leads.breakdown(field)
        names = labels.get(field, {})
        for row in rows:
            if field == "owner":
                name = f"{row['owner__first_name']} {row['owner__last_name']}".strip()
                row["label"] = name or row["owner__username"]
            else:
                row["label"] = str(names.get(row["key"], row["key"]))
        breakdowns.append({"field": field, "title": title, "rows": rows})
    events = list(
        # `lead_count` is one of the figures `with_figures` annotates.
        PromotionEvent.objects.with_figures(leads)  # type: ignore[misc]
        .filter(lead_count__gt=0)
        .order_by("-starts_on", "name")
    )
    since = (
        timezone.localdate().replace(day=1) - timedelta(days=31 * (REPORT_MONTHS - 1))
    ).replace(day=1)
    months = leads.weighted_by_month(since)
    funnel_rows = [
        (str(row["stage"].label), row["count"]) for row in stages if row["stage"] in FUNNEL
    ]
    return {
        "totals": totals,
        "stages": stages,
        "conversion": conversion,
        "breakdowns": breakdowns,
        "events": events,
        "funnel_chart": bars(funnel_rows, whole_numbers=True),
        "source_chart": bars(
            [(row["label"], row["weighted"]) for row in breakdowns[0]["rows"]], whole_numbers=True
        ),
        "month_chart": bars(
            [(f"{month:%m/%Y}", value) for month, value in months], whole_numbers=True
        ),
    }


# Sites ------------------------------------------------------------------------------------


def site_list(request: AuthenticatedRequest) -> HttpResponse:
    filterset = filter_visible(
        request, SiteFilter, Site.objects.for_list(), perm="prospects.view_site"
    )
    return render_list(request, "prospects/site_list.html", filterset)


def site_export(request: AuthenticatedRequest) -> HttpResponseBase:
    return jobs.export_list(request, "sites")


def site_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    site, _may = get_for_user(
        request, Site.objects.for_detail().prefetch_related("photos", "projects"), pk
    )
    # Only the leads this user may see: a confidential lead never shows on a site page.
    leads = list(
        Lead.objects.visible_to(request.user)
        .filter(target_sites=site)
        .for_list()
        .order_by("-created_at", "-pk")[:100]
    )
    context = {
        "site": site,
        "leads": leads,
        "photo_form": SitePhotoForm() if request.user.has_perm("prospects.add_sitephoto") else None,
        "sheet_form": SheetLanguageForm(initial={"language": "fr"}),
        "may_edit": request.user.has_perm("prospects.change_site"),
    }
    return TemplateResponse(request, "prospects/site_detail.html", context)


@require_http_methods(["GET", "POST"])
def site_create(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "prospects.add_site")
    # From an organisation's page: the site it owns. The form's choices are scoped.
    initial = prefilled_ids(request, "owner_organisation")
    return _site_form(request, Site(), initial=initial)


@require_http_methods(["GET", "POST"])
def site_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    site, _may = get_for_user(request, Site.objects.all(), pk, perm="prospects.change_site")
    return _site_form(request, site)


def _site_form(
    request: AuthenticatedRequest, site: Site, *, initial: dict[str, int] | None = None
) -> HttpResponse:
    form = SiteForm(request.POST or None, instance=site, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Site « %s » enregistré.") % saved.name)
        return redirect(saved)
    status = 400 if form.errors else 200
    return render(
        request,
        "prospects/site_form.html",
        {"form": form, "site": site if site.pk else None},
        status=status,
    )


@require_POST
def site_photo_upload(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    site, _may = get_for_user(request, Site.objects.all(), pk, perm="prospects.add_sitephoto")
    form = SitePhotoForm(request.POST, request.FILES)
    if form.is_valid():
        actions.add_site_photo(
            site=site,
            upload=form.cleaned_data["image"],
            caption=form.cleaned_data["caption"],
            by=request.user,
        )
        messages.success(request, _("Photo ajoutée."))
    else:
        errors = " ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, _("Photo refusée : %s") % errors)
    return redirect(f"{site.get_absolute_url()}#photos")


def _photo_for(request: AuthenticatedRequest, pk: int, photo_pk: int) -> SitePhoto:
    site, _may = get_for_user(request, Site.objects.all(), pk)
    return get_object_or_404(SitePhoto, pk=photo_pk, site=site)


def site_photo(request: AuthenticatedRequest, pk: int, photo_pk: int) -> HttpResponseBase:
    photo = _photo_for(request, pk, photo_pk)
    extension = photo.image.name.rsplit(".", 1)[-1]
    return serve_private_file(
        photo.image,
        filename=f"{slugify(photo.site.name) or 'site'}-{photo.pk}.{extension}",
        content_type=photo.content_type,
    )


def site_photo_thumbnail(request: AuthenticatedRequest, pk: int, photo_pk: int) -> HttpResponseBase:
    photo = _photo_for(request, pk, photo_pk)
    return serve_private_file(
        photo.thumbnail, filename=f"vignette-{photo.pk}.jpg", content_type="image/jpeg"
    )


def site_photo_thumbnail_slot(
    request: AuthenticatedRequest, pk: int, photo_pk: int
) -> HttpResponse:
    """What stands for the photo's thumbnail in the gallery (htmx asks again while the
    worker renders it)."""
    photo = _photo_for(request, pk, photo_pk)
    return render(
        request, "prospects/includes/_photo_thumbnail.html", {"photo": photo, "site": photo.site}
    )


def site_sheet(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The site sheet for investors, as a PDF in French or English."""
    site, _may = get_for_user(request, Site.objects.for_detail().prefetch_related("photos"), pk)
    form = SheetLanguageForm(request.GET or {"language": "fr"})
    language = form.cleaned_data["language"] if form.is_valid() else "fr"
    # Many photos, or an original still without its thumbnail, take seconds: the worker.
    photos = list(site.photos.all())[: pdf.SHEET_PHOTO_LIMIT]
    if len(photos) > settings.SHEET_SYNC_MAX_IMAGES or any(not p.thumbnail for p in photos):
        job = jobs.start(
            kind="site_sheet",
            owner=request.user,
            label=_("Fiche du site %(name)s (%(language)s)")
            % {"name": site.name, "language": language},
            # The job speaks the person's language (its progress, a failure); the sheet is
            # in the language asked for.
            params={"site": site.pk, "language": request.LANGUAGE_CODE, "sheet": language},
        )
        return redirect(job)
    data = pdf.site_sheet_pdf(site, language=language)
    return pdf.site_sheet_response(site, data, language=language)


# Promotion events -------------------------------------------------------------------------


def event_list(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "prospects.view_promotionevent")
    events = _events_with_figures(request.user)
    page = paginate(request, events)
    context = {
        "page": page,
        "object_list": list(page.object_list),
        "querystring": querystring_without_page(request),
    }
    return render(request, "prospects/event_list.html", context)


def event_export(request: AuthenticatedRequest) -> HttpResponseBase:
    require_permission(request.user, "prospects.view_promotionevent")
    return exports.events_xlsx(_events_with_figures(request.user))


def _events_with_figures(user: User) -> PromotionEventQuerySet:
    return (
        PromotionEvent.objects.visible_to(user)
        .with_figures(Lead.objects.visible_to(user))
        .order_by("-starts_on", "name", "pk")
    )


def event_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    event, _may = get_for_user(request, _events_with_figures(request.user), pk)
    leads = list(
        Lead.objects.visible_to(request.user)
        .filter(promotion_event=event)
        .for_list()
        .order_by("-created_at", "-pk")[:200]
    )
    return render(request, "prospects/event_detail.html", {"event": event, "leads": leads})


@require_http_methods(["GET", "POST"])
def event_create(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "prospects.add_promotionevent")
    return _event_form(request, PromotionEvent())


@require_http_methods(["GET", "POST"])
def event_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    event, _may = get_for_user(
        request, PromotionEvent.objects.all(), pk, perm="prospects.change_promotionevent"
    )
    return _event_form(request, event)


def _event_form(request: HttpRequest, event: PromotionEvent) -> HttpResponse:
    form = PromotionEventForm(request.POST or None, instance=event)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Événement « %s » enregistré.") % saved.name)
        return redirect(saved)
    status = 400 if form.errors else 200
    return render(
        request,
        "prospects/event_form.html",
        {"form": form, "event": event if event.pk else None},
        status=status,
    )


# Calendar feed ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def calendar_settings(request: AuthenticatedRequest) -> HttpResponse:
    """The user's private feed address, and a button to make a new one."""
    require_permission(request.user, VIEW_LEAD)
    if request.method == "POST":
        token = actions.regenerate_calendar_token(user=request.user)
        messages.success(request, _("Nouvelle adresse créée : l'ancienne ne fonctionne plus."))
        return redirect("prospects:calendar_settings")
    token = actions.calendar_token_for(request.user)
    url = request.build_absolute_uri(
        reverse("prospects:calendar_feed", args=[request.user.pk, token.feed_secret()])
    )
    return render(request, "prospects/calendar_settings.html", {"feed_url": url})


@login_not_required
def calendar_feed(request: HttpRequest, user_id: int, token: str) -> HttpResponse:
    """The one public view of prospects: a calendar app cannot log in, so the secret in the
    address stands for the login. Wrong or old secrets answer 404."""
    record = CalendarToken.objects.select_related("user").filter(user_id=user_id).first()
    if record is None or not record.opens_with(token):
        raise Http404
    user = record.user
    if not user.is_active or not user.has_perm(VIEW_LEAD):
        raise Http404
    leads = (
        Lead.objects.visible_to(user)
        .followed_by(user)
        .open()
        .filter(next_action_due__isnull=False)
        .select_related("organisation")
        .order_by("next_action_due", "pk")[:500]
    )
    body = calendar.next_actions_ics(leads, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="carreau-actions.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response
