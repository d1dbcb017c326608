"""Random and hostile input posted to every form (DESIGN §8): no request answers 500, and a
refused form writes nothing.

Each form's field names are read from its page, so a new field is fuzzed without editing this
file. Every example runs in a savepoint rolled back afterwards.
"""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as settings_module
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from crm.models import User
from tests.factories import ContactFactory, LeadFactory, ProjectFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    "",
    " ",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "\u202eevil",
    "😀" * 50,
    "x" * 5000,
    "-1",
    "0",
    "9" * 40,
    "1e308",
    "NaN",
    "2026-02-30",
    "31/12/2026",
    "null",
    "true",
    "https://example.org/",
    "javascript:alert(1)",
    "a\x00b",
]
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')
IGNORED_FIELDS = {"csrfmiddlewaretoken", "next"}


def field_names(client: Client, url: str) -> list[str]:
    page = client.get(url)
    assert page.status_code == 200
    return sorted(set(FIELD.findall(page.content.decode())) - IGNORED_FIELDS)


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for label in ("crm", "projects", "prospects")
        for model in apps.get_app_config(label).get_models()
    }


FORMS = {
    "project": lambda ids: reverse("projects:project_create"),
    "project_edit": lambda ids: reverse("projects:project_edit", args=[ids["project"]]),
    "organisation": lambda ids: reverse("crm:organisation_create"),
    "contact": lambda ids: reverse("crm:contact_create"),
    "lead": lambda ids: reverse("prospects:lead_create"),
    "site": lambda ids: reverse("prospects:site_create"),
    "specification": lambda ids: reverse("projects:specification_edit", args=[ids["project"]]),
    "interaction": lambda ids: reverse("crm:contact_log_interaction", args=[ids["contact"]]),
    "upload": lambda ids: reverse("projects:deliverable_upload", args=[ids["project"]]),
}


def form_params() -> list[Any]:
    return [pytest.param(name) for name in sorted(FORMS)]


def test_an_out_of_range_id_is_refused_not_a_500(staff: User) -> None:
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    before = row_counts()

    response = client.post(reverse("prospects:lead_create"), {"contacts": "9" * 40})

    # The form comes back with its errors (400), as for any refused choice.
    assert response.status_code == 400
    assert f"{'9' * 40} n’en fait pas partie" in response.content.decode()
    assert row_counts() == before


def open_form(form: str, staff: User) -> tuple[Client, str, list[str]]:
    """A signed-in client, the form's address (on a project and contact made for it) and the
    names of the fields its page shows."""
    project = ProjectFactory(state="listen")
    contact = ContactFactory(organisation=project.holder)
    url = FORMS[form]({"project": project.pk, "contact": contact.pk})
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    return client, url, field_names(client, url)


@pytest.mark.parametrize("form", form_params())
def test_hostile_input_never_breaks_a_form(form: str, staff: User) -> None:
    client, url, names = open_form(form, staff)
    before = row_counts()

    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        # Fixed examples: the suite stays reproducible; raise max_examples locally to hunt.
        derandomize=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.fixed_dictionaries({name: VALUES for name in names}))
    def post(data: dict[str, Any]) -> None:
        with transaction.atomic():
            response = client.post(url, data)
            assert response.status_code < 500
            if response.status_code != 302:
                # Refused: the form answers with its errors and nothing is written.
                assert response.status_code in (200, 400)
                assert row_counts() == before
            transaction.set_rollback(True)

    post()


# Return addresses: what the transition forms, the board's moves and the language switch send
# back after a POST. Each must end on a path of this site (or the form's default), never a 500.
HOSTILE_RETURN_ADDRESSES = [
    "projects:project_board",  # a view name: redirect() would try to reverse it
    "abc",
    "a\x00b",
    "/projects/\x00",
    "/\u202eevil/",
    "/caf\u00e9/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/" + "x" * 5000,
    " /projects/",
    "",
]


def return_address_endpoints(project_pk: int, lead_pk: int, state: dict[str, str]) -> list[Any]:
    return [
        (
            reverse("projects:project_transition", args=[project_pk]),
            {"name": "advance", "state": state["project"]},
        ),
        (
            reverse("prospects:lead_transition", args=[lead_pk]),
            {"name": "contact", "state": state["lead"]},
        ),
        (reverse("set_language"), {"language": "fr"}),
    ]


def assert_local_redirect(response: Any) -> None:
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))


@pytest.mark.parametrize("value", HOSTILE_RETURN_ADDRESSES)
def test_a_hostile_return_address_ends_on_this_site(value: str, staff: User) -> None:
    project = ProjectFactory(state="listen")
    lead = LeadFactory(owner=staff)
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    endpoints = return_address_endpoints(
        project.pk, lead.pk, {"project": "intake", "lead": "qualified"}
    )
    for url, data in endpoints:
        before = row_counts()
        # A stale `state`: the move is refused, so only the redirect is exercised.
        response = client.post(url, {**data, "next": value})
        assert_local_redirect(response)
        if "setlang" not in url:
            assert row_counts() == before
            assert response["Location"] in (
                value,
                project.get_absolute_url(),
                lead.get_absolute_url(),
            )


