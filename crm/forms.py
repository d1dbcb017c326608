from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, ClassVar

from django import forms
from django.db import models
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import TemplatesSetting
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.models import Contact, Interaction, Organisation, User
from crm.uploads import IMAGE_KINDS, CheckedFileField, UploadKind


def formfield(field: Any, **kwargs: Any) -> Any:
    # Django 6 makes https the default scheme of URL fields; people type "www.example.org".
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


# Primary keys are 64-bit integers: a bigger number posted as an id is no id at all.
MAX_ID = 2**63 - 1


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Refuses ids outside the database's integer range as invalid choices, before the
    `pk__in` query that would otherwise fail in the database (a 500)."""

    def _check_values(self, value: Any) -> Any:
        for pk in value:
            text = str(pk).strip()
            if text.lstrip("-").isdigit() and abs(int(text)) > MAX_ID:
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": pk},
                )
        return super()._check_values(value)


class CarreauFormRenderer(TemplatesSetting):
    """Every form field of the site is drawn by one template: label (required ones marked),
    its error, the input, and its help text under it."""

    field_template_name = "includes/forms/field.html"


# Django's empty choice, "---------", says nothing; these say what choosing nothing means.
DASHES = "---------"


def name_empty_choices(form: forms.BaseForm) -> None:
    """Replace the dashes of every select's empty choice with words: "Choisir…" where a
    choice is required, "Aucun" where none is fine."""
    for field in form.fields.values():
        empty = _("Choisir…") if field.required else _("— Aucun —")
        if isinstance(field, forms.ModelChoiceField) and not isinstance(
            field, forms.ModelMultipleChoiceField
        ):
            if field.empty_label == DASHES:
                field.empty_label = empty
        elif isinstance(field, forms.ChoiceField) and not isinstance(
            field, forms.MultipleChoiceField
        ):
            choices = list(field.choices)
            if choices and choices[0][0] in ("", None) and choices[0][1] == DASHES:
                field.choices = [("", empty), *choices[1:]]


class Section:
    """A fieldset of a form: a heading and its bound fields."""

    def __init__(self, title: Any, fields: list[forms.BoundField]) -> None:
        self.title = title
        self.fields = fields


class CarreauFormMixin:
    """What every form of the site shares: labels without the trailing colon (the layout puts
    them above their input), required fields marked, empty choices in words, and `fieldsets`
    (heading, field names) that `includes/_form_fields.html` draws; fields no fieldset names
    come last, under no heading."""

    required_css_class = "required"
    fieldsets: ClassVar[list[tuple[Any, list[str]]]] = []

    def shown_fields(self) -> list[forms.BoundField]:
        return self.visible_fields()  # type: ignore[attr-defined]

    def sections(self) -> list[Section]:
        shown = {field.name: field for field in self.shown_fields()}
        sections = []
        for title, names in self.fieldsets:
            fields = [shown.pop(name) for name in names if name in shown]
            if fields:
                sections.append(Section(title, fields))
        if shown:
            sections.append(Section("", list(shown.values())))
        return sections

    def has_required_fields(self) -> bool:
        return any(field.field.required for field in self.shown_fields())


class CarreauModelForm(CarreauFormMixin, forms.ModelForm):
    """A model form of the site (`CarreauFormMixin`); many-to-many choices refuse
    out-of-range ids cleanly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if type(field) is forms.ModelMultipleChoiceField:
                field.__class__ = BoundedModelMultipleChoiceField
        name_empty_choices(self)


def contact_choice_label(contact: Contact) -> str:
    """A contact in a picker, with the mark of an objection (RGPD art. 21) so that nobody picks
    them without seeing it."""
    if contact.objected_at is not None:
        return f"{contact.full_name} — {_('Ne pas contacter')}"
    return contact.full_name


# What a contact picker reads of each contact: its name and whether it objects.
CONTACT_CHOICE_COLUMNS = ("pk", "first_name", "last_name", "objected_at", "organisation_id")


class _ShownChoices(ModelChoiceIterator):
    """The options a picker shows, narrower than those it accepts: the field still validates
    against its whole queryset, so that a contact of another organisation is refused by the
    form's own words rather than as "not one of the choices"."""

    def __init__(self, field: forms.ModelChoiceField, queryset: models.QuerySet) -> None:
        super().__init__(field)
        self.queryset = queryset


