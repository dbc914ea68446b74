"""``floor_insert``: parse the form, one INSERT, JSON. ``floor_select_insert``: also parse
HTTP Basic, SELECT the client, compare the secret in constant time: the least a
client_credentials endpoint must do when secrets are not hashed with a slow KDF."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import unquote_plus

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import FloorClient, FloorToken

EXPIRES_IN = 3600


def _issue(client_pk: int | None, scope: str) -> JsonResponse:
    token = secrets.token_urlsafe(32)
    FloorToken.objects.create(
        client_id=client_pk, token=token, token_checksum=hashlib.sha256(token.encode()).hexdigest(),
        expires=timezone.now() + timedelta(seconds=EXPIRES_IN), scope=scope,
    )
    response = JsonResponse({"access_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN, "scope": scope})
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def floor_insert(request: HttpRequest) -> JsonResponse:
    return _issue(None, request.POST.get("scope", "read"))


@csrf_exempt
@require_POST
def floor_select_insert(request: HttpRequest) -> JsonResponse:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    try:
        client_id, secret = map(unquote_plus, base64.b64decode(auth[6:]).decode().split(":", 1))
    except ValueError:
        return JsonResponse({"error": "invalid_client"}, status=401)
    client = FloorClient.objects.filter(client_id=client_id).only("pk", "client_secret").first()
    if client is None or not constant_time_compare(secret, client.client_secret):
        return JsonResponse({"error": "invalid_client"}, status=401)
    return _issue(client.pk, request.POST.get("scope", "read"))
