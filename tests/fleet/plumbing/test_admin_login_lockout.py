"""Guessing admin passwords: locked out per username and per address, logged, and unlockable."""

from __future__ import annotations

import logging

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-Passw0rd"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: SettingsWrapper) -> None:
    # Each attempt checks a password; the production hasher's cost only slows the test down.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator() -> User:
    return User.objects.create_superuser("operator", "op@example.com", PASSWORD)


def attempt(username: str, password: str, address: str = "198.51.100.7") -> int:
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response.status_code


def test_five_wrong_passwords_lock_the_username_out_even_with_the_right_one(
    operator: User, settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    with caplog.at_level(logging.WARNING):
        assert [attempt("operator", "guess") for _ in range(4)] == [200] * 4  # the form again
        assert attempt("operator", "guess") == 429  # the fifth failure locks
    lockouts = [r.getMessage() for r in caplog.records if "Locking out" in r.getMessage()]
    assert len(lockouts) == 1 and 'username: "operator"' in lockouts[0]
    # From another address, with the right password: the username stays locked.
    assert attempt("operator", PASSWORD, address="203.0.113.9") == 429


def test_one_address_guessing_many_usernames_is_locked_out_too(operator: User) -> None:
    assert [attempt(f"user{i}", "guess") for i in range(5)] == [200] * 4 + [429]
    assert attempt("operator", PASSWORD) == 429  # that address, even for a real account
    assert attempt("operator", PASSWORD, address="203.0.113.9") == 302  # others get in


def test_an_operator_unlocks_a_username_with_a_command(operator: User) -> None:
    for _ in range(5):
        attempt("operator", "guess")
    assert attempt("operator", PASSWORD, address="203.0.113.9") == 429
    call_command("axes_reset_username", "operator")
    assert attempt("operator", PASSWORD, address="203.0.113.9") == 302
    assert not AccessAttempt.objects.filter(username="operator").exists()


def test_a_spoofed_forwarded_for_header_does_not_dodge_the_address_lockout(
    operator: User,
) -> None:
    # No proxy is trusted by default: X-Forwarded-For is the client's own claim.
    client_ip = "198.51.100.7"
    for i in range(5):
        Client(REMOTE_ADDR=client_ip, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").post(
            LOGIN, {"username": f"user{i}", "password": "guess"}
        )
    assert attempt("operator", PASSWORD, address=client_ip) == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_locked_out(
    operator: User, settings: SettingsWrapper
) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    for i in range(5):
        Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7").post(
            LOGIN, {"username": f"user{i}", "password": "guess"}
        )
    behind_proxy = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    response = behind_proxy.post(LOGIN, {"username": "operator", "password": PASSWORD})
    assert response.status_code == 302  # another client of the same proxy is not locked out
