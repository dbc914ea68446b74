"""The demo users and clients that ``manage.py seed_demo`` creates and the home page shows.

Clients are registered through the library's own ``createclient`` command, the way a site
operator would, so the demo exercises the documented path. A client secret is only ever shown
when it is created; the demo keeps it in ``.demo-credentials.json`` (git-ignored) so that
``python3 dev.py serve`` can print it again on the next start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

CREDENTIALS_FILE = Path(settings.BASE_DIR) / ".demo-credentials.json"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    admin: bool = False


@dataclass(frozen=True)
class DemoClient:
    name: str
    redirect_uri: str
    grant_types: tuple[str, ...]
    public: bool
    scope: str = "read write"

    def createclient_args(self) -> list[str]:
        """Arguments of ``manage.py createclient`` that register this client."""
        args = [self.name, "--redirect-uri", self.redirect_uri]
        for grant in self.grant_types:
            args += ["--grant-type", grant]
        args += ["--scope", self.scope]
        if self.public:
            args.append("--public")
        return args


USERS = (
    DemoUser("demo", "demo-password"),
    DemoUser("admin", "admin-password", admin=True),
)

WEB_APP = DemoClient(
    name="Demo web app",
    redirect_uri="http://127.0.0.1:8001/callback",
    grant_types=("authorization_code", "refresh_token", "client_credentials"),
    public=False,
)
# RFC 8252 §7.3: a native app's loopback redirect URI matches on any port.
CLI = DemoClient(
    name="Demo CLI",
    redirect_uri="http://127.0.0.1/callback",
    grant_types=("authorization_code", "refresh_token"),
    public=True,
)
CLIENTS = (WEB_APP, CLI)


def load_credentials(path: Path = CREDENTIALS_FILE) -> dict[str, dict[str, Any]]:
    """Client name -> {"client_id", "client_secret"} as last written; {} if unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_credentials(data: dict[str, dict[str, Any]], path: Path = CREDENTIALS_FILE) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.chmod(0o600)
