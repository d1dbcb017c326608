from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, ClassVar, cast

from django import forms
from django.db import models
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import TemplatesSetting
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_filters.fields import ChoiceIteratorMixin

from crm.models import Contact, Interaction, Organisation, User
from crm.uploads import IMAGE_KINDS, CheckedFileField, UploadKind


def formfield(field: Any, **kwargs: Any) -> Any:
    # Django 6 makes https the default scheme of URL fields; people type "www.example.org".
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


# Primary keys are 64-bit integers: a bigger number posted as an id is no id at all.
MAX_ID = 2**63 - 1


def picker(form: forms.BaseForm, name: str) -> forms.ModelChoiceField[Any]:
    """`form`'s field `name`, a choice of records, so that its queryset can be set."""
    field = form.fields[name]
    if not isinstance(field, forms.ModelChoiceField):
        raise TypeError(f"{type(form).__name__}.{name} is not a choice of records")
    return field


def choice(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    """`form`'s field `name`, a choice of values, so that its choices can be set."""
    field = form.fields[name]
    if not isinstance(field, forms.ChoiceField):
        raise TypeError(f"{type(form).__name__}.{name} is not a choice")
    return field


# Django's form classes are generic only in the stubs: a base class cannot be subscripted.
class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
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
        return super()._check_values(value)  # type: ignore[misc]  # private, not in the stubs


class OneQueryChoices(forms.models.ModelChoiceIterator):
    """A select's records (territories, contacts, people, events...) read with one plain query.

    Django reads them through `QuerySet.iterator()`, which on PostgreSQL opens a server-side
    cursor: four round trips (DECLARE, two FETCH, CLOSE) for a few dozen rows, 2.5 ms more per
    select on the bench machine; every record page has one (the interaction form's contacts).
    The empty option, and a filter's null option, come first, as in Django's own iterator."""

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        # Only a filter's field (django-filter's mixin) has a null option.
        if isinstance(self.field, ChoiceIteratorMixin) and self.field.null_label is not None:
            yield (self.field.null_value, self.field.null_label)
        for obj in self.queryset.all():
            yield self.choice(obj)


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
            # Django normalises choices when they are set: the getter gives (value, label)
            # pairs, though the stubs type it as whatever the setter accepts.
            choices = list(cast("Iterable[tuple[Any, Any]]", field.choices))
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
        # A mixin of forms: every class that uses it is a `BaseForm`.
        assert isinstance(self, forms.BaseForm)
        return self.visible_fields()

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


class CarreauModelForm(CarreauFormMixin, forms.ModelForm):  # type: ignore[type-arg]  # (as above)
    """A model form of the site (`CarreauFormMixin`); many-to-many choices refuse
    out-of-range ids cleanly; records to choose from cost one query each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if type(field) is forms.ModelMultipleChoiceField:
                field.__class__ = BoundedModelMultipleChoiceField
            if isinstance(field, forms.ModelChoiceField):
                field.iterator = OneQueryChoices
                field.widget.choices = field.choices  # the widget holds its own iterator
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

    def __init__(self, field: forms.ModelChoiceField[Any], queryset: models.QuerySet[Any]) -> None:
        super().__init__(field)
        self.queryset = queryset


def contacts_follow_organisation(form: forms.BaseForm, *, organisation: str, contacts: str) -> None:
    """Make the `contacts` picker list only the contacts of the organisation chosen in
    `organisation`: at once when one is known (posted, prefilled or saved), then again each
    time it changes (htmx asks `crm:contact_options`). Without JavaScript and before any
    organisation is chosen, every contact the person may see is listed, and the form's
    `clean()` refuses one of another organisation in words."""
    field = picker(form, contacts)
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
    # Read by the field's template; Django's fields have no such attribute of their own.
    field.dependent_on = form[organisation].auto_id  # type: ignore[attr-defined]
    chosen = form[organisation].value()
    if chosen is not None and str(chosen).isdigit() and int(chosen) <= MAX_ID:
        assert field.queryset is not None, "a contact picker always has its contacts"
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
        assert isinstance(siret, forms.CharField)  # the model's CharField
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
        picker(self, "organisation").queryset = Organisation.objects.visible_to(user).only(
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
        picker(self, "contact").queryset = organisation.contacts.only(*CONTACT_CHOICE_COLUMNS)
        # Django reads it off the field; the stubs know it only as a method.
        picker(self, "contact").label_from_instance = contact_choice_label  # type: ignore[method-assign,assignment]
        self.fields["occurred_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        choice(self, "kind").choices = [("", _("Choisir…")), *Interaction.Kind.choices]
        picker(self, "contact").empty_label = _("Aucun contact en particulier")
        initial = self.initial.get("contact")
        if isinstance(initial, Contact) and not self.is_bound:
            self.ask_objection_confirmation([initial])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Django's clean() hands back cleaned_data
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
        choice(self, "kind").choices = kinds


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
        assert data is not None  # Django's clean() hands back cleaned_data
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
        assert data is not None  # Django's clean() hands back cleaned_data
        if not data.get("name") and not data.get("target"):
            raise forms.ValidationError(_("Action incomplète."))
        return data


class NotificationPreferencesForm(forms.Form):
    """How a person hears of each kind of event beside the bell, their language, and the
    morning digest. One field per registered kind of event, named `kind_<key>`."""

    language = forms.ChoiceField(label=_("Langue des e-mails"), required=False)
    digest_enabled = forms.BooleanField(
        label=_("Recevoir le récapitulatif du matin"), required=False
    )
    digest_time = forms.TimeField(
        label=_("Heure du récapitulatif"),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Heure de Paris."),
    )

    def __init__(self, *args: Any, user: User, preferences: dict[str, str], **kwargs: Any) -> None:
        from django.conf import settings

        from crm import notifications
        from crm.models import Delivery

        kwargs.setdefault(
            "initial",
            {
                "language": user.language,
                "digest_enabled": user.digest_enabled,
                "digest_time": user.digest_time,
            },
        )
        super().__init__(*args, **kwargs)
        choice(self, "language").choices = [
            ("", _("Celle du site (français)")),
            *settings.LANGUAGES,
        ]
        for key, kind in notifications.KINDS.items():
            self.fields[f"kind_{key}"] = forms.ChoiceField(
                label=kind.label,
                choices=Delivery.choices,
                widget=forms.RadioSelect,
                initial=preferences.get(key, kind.default_delivery),
            )

    def kind_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("kind_")]

    def other_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith("kind_")]
