"""Production settings pass Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_check(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DEBUG", "HTTPS"))}
    env.update(
        DATABASE_URL="postgres://fleet@db.internal:5432/fleet",
        SECRET_KEY="n8#Qv0-zX3!kLw7pT2^bR9&sY4*mJ6(cH1)gF5_dE8+aU0=oI3",
        ALLOWED_HOSTS="fleet.example.com",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_check({"HTTPS": "true"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_plain_http() -> None:
    result = run_check({})
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr + result.stdout
