"""The access log names a request's API key by its public prefix, and never logs secrets."""

from __future__ import annotations

import pytest

from fleet.plumbing.accesslog import key_prefix


@pytest.mark.parametrize(
    ("header", "logged"),
    [
        ("Api-Key Ab3dE6gH.s3cr3tS3cr3tS3cr3tS3cr3tS3cr3t", "Ab3dE6gH"),
        ("api-key Ab3dE6gH.s3cr3t", "Ab3dE6gH"),  # the scheme in any case, as auth accepts it
        ("Bearer metrics-token-that-is-all-secret", "-"),
        ("Api-Key no-dot-so-it-might-be-all-secret", "-"),
        ("Api-Key ../../etc.passwd", "-"),
        ("", "-"),
    ],
)
def test_the_log_shows_only_the_public_prefix(header: str, logged: str) -> None:
    assert key_prefix(header) == logged
    secret = header.partition(".")[2] or header.partition(" ")[2]
    if secret:
        assert secret not in key_prefix(header)
