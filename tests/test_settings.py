"""The settings helpers fail loudly, production refuses to start without a secret key, and
every variable the settings read is documented in .env.example."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm.settings import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "crm" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"

VAR = "CARREAU_TEST_VARIABLE"


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)


def variables_read_by_settings() -> set[str]:
    """Names passed to env_*(), os.environ.get(), os.getenv() or os.environ[...] in
    crm/settings.py, found in its code rather than by a regex, so a call split over several
    lines still counts."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if isinstance(node, ast.Call):
            reader, name = ast.unparse(node.func), node.args[0] if node.args else None
            found = reader.startswith("env_") or reader in {"os.environ.get", "os.getenv"}
        elif isinstance(node, ast.Subscript):
            reader, name = ast.unparse(node.value), node.slice
            found = reader == "os.environ"
        else:
            continue
        if found and isinstance(name, ast.Constant) and isinstance(name.value, str):
            names.add(name.value)
    return names


# env_bool


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("Yes", True),
        ("on", True),
        (" TRUE ", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("Off", False),
        ("", False),
    ],
)
def test_env_bool_reads_common_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv(VAR, raw)

    assert env_bool(VAR, default=not expected) is expected


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_unset_gives_the_default(default: bool) -> None:
    assert env_bool(VAR, default=default) is default


@pytest.mark.parametrize("raw", ["maybe", "ture", "2", "y e s"])
def test_env_bool_refuses_anything_else(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(VAR, raw)

    with pytest.raises(ImproperlyConfigured, match=VAR) as error:
        env_bool(VAR, default=False)
    assert repr(raw) in str(error.value)


# env_int


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), ("0", 0), ("-1", -1), (" 7 ", 7)])
def test_env_int_reads_integers(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv(VAR, raw)

    assert env_int(VAR, 25) == expected


def test_env_int_unset_gives_the_default() -> None:
    assert env_int(VAR, 25) == 25


@pytest.mark.parametrize("raw", ["", "   "])
def test_env_int_empty_gives_the_default(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(VAR, raw)

    assert env_int(VAR, 25) == 25


@pytest.mark.parametrize("raw", ["25MB", "1.5", "ten", "1e6"])
def test_env_int_refuses_anything_else(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(VAR, raw)

    with pytest.raises(ImproperlyConfigured, match=VAR) as error:
        env_int(VAR, 25)
    assert repr(raw) in str(error.value)


# env_list


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, " a.example.org, ,b.example.org ,")

    assert env_list(VAR, ["default.example.org"]) == ["a.example.org", "b.example.org"]


def test_env_list_unset_gives_the_default() -> None:
    assert env_list(VAR, ["127.0.0.1", "localhost"]) == ["127.0.0.1", "localhost"]


def test_env_list_set_but_empty_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # An explicit empty value is a choice ("no trusted origins"), not a request for the default.
    monkeypatch.setenv(VAR, "")

    assert env_list(VAR, ["127.0.0.1"]) == []


# env_str


def test_env_str_reads_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "Europe/Brussels")

    assert env_str(VAR, "Europe/Paris") == "Europe/Brussels"


def test_env_str_unset_gives_the_default() -> None:
    assert env_str(VAR, "Europe/Paris") == "Europe/Paris"
    assert env_str(VAR) == ""


def test_env_str_empty_gives_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "")

    assert env_str(VAR, "Europe/Paris") == "Europe/Paris"


def test_env_choice_refuses_an_unknown_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm.settings import env_choice

    monkeypatch.setenv(VAR, "LOUD")

    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_choice(VAR, "INFO", ("DEBUG", "INFO"))


# Importing the settings as production would


