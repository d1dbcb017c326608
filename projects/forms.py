from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import (
    CONTACT_CHOICE_COLUMNS,
    CarreauFormMixin,
    CarreauModelForm,
    contact_choice_label,
    contact_mismatch_message,
    contacts_follow_organisation,
    picker,
)
from crm.models import Contact, Organisation, Role, User
from crm.uploads import DOCUMENT_KINDS, IMAGE_KINDS, CheckedFileField
from projects.models import (
    EXPECTING_PHASES,
    SECTION_FIELDS,
    Deliverable,
    FundingLine,
    Milestone,
    Phase,
    Project,
    ProjectMember,
    Specification,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class ProjectForm(CarreauModelForm):
    designers = forms.ModelMultipleChoiceField(
        label=_("Designers"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    lead = forms.ModelChoiceField(
        label=_("Chargé·e de mission référent·e"), queryset=User.objects.none(), required=False
    )
    holder_accounts = forms.ModelMultipleChoiceField(
        label=_("Comptes du porteur"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Ils voient ce projet et son cahier des charges émis, et l'approuvent. "
            "Tant qu'un compte est lié, le passage en phase 2 attend leur approbation."
        ),
    )

    fieldsets = [
        (_("Le projet"), ["title", "territory", "thematics", "need", "description"]),
        (_("Le porteur"), ["holder", "holder_contact", "holder_accounts"]),
        (_("Équipe"), ["lead", "designers"]),
        (_("Calendrier et budget"), ["start_date", "target_date", "budget"]),
    ]

    class Meta:
        model = Project
        fields = [
            "title",
            "holder",
            "holder_contact",
            "territory",
            "thematics",
            "need",
            "description",
            "start_date",
            "target_date",
            "budget",
        ]
        widgets = {
            "need": forms.Textarea(attrs={"rows": 4}),
            "description": forms.Textarea(attrs={"rows": 6}),
            "start_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "target_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "thematics": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        picker(self, "holder").queryset = Organisation.objects.visible_to(user).only("pk", "name")
        picker(self, "holder_contact").queryset = Contact.objects.visible_to(user).only(
            *CONTACT_CHOICE_COLUMNS
        )
        # Django reads it off the field; the stubs know it only as a method.
        picker(self, "holder_contact").label_from_instance = contact_choice_label  # type: ignore[method-assign,assignment]
        self.fields["holder"].searchable = True  # type: ignore[attr-defined]
        contacts_follow_organisation(self, organisation="holder", contacts="holder_contact")
        picker(self, "designers").queryset = User.objects.filter(
            groups__name=Role.DESIGNER, is_active=True
        ).order_by("last_name", "first_name")
        picker(self, "lead").queryset = User.objects.filter(
            groups__name=Role.STAFF, is_active=True
        ).order_by("last_name", "first_name")
        picker(self, "holder_accounts").queryset = User.objects.filter(
            groups__name=Role.HOLDER, is_active=True
        ).order_by("last_name", "first_name", "username")
        if self.instance.pk:
            members = list(self.instance.memberships.all())
            self.fields["holder_accounts"].initial = [
                m.user_id for m in members if m.role == ProjectMember.Role.HOLDER
            ]
            self.fields["designers"].initial = [
                m.user_id for m in members if m.role == ProjectMember.Role.DESIGNER
            ]
            lead = next((m.user_id for m in members if m.role == ProjectMember.Role.LEAD), None)
            self.fields["lead"].initial = lead

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Django's clean() hands back cleaned_data
        holder, contact = data.get("holder"), data.get("holder_contact")
        if holder and contact and contact.organisation_id != holder.pk:
            self.add_error("holder_contact", contact_mismatch_message([contact], holder))
        designers, lead = data.get("designers") or [], data.get("lead")
        if lead and lead in designers:
            self.add_error("lead", _("Une même personne ne peut pas être designer et référente."))
        return data


class FundingLineForm(CarreauModelForm):
    # A line left empty is no line: its fields are required only once it is started.
    required_css_class = ""

    class Meta:
        model = FundingLine
        fields = ["funder", "amount"]


FundingLineFormSet = forms.inlineformset_factory(
    Project,
    FundingLine,
    form=FundingLineForm,
    extra=2,
    can_delete=True,
    max_num=20,
    validate_max=True,
)


class DeliverableUploadForm(CarreauFormMixin, forms.Form):
    kind = forms.ChoiceField(label=_("Type de livrable"), choices=Deliverable.Kind.choices)
    title = forms.CharField(
        label=_("Titre"),
        max_length=200,
        help_text=_("Même titre qu'un livrable existant : une nouvelle version en est créée."),
    )
    file = CheckedFileField(
        label=_("Fichier"),
        allowed=IMAGE_KINDS | DOCUMENT_KINDS,
        help_text=_("Images (JPEG, PNG, WebP), PDF ou documents Office. 25 Mo au plus."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approuver")), ("changes", _("Demander des modifications"))]
    )
    comment = forms.CharField(
        label=_("Commentaire"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SpecificationForm(CarreauModelForm):
    """The draft's sections. `revision` is the one the user started from: saving over a newer
    one is refused rather than silently overwriting someone else's text."""

    revision = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=0,
        error_messages={
            key: _("Ce formulaire est incomplet : rechargez la page avant d'enregistrer.")
            for key in ("required", "invalid", "min_value")
        },
    )

    class Meta:
        model = Specification
        fields = SECTION_FIELDS
        widgets = {name: forms.Textarea(attrs={"rows": 5}) for name in SECTION_FIELDS}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["revision"].initial = self.instance.revision
        expected = self.instance.expected_kinds() if self.instance.pk else {}
        order = list(self.fields)
        for phase in EXPECTING_PHASES:
            name = expected_field(phase)
            self.fields[name] = forms.MultipleChoiceField(
                label=EXPECTED_LABELS[phase],
                choices=EXPECTABLE_KINDS,
                required=False,
                initial=expected.get(phase, []),
                widget=forms.CheckboxSelectMultiple,
            )
            # Beside the phase's own text: the text describes, the boxes say which kinds.
            order.insert(order.index(f"deliverables_{phase}") + 1, name)
        # Said once, under the first phase's boxes: it holds for the three.
        self.fields[expected_field(EXPECTING_PHASES[0])].help_text = _(
            "Dans chaque phase, un type coché dont aucun fichier n'est déposé s'affiche « à "
            "déposer » sur la page d'accueil des designers du projet."
        )
        self.order_fields(order)

    def expected(self) -> dict[str, list[str]]:
        """The ticked kinds, phase by phase (once the form is valid)."""
        return {
            phase: list(self.cleaned_data.get(expected_field(phase), []))
            for phase in EXPECTING_PHASES
        }


def expected_field(phase: str) -> str:
    return f"expected_{phase}"


# "Autre" says nothing anyone could check: it is not a kind a specification expects.
EXPECTABLE_KINDS = [
    (kind, label) for kind, label in Deliverable.Kind.choices if kind != Deliverable.Kind.OTHER
]
EXPECTED_LABELS: dict[str, StrOrPromise] = {
    Phase.WATCH: _("Types de livrables attendus — phase 1 (Veille)"),
    Phase.CONCEPT: _("Types de livrables attendus — phase 2 (Conceptualisation)"),
    Phase.IMPLEMENTATION: _("Types de livrables attendus — phase 3 (Mise en œuvre)"),
}


# A milestone outside these years is a typo (0226, 9999), not a plan.
MILESTONE_YEARS = (2000, 2100)


class MilestoneForm(CarreauModelForm):
    required_css_class = ""  # as for funding lines: an empty line is no milestone

    class Meta:
        model = Milestone
        fields = ["due_date", "label"]
        widgets = {"due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def clean_due_date(self) -> date:
        due: date = self.cleaned_data["due_date"]
        if not MILESTONE_YEARS[0] <= due.year <= MILESTONE_YEARS[1]:
            raise forms.ValidationError(
                _("Choisissez une date entre %(first)s et %(last)s.")
                % {"first": MILESTONE_YEARS[0], "last": MILESTONE_YEARS[1]}
            )
        return due


MilestoneFormSet = forms.inlineformset_factory(
    Specification,
    Milestone,
    form=MilestoneForm,
    extra=2,
    can_delete=True,
    max_num=40,
    validate_max=True,
)


class AnswerForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approuver")), ("return", _("Renvoyer avec un commentaire"))]
    )
    comment = forms.CharField(
        label=_("Commentaire"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