def contacts_follow_organisation(form: forms.BaseForm, *, organisation: str, contacts: str) -> None:
    """Make the `contacts` picker list only the contacts of the organisation chosen in
    `organisation`: at once when one is known (posted, prefilled or saved), then again each
    time it changes (htmx asks `crm:contact_options`). Without JavaScript and before any
    organisation is chosen, every contact the person may see is listed, and the form's
    `clean()` refuses one of another organisation in words."""
    field = form.fields[contacts]
    multiple = isinstance(field, forms.ModelMultipleChoiceField)
    form.fields[organisation].widget.attrs.update(
        {
            "hx-get": reverse("crm:contact_options"),
            "hx-trigger": "change",
            "hx-target": f"#{form[contacts].auto_id}",
            "hx-swap": "innerHTML",
            "hx-vals": json.dumps(
                {"from": form.add_prefix(organisation), "multiple": "1" if multiple else "0"}
            ),
        }
    )
    field.dependent_on = form[organisation].auto_id
    chosen = form[organisation].value()
    if chosen is not None and str(chosen).isdigit() and int(chosen) <= MAX_ID:
        field.widget.choices = _ShownChoices(
            field, field.queryset.filter(organisation_id=int(chosen))
        )
        if not field.help_text:
            field.help_text = _("Les contacts de l'organisation choisie.")


def contact_mismatch_message(contacts: list[Contact], organisation: Organisation) -> str:
    """Why a contact of another organisation is refused, naming them."""
    return ngettext(
        "%(names)s ne fait pas partie de %(organisation)s : choisissez un contact de cette "
        "organisation, ou changez d'organisation.",
        "%(names)s ne font pas partie de %(organisation)s : choisissez des contacts de cette "
        "organisation, ou changez d'organisation.",
        len(contacts),
    ) % {
        "names": join_names([contact.full_name for contact in contacts]),
        "organisation": organisation.name,
    }


