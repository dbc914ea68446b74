#!/usr/bin/env python3
"""A service (a nightly job, a CLI) that calls the example's API for itself, with no user:
the OAuth 2.1 client credentials grant (§4.2), through Authlib's requests client.

    .venv/bin/python example_project/service_client.py [--provider URL] [--scope read]

It finds the token endpoint in the provider's RFC 8414 metadata, authenticates with its
client id and secret (HTTP Basic), and calls ``GET /api/stats/`` with the access token.
The id and secret are the "Nightly report" client's, from ``seed_demo``'s credentials file,
or from ``--client-id``/``--client-secret`` (or SERVICE_CLIENT_ID/SERVICE_CLIENT_SECRET).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

HERE = Path(__file__).resolve().parent
CLIENT_NAME = "Nightly report"
TIMEOUT = 10


def stored_credentials(path: Path) -> tuple[str, str]:
    try:
        entry = json.loads(path.read_text()).get(CLIENT_NAME) or {}
    except (OSError, ValueError, AttributeError):
        return "", ""
    return str(entry.get("client_id") or ""), str(entry.get("client_secret") or "")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", default=os.environ.get("EXAMPLE_PROVIDER_URL", "http://127.0.0.1:8000"),
                        help="The provider site (default: %(default)s).")
    parser.add_argument("--issuer", default=os.environ.get("EXAMPLE_ISSUER"),
                        help="Its issuer (default: the provider site + /o).")
    parser.add_argument("--client-id", default=os.environ.get("SERVICE_CLIENT_ID", ""))
    parser.add_argument("--client-secret", default=os.environ.get("SERVICE_CLIENT_SECRET", ""))
    parser.add_argument("--credentials-file", type=Path,
                        default=Path(os.environ.get("EXAMPLE_CREDENTIALS_FILE", HERE / ".demo-credentials.json")))
    parser.add_argument("--scope", default="read")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Get a token and call the API; returns what the API said."""
    provider = args.provider.rstrip("/")
    issuer = (args.issuer or provider + "/o").rstrip("/")
    client_id, client_secret = args.client_id, args.client_secret
    if not (client_id and client_secret):
        client_id, client_secret = stored_credentials(args.credentials_file)
    if not (client_id and client_secret):
        raise SystemExit(f"No credentials for {CLIENT_NAME!r}: run python3 dev.py serve (it seeds the demo) "
                         "or pass --client-id and --client-secret.")

    # RFC 8414 §3: the metadata of the issuer https://host/o is at https://host/.well-known/...;
    # the example also serves it under the issuer's path, which is what this reads.
    metadata = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    metadata.raise_for_status()
    token_endpoint = metadata.json()["token_endpoint"]

    with OAuth2Session(client_id, client_secret, scope=args.scope, timeout=TIMEOUT) as session:
        token = session.fetch_token(token_endpoint, grant_type="client_credentials")
        print(f"Got a {token['token_type']} token for scope {token.get('scope')!r}, "
              f"valid {token.get('expires_in')} s (no refresh token: the client can always ask again).")
        answer = session.get(provider + "/api/stats/")
    print(f"GET {provider}/api/stats/ -> HTTP {answer.status_code}")
    data = answer.json()
    print(json.dumps(data, indent=2))
    answer.raise_for_status()
    return data


def main(argv: list[str]) -> int:
    try:
        run(parse_args(argv))
    except OAuthError as exc:
        print(f"The token endpoint refused: {exc.error}: {exc.description}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"Request failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