@pytest.mark.parametrize("form", form_params())
def test_text_that_is_not_utf8_is_refused_with_a_message(form: str, staff: User) -> None:
    """Django would decode it with replacement characters and save "�"; it is refused."""
    client, url, names = open_form(form, staff)
    before = row_counts()
    body = "&".join(f"{name}=Gîte%20du%20terril%FF%FE" for name in names)

    response = client.post(url, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert "mal encodé (pas en UTF-8)" in response.content.decode()
    assert row_counts() == before


def test_text_that_is_not_utf8_is_refused_in_a_form_with_a_file(staff: User) -> None:
    project = ProjectFactory(state="listen")
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    before = row_counts()
    boundary = "carreau"
    body = (
        (f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n').encode()
        + b"Planche \xff\xfe\r\n"
        + f"--{boundary}--\r\n".encode()
    )

    response = client.post(
        reverse("projects:deliverable_upload", args=[project.pk]),
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert response.status_code == 400
    assert "mal encodé" in response.content.decode()
    assert row_counts() == before


def test_a_return_address_on_this_site_is_followed(staff: User) -> None:
    project = ProjectFactory(state="listen")
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    board = reverse("projects:project_board") + "?territory=1&q=g%C3%AEte%20noir"

    response = client.post(
        reverse("projects:project_transition", args=[project.pk]),
        {"name": "advance", "state": "listen", "next": board},
    )

    assert response["Location"] == board
    project.refresh_from_db()
    assert project.state == "impulse"


@pytest.mark.parametrize("value", HOSTILE_RETURN_ADDRESSES)
def test_login_with_a_hostile_return_address_ends_on_this_site(value: str, staff: User) -> None:
    staff.set_password("un-mot-de-passe-sûr")
    staff.save()
    client = Client(raise_request_exception=True)

    response = client.post(
        reverse("login"),
        {"username": staff.username, "password": "un-mot-de-passe-sûr", "next": value},
    )

    assert_local_redirect(response)
    assert response["Location"] == reverse(settings_module.LOGIN_REDIRECT_URL)


# Workbook uploads: a real workbook damaged part by part, through every step of an import.


def fuzz_workbook() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Nom", "Commune", "Créée le", "Salariés"])
    sheet.append(["Gîtes du Terril", "Loos-en-Gohelle", datetime.date(2024, 5, 2), 12])
    sheet.append(["Les Béthunoises", "Béthune", datetime.date(2023, 1, 9), 3])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


WORKBOOK = fuzz_workbook()
with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as _archive:
    WORKBOOK_PARTS = [info.filename for info in _archive.infolist()]

MUTATION = st.tuples(
    st.sampled_from(["cut", "replace", "insert", "drop", "raw"]),
    st.sampled_from(WORKBOOK_PARTS),
    st.floats(min_value=0, max_value=1),
    st.binary(min_size=1, max_size=12)
    | st.sampled_from([b"<", b"</row>", b'"', b"&", b"\xff\xfe", b'<c t="s"><v>99</v></c>']),
)


def damaged(workbook: bytes, mutation: tuple[str, str, float, bytes]) -> bytes:
    how, part, share, data = mutation
    if how == "raw":  # bytes of the zip itself: checksums, headers, the directory
        at = int(share * (len(workbook) - 1))
        return workbook[:at] + data + workbook[at + len(data) :]
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            body = source.read(info)
            if info.filename == part:
                at = int(share * len(body))
                if how == "drop":
                    continue
                body = {
                    "cut": body[:at],
                    "replace": body[:at] + data + body[at + len(data) :],
                    "insert": body[:at] + data + body[at:],
                }[how]
            target.writestr(info.filename, body)
    return out.getvalue()


def test_a_damaged_workbook_never_breaks_an_import(staff: User) -> None:
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    before = row_counts()

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(mutation=MUTATION)
    def post(mutation: tuple[str, str, float, bytes]) -> None:
        with transaction.atomic():
            upload = SimpleUploadedFile("liste.xlsx", damaged(WORKBOOK, mutation))
            response = client.post(
                reverse("crm:import_start"), {"kind": "organisations", "file": upload}
            )
            assert response.status_code in (302, 400)
            if response.status_code == 302:
                token = response["Location"].split("/")[-3]
                client.post(reverse("crm:import_map", args=[token]), {"column_0": "name"})
                for step in (
                    client.get(reverse("crm:import_preview", args=[token])),
                    client.get(reverse("crm:import_errors", args=[token])),
                    client.post(reverse("crm:import_apply", args=[token])),
                ):
                    assert step.status_code < 500
            else:
                assert row_counts() == before
            transaction.set_rollback(True)

    post()