def import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import crm.settings in a fresh interpreter, with none of the variables the settings read
    inherited from this process, so only `env` decides."""
    read = variables_read_by_settings()
    inherited = {k: v for k, v in os.environ.items() if k not in read}
    return subprocess.run(
        [sys.executable, "-c", "import crm.settings"],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = import_settings(DJANGO_DEBUG="false")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_production_refuses_an_empty_secret_key() -> None:
    result = import_settings(DJANGO_DEBUG="false", SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key() -> None:
    result = import_settings(DJANGO_DEBUG="false", SECRET_KEY="x" * 50)

    assert result.returncode == 0, result.stderr


def test_development_starts_without_a_secret_key() -> None:
    result = import_settings()

    assert result.returncode == 0, result.stderr


def test_a_mistyped_debug_flag_stops_the_start() -> None:
    # "flase" must not quietly leave DEBUG on in production.
    result = import_settings(DJANGO_DEBUG="flase", SECRET_KEY="x" * 50)

    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


# .env.example


def documented_variables() -> list[tuple[str, str]]:
    """(name, the line above it) for every NAME=value line of .env.example."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    return [
        (match[1], lines[index - 1] if index else "")
        for index, line in enumerate(lines)
        if (match := re.match(r"([A-Z][A-Z0-9_]*)=", line))
    ]


def test_the_settings_read_the_variables_this_test_knows_about() -> None:
    # Guards the AST walk above: if it found nothing, the next test would pass vacuously.
    assert {"DJANGO_DEBUG", "SECRET_KEY", "DATABASE_URL", "PAGE_SIZE"} <= (
        variables_read_by_settings()
    )


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    read = variables_read_by_settings()
    documented = {name for name, _ in documented_variables()}

    assert read - documented == set(), "read by crm/settings.py, missing from .env.example"
    assert documented - read == set(), "in .env.example, no longer read by crm/settings.py"


def test_every_documented_variable_has_a_comment() -> None:
    uncommented = [name for name, above in documented_variables() if not above.startswith("#")]

    assert uncommented == []


# Files on S3 (STORAGES["default"])

S3_VARIABLES = (
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_ADDRESSING_STYLE",
    "AWS_LOCATION",
)


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in S3_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_a_bucket_the_files_stay_in_the_local_folder(s3_env: pytest.MonkeyPatch) -> None:
    from crm.settings import s3_storage_options

    assert s3_storage_options() is None


def test_a_bucket_puts_the_files_on_s3_with_no_public_object(
    s3_env: pytest.MonkeyPatch,
) -> None:
    from crm.settings import s3_storage_options

    s3_env.setenv("AWS_STORAGE_BUCKET_NAME", "carreau-files")
    s3_env.setenv("AWS_S3_ENDPOINT_URL", "https://s3.example.org")
    s3_env.setenv("AWS_ACCESS_KEY_ID", "key")
    s3_env.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    s3_env.setenv("AWS_LOCATION", "/carreau/")

    options = s3_storage_options()

    assert options is not None
    assert options["bucket_name"] == "carreau-files"
    assert options["endpoint_url"] == "https://s3.example.org"
    assert (options["access_key"], options["secret_key"]) == ("key", "secret")
    assert options["location"] == "carreau"
    assert options["default_acl"] is None
    assert options["querystring_auth"] is True
    assert options["file_overwrite"] is False


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"AWS_S3_ENDPOINT_URL": "https://s3.example.org"}, "without AWS_STORAGE_BUCKET_NAME"),
        ({"AWS_ACCESS_KEY_ID": "key"}, "without AWS_STORAGE_BUCKET_NAME"),
        (
            {"AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "s3.example.org"},
            "AWS_S3_ENDPOINT_URL must be an http(s) URL",
        ),
        ({"AWS_STORAGE_BUCKET_NAME": "b", "AWS_ACCESS_KEY_ID": "key"}, "go together"),
        (
            {"AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ADDRESSING_STYLE": "dns"},
            "AWS_S3_ADDRESSING_STYLE must be one of",
        ),
    ],
)
def test_a_half_done_s3_configuration_stops_the_start(
    s3_env: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    from crm.settings import s3_storage_options

    for name, value in variables.items():
        s3_env.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        s3_storage_options()


def test_the_settings_choose_the_s3_backend_when_a_bucket_is_named() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import crm.settings as s; print(s.STORAGES['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env={**os.environ, "AWS_STORAGE_BUCKET_NAME": "carreau-files"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stdout.strip() == "storages.backends.s3.S3Storage", result.stderr
