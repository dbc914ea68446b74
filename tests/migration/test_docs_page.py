"""docs/migrating-from-dot.md, every block run as tests/test_docs.py runs the other pages, but
with django-oauth-toolkit installed and a site its own flows populated: the page's
``import_dot`` lines import it, and its curl lines use the tokens and secret DOT issued."""

from __future__ import annotations

import pytest
from django.apps import apps as installed

if not installed.is_installed("oauth2_provider"):
    pytest.skip("needs django-oauth-toolkit installed: pytest --ds tests.dot_settings tests/migration",
                allow_module_level=True)

from oauth_provider.models import AccessToken, get_client_model  # noqa: E402
from tests.docs_examples import harness  # noqa: E402
from tests.migration.dot_flows import WEB_SECRET, build_site  # noqa: E402


def dot_site(session: harness.Session) -> None:
    """$CLIENT_ID and $CLIENT_SECRET of DOT's confidential web application, and the
    $ACCESS_TOKEN and $REFRESH_TOKEN DOT's flows gave bob for it."""
    site = build_site()
    tokens = site.tokens["bob_web"]
    session.env.update(CLIENT_ID=site.apps["web"].client_id, CLIENT_SECRET=WEB_SECRET,
                       ACCESS_TOKEN=tokens["access_token"], REFRESH_TOKEN=tokens["refresh_token"])


def test_the_migration_page_moves_a_dot_site(db):
    session = harness.Session(setups={"dot_site": dot_site})
    with session.stack:
        session.stack.enter_context(harness.requests_in_process())
        harness.run_page("migrating-from-dot.md", session)
    assert get_client_model().objects.filter(client_id=session.env["CLIENT_ID"]).exists()
    assert AccessToken.objects.filter(client__client_id=session.env["CLIENT_ID"], user__username="bob").count() == 2
    assert session.last_json["token_type"] == "Bearer"  # the refresh at our token endpoint
