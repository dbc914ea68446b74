"""The admin's actions need the change permission, and a client that stops using a secret
loses it for good (an outside-style review found no test holding either)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient
from django.urls import reverse

from oauth_provider.models import SigningKey, get_client_model
from tests.support.factories import ClientFactory

pytestmark = pytest.mark.django_db
Client = get_client_model()
SECRET_IN_PAGE = re.compile(r"<code>([A-Za-z0-9_-]{43})</code>")


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def viewer(db) -> HttpClient:
    """Staff with only the view permission on every model of the app."""
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        codename__startswith="view_", content_type__app_label__in=["oauth_provider", "auth"]))
    c = HttpClient()
    c.force_login(staff)
    return c


@pytest.fixture
def admin_browser(db) -> HttpClient:
    c = HttpClient()
    c.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return c


def test_view_only_staff_cannot_mint_a_clients_secret(viewer):
    client = ClientFactory()
    before = Client.objects.get(pk=client.pk).client_secret_hash
    r = viewer.post(url(Client, "changelist"),
                    {"action": "generate_new_secret", "_selected_action": [str(client.pk)]})
    assert not SECRET_IN_PAGE.findall(r.content.decode())
    assert Client.objects.get(pk=client.pk).client_secret_hash == before
    assert Client.objects.get(pk=client.pk).check_secret(client.raw_secret)


def test_view_only_staff_cannot_deactivate_or_revoke(viewer):
    client = ClientFactory()
    for action in ("deactivate", "revoke_all_tokens"):
        viewer.post(url(Client, "changelist"), {"action": action, "_selected_action": [str(client.pk)]})
    assert Client.objects.get(pk=client.pk).is_active


def test_view_only_staff_cannot_rotate_signing_keys(viewer):
    from oauth_provider import keys

    keys.create_key("RS256", prepublish=False)
    count = SigningKey.objects.count()
    viewer.post(url(SigningKey, "changelist"), {"action": "rotate"})
    assert SigningKey.objects.count() == count


def test_a_client_made_public_in_the_admin_loses_its_secret_for_good(admin_browser):
    client = ClientFactory(redirect_uris="https://rp.example/cb")
    old = client.raw_secret
    form = {"name": client.name, "client_type": "public", "token_endpoint_auth_method": "none",
            "redirect_uris": "https://rp.example/cb", "grant_types": ["authorization_code", "refresh_token"],
            "is_active": "on", "owner": ""}
    r = admin_browser.post(url(Client, "change", client.pk), form)
    assert r.status_code == 302, r.content[:1500]
    assert Client.objects.get(pk=client.pk).client_secret_hash == ""
    # made confidential again: a new secret, the old one stays dead
    r = admin_browser.post(url(Client, "change", client.pk),
                           {**form, "client_type": "confidential", "token_endpoint_auth_method": "client_secret_basic"})
    assert r.status_code == 200 and SECRET_IN_PAGE.findall(r.content.decode())
    assert not Client.objects.get(pk=client.pk).check_secret(old)
