"""The demo users, notes and clients that ``manage.py seed_demo`` creates and the home page shows.

Clients are registered through the library's own ``createclient`` command, the way a site
operator would, so the demo exercises the documented path. A client secret is only ever shown
when it is created; the demo keeps it in ``.demo-credentials.json`` (git-ignored) so that
``python3 dev.py serve`` can print it again on the next start, and so the consumer site and
the service script can read their credentials from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings


def credentials_file() -> Path:
    return Path(settings.EXAMPLE_CREDENTIALS_FILE)


def consumer_url(path: str = "/") -> str:
    """An absolute URL on the consumer site (``EXAMPLE_CONSUMER_URL``, port 8001 by default)."""
    return settings.EXAMPLE_CONSUMER_URL + path


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    admin: bool = False
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoClient:
    """What ``createclient`` registers, and what ``seed_demo`` puts back if it was changed."""

    name: str
    role: str
    grant_types: tuple[str, ...]
    public: bool = False
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    #: OpenID Connect Back-Channel Logout: where the provider POSTs logout tokens
    backchannel_logout_uri: str = ""
    #: OpenID Connect Front-Channel Logout: the page the provider's logout page loads in an iframe
    frontchannel_logout_uri: str = ""
    scope: str = "read write"
    #: RFC 7591 display metadata: logo_uri, client_uri, policy_uri, tos_uri
    links: dict[str, str] = field(default_factory=dict)

    def createclient_args(self) -> list[str]:
        """Arguments of ``manage.py createclient`` that register this client."""
        args = [self.name, "--scope", self.scope, "--grant-type", *self.grant_types]
        if self.redirect_uris:
            args += ["--redirect-uri", *self.redirect_uris]
        if self.post_logout_redirect_uris:
            args += ["--post-logout-redirect-uri", *self.post_logout_redirect_uris]
        if self.backchannel_logout_uri:
            args += ["--backchannel-logout-uri", self.backchannel_logout_uri]
        if self.frontchannel_logout_uri:
            args += ["--frontchannel-logout-uri", self.frontchannel_logout_uri,
                     "--frontchannel-logout-session-required"]
        for name, url in self.links.items():
            args += [f"--{name.replace('_', '-')}", url]
        if self.public:
            args.append("--public")
        return args

    def registration(self) -> dict[str, str]:
        """The client model's fields as this spec wants them (lists stored as text)."""
        return {
            "redirect_uris": "\n".join(self.redirect_uris),
            "post_logout_redirect_uris": "\n".join(self.post_logout_redirect_uris),
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "frontchannel_logout_uri": self.frontchannel_logout_uri,
            "frontchannel_logout_session_required": bool(self.frontchannel_logout_uri),
            "grant_types": " ".join(self.grant_types),
            "allowed_scopes": self.scope,
            **{name: self.links.get(name, "") for name in ("logo_uri", "client_uri", "policy_uri", "tos_uri")},
        }


USERS = (
    DemoUser("demo", "demo-password", first_name="Dana", last_name="Demo", email="demo@example.com",
             notes=("Buy milk", "The consumer site read this note through the notes API.")),
    DemoUser("admin", "admin-password", admin=True, first_name="Ada", last_name="Admin", email="admin@example.com"),
)


def consumer_client() -> DemoClient:
    """The consumer site (consumer/): an OpenID Connect relying party with a server side,
    so a confidential client; it logs users in and calls the notes API for them."""
    return DemoClient(
        name="Consumer site",
        role="a separate website that offers “Log in with Example” (OIDC code flow + PKCE)",
        grant_types=("authorization_code", "refresh_token"),
        redirect_uris=(consumer_url("/callback"),),
        post_logout_redirect_uris=(consumer_url("/"),),
        backchannel_logout_uri=consumer_url("/oidc/backchannel-logout"),
        frontchannel_logout_uri=consumer_url("/oidc/frontchannel-logout"),
        scope="openid profile email read write",
        links={
            "logo_uri": consumer_url("/static/consumer/logo.svg"),
            "client_uri": consumer_url("/"),
            "policy_uri": consumer_url("/privacy/"),
            "tos_uri": consumer_url("/terms/"),
        },
    )


#: A backend job acting for itself: client_credentials, no user, no redirect.
SERVICE = DemoClient(
    name="Nightly report",
    role="a service (service_client.py) that calls the API for itself with client_credentials",
    grant_types=("client_credentials",),
    scope="read",
)
# RFC 8252 §7.3: a native app's loopback redirect URI matches on any port.
CLI = DemoClient(
    name="Demo CLI",
    role="a public client (no secret, PKCE) for trying the flow by hand with curl",
    grant_types=("authorization_code", "refresh_token"),
    redirect_uris=("http://127.0.0.1/callback",),
    public=True,
)


#: RFC 8628: a TV or CLI with no browser, signing a user in with a code typed elsewhere.
TV = DemoClient(
    name="Notes TV",
    role="a device with no browser (device_client.py): the user types its code at /o/device/ (RFC 8628)",
    grant_types=("urn:ietf:params:oauth:grant-type:device_code", "refresh_token"),
    public=True,
    scope="read",
)


def clients() -> tuple[DemoClient, ...]:
    return (consumer_client(), SERVICE, CLI, TV)


def load_credentials(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Client name -> {"client_id", "client_secret"} as last written; {} if unreadable."""
    try:
        data = json.loads((path or credentials_file()).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_credentials(data: dict[str, dict[str, Any]], path: Path | None = None) -> None:
    target = path or credentials_file()
    target.write_text(json.dumps(data, indent=2) + "\n")
    target.chmod(0o600)
