"""Factories for test data. `fixtures/` holds demo data, never test data."""

from __future__ import annotations

import itertools

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from crm.models import Contact, Interaction, Organisation, Role, Territory, Thematic, User
from projects.models import Project
from prospects.models import Lead, PromotionEvent, Site

PASSWORD = "carreau-test-password"


def siret_with_key(prefix: str) -> str:
    """A valid SIRET: 13 digits of `prefix` (zero-padded) and the Luhn key that completes them."""
    body = prefix.zfill(13)[:13]
    for key in range(10):
        candidate = f"{body}{key}"
        total = 0
        for index, digit in enumerate(reversed(candidate)):
            number = int(digit) * (2 if index % 2 else 1)
            total += number - 9 if number > 9 else number
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


# What factories do once the record is built: functions of the record (as factory_boy calls
# them), so that they are typed as the model they receive.


def _put_in_role(user: User, create: bool, extracted: Role | str | None, **kwargs: object) -> None:
    if create and extracted:
        user.groups.add(Group.objects.get(name=str(extracted)))
        if str(extracted) == Role.STAFF:
            user.is_staff = True
            user.save(update_fields=["is_staff"])


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="fr_FR")
    last_name = factory.Faker("last_name", locale="fr_FR")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)

    role = factory.PostGeneration(_put_in_role)


class TerritoryFactory(factory.django.DjangoModelFactory[Territory]):
    class Meta:
        model = Territory
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Territoire {n}")
    slug = factory.Sequence(lambda n: f"territoire-{n}")


class ThematicFactory(factory.django.DjangoModelFactory[Thematic]):
    class Meta:
        model = Thematic
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Thématique {n}")
    slug = factory.Sequence(lambda n: f"thematique-{n}")


class OrganisationFactory(factory.django.DjangoModelFactory[Organisation]):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = Organisation.Kind.BUSINESS
    sector = Organisation.Sector.PRIVATE
    siret = factory.Sequence(lambda n: siret_with_key(str(100_000 + n)))
    city = "Lens"
    territory = factory.SubFactory(TerritoryFactory)


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    organisation = factory.SubFactory(OrganisationFactory)
    first_name = factory.Faker("first_name", locale="fr_FR")
    last_name = factory.Sequence(lambda n: f"Nom{n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    role = "Gérant·e"


class InteractionFactory(factory.django.DjangoModelFactory[Interaction]):
    class Meta:
        model = Interaction

    kind = Interaction.Kind.CALL
    occurred_at = factory.LazyFunction(timezone.now)
    summary = factory.Sequence(lambda n: f"Échange numéro {n}")
    author = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    contact = None


# Projects ------------------------------------------------------------------------------------


def _add_designers(
    project: Project, create: bool, extracted: list[User] | None, **kwargs: object
) -> None:
    from projects.models import ProjectMember

    for user in extracted or []:
        ProjectMember.objects.create(project=project, user=user, role=ProjectMember.Role.DESIGNER)


class ProjectFactory(factory.django.DjangoModelFactory[Project]):
    class Meta:
        model = "projects.Project"
        skip_postgeneration_save = True

    reference = factory.Sequence(lambda n: f"DS-2026-{n + 1:03d}")
    title = factory.Sequence(lambda n: f"Projet {n}")
    holder = factory.SubFactory(OrganisationFactory)
    territory = factory.SubFactory(TerritoryFactory)
    need = "Créer une offre d'hébergement insolite dans d'anciens corons."

    designers = factory.PostGeneration(_add_designers)


_deliverable_numbers = itertools.count(1)


def approved_deliverable(project, kind: str, *, by: User | None = None):
    """A deliverable of `kind` whose only version is approved (files stay in memory)."""
    from django.core.files.base import ContentFile

    from projects.models import Deliverable, DeliverableVersion

    author = by or UserFactory()
    deliverable = Deliverable.objects.create(
        project=project,
        kind=kind,
        title=f"{kind} de test {next(_deliverable_numbers)}",
        created_by=author,
    )
    version = DeliverableVersion(
        deliverable=deliverable,
        number=1,
        original_name="planche.pdf",
        content_type="application/pdf",
        size=8,
        uploaded_by=author,
        review_state=DeliverableVersion.Review.APPROVED,
    )
    version.file.save("test.pdf", ContentFile(b"%PDF-1.4"), save=False)
    version.save()
    return deliverable


def issued_specification(project, *, approval: str = "pending", by: User | None = None):
    """An issued version of the project's specification, without rendering a PDF (the
    rendering has its own tests): enough for the gate and the pages that list versions."""
    import hashlib

    from django.core.files.base import ContentFile

    from projects.models import Specification, SpecificationVersion

    specification, _created = Specification.objects.get_or_create(project=project)
    number = specification.versions.count() + 1
    data = f"%PDF-1.7 version {number} of {project.pk}".encode()
    version = SpecificationVersion(
        specification=specification,
        number=number,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        page_count=1,
        language="fr",
        content={"number": number},
        issued_by=by or UserFactory(role=Role.STAFF),
        approval=approval,
    )
    version.file.save(f"spec-{project.pk}-v{number}.pdf", ContentFile(data), save=False)
    version.save()
    return version


# Prospects -----------------------------------------------------------------------------------


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = "prospects.Site"

    name = factory.Sequence(lambda n: f"Site {n}")
    kind = "pit_site"
    commune = "Loos-en-Gohelle"
    territory = factory.SubFactory(TerritoryFactory)
    surface_m2 = 12_000


class PromotionEventFactory(factory.django.DjangoModelFactory[PromotionEvent]):
    class Meta:
        model = "prospects.PromotionEvent"

    name = factory.Sequence(lambda n: f"Salon {n}")
    kind = "trade_show"
    starts_on = factory.LazyFunction(lambda: timezone.localdate())


def _share_with(lead: Lead, create: bool, extracted: list[User] | None, **kwargs: object) -> None:
    if create and extracted:
        lead.shared_with.set(extracted)


def _target_sites(lead: Lead, create: bool, extracted: list[Site] | None, **kwargs: object) -> None:
    if create and extracted:
        lead.target_sites.set(extracted)


class LeadFactory(factory.django.DjangoModelFactory[Lead]):
    """A lead owned by `owner` (an officer made on the fly when not given)."""

    class Meta:
        model = "prospects.Lead"
        skip_postgeneration_save = True

    reference = factory.Sequence(lambda n: f"PI-2000-{n:04d}")
    title = factory.Sequence(lambda n: f"Piste {n}")
    organisation = factory.SubFactory(OrganisationFactory, kind=Organisation.Kind.INVESTOR)
    owner = factory.SubFactory(UserFactory, role=Role.OFFICER)
    sector = "hotel"
    territory = factory.SubFactory(TerritoryFactory)
    source = "network"
    origin_market = "BE"

    shared_with = factory.PostGeneration(_share_with)
    target_sites = factory.PostGeneration(_target_sites)
