from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponsePermanentRedirect,
)
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from crm import actions, imports, jobs, mail, notifications, privacy, relations, workqueue
from crm import dashboard as dashboard_panels
from crm.exports import XLSX_CONTENT_TYPE
from crm.filters import ContactFilter, OrganisationFilter
from crm.forms import (
    CONTACT_CHOICE_COLUMNS,
    MAX_ID,
    ContactForm,
    ImportMappingForm,
    ImportUploadForm,
    InteractionForm,
    NotificationPreferencesForm,
    OrganisationForm,
    contact_choice_label,
)
from crm.http import AuthenticatedRequest
from crm.listing import filter_visible, paginate, render_list
from crm.models import (
    Contact,
    Interaction,
    Job,
    Notification,
    Organisation,
    StagedImport,
    User,
    count_contacts,
)
from crm.pages import local_path
from crm.permissions import get_visible_or_404, require_permission, require_staff
from crm.timeline import TimelineEntry, interaction_entries, merge
from crm.uploads import serve_private_file

TIMELINE_PAGE = 30


def dashboard(request: AuthenticatedRequest) -> HttpResponse:
    """The home page: what waits for the person, then the panels the apps contribute."""
    context = workqueue.context(request.user)
    context["panels"] = dashboard_panels.panels_for(request.user)
    return render(request, "crm/dashboard.html", context)


# Organisations ------------------------------------------------------------------------------


def organisation_list(request: AuthenticatedRequest) -> HttpResponse:
    filterset = filter_visible(
        request, OrganisationFilter, Organisation.objects.for_list(), perm="crm.view_organisation"
    )
    return render_list(request, "crm/organisation_list.html", filterset, on_page=count_contacts)


def organisation_export(request: AuthenticatedRequest) -> HttpResponseBase:
    return jobs.export_list(request, "organisations")


def organisation_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    organisation = get_visible_or_404(Organisation.objects.for_detail(), request.user, pk=pk)
    # Scoped: a confidential lead's exchanges stay with the people who may see that lead.
    timeline, more = _timeline(
        request, organisation.interactions.visible_to(request.user).for_timeline()
    )
    context = {
        "organisation": organisation,
        "contacts": list(organisation.contacts.order_by("last_name", "first_name", "pk")),
        "related": relations.sections_for(request.user, organisation),
        "timeline": timeline,
        "timeline_more": more,
        "interaction_form": _interaction_form_or_none(request.user, organisation),
    }
    if request.htmx and request.GET.get("timeline_page"):
        return TemplateResponse(request, "crm/includes/_timeline.html", context)
    return TemplateResponse(request, "crm/organisation_detail.html", context)


