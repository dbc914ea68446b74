"""The example project works the way ``python3 dev.py serve`` and its home page say.

It runs as its own Django process (its own settings, a temporary SQLite file), so this test
goes through ``manage.py`` and HTTP only: migrate, ``seed_demo`` twice (same clients, same
secret), then ``runserver`` and the home page's instructions followed literally: the
authorization link, the login form, the consent form, the token exchange with the verifier
the page printed, a refresh, and client_credentials with the secret ``seed_demo`` printed.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..conftest import query_of
from .test_third_party_clients import authorize_in_browser

pytestmark = [pytest.mark.e2e]

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
TIMEOUT = 10


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("example_project")


@pytest.fixture(scope="module")
def site_env(site_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # pytest-django exported the test suite's settings module; the example has its own
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    env["EXAMPLE_DATABASE_PATH"] = str(site_dir / "example.sqlite3")
    root = str(EXAMPLE.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def seeded(site_env: dict[str, str], site_dir: Path) -> dict[str, dict]:
    """Migrate and seed twice; the second run must find what the first made."""
    credentials = site_dir / "credentials.json"
    manage(site_env, "check", "--fail-level", "WARNING")
    manage(site_env, "migrate", "--noinput", "-v", "0")
    first = manage(site_env, "seed_demo", "--credentials-file", str(credentials))
    stored = json.loads(credentials.read_text())
    second = manage(site_env, "seed_demo", "--credentials-file", str(credentials))
    assert json.loads(credentials.read_text()) == stored
    assert "Registered" in first and "Registered" not in second
    web, cli = stored["Demo web app"], stored["Demo CLI"]
    assert web["client_secret"] and cli["client_secret"] is None
    for output in (first, second):
        assert web["client_id"] in output and cli["client_id"] in output
        assert web["client_secret"] in output
        assert "demo / demo-password" in output and "admin / admin-password" in output
    return stored


@pytest.fixture(scope="module")
def server(site_env: dict[str, str], seeded: dict) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=EXAMPLE, env=site_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"runserver did not start: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_example_project_home_page_instructions_work(server: str, seeded: dict) -> None:
    home = requests.get(server + "/", timeout=TIMEOUT)
    assert home.status_code == 200
    page = html.unescape(home.text)
    for link in ("/o/.well-known/oauth-authorization-server", "/admin/", "/accounts/login/"):
        assert link in page
    metadata = requests.get(server + "/o/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    # the example names its issuer in settings, as production sites must
    assert metadata["issuer"] == "http://127.0.0.1:8000/o"

    cli = seeded["Demo CLI"]
    authorize_url = re.search(r'href="([^"]*/o/authorize/\?[^"]*)"', page).group(1)
    verifier = re.search(r"-d code_verifier=(\S+)", page).group(1)
    assert f"client_id={cli['client_id']}" in authorize_url

    callback = authorize_in_browser(authorize_url, "http://127.0.0.1/callback", "demo", password="demo-password")
    params = query_of(callback)
    assert params["iss"] == metadata["issuer"]

    token_url = server + "/o/token/"
    tokens = requests.post(token_url, timeout=TIMEOUT, data={
        "grant_type": "authorization_code", "client_id": cli["client_id"],
        "redirect_uri": "http://127.0.0.1/callback", "code_verifier": verifier, "code": params["code"],
    })
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read write"
    refreshed = requests.post(token_url, timeout=TIMEOUT, data={
        "grant_type": "refresh_token", "client_id": cli["client_id"],
        "refresh_token": tokens.json()["refresh_token"],
    })
    assert refreshed.status_code == 200, refreshed.text

    web = seeded["Demo web app"]
    service = requests.post(token_url, auth=(web["client_id"], web["client_secret"]), timeout=TIMEOUT,
                            data={"grant_type": "client_credentials", "scope": "read"})
    assert service.status_code == 200, service.text
    assert service.json()["scope"] == "read"


def test_example_project_login_page_logs_in(server: str) -> None:
    with requests.Session() as browser:
        page = browser.get(server + "/accounts/login/", timeout=TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = browser.post(server + "/accounts/login/", timeout=TIMEOUT, headers={"Referer": page.url},
                                data={"csrfmiddlewaretoken": token, "username": "admin", "password": "admin-password"})
        assert response.status_code == 200 and response.url == server + "/"
        assert "Signed in as <strong>admin</strong>" in response.text
        assert browser.get(server + "/admin/", timeout=TIMEOUT, allow_redirects=False).status_code == 200
