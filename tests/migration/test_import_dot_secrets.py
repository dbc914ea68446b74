"""import_dot and secrets django-oauth-toolkit left unhashed, or hashed with a hasher this site
lacks (run with ``--ds tests.dot_settings``): a clear text is hashed and keeps working; a hash
string never becomes a secret anyone holding a database dump could send."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps as installed

if not installed.is_installed("oauth2_provider"):
    pytest.skip("needs django-oauth-toolkit: --ds tests.dot_settings", allow_module_level=True)

from django.core.management import call_command  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

from oauth_provider.models import Client  # noqa: E402
from oauth_provider.secrets import hash_token  # noqa: E402
from tests.conftest import basic_auth  # noqa: E402
from tests.support.token_helpers import post_form  # noqa: E402

pytestmark = pytest.mark.django_db
PLAIN = "legacy-plain-secret-kept-by-dot-before-2-0"


def import_dot() -> str:
    out = StringIO()
    call_command("import_dot", "--skip-keys", stdout=out)
    return out.getvalue()


def service(secret: str) -> Application:
    app = Application.objects.create(name="Old service", client_type="confidential",
                                     authorization_grant_type="client-credentials", client_secret="x")
    # hash_client_secret is on (the default), but the row holds a value DOT never hashed
    # (written before DOT 2.0, or by a data migration): what DOT stores is not a hash
    Application.objects.filter(pk=app.pk).update(client_secret=secret)
    return app


def test_a_clear_text_secret_under_hash_client_secret_is_hashed_and_keeps_working():
    app = service(PLAIN)
    out = import_dot()
    client = Client.objects.get(client_id=app.client_id)
    assert client.client_secret_hash == hash_token(PLAIN), "the clear-text secret was stored as it is"
    assert "stored in the clear" in out
    r = post_form(HttpClient(), {"grant_type": "client_credentials", "scope": "read"},
                  HTTP_AUTHORIZATION=basic_auth(app.client_id, PLAIN))
    assert r.status_code == 200, r.content


def test_a_hash_whose_hasher_is_not_installed_is_refused_not_made_a_secret():
    stored = "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"  # argon2 is not in PASSWORD_HASHERS
    app = service(stored)
    out = import_dot()
    assert not Client.objects.filter(client_id=app.client_id).exists(), "the hash string became the secret"
    assert "not in PASSWORD_HASHERS" in out
