#!/usr/bin/env python3
"""A device with no browser (a TV app, a CLI on a server) that signs a user in with the OAuth
2.0 device authorization grant (RFC 8628), then reads the user's notes from the example's API.

    .venv/bin/python example_project/device_client.py [--provider URL] [--scope read]

1. It asks the device authorization endpoint (found in the provider's RFC 8414 metadata) for
   a code, with its client_id only: a public client (RFC 8628 §3.1).
2. It prints the user code, the verification URI and, when the ``qrcode`` package is
   installed (``pip install qrcode``, in the "example" extra), a QR code of
   ``verification_uri_complete`` to scan with a phone. Without it, the URL alone.
3. The user opens the URI on any device with a browser, logs in, types (or confirms) the
   code and presses Allow.
4. Meanwhile it polls the token endpoint every ``interval`` seconds, adding 5 seconds each
   time it is told ``slow_down`` (§3.5), until it gets tokens, ``access_denied`` or
   ``expired_token``.
5. It calls ``GET /api/notes/`` with the access token and prints the user's notes.

The client is "Notes TV" from ``seed_demo``'s credentials file, or ``--client-id``
(DEVICE_CLIENT_ID).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
CLIENT_NAME = "Notes TV"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 10
#: RFC 8628 §3.5: slow_down adds 5 seconds to the interval for every later request
SLOW_DOWN_STEP = 5


class DeviceFlowFailed(Exception):
    """The flow ended without tokens (the error code and description the server gave)."""


def stored_client_id(path: Path) -> str:
    try:
        entry = json.loads(path.read_text()).get(CLIENT_NAME) or {}
    except (OSError, ValueError, AttributeError):
        return ""
    return str(entry.get("client_id") or "")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", default=os.environ.get("EXAMPLE_PROVIDER_URL", "http://127.0.0.1:8000"),
                        help="The provider site (default: %(default)s).")
    parser.add_argument("--issuer", default=os.environ.get("EXAMPLE_ISSUER"),
                        help="Its issuer (default: the provider site + /o).")
    parser.add_argument("--client-id", default=os.environ.get("DEVICE_CLIENT_ID", ""))
    parser.add_argument("--credentials-file", type=Path,
                        default=Path(os.environ.get("EXAMPLE_CREDENTIALS_FILE", HERE / ".demo-credentials.json")))
    parser.add_argument("--scope", default="read")
    parser.add_argument("--no-qr", action="store_true", help="Do not draw a QR code.")
    return parser.parse_args(argv)


def qr_code(text: str) -> str | None:
    """``text`` as a QR code drawn with block characters, or None without the qrcode package."""
    try:
        import qrcode  # type: ignore[import-untyped]
    except ImportError:
        return None
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def show(grant: dict[str, Any], draw_qr: bool = True) -> None:
    """What the user needs (RFC 8628 §3.3): the code to type at the URI, or the QR code."""
    print(f"To sign in, open {grant['verification_uri']}")
    print(f"and enter the code:  {grant['user_code']}")
    complete = grant.get("verification_uri_complete")
    if complete:
        drawn = qr_code(complete) if draw_qr else None
        if drawn:
            print("or scan this QR code with your phone:")
            print(drawn)
        else:
            print(f"or open {complete}")
    print(f"The code expires in {grant['expires_in'] // 60} minutes. Waiting for you...", flush=True)


def poll(token_endpoint: str, client_id: str, grant: dict[str, Any],
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll the token endpoint until the user decides (RFC 8628 §3.4-3.5); returns the tokens."""
    interval = int(grant.get("interval") or 5)  # §3.2: 5 seconds when the server says nothing
    deadline = clock() + int(grant["expires_in"])
    while clock() < deadline:
        sleep(interval)
        answer = requests.post(token_endpoint, timeout=TIMEOUT, data={
            "grant_type": GRANT_TYPE, "device_code": grant["device_code"], "client_id": client_id,
        })
        body = answer.json()
        if answer.status_code == 200:
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP
            continue
        raise DeviceFlowFailed(f"{error}: {body.get('error_description', '')}")
    raise DeviceFlowFailed("expired_token: the code expired before it was approved")


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    provider = args.provider.rstrip("/")
    issuer = (args.issuer or provider + "/o").rstrip("/")
    client_id = args.client_id or stored_client_id(args.credentials_file)
    if not client_id:
        raise SystemExit(f"No client_id for {CLIENT_NAME!r}: run python3 dev.py serve (it seeds the demo) "
                         "or pass --client-id.")
    metadata = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    metadata.raise_for_status()
    endpoints = metadata.json()
    if "device_authorization_endpoint" not in endpoints:
        raise SystemExit("The provider does not offer the device authorization grant (no "
                         "device_authorization_endpoint in its metadata).")
    started = requests.post(endpoints["device_authorization_endpoint"], timeout=TIMEOUT,
                            data={"client_id": client_id, "scope": args.scope})
    if started.status_code != 200:
        body = started.json()
        raise DeviceFlowFailed(f"{body.get('error')}: {body.get('error_description', '')}")
    grant = started.json()
    show(grant, draw_qr=not args.no_qr)
    tokens = poll(endpoints["token_endpoint"], client_id, grant)
    print(f"Signed in: a {tokens['token_type']} token for scope {tokens.get('scope')!r}, "
          f"valid {tokens.get('expires_in')} s" + (", with a refresh token." if tokens.get("refresh_token") else "."))
    notes = requests.get(provider + "/api/notes/", timeout=TIMEOUT,
                         headers={"Authorization": f"Bearer {tokens['access_token']}"})
    print(f"GET {provider}/api/notes/ -> HTTP {notes.status_code}")
    notes.raise_for_status()
    data: list[dict[str, Any]] = notes.json()
    for note in data:
        print(f"  - {note['text']}")
    return data


def main(argv: list[str]) -> int:
    try:
        run(parse_args(argv))
    except DeviceFlowFailed as exc:
        print(f"No sign-in: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"Request failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
