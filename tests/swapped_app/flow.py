"""Run by tests/test_swappable_client.py in a subprocess (a swapped model needs its own
Django process): migrate, register a client by command, run the code flow, use the token."""

import base64
import hashlib
import io
import json
import os
import re
import secrets
import sys
from urllib.parse import parse_qs, urlencode, urlsplit

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.swapped_app.settings"
sys.path.insert(0, os.getcwd())

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from oauth_provider.models import AccessToken, get_client_model  # noqa: E402

setup_test_environment()


def post_form(path, data, **extra):
    """POST ``data`` urlencoded, as the back-channel endpoints require (RFC 6749 §3.2)."""
    return Client().post(path, urlencode(data), content_type="application/x-www-form-urlencoded", **extra)



call_command("migrate", verbosity=0)
tables = connection.introspection.table_names()
assert "swapped_app_application" in tables and "oauth_provider_client" not in tables, tables
assert get_client_model().__name__ == "Application"

out = io.StringIO()
call_command("createclient", "Tenant app", "--redirect-uri", "https://rp.example/cb", "--scope", "read", "--json",
             stdout=out)
created = json.loads(out.getvalue())
client = get_client_model().objects.get(client_id=created["client_id"])
client.tenant = "acme"
client.save()

user = get_user_model().objects.create_user("alice", password="pw")
browser = Client()
browser.force_login(user)
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
page = browser.get("/o/authorize/", {
    "response_type": "code", "client_id": client.client_id, "redirect_uri": "https://rp.example/cb",
    "scope": "read", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
})
assert page.status_code == 200, page.status_code
blob = re.search(r'name="oauth_request" value="([^"]+)"', page.content.decode()).group(1)
back = browser.post("/o/authorize/", {"oauth_request": blob, "allow": "allow"})
code = parse_qs(urlsplit(back["Location"]).query)["code"][0]
basic = "Basic " + base64.b64encode(f"{client.client_id}:{created['client_secret']}".encode()).decode()
token = post_form("/o/token/", {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                    "redirect_uri": "https://rp.example/cb"}, HTTP_AUTHORIZATION=basic)
assert token.status_code == 200, token.content
body = token.json()
row = AccessToken.objects.select_related("client").get()
assert row.client.tenant == "acme"
introspection = post_form("/o/introspect/", {"token": body["access_token"]}, HTTP_AUTHORIZATION=basic)
assert introspection.json()["active"] is True
refreshed = post_form("/o/token/", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                          HTTP_AUTHORIZATION=basic)
assert refreshed.status_code == 200, refreshed.content
print("SWAPPED CLIENT MODEL OK")
