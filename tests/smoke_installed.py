"""A smoke flow against an INSTALLED copy of the package (a built wheel), not the checkout.

Run by ``.ci/run`` with the interpreter of a fresh virtualenv holding only the wheel and its
``drf`` extra, from a directory outside the checkout, and by ``tests/test_packaging.py``::

    cd /tmp && /path/to/venv/bin/python /path/to/checkout/tests/smoke_installed.py

It configures a minimal site in memory (a temporary SQLite file), runs ``migrate`` (the
wheel's migrations), registers a client with ``createclient``, logs a user in through the
login page the package ships, approves the consent page (its templates), redeems the code
with PKCE (RFC 7636) at the token endpoint, calls a view guarded by the DRF classes and one
guarded by the decorator, reads the French catalogue (the compiled ``.mo``) and checks that
``py.typed`` is there. Exit status 0 and a last line ``smoke flow OK`` mean it all worked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sys
import tempfile
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

CHECKOUT = Path(__file__).resolve().parent.parent


def configure(database: Path) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="smoke-test-secret-key-not-for-production-0123456789",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        USE_I18N=True,
        INSTALLED_APPS=[
            "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
            "django.contrib.messages", "rest_framework", "oauth_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,  # only the installed apps' templates: no DIRS
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        OAUTH_PROVIDER={"ISSUER": "https://testserver/o", "SCOPES": {"read": "Read your notes"}},
    )
    django.setup()


def urlpatterns_and_views() -> list:
    from django.http import JsonResponse
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
    from oauth_provider.decorators import protected_resource

    class Notes(APIView):
        authentication_classes = [OAuth2Authentication]
        permission_classes = [TokenHasScope]
        required_scopes = ["read"]

        def get(self, request):  # type: ignore[no-untyped-def]
            return Response({"user": request.user.get_username(), "scope": request.auth.scope})

    @protected_resource(scopes=["read"])
    def plain(request):  # type: ignore[no-untyped-def]
        owner = request.resource_owner
        return JsonResponse({"user": owner.get_username() if owner else None})

    return [
        path("accounts/", include("django.contrib.auth.urls")),
        path("o/", include("oauth_provider.urls")),
        path("", include("oauth_provider.root_urls")),
        path("api/notes/", Notes.as_view()),
        path("api/plain/", plain),
    ]


def field(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no {name} field in the page"
    from html import unescape

    return unescape(match.group(1))


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"smoke flow FAILED: {what}")
    print(f"ok  {what}")


def run() -> None:
    import oauth_provider

    where = Path(oauth_provider.__file__).resolve().parent
    check(CHECKOUT not in where.parents, f"oauth_provider is imported from the installed copy ({where})")
    check((where / "py.typed").is_file(), "py.typed is installed")

    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    check(True, "migrate applied the package's migrations")
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("alice", password="alice-password")
    out = StringIO()
    call_command("createclient", "Smoke", "--redirect-uri", "https://rp.example/cb", "--scope", "read",
                 "--json", stdout=out)
    client = json.loads(out.getvalue())

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    # a browser on https: CSRF-checked, with the Referer Django's CSRF check wants over TLS
    browser = Client(enforce_csrf_checks=True, HTTP_REFERER="https://testserver/")
    query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": "https://rp.example/cb",
             "scope": "read", "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"}
    r = browser.get("/o/authorize/", query, secure=True)
    check(r.status_code == 302 and r["Location"].startswith("/accounts/login/"), "anonymous user sent to log in")
    login = browser.get(r["Location"], secure=True)
    check(login.status_code == 200 and 'name="password"' in login.content.decode(),
          "the shipped registration/login.html renders")
    page = login.content.decode()
    r = browser.post(r["Location"], {"csrfmiddlewaretoken": field(page, "csrfmiddlewaretoken"),
                                     "username": "alice", "password": "alice-password",
                                     "next": field(page, "next")}, secure=True)
    check(r.status_code == 302, f"logged in (answer {r.status_code})")
    consent = browser.get(r["Location"], secure=True)
    html = consent.content.decode()
    check(consent.status_code == 200 and 'name="allow"' in html, "the consent page renders")
    answer = {"csrfmiddlewaretoken": field(html, "csrfmiddlewaretoken"), "allow": "allow"}
    for name in re.findall(r'<input type="hidden" name="(\w+)"', html):
        answer.setdefault(name, field(html, name))
    r = browser.post("/o/authorize/", answer, secure=True)
    redirect = urlsplit(r["Location"])
    params = parse_qs(redirect.query)
    check(r.status_code == 302 and params.get("state") == ["s1"] and "code" in params, "approved: a code")

    api = Client()
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    form = urlencode({"grant_type": "authorization_code", "code": params["code"][0],
                      "redirect_uri": "https://rp.example/cb", "code_verifier": verifier})
    r = api.post("/o/token/", form, content_type="application/x-www-form-urlencoded",  # RFC 6749 §3.2
                 HTTP_AUTHORIZATION=f"Basic {basic}", secure=True)
    check(r.status_code == 200 and r.json()["token_type"] == "Bearer", "code redeemed with PKCE at /o/token/")
    bearer = {"HTTP_AUTHORIZATION": "Bearer " + r.json()["access_token"]}
    r = api.get("/api/notes/", secure=True, **bearer)
    check(r.status_code == 200 and r.json() == {"user": "alice", "scope": "read"}, "DRF view accepts the token")
    r = api.get("/api/plain/", secure=True, **bearer)
    check(r.status_code == 200 and r.json() == {"user": "alice"}, "decorated view accepts the token")
    check(api.get("/api/plain/", secure=True).status_code == 401, "no token: 401")

    from django.utils import translation

    with translation.override("fr"):
        check(translation.gettext("Stay signed in") == "Rester connecté", "the French catalogue (.mo) is installed")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        configure(Path(tmp) / "smoke.sqlite3")
        global urlpatterns
        urlpatterns = urlpatterns_and_views()
        run()
    print("smoke flow OK")


urlpatterns: list = []

if __name__ == "__main__":
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != CHECKOUT]  # never the checkout's copy
    main()
