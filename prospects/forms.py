from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from crm.forms import (
    CONTACT_CHOICE_COLUMNS,
    CarreauModelForm,
    ObjectionConfirmationMixin,
    choice,
    contact_choice_label,
    contact_mismatch_message,
    contacts_follow_organisation,
    picker,
)
from crm.models import Contact, Organisation, Role, User
from crm.uploads import IMAGE_KINDS, CheckedFileField
from projects.models import Project
from prospects.models import Lead, PromotionEvent, Site

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def prospect_people() -> QuerySet[User]:
    """The people who may own a lead or have one shared with them: officers and staff."""
    return (
        User.objects.filter(groups__name__in=[Role.OFFICER, Role.STAFF], is_active=True)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


class LeadForm(ObjectionConfirmationMixin, CarreauModelForm):
    # The version the form was opened at: a save over a newer version is refused.
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    fieldsets = [
        (_("La piste"), ["title", "sector", "territory", "target_sites", "project"]),
        (_("Interlocuteurs"), ["organisation", "contacts"]),
        (
            _("Origine et montants"),
            [
                "source",
                "promotion_event",
                "origin_market",
                "estimated_investment",
                "estimated_jobs",
                "probability",
            ],
        ),
        (
            _("Suivi"),
            ["owner", "shared_with", "confidential", "next_action", "next_action_due", "notes"],
        ),
    ]

    class Meta:
        model = Lead
        fields = [
            "title",
            "organisation",
            "contacts",
            "sector",
            "territory",
            "target_sites",
            "project",
            "estimated_investment",
            "estimated_jobs",
            "source",
            "promotion_event",
            "origin_market",
            "owner",
            "shared_with",
            "confidential",
            "next_action",
            "next_action_due",
            "probability",
            "notes",
        ]
        widgets = {
            "next_action_due": DATE_INPUT,
            "notes": forms.Textarea(attrs={"rows": 4}),
            "target_sites": forms.CheckboxSelectMultiple,
            "shared_with": forms.CheckboxSelectMultiple,
            "contacts": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A lead is about an investor or an operator (DESIGN §4): the choice lists stay short.
        kinds = [Organisation.Kind.INVESTOR, Organisation.Kind.OPERATOR]
        picker(self, "organisation").queryset = (
            Organisation.objects.visible_to(user).filter(kind__in=kinds).only("pk", "name")
        )
        picker(self, "contacts").queryset = (
            Contact.objects.visible_to(user)
            .filter(organisation__kind__in=kinds)
            .only(*CONTACT_CHOICE_COLUMNS)
        )
        # Django reads it off the field; the stubs know it only as a method.
        picker(self, "contacts").label_from_instance = contact_choice_label  # type: ignore[method-assign,assignment]
        contacts_follow_organisation(self, organisation="organisation", contacts="contacts")
        self.fields["organisation"].searchable = True  # type: ignore[attr-defined]
        self.fields["target_sites"].searchable = True  # type: ignore[attr-defined]
        picker(self, "target_sites").queryset = Site.objects.visible_to(user).only("pk", "name")
        picker(self, "project").queryset = Project.objects.visible_to(user).only(
            "pk", "reference", "title"
        )
        picker(self, "promotion_event").queryset = PromotionEvent.objects.visible_to(user)
        people = prospect_people()
        picker(self, "owner").queryset = people
        picker(self, "shared_with").queryset = people
        if not self.instance.pk and not self.initial.get("owner"):
            # The person creating the lead follows it, unless they choose someone else (the
            # blank instance's empty owner would otherwise win over the field's default).
            self.initial["owner"] = user.pk
        self.fields["version"].initial = self.instance.version if self.instance.pk else None
        for name in ("estimated_investment", "estimated_jobs", "probability"):
            self.fields[name].widget.attrs["min"] = "0"

    def clean_version(self) -> int | None:
        version = self.cleaned_data.get("version")
        if self.instance.pk and version is None:
            raise forms.ValidationError(
                _("Formulaire incomplet : rechargez la page de la piste."), code="version"
            )
        return version

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Django's clean() hands back cleaned_data
        organisation = data.get("organisation")
        contacts = data.get("contacts") or []
        strangers = [c for c in contacts if organisation and c.organisation_id != organisation.pk]
        if organisation is not None and strangers:
            self.add_error("contacts", contact_mismatch_message(strangers, organisation))
        # Adding someone who objects to being contacted to a lead is a decision to prospect
        # them: it is confirmed, with its reason. Those already on the lead are not asked again.
        current = (
            set(self.instance.contacts.values_list("pk", flat=True)) if self.instance.pk else set()
        )
        self.require_objection_confirmation([c for c in contacts if c.pk not in current])
        source, event = data.get("source"), data.get("promotion_event")
        if source == Lead.Source.PROMOTION_EVENT and not event:
            self.add_error(
                "promotion_event", _("Indiquez l'événement de promotion qui a amené la piste.")
            )
        if event and source != Lead.Source.PROMOTION_EVENT:
            self.add_error(
                "promotion_event",
                _("Un événement ne s'indique que pour la source « salon ou événement »."),
            )
        return data


class SiteForm(CarreauModelForm):
    fieldsets = [
        (_("Le site"), ["name", "kind", "commune", "territory", "surface_m2"]),
        (
            _("Propriétaire et disponibilité"),
            ["owner", "owner_organisation", "availability", "available_from"],
        ),
        (_("Présentation"), ["description", "description_en", "projects"]),
    ]

    class Meta:
        model = Site
        fields = [
            "name",
            "kind",
            "commune",
            "territory",
            "surface_m2",
            "owner",
            "owner_kind",
            "owner_organisation",
            "availability",
            "available_from",
            "latitude",
            "longitude",
            "road_access",
            "rail_access",
            "contact_officer",
            "description",
            "description_en",
            "projects",
        ]
        widgets = {
            "available_from": DATE_INPUT,
            "description": forms.Textarea(attrs={"rows": 5}),
            "description_en": forms.Textarea(attrs={"rows": 5}),
            "projects": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        picker(self, "projects").queryset = Project.objects.visible_to(user).only(
            "pk", "reference", "title"
        )
        picker(self, "contact_officer").queryset = prospect_people()
        for name in ("latitude", "longitude"):
            self.fields[name].widget.attrs.update(step="0.00001", inputmode="decimal")
        choice(self, "owner_kind").choices = [("", _("Non précisé")), *Site.OwnerKind.choices]

        picker(self, "owner_organisation").queryset = Organisation.objects.visible_to(user).only(
            "pk", "name"
        )
        self.fields["owner_organisation"].searchable = True  # type: ignore[attr-defined]


class PromotionEventForm(CarreauModelForm):
    class Meta:
        model = PromotionEvent
        fields = ["name", "kind", "starts_on", "ends_on", "city", "country", "description"]
        widgets = {
            "starts_on": DATE_INPUT,
            "ends_on": DATE_INPUT,
            "description": forms.Textarea(attrs={"rows": 4}),
        }
        help_texts = {
            "country": _("Code du pays en deux lettres (FR, BE, GB, JP…)."),
            "ends_on": _("Laisser vide pour un événement d'un jour."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "France" typed in full gets the message below, not a bare length error.
        country = self.fields["country"]
        assert isinstance(country, forms.CharField), "the model's country is a CharField"
        country.max_length = None
        country.validators = []
        country.widget.attrs.pop("maxlength", None)

    def clean_country(self) -> str:
        country: str = self.cleaned_data["country"].strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise forms.ValidationError(
                _("Indiquez le pays par son code en deux lettres, par exemple FR ou BE."),
                code="country",
            )
        return country

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Django's clean() hands back cleaned_data
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("La fin ne peut pas précéder le début."))
        return data


class SitePhotoForm(forms.Form):
    image = CheckedFileField(
        label=_("Photo"),
        allowed=IMAGE_KINDS,
        help_text=_("JPEG, PNG ou WebP. Les métadonnées (EXIF, GPS) sont retirées."),
    )
    caption = forms.CharField(label=_("Légende"), max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SheetLanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Langue de la fiche"), choices=[("fr", _("Français")), ("en", _("Anglais"))]
    )
