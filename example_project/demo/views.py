"""The example site's home page: every OAuth role of the example, with links to try each."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.views.generic import TemplateView
from oauth_provider.conf import provider_settings
from oauth_provider.models import get_client_model

from .accounts import CLI, SERVICE, TV, USERS, consumer_client, consumer_url


def pkce_pair() -> tuple[str, str]:
    """A fresh code_verifier and its S256 code_challenge (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def registration_url(build: Any) -> str | None:
    """The dynamic registration endpoint when the provider offers one (RFC 7591)."""
    if not provider_settings.DYNAMIC_REGISTRATION:
        return None
    return str(build(reverse("oauth_provider:registration")))


class HomeView(TemplateView):
    template_name = "demo/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        build = self.request.build_absolute_uri
        consumer = consumer_client()
        names = [CLI.name, SERVICE.name, consumer.name]
        registered = {c.name: c for c in get_client_model()._default_manager.filter(name__in=names)}
        cli = registered.get(CLI.name)
        verifier, challenge = pkce_pair()
        context.update(
            metadata_url=build(reverse("oauth_provider:metadata")),
            root_metadata_url=build(reverse("oauth_provider_root:metadata-path", args=["o"])),
            openid_configuration_url=build(reverse("oauth_provider:openid-configuration")),
            jwks_url=build(reverse("oauth_provider:jwks")),
            token_url=build(reverse("oauth_provider:token")),
            connected_apps_url=build(reverse("oauth_provider:connected_apps")),
            notes_url=build(reverse("notes:list")),
            stats_url=build(reverse("notes:stats")),
            mcp_url=build(reverse("mcp")),
            mcp_metadata_url=build("/.well-known/oauth-protected-resource" + reverse("mcp")),
            registration_url=registration_url(build),
            consumer_home=consumer_url("/"),
            users=USERS,
            consumer=registered.get(consumer.name),
            service=registered.get(SERVICE.name),
            service_spec=SERVICE,
            cli=cli,
            cli_spec=CLI,
            tv_spec=TV,
            device_url=build(reverse("oauth_provider:device")),
            verifier=verifier,
        )
        if cli is not None:
            query = urlencode({
                "response_type": "code",
                "client_id": cli.client_id,
                "redirect_uri": CLI.redirect_uris[0],
                "scope": CLI.scope,
                "state": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            })
            context["authorize_url"] = build(reverse("oauth_provider:authorize")) + "?" + query
        return context
