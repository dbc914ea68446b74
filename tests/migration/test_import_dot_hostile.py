"""``import_dot`` never brings a token DOT revoked or let expire in as live, and prints what the old
database holds (names, URIs) inert (an outside review's tests; run with ``--ds tests.dot_settings``)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps as installed

if not installed.is_installed("oauth2_provider"):
    pytest.skip("needs django-oauth-toolkit: pytest --ds tests.dot_settings", allow_module_level=True)

from django.core.management import call_command  # noqa: E402

from oauth_provider.models import AccessToken, RefreshToken  # noqa: E402
from oauth_provider.secrets import hash_token  # noqa: E402
from tests.migration.dot_flows import build_site  # noqa: E402

pytestmark = pytest.mark.django_db


def test_revoked_rotated_and_expired_dot_tokens_are_not_imported_as_live(db):
    from django.utils import timezone
    from oauth2_provider.models import RefreshToken as DotRefreshToken

    site = build_site()
    # revoked at DOT (its admin, a script) with its access token still attached
    DotRefreshToken.objects.filter(token_checksum=hash_token(site.tokens["alice_web"]["refresh_token"])).update(
        revoked=timezone.now())
    call_command("import_dot", stdout=StringIO())
    tokens = site.tokens
    dead_refresh = [tokens["alice_web"]["refresh_token"], tokens["carol_web"]["refresh_token"],
                    tokens["bob_web_rotated"]["refresh_token"]]
    dead_access = [tokens["carol_web"]["access_token"], tokens["bob_web_rotated"]["access_token"],
                   tokens["billing_old"]["access_token"]]
    for raw in dead_refresh:
        assert not RefreshToken.objects.live().filter(token_hash=hash_token(raw)).exists()
    for raw in dead_access:
        assert not AccessToken.objects.live().filter(token_hash=hash_token(raw)).exists()
    # and the live ones did come over (the test is not vacuous)
    assert RefreshToken.objects.live().filter(token_hash=hash_token(tokens["bob_web"]["refresh_token"])).exists()
    assert AccessToken.objects.live().filter(token_hash=hash_token(tokens["billing"]["access_token"])).exists()


def test_a_dot_application_name_reaches_the_operators_terminal_inert(db):
    """DOT's own application-registration views (``oauth2_provider.urls`` ships them) let any
    logged-in user name an application. ``import_dot`` prints the name of every refused or
    noted application (``migration/dot.py`` ``_import_client``: ``f"{app.client_id} ({app.name})"``)
    and dropped redirect URIs verbatim, so escape sequences in them drive the terminal of the
    operator running the migration (clear the screen, rewrite the "refused" lines above)."""
    from oauth2_provider.models import Application

    Application.objects.create(name="Legacy\x1b[2J\x1b]0;owned\x07", client_type="public",
                               authorization_grant_type="password", redirect_uris="")
    out = StringIO()
    call_command("import_dot", "--skip-keys", stdout=out)
    text = out.getvalue()
    assert "Legacy" in text
    assert "\x1b]0" not in text and "\x1b[2J" not in text and "\x07" not in text
