"""The settings module itself, imported fresh in a subprocess with a chosen environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _import_settings(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "DATABASE_URL", "SECRET_KEY", "DEBUG"))
    }
    env.update(extra_env)
    code = (
        "import fleet.project.settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['HOST'], s.SECRET_KEY)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_secret_key_is_required_with_a_real_database_and_debug_off() -> None:
    result = _import_settings({"DATABASE_URL": "postgres://u@db.example/x"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_secret_key_and_database_url_from_the_environment() -> None:
    result = _import_settings({"DATABASE_URL": "postgres://u@db.example/x", "SECRET_KEY": "k" * 50})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "db.example", "k" * 50]


def test_debug_is_off_unless_asked_for() -> None:
    on = _import_settings({"DATABASE_URL": "postgres://u@db.example/x", "DEBUG": "true"})
    assert on.returncode == 0, on.stderr
    assert on.stdout.split()[0] == "True"
