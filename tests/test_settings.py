"""The settings helpers fail loudly, production refuses to start without a secret key, and
every variable the settings read is documented in .env.example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm.settings import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("Yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", False),
    ],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("CARREAU_TEST_FLAG", raw)

    assert env_bool("CARREAU_TEST_FLAG", default=not expected) is expected


def test_env_bool_refuses_anything_else(monkeypatch) -> None:
    monkeypatch.setenv("CARREAU_TEST_FLAG", "maybe")

    with pytest.raises(ImproperlyConfigured, match="CARREAU_TEST_FLAG"):
        env_bool("CARREAU_TEST_FLAG", default=False)


def test_env_int(monkeypatch) -> None:
    monkeypatch.delenv("CARREAU_TEST_INT", raising=False)
    assert env_int("CARREAU_TEST_INT", 7) == 7
    monkeypatch.setenv("CARREAU_TEST_INT", "42")
    assert env_int("CARREAU_TEST_INT", 7) == 42
    monkeypatch.setenv("CARREAU_TEST_INT", "25MB")
    with pytest.raises(ImproperlyConfigured, match="CARREAU_TEST_INT"):
        env_int("CARREAU_TEST_INT", 7)


def test_env_list_and_str(monkeypatch) -> None:
    monkeypatch.setenv("CARREAU_TEST_LIST", " a.example.org, ,b.example.org ")
    monkeypatch.delenv("CARREAU_TEST_STR", raising=False)

    assert env_list("CARREAU_TEST_LIST", []) == ["a.example.org", "b.example.org"]
    assert env_str("CARREAU_TEST_STR", "fallback") == "fallback"


def _import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", "import crm.settings"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _import_settings(DJANGO_DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key() -> None:
    result = _import_settings(DJANGO_DEBUG="false", SECRET_KEY="x" * 50)

    assert result.returncode == 0, result.stderr


def test_every_variable_is_documented_in_env_example() -> None:
    read = set(
        re.findall(
            r'env_(?:str|bool|int|list)\("([A-Z_]+)"', (ROOT / "crm/settings.py").read_text()
        )
    )
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))

    assert read - documented == set()
