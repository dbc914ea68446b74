"""The client model is swappable (``OAUTH_PROVIDER_CLIENT_MODEL``), like ``AUTH_USER_MODEL``.
A swapped model needs its own Django process, so the flow runs in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_swapped_client_model_runs_the_whole_flow():
    env = {**os.environ, "OAUTH_PROVIDER_TEST_DB": "sqlite"}
    result = subprocess.run(
        [sys.executable, "tests/swapped_app/flow.py"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SWAPPED CLIENT MODEL OK" in result.stdout


def test_the_swapped_apps_migrations_are_complete():
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run",
         "--settings", "tests.swapped_app.settings"],
        cwd=ROOT, env={**os.environ, "OAUTH_PROVIDER_TEST_DB": "sqlite"}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
