"""Does client authentication take longer for a known client_id than for an unknown one?

OIDC Core §16.12: the time a failed client authentication takes should not say whether the
client_id exists. This compares a known client with a wrong secret (of the right length)
against an unknown client_id, with the throttle off, in process on SQLite in memory:
``client_auth.authenticate()`` alone and the whole ``/o/token/`` request through
``django.test.Client``. The two are interleaved (ABBA) so load drifts hit both alike; the
figures are medians. SECURITY.md ("Client-authentication timing") quotes its output.

    .venv/bin/python benchmarks/client_auth_timing.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from oauth_provider import client_auth  # noqa: E402
from oauth_provider.errors import OAuthError  # noqa: E402
from oauth_provider.models import get_client_model  # noqa: E402

FORM = "application/x-www-form-urlencoded"
BODY = "grant_type=client_credentials"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def over_http(auth: str) -> Callable[[], float]:
    api = Client()

    def run() -> float:
        started = time.perf_counter()
        response = api.post("/o/token/", BODY, content_type=FORM, HTTP_AUTHORIZATION=auth)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401, response.content
        return elapsed

    return run


def in_authenticate(auth: str) -> Callable[[], float]:
    request = RequestFactory().post("/o/token/", BODY, content_type=FORM, HTTP_AUTHORIZATION=auth)
    params = {"grant_type": "client_credentials"}

    def run() -> float:
        started = time.perf_counter()
        try:
            client_auth.authenticate(request, params)
        except OAuthError:
            pass
        return time.perf_counter() - started

    return run


def compare(name: str, unknown: Callable[[], float], known: Callable[[], float], n: int) -> None:
    for _ in range(200):
        unknown(), known()
    a: list[float] = []
    b: list[float] = []
    for i in range(n):
        if i % 2:
            a.append(unknown())
            b.append(known())
        else:
            b.append(known())
            a.append(unknown())
    ma, mb = statistics.median(a) * 1e6, statistics.median(b) * 1e6
    print(f"| {name} | {n} | {ma:.1f} | {mb:.1f} | {mb - ma:+.1f} | {(mb - ma) / mb * 100:+.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="pairs over HTTP (3x as many in authenticate)")
    args = parser.parse_args()
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    client = get_client_model()(name="rp", client_type="confidential", grant_types="client_credentials",
                                redirect_uris="", token_endpoint_auth_method="client_secret_basic")
    secret = client.generate_secret()
    client.save()
    wrong = "x" * len(secret)
    unknown_id = "y" * len(client.client_id)
    conf = {**settings.OAUTH_PROVIDER, "CLIENT_AUTH_THROTTLE": {"enabled": False}}
    with override_settings(OAUTH_PROVIDER=conf):
        print("| path | pairs | unknown client_id, µs | known, wrong secret, µs | gap, µs | gap |")
        print("|---|---:|---:|---:|---:|---:|")
        compare("`authenticate()`", in_authenticate(basic(unknown_id, wrong)),
                in_authenticate(basic(client.client_id, wrong)), 3 * args.requests)
        compare("`POST /o/token/`", over_http(basic(unknown_id, wrong)), over_http(basic(client.client_id, wrong)),
                args.requests)
    print(f"\n{os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
