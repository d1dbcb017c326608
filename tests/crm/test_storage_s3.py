"""Files on S3 (DESIGN §10), against a real S3 API on loopback: `make test-s3`, CI's moto stage.

A file uploaded through a view lands in the bucket, private; it comes back only through the
permission-checked view; and the purges find and delete what they must on object storage.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import default_storage, storages
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from storages.backends.s3 import S3Storage

from crm.models import Job, Role, User
from projects.models import DeliverableVersion, Project
from tests.conftest import S3_ENDPOINT, s3_client
from tests.crm.test_imports import ORGANISATIONS, start, token_of, workbook
from tests.factories import OrganisationFactory, ProjectFactory, UserFactory
from tests.helpers import client_for
from tests.projects.test_views import jpeg, upload

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.storage,
    pytest.mark.skipif(not S3_ENDPOINT, reason="needs CARREAU_TEST_S3_ENDPOINT (make test-s3)"),
]

PUBLIC_GRANTEES = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}


@pytest.fixture
def bucket(own_storage: None) -> tuple[Any, str]:
    """(S3 client, bucket name) of this test's own, empty bucket."""
    options = settings.STORAGES["default"]["OPTIONS"]
    return s3_client(options), options["bucket_name"]


@pytest.fixture
def project(designer: User) -> Project:
    return ProjectFactory(title="Hôtel dans les corons", state="listen", designers=[designer])


def keys(bucket: tuple[Any, str]) -> set[str]:
    client, name = bucket
    listing = client.list_objects_v2(Bucket=name)
    return {entry["Key"] for entry in listing.get("Contents", [])}


def later(hours: int) -> Any:
    """The purges' clock, `hours` ahead: the objects just written are old enough then (an
    object's last-modified time is the store's, it cannot be set)."""
    return mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=hours)
    )


def test_the_default_storage_is_the_s3_backend_with_the_private_options(
    bucket: tuple[Any, str],
) -> None:
    storage = storages["default"]

    assert isinstance(storage, S3Storage)
    assert storage.bucket_name == bucket[1]
    assert storage.default_acl is None
    assert storage.querystring_auth is True
    assert storage.file_overwrite is False


def test_an_upload_is_private_and_comes_back_only_through_the_checked_view(
    bucket: tuple[Any, str], designer: User, project: Project
) -> None:
    client, name = bucket
    outsider = UserFactory(username="designer-off", role=Role.DESIGNER)
    data = jpeg((200, 120))

    assert upload(client_for(designer), project, "planche.jpg", data).status_code == 302

    version = DeliverableVersion.objects.get()
    assert keys(bucket) == {version.file.name, version.thumbnail.name}
    url = reverse("projects:version_file", args=[project.pk, version.pk])
    response = client_for(designer).get(url)
    assert response.status_code == 200
    stored = client.get_object(Bucket=name, Key=version.file.name)["Body"].read()
    assert response.getvalue() == stored
    assert stored[:3] == b"\xff\xd8\xff"
    assert response["Cache-Control"].startswith("private")
    thumbnail = reverse("projects:version_thumbnail", args=[project.pk, version.pk])
    assert client_for(designer).get(thumbnail)["Content-Type"] == "image/jpeg"
    # The view streams the bytes: it never redirects to the bucket.
    assert not response.has_header("Location")
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).get(thumbnail).status_code == 404


def test_the_bucket_holds_no_public_object(
    bucket: tuple[Any, str], designer: User, staff: User, project: Project
) -> None:
    client, name = bucket
    upload(client_for(designer), project, "planche.jpg", jpeg())
    token_of(start(client_for(staff), workbook(ORGANISATIONS)))

    stored = keys(bucket)
    assert {key.split("/")[0] for key in stored} >= {"deliverables", "imports"}
    for key in stored:
        grants = client.get_object_acl(Bucket=name, Key=key)["Grants"]
        assert not {grant["Grantee"].get("URI") for grant in grants} & PUBLIC_GRANTEES, key
    bucket_grants = client.get_bucket_acl(Bucket=name)["Grants"]
    assert not {grant["Grantee"].get("URI") for grant in bucket_grants} & PUBLIC_GRANTEES
    with pytest.raises(ClientError) as no_policy:
        client.get_bucket_policy(Bucket=name)
    assert no_policy.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


def test_the_purges_delete_on_s3_what_they_delete_on_disk(
    bucket: tuple[Any, str], designer: User, staff: User, project: Project, settings: Any
) -> None:
    settings.EXPORT_SYNC_MAX_ROWS = 3
    OrganisationFactory.create_batch(4)
    upload(client_for(designer), project, "planche.jpg", jpeg())
    kept = DeliverableVersion.objects.get()
    orphan = default_storage.save("deliverables/perdu.pdf", io.BytesIO(b"%PDF-1.4"))
    staff_client = client_for(staff)
    token = token_of(start(staff_client, workbook(ORGANISATIONS)))
    assert staff_client.get(reverse("crm:organisation_export")).status_code == 302
    job = Job.objects.get()
    assert job.file.name in keys(bucket)

    fresh = io.StringIO()
    call_command("purge_orphan_files", stdout=fresh)
    call_command("purge_imports", stdout=fresh)
    assert orphan in keys(bucket) and f"imports/{token}.xlsx" in keys(bucket)
    with later(hours=25):
        orphans, imports = io.StringIO(), io.StringIO()
        call_command("purge_orphan_files", stdout=orphans)
        call_command("purge_imports", stdout=imports)
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    call_command("purge_jobs", stdout=io.StringIO())

    assert "0 orphan file(s)" in fresh.getvalue()
    assert "1 orphan file(s) older than 24 h" in orphans.getvalue()
    assert "1 import file(s) older than 24 h deleted." in imports.getvalue()
    assert keys(bucket) == {kept.file.name, kept.thumbnail.name}
    assert not Job.objects.exists()