def join_names(names: list[str]) -> str:
    """ "A", "A et B", "A, B et C": a list of names as a sentence says it."""
    names = [name for name in names if name]
    if len(names) <= 1:
        return "".join(names)
    return _("%(first)s et %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}


class ObjectionConfirmationMixin(forms.Form):
    """Two fields that a form asks for when what it records reaches out to someone who objects
    to being contacted: a confirmation and its reason (the person called us, asked for it...).

    The form calls `require_objection_confirmation(contacts)` from `clean()` with the objecting
    people concerned; `objection_contacts` then names them for the page, which shows the two
    fields (`shown_fields`) only when they are asked for. Without JavaScript, the first post
    comes back with the question; the second, confirmed, saves."""

    objection_confirmed = forms.BooleanField(
        label=_("Je confirme : contacter cette personne malgré son opposition"), required=False
    )
    objection_reason = forms.CharField(
        label=_("Pourquoi ?"),
        required=False,
        max_length=500,
        help_text=_("Par exemple : elle nous a appelés, elle a demandé ce document."),
    )

    OBJECTION_FIELDS = ("objection_confirmed", "objection_reason")
    objection_contacts: list[Contact]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.objection_contacts = []

    def ask_objection_confirmation(self, contacts: list[Contact]) -> None:
        """Show the question from the start (the page is about an objecting person)."""
        self.objection_contacts = [c for c in contacts if c.objects_to_contact]

    def require_objection_confirmation(self, contacts: list[Contact]) -> None:
        objecting = [contact for contact in contacts if contact.objects_to_contact]
        self.objection_contacts = objecting
        if not objecting:
            return
        data = self.cleaned_data
        if not data.get("objection_confirmed") or not (data.get("objection_reason") or "").strip():
            names = ", ".join(contact.full_name for contact in objecting)
            self.add_error(
                "objection_reason",
                _(
                    "%(names)s s'oppose à être contacté·e : cochez la confirmation et dites "
                    "pourquoi, ou choisissez quelqu'un d'autre."
                )
                % {"names": names},
            )

    @property
    def objection_reason_given(self) -> str:
        """The reason, once the form is valid, only when it was asked for."""
        if not self.objection_contacts:
            return ""
        return (self.cleaned_data.get("objection_reason") or "").strip()

    def shown_fields(self) -> list[forms.BoundField]:
        """The visible fields, the two objection fields only when they are asked for."""
        return [
            field
            for field in self.visible_fields()
            if field.name not in self.OBJECTION_FIELDS or self.objection_contacts
        ]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class OrganisationForm(CarreauModelForm):
    # The stored logo is set by `actions.save_organisation` from the checked, cleaned image.
    new_logo = CheckedFileField(
        label=_("Logo"),
        allowed=IMAGE_KINDS,
        required=False,
        help_text=_("JPEG, PNG ou WebP. Les métadonnées (EXIF, GPS) sont retirées."),
    )
    remove_logo = forms.BooleanField(label=_("Retirer le logo actuel"), required=False)

    fieldsets = [
        (_("Identité"), ["name", "kind", "sector", "siret", "territory"]),
        (_("Coordonnées"), ["address", "postcode", "city", "website", "email", "phone"]),
        (_("Logo et notes"), ["new_logo", "remove_logo", "notes"]),
    ]

    class Meta:
        model = Organisation
        formfield_callback = formfield
        fields = [
            "name",
            "kind",
            "sector",
            "siret",
            "territory",
            "address",
            "postcode",
            "city",
            "website",
            "email",
            "phone",
            "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Accept "123 456 789 00012": the 14-digit and Luhn checks run on the cleaned value.
        siret = self.fields["siret"]
        siret.max_length = 20
        siret.validators = []
        siret.widget.attrs.update(maxlength="20", inputmode="numeric", autocomplete="off")
        if not self.instance.logo:
            del self.fields["remove_logo"]

    def clean_siret(self) -> str:
        # People paste SIRETs as "123 456 789 00012": accept the spaces, store the digits.
        return "".join(self.cleaned_data["siret"].split())


class ContactForm(CarreauModelForm):
    fieldsets = [
        (_("Personne"), ["organisation", "first_name", "last_name", "role"]),
        (_("Coordonnées"), ["email", "phone"]),
        (_("Données personnelles"), ["legal_basis", "consent_given_at", "notes"]),
    ]

    class Meta:
        model = Contact
        fields = [
            "organisation",
            "first_name",
            "last_name",
            "role",
            "email",
            "phone",
            "legal_basis",
            "consent_given_at",
            "notes",
        ]
        widgets = {
            "consent_given_at": DateTimeLocalInput(),
            "notes": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only organisations the user may see can be chosen; a tampered id is "not a valid choice".
        self.fields["organisation"].queryset = Organisation.objects.visible_to(user).only(
            "pk", "name"
        )


class InteractionForm(ObjectionConfirmationMixin, CarreauModelForm):
    class Meta:
        model = Interaction
        fields = ["kind", "occurred_at", "contact", "summary"]
        widgets = {
            "occurred_at": DateTimeLocalInput(),
            "summary": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        # Its own ids: it shares record pages with other forms that have a "kind" or a
        # "contact" (the deliverable upload on a project), and ids must be unique on a page.
        kwargs.setdefault("auto_id", "interaction_%s")
        super().__init__(*args, **kwargs)
        self.instance.organisation = organisation
        self.fields["contact"].queryset = organisation.contacts.only(*CONTACT_CHOICE_COLUMNS)
        self.fields["contact"].label_from_instance = contact_choice_label
        self.fields["occurred_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        self.fields["kind"].choices = [("", _("Choisir…")), *Interaction.Kind.choices]
        self.fields["contact"].empty_label = _("Aucun contact en particulier")
        initial = self.initial.get("contact")
        if isinstance(initial, Contact) and not self.is_bound:
            self.ask_objection_confirmation([initial])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        contact = data.get("contact")
        if contact is not None and data.get("kind") in Interaction.CONTACTING:
            self.require_objection_confirmation([contact])
        elif isinstance(self.initial.get("contact"), Contact):
            self.ask_objection_confirmation([self.initial["contact"]])
        return data

    def clean_occurred_at(self) -> Any:
        occurred_at = self.cleaned_data["occurred_at"]
        # A little slack for clocks; an interaction is something that happened.
        if occurred_at > timezone.now() + timedelta(hours=1):
            raise forms.ValidationError(_("Une interaction ne peut pas être datée dans le futur."))
        return occurred_at


class ImportUploadForm(forms.Form):
    """Step 1 of an import: what the file holds, and the file."""

    kind = forms.ChoiceField(label=_("Le fichier contient des"))
    # Checked as every upload is: a complete workbook, its XML well formed, within bounds.
    file = CheckedFileField(
        label=_("Classeur Excel (.xlsx)"),
        allowed={UploadKind.XLSX},
        help_text=_("La première ligne donne les noms des colonnes."),
        # Said in the import's own words rather than as a list of accepted types.
        error_messages={"unsupported_type": _("Ce fichier n'est pas un classeur Excel (.xlsx).")},
    )

    def __init__(self, *args: Any, kinds: list[tuple[str, Any]], **kwargs: Any) -> None:
        """`kinds`: (key, label) of what the person may import."""
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds


class ImportMappingForm(forms.Form):
    """Step 2: which field each column goes to (recognised names come preselected)."""

    def __init__(
        self, *args: Any, headers: list[str], targets: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        choices = [("", _("— ne pas importer —")), *targets]
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header or _("Colonne %(number)s sans titre") % {"number": index + 1},
                choices=choices,
                required=False,
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        chosen = [value for value in data.values() if value]
        doubles = sorted({value for value in chosen if chosen.count(value) > 1})
        if doubles:
            raise forms.ValidationError(
                _("Chaque champ ne peut recevoir qu'une colonne : %(fields)s.")
                % {"fields": ", ".join(doubles)}
            )
        return data

    def mapping(self) -> dict[int, str]:
        return {
            int(name.removeprefix("column_")): value
            for name, value in self.cleaned_data.items()
            if value
        }


class TransitionForm(forms.Form):
    """A move on a record's page or on a board (projects and leads). `state` is the step the
    user saw: if the record has moved since, the move is refused rather than applied to
    something else."""

    name = forms.CharField(max_length=40, required=False)
    # The board's drag and drop names the column (the step) rather than the transition.
    target = forms.CharField(max_length=20, required=False)
    state = forms.CharField(max_length=20)
    comment = forms.CharField(
        label=_("Commentaire"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("name") and not data.get("target"):
            raise forms.ValidationError(_("Action incomplète."))
        return data
