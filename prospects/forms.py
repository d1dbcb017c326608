from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import (
    CONTACT_CHOICE_COLUMNS,
    CarreauModelForm,
    ObjectionConfirmationMixin,
    contact_choice_label,
    contact_mismatch_message,
    contacts_follow_organisation,
)
from crm.models import Contact, Organisation, Role, User
from crm.uploads import IMAGE_KINDS, CheckedFileField
from projects.models import Project
from prospects.models import Lead, PromotionEvent, Site

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def prospect_people() -> Any:
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
        self.fields["organisation"].queryset = (
            Organisation.objects.visible_to(user).filter(kind__in=kinds).only("pk", "name")
        )
        self.fields["contacts"].queryset = (
            Contact.objects.visible_to(user)
            .filter(organisation__kind__in=kinds)
            .only(*CONTACT_CHOICE_COLUMNS)
        )
        self.fields["contacts"].label_from_instance = contact_choice_label
        contacts_follow_organisation(self, organisation="organisation", contacts="contacts")
        self.fields["organisation"].searchable = True
        self.fields["target_sites"].searchable = True
        self.fields["target_sites"].queryset = Site.objects.visible_to(user).only("pk", "name")
        self.fields["project"].queryset = Project.objects.visible_to(user).only(
            "pk", "reference", "title"
        )
        self.fields["promotion_event"].queryset = PromotionEvent.objects.visible_to(user)
        people = prospect_people()
        self.fields["owner"].queryset = people
        self.fields["shared_with"].queryset = people
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
        organisation = data.get("organisation")
        contacts = data.get("contacts") or []
        strangers = [c for c in contacts if organisation and c.organisation_id != organisation.pk]
        if strangers:
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
            "owner_organisation",
            "availability",
            "available_from",
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
        self.fields["projects"].queryset = Project.objects.visible_to(user).only(
            "pk", "reference", "title"
        )
        self.fields["owner_organisation"].queryset = Organisation.objects.visible_to(user).only(
            "pk", "name"
        )
        self.fields["owner_organisation"].searchable = True


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