@require_http_methods(["GET", "POST"])
def organisation_create(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "crm.add_organisation")
    form = OrganisationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        organisation = actions.save_organisation(
            organisation=form.instance,
            by=request.user,
            new_logo=form.cleaned_data["new_logo"],
        )
        messages.success(request, _("Organisation « %s » créée.") % organisation)
        return redirect(organisation)
    return render(request, "crm/organisation_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
def organisation_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    organisation = get_visible_or_404(Organisation.objects.all(), request.user, pk=pk)
    require_permission(request.user, "crm.change_organisation")
    form = OrganisationForm(request.POST or None, request.FILES or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        actions.save_organisation(
            organisation=form.instance,
            by=request.user,
            new_logo=form.cleaned_data["new_logo"],
            remove_logo=form.cleaned_data.get("remove_logo", False),
        )
        messages.success(request, _("Organisation « %s » enregistrée.") % organisation)
        return redirect(organisation)
    return render(
        request, "crm/organisation_form.html", {"form": form, "organisation": organisation}
    )


def organisation_logo(request: AuthenticatedRequest, pk: int) -> HttpResponseBase:
    """The logo, only through this permission-checked view (uploads have no public URL)."""
    organisation = get_visible_or_404(Organisation.objects.all(), request.user, pk=pk)
    extension = organisation.logo.name.rpartition(".")[2] if organisation.logo else ""
    return serve_private_file(
        organisation.logo, filename=f"{slugify(organisation.name) or 'logo'}-logo.{extension}"
    )


@require_http_methods(["GET", "POST"])
def organisation_log_interaction(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    organisation = get_visible_or_404(Organisation.objects.all(), request.user, pk=pk)
    return log_interaction_view(request, organisation=organisation, back=organisation)


# Contacts -----------------------------------------------------------------------------------


def contact_list(request: AuthenticatedRequest) -> HttpResponse:
    filterset = filter_visible(
        request, ContactFilter, Contact.objects.for_list(), perm="crm.view_contact"
    )
    return render_list(request, "crm/contact_list.html", filterset)


def contact_export(request: AuthenticatedRequest) -> HttpResponseBase:
    return jobs.export_list(request, "contacts")


def contact_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    contact = get_visible_or_404(Contact.objects.for_detail(), request.user, pk=pk)
    timeline, more = _timeline(
        request, contact.interactions.visible_to(request.user).for_timeline()
    )
    context = {
        "contact": contact,
        "related": relations.sections_for(request.user, contact),
        "timeline": timeline,
        "timeline_more": more,
        "interaction_form": _interaction_form_or_none(
            request.user, contact.organisation, contact=contact
        ),
        "may_manage_privacy": request.user.is_mission_staff,
        "erasure": privacy.erasure_report(contact)
        if contact.anonymised_at and request.user.is_mission_staff
        else None,
    }
    if request.htmx and request.GET.get("timeline_page"):
        return TemplateResponse(request, "crm/includes/_timeline.html", context)
    return TemplateResponse(request, "crm/contact_detail.html", context)


@require_http_methods(["GET", "POST"])
def contact_create(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "crm.add_contact")
    # Prefilled from an organisation page; the form's queryset still scopes the choice.
    organisation_id = request.GET.get("organisation", "").strip()
    initial = {"organisation": organisation_id} if organisation_id.isdigit() else {}
    form = ContactForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        contact = actions.save_contact(contact=form.instance, by=request.user)
        messages.success(request, _("Contact « %s » créé.") % contact)
        return redirect(contact)
    return render(request, "crm/contact_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
def contact_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    contact = get_visible_or_404(Contact.objects.all(), request.user, pk=pk)
    require_permission(request.user, "crm.change_contact")
    form = ContactForm(request.POST or None, instance=contact, user=request.user)
    if request.method == "POST" and form.is_valid():
        actions.save_contact(contact=form.instance, by=request.user)
        messages.success(request, _("Contact « %s » enregistré.") % contact)
        return redirect(contact)
    return render(request, "crm/contact_form.html", {"form": form, "contact": contact})


def contact_options(request: AuthenticatedRequest) -> HttpResponse:
    """The options of a contact picker for the organisation just chosen in a form (htmx):
    only contacts the person may see, of an organisation they may see; none otherwise."""
    require_permission(request.user, "crm.view_contact")
    raw = request.GET.get(request.GET.get("from", "organisation"), "").strip()
    contacts = Contact.objects.none()
    if raw.isdigit() and int(raw) <= MAX_ID:
        contacts = (
            Contact.objects.visible_to(request.user)
            .filter(organisation_id=int(raw))
            .only(*CONTACT_CHOICE_COLUMNS)
            .order_by("last_name", "first_name", "pk")
        )
    context = {
        "options": [(contact.pk, contact_choice_label(contact)) for contact in contacts],
        "multiple": request.GET.get("multiple") == "1",
        "chosen": raw.isdigit() and int(raw) <= MAX_ID,
    }
    return render(request, "crm/includes/_contact_options.html", context)


@require_http_methods(["GET", "POST"])
def contact_log_interaction(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    contact = get_visible_or_404(
        Contact.objects.select_related("organisation"), request.user, pk=pk
    )
    return log_interaction_view(
        request, organisation=contact.organisation, contact=contact, back=contact
    )


# Privacy (CNIL, staff) ----------------------------------------------------------------------


def _contact_for_privacy(request: AuthenticatedRequest, pk: int) -> Contact:
    """The contact, for staff only: everyone else gets 404, as for a record they cannot see."""
    require_staff(request.user)
    return get_visible_or_404(Contact.objects.for_detail(), request.user, pk=pk)


@require_POST
def contact_objection(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Record (or withdraw) the person's objection to being contacted."""
    contact = _contact_for_privacy(request, pk)
    objects = request.POST.get("objects") == "1"
    actions.set_objection(contact=contact, objects=objects, by=request.user)
    if objects:
        messages.success(request, _("Opposition enregistrée : ne plus contacter cette personne."))
    else:
        messages.success(request, _("Opposition retirée."))
    return redirect(contact)


def contact_personal_data(
    request: AuthenticatedRequest, pk: int, file_format: str
) -> HttpResponseBase:
    """Everything stored about the person, as a workbook or JSON (right of access)."""
    contact = _contact_for_privacy(request, pk)
    if file_format not in ("xlsx", "json"):
        raise Http404
    data = privacy.personal_data(contact)
    actions.record_personal_data_export(contact=contact, by=request.user, file_format=file_format)
    if file_format == "json":
        return privacy.json_response(contact, data)
    return privacy.xlsx_response(contact, data)


@require_http_methods(["GET", "POST"])
def contact_anonymise(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Erase the person (right to erasure): a confirmation page, then a POST."""
    contact = _contact_for_privacy(request, pk)
    if contact.anonymised_at is not None:
        messages.info(request, _("Ce contact est déjà anonymisé."))
        return redirect(contact)
    if request.method == "POST":
        # The keys of the last-name-alone mentions staff chose to redact; any other is ignored.
        actions.anonymise_contact(
            contact=contact, by=request.user, redact_surnames=request.POST.getlist("redact")
        )
        messages.success(
            request, _("Contact anonymisé : voici ce qui a été effacé, et ce qui est gardé.")
        )
        return redirect(f"{contact.get_absolute_url()}#erasure")
    plan = privacy.erasure_plan(contact)
    context = {
        "contact": contact,
        "plan": plan,
        "interaction_count": plan.interactions,
        "report": privacy.report_lines(_without_surnames(plan.report())),
        # Proposed for redaction where the text is about her organisation; elsewhere the
        # name more likely belongs to someone else, and staff tick it if it is hers.
        "to_judge": [
            {
                "mention": mention,
                "excerpt": mention.excerpt(plan.identity),
                "record": privacy.record_label(mention.record),
                "url": privacy.record_url(mention.record),
                "proposed": privacy.relates_to(mention.record, contact.organisation_id),
            }
            for mention in plan.to_judge
        ],
    }
    return render(request, "crm/contact_anonymise.html", context)


def _without_surnames(report: dict[str, Any]) -> dict[str, Any]:
    # Before the erasure, the page asks about each last-name-alone mention instead.
    return {**report, "kept": {**report["kept"], "surnames": []}}


def privacy_review(request: AuthenticatedRequest) -> HttpResponse:
    """Contacts with no interaction for the retention period, to review or anonymise."""
    require_staff(request.user)
    years = settings.PRIVACY_RETENTION_YEARS
    contacts = (
        Contact.objects.due_for_review(years=years).for_list().order_by("last_interaction_at", "pk")
    )
    page = paginate(request, contacts)
    context = {"page": page, "object_list": list(page.object_list), "years": years}
    return render(request, "crm/privacy_review.html", context)


# Shared -------------------------------------------------------------------------------------


def _interaction_form_or_none(
    user: User, organisation: Organisation, *, contact: Contact | None = None
) -> InteractionForm | None:
    if not user.has_perm("crm.add_interaction"):
        return None
    return InteractionForm(organisation=organisation, initial={"contact": contact})


class _Page(Protocol):
    """A record with a page of its own."""

    def get_absolute_url(self) -> str: ...


def log_interaction_view(
    request: AuthenticatedRequest,
    *,
    organisation: Organisation,
    back: _Page,
    contact: Contact | None = None,
    about: dict[str, models.Model] | None = None,
    anchor: str = "",
) -> HttpResponse:
    """The "Consigner une interaction" page of every record: an organisation, a contact, a
    project (`about={"project": project}`) or a lead. The caller has fetched the record through
    its scope; this checks the permission, logs through `actions.log_interaction` and goes
    back to `back` (at `anchor`)."""
    require_permission(request.user, "crm.add_interaction")
    form = InteractionForm(
        request.POST or None, organisation=organisation, initial={"contact": contact}
    )
    if request.method == "POST" and form.is_valid():
        actions.log_interaction(
            organisation=organisation,
            contact=form.cleaned_data["contact"],
            by=request.user,
            kind=form.cleaned_data["kind"],
            occurred_at=form.cleaned_data["occurred_at"],
            summary=form.cleaned_data["summary"],
            objection_reason=form.objection_reason_given,
            **(about or {}),
        )
        messages.success(request, _("Interaction enregistrée."))
        return redirect(f"{back.get_absolute_url()}{anchor}")
    return render(
        request,
        "crm/interaction_form.html",
        {"form": form, "organisation": organisation, "contact": contact, "back": back},
    )


def _timeline(
    request: AuthenticatedRequest, interactions: QuerySet[Interaction]
) -> tuple[list[TimelineEntry], int | None]:
    """One page of a record's timeline, newest first, and the next page number if any."""
    raw = request.GET.get("timeline_page", "1")
    page = int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else 1
    end = page * TIMELINE_PAGE
    entries = merge(interaction_entries(interactions[: end + 1]), limit=end + 1)
    more = page + 1 if len(entries) > end else None
    return entries[end - TIMELINE_PAGE : end], more


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness probe for the reverse proxy; says nothing about the data."""
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and feed readers ask for /favicon.ico whatever the page says: the PNG icon."""
    return HttpResponsePermanentRedirect(static("img/favicon-32.png"))


class LoginView(auth_views.LoginView):
    """Django's login, whose `next` is checked as every other form's return address."""

    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        return local_path(super().get_redirect_url()) or ""


@login_not_required
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch, whose `next` is checked as every other form's return address:
    one that is not a path on this site is dropped, so Django falls back to the page the
    switch was used on."""
    if request.method == "POST" and "next" in request.POST and not local_path(request.POST["next"]):
        data = request.POST.copy()
        del data["next"]
        request.POST = data  # type: ignore[assignment]  # typed immutable; a view may replace it
    return i18n.set_language(request)


# Imports (staff; officers import leads) -----------------------------------------------------------

StagedView = Callable[[AuthenticatedRequest, StagedImport], HttpResponse]


def _staged_import(request: AuthenticatedRequest, token: str) -> StagedImport:
    """The import `token` started by this person (from any session), or 404: another
    person's, or one of a kind they may no longer import, does not exist for them."""
    try:
        staged = StagedImport.objects.of(request.user).select_related("job").get(pk=token)
    except (StagedImport.DoesNotExist, ValidationError):
        raise Http404 from None
    if staged.kind not in imports.KINDS or not imports.kind_class(staged.kind).allowed(
        request.user
    ):
        raise Http404
    return staged


def _open_import(view: StagedView) -> Callable[[AuthenticatedRequest, str], HttpResponse]:
    """A step of an import still open: one applied, or being applied, sends the person to its
    job; one whose workbook is gone is forgotten, with a word."""

    @functools.wraps(view)
    def step(request: AuthenticatedRequest, token: str) -> HttpResponse:
        staged = _staged_import(request, token)
        if staged.applied_at is not None or staged.is_applying:
            words = {"file": staged.original_name}
            if staged.applied_at is not None:
                messages.info(request, _("L'import « %(file)s » est déjà appliqué.") % words)
            else:
                messages.info(
                    request, _("L'import « %(file)s » est en cours d'application.") % words
                )
            if staged.job is not None:
                return redirect(staged.job)
            return redirect(imports.kind_class(staged.kind).list_url)
        if not staged.stored_name or not default_storage.exists(staged.stored_name):
            imports.discard_import(staged=staged)
            messages.error(
                request,
                _("Le classeur de l'import « %(file)s » n'est plus là : déposez-le à nouveau.")
                % {"file": staged.original_name},
            )
            return redirect("crm:import_start")
        return view(request, staged)

    return step


def _stored(staged: StagedImport) -> Any:
    return default_storage.open(staged.stored_name, "rb")


@require_http_methods(["GET", "POST"])
def import_start(request: AuthenticatedRequest) -> HttpResponse:
    """Step 1: upload the workbook; its header row is read at once."""
    kinds = imports.kinds_for(request.user)
    if not kinds:
        raise Http404
    form = ImportUploadForm(
        request.POST or None,
        request.FILES or None,
        kinds=kinds,
        initial={"kind": request.GET.get("kind")},
    )
    if request.method == "POST" and form.is_valid():
        checked = form.cleaned_data["file"]
        try:
            headers = imports.read_headers(checked.content)
        except imports.ImportFileError as error:
            form.add_error("file", str(error))
        else:
            staged = imports.stage_import(
                owner=request.user,
                kind=form.cleaned_data["kind"],
                content=checked.content,
                original_name=checked.original_name,
                headers=headers,
            )
            return redirect("crm:import_map", token=staged.token)
    status = 400 if request.method == "POST" else 200
    return render(request, "crm/import_form.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@_open_import
def import_map(request: AuthenticatedRequest, staged: StagedImport) -> HttpResponse:
    """Step 2: confirm which field each column goes to."""
    kind = imports.get_kind(staged.kind, by=request.user)
    headers = staged.headers
    guessed = staged.columns() or imports.remembered_mapping(kind, headers, user=request.user)
    targets = [(target.name, str(target.label)) for target in kind.targets]
    form = ImportMappingForm(
        request.POST or None,
        headers=headers,
        targets=targets,
        initial={f"column_{index}": name for index, name in guessed.items()},
    )
    if request.method == "POST" and form.is_valid():
        mapping = form.mapping()
        missing = imports.missing_required(kind, mapping)
        if missing:
            form.add_error(
                None,
                _("Associez une colonne à : %(fields)s.") % {"fields": ", ".join(missing)},
            )
        else:
            imports.remember_mapping(kind, headers, mapping, user=request.user)
            imports.save_mapping(staged=staged, mapping=mapping)
            return redirect("crm:import_preview", token=staged.token)
    context = {"form": form, "staged": staged, "kind": kind, "token": staged.token}
    status = 400 if request.method == "POST" else 200
    return render(request, "crm/import_mapping.html", context, status=status)


@_open_import
def import_preview(request: AuthenticatedRequest, staged: StagedImport) -> HttpResponse:
    """Step 3: the dry run: what would be created, updated, left, and every bad row."""
    if not staged.mapping:
        return redirect("crm:import_map", token=staged.token)
    kind = imports.get_kind(staged.kind, by=request.user)
    try:
        with _stored(staged) as stored:
            plan = imports.plan_import(staged.kind, stored, staged.columns(), by=request.user)
    except imports.ImportFileError as error:
        messages.error(request, str(error))
        return redirect("crm:import_start")
    context = {
        "staged": staged,
        "kind": kind,
        "token": staged.token,
        "plan": plan,
        "errors": plan.errors[: imports.ERRORS_SHOWN],
        "problems": plan.problems(imports.ERRORS_SHOWN),
        "to_write": plan.to_show(imports.ERRORS_SHOWN),
        "unknown_organisations": sorted(plan.unknown_organisations)[:20],
        "may_import_organisations": imports.OrganisationImport.allowed(request.user),
        "may_add_organisation": request.user.has_perm("crm.add_organisation"),
    }
    return render(request, "crm/import_preview.html", context)


@require_POST
@_open_import
def import_apply(request: AuthenticatedRequest, staged: StagedImport) -> HttpResponse:
    """Step 4: write everything, or nothing when a row is bad; or, when the person chose so,
    the good rows only, the bad ones given back to fix. Writing thousands of rows takes
    seconds: the worker does it, and the job's page says how it went."""
    if not staged.mapping:
        return redirect("crm:import_map", token=staged.token)
    job = imports.start_apply(
        staged=staged,
        leave_bad=request.POST.get("leave_bad") == "1",
        language=request.LANGUAGE_CODE,
    )
    return redirect(job)


@require_POST
@_open_import
def import_discard(request: AuthenticatedRequest, staged: StagedImport) -> HttpResponse:
    """Give up an import: its workbook is deleted, and it leaves the work queue."""
    imports.discard_import(staged=staged)
    messages.success(
        request,
        _("Import « %(file)s » abandonné : le classeur déposé est effacé.")
        % {"file": staged.original_name},
    )
    return redirect(f"{reverse('crm:import_start')}?kind={staged.kind}")


@_open_import
def import_errors(request: AuthenticatedRequest, staged: StagedImport) -> HttpResponse:
    """The bad rows of the dry run as a workbook, to fix them and import again."""
    try:
        with _stored(staged) as stored:
            plan = imports.plan_import(staged.kind, stored, staged.columns(), by=request.user)
    except imports.ImportFileError as error:
        messages.error(request, str(error))
        return redirect("crm:import_start")
    response = HttpResponse(imports.error_report(plan), content_type=XLSX_CONTENT_TYPE)
    stem = staged.original_name.rsplit(".", 1)[0]
    name = _("%(name)s-a-corriger.xlsx") % {"name": stem}
    disposition = content_disposition_header(True, name)
    assert disposition is not None  # an attachment always has one
    response["Content-Disposition"] = disposition
    return response


@_open_import
def import_rows_to_fix(request: AuthenticatedRequest, staged: StagedImport) -> HttpResponse:
    """The refused rows with the file's own columns and what to fix in each: corrected, the
    file imports again as it is."""
    try:
        with _stored(staged) as stored:
            plan = imports.plan_import(staged.kind, stored, staged.columns(), by=request.user)
    except imports.ImportFileError as error:
        messages.error(request, str(error))
        return redirect("crm:import_start")
    out = io.BytesIO()
    imports.rows_to_fix(plan, out)
    response = HttpResponse(out.getvalue(), content_type=XLSX_CONTENT_TYPE)
    name = imports.rows_to_fix_name(staged.original_name)
    disposition = content_disposition_header(True, name)
    assert disposition is not None, "an attachment always has its header"
    response["Content-Disposition"] = disposition
    return response


# Background jobs: progress, "Mes fichiers", downloads ---------------------------------------


def _job_for(request: AuthenticatedRequest, pk: str) -> Job:
    """The person's own job, or 404: nobody else's job or file is reachable."""
    try:
        return Job.objects.of(request.user).get(pk=pk)
    except (Job.DoesNotExist, ValidationError):
        raise Http404 from None


def job_detail(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    """A job's progress; htmx asks again every second for the status panel alone, and the
    page without JavaScript has a refresh link."""
    job = _job_for(request, pk)
    context = {"job": job, "stale": _is_stale(job)}
    if request.htmx:
        return TemplateResponse(request, "crm/job_detail.html#status", context)
    return TemplateResponse(request, "crm/job_detail.html", context)


def _is_stale(job: Job) -> bool:
    return (
        job.status == Job.Status.RUNNING
        and job.heartbeat_at is not None
        and job.heartbeat_at < timezone.now() - jobs.stale_after()
    )


def job_list(request: AuthenticatedRequest) -> HttpResponse:
    """ "Mes fichiers": the person's jobs and their files, until they expire."""
    page = paginate(request, Job.objects.of(request.user).listed())
    return TemplateResponse(
        request, "crm/job_list.html", {"page": page, "file_days": settings.JOB_FILE_DAYS}
    )


def job_download(request: AuthenticatedRequest, pk: str) -> HttpResponseBase:
    """The job's file, for its owner while they may still see what it holds."""
    job = _job_for(request, pk)
    expired = job.expires_at is not None and job.expires_at < timezone.now()
    if job.status != Job.Status.DONE or expired or not job.file:
        raise Http404
    if not jobs.kind_of(job.kind).allowed(request.user, job.params):
        raise Http404
    return serve_private_file(job.file, filename=job.filename, as_attachment=True)


@require_POST
def job_retry(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    job = _job_for(request, pk)
    if job.status == Job.Status.FAILED or _is_stale(job):
        jobs.retry(job)
        messages.success(request, _("Le travail est relancé."))
    return redirect(job)


# Notifications --------------------------------------------------------------------------------


NOTIFICATIONS_PAGE = 25


def notification_list(request: AuthenticatedRequest) -> HttpResponse:
    """The person's notifications, newest first, about records they may still see."""
    rows = Notification.objects.for_reader(request.user).select_related("event__actor")
    page = paginate(request, rows, per_page=NOTIFICATIONS_PAGE)
    entries = [
        {"notification": row, "text": notifications.describe(row.event)} for row in page.object_list
    ]
    unread = Notification.objects.for_reader(request.user).unread().count()
    return render(
        request,
        "crm/notification_list.html",
        {"page": page, "entries": entries, "unread": unread},
    )


def notification_open(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Opening a notification marks it read and leads to its record (404 when the person may
    no longer see it, as if it did not exist)."""
    notification = get_visible_or_404(_NotificationScope(), request.user, pk=pk)
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk).update(read_at=timezone.now())
    return redirect(local_path(notification.event.url) or "crm:notification_list")


class _NotificationScope:
    """`Notification.objects.for_reader` as the `visible_to` scope `get_visible_or_404` takes."""

    def visible_to(self, user: User) -> Any:
        return Notification.objects.for_reader(user).select_related("event")


@require_POST
def notification_read_all(request: AuthenticatedRequest) -> HttpResponse:
    Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    messages.success(request, _("Toutes vos notifications sont marquées comme lues."))
    return redirect("crm:notification_list")


def notification_bell(request: AuthenticatedRequest) -> HttpResponse:
    """The bell of the header with its unread count, loaded after the page (htmx) so that no
    page pays for it."""
    unread = Notification.objects.for_reader(request.user).unread().count()
    return render(request, "crm/includes/_bell.html", {"bell_unread": unread, "bell_loaded": True})


@require_http_methods(["GET", "POST"])
def notification_preferences(request: AuthenticatedRequest) -> HttpResponse:
    """Per kind of event: at once, in the morning digest, or no e-mail; the language of the
    e-mails and the digest's time."""
    user: User = request.user
    preferences = dict(user.notification_preferences.values_list("kind", "delivery"))
    form = NotificationPreferencesForm(request.POST or None, user=user, preferences=preferences)
    if request.method == "POST" and form.is_valid():
        actions.save_notification_preferences(
            user=user,
            language=form.cleaned_data["language"],
            digest_enabled=form.cleaned_data["digest_enabled"],
            digest_time=form.cleaned_data["digest_time"],
            deliveries={
                name.removeprefix("kind_"): value
                for name, value in form.cleaned_data.items()
                if name.startswith("kind_")
            },
        )
        messages.success(request, _("Vos préférences sont enregistrées."))
        return redirect("crm:notification_preferences")
    return render(request, "crm/notification_preferences.html", {"form": form})


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The link of every e-mail (RFC 8058): GET asks to confirm, POST (the mail client's
    one-click, or the confirm button) turns off that one preference. Public: the signed token
    is the proof; it changes nothing else."""
    read = mail.read_unsubscribe_token(token)
    person = User.objects.filter(pk=read[0], is_active=True).first() if read else None
    if person is None or read is None:
        return render(request, "crm/unsubscribe.html", {"invalid": True}, status=404)
    kind = read[1]
    label = (
        _("le récapitulatif du matin")
        if kind == mail.DIGEST
        else str(notifications.KINDS[kind].label)
    )
    if request.method == "POST":
        mail.unsubscribe(user=person, kind=kind)
        return render(request, "crm/unsubscribe.html", {"done": True, "label": label})
    return render(request, "crm/unsubscribe.html", {"label": label, "token": token})
