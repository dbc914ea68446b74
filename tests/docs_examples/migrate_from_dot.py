from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from oauth_provider import secrets
from oauth_provider.conf import provider_settings
from oauth_provider.models import AccessToken, Authorization, RefreshToken, get_client_model

GRANT_TYPES = {  # DOT's authorization_grant_type -> ours
    "authorization-code": "authorization_code refresh_token",
    "client-credentials": "client_credentials",
}


def checksum(dot_token):
    """SHA-256 hex of the token: DOT's token_checksum is exactly our token_hash."""
    return getattr(dot_token, "token_checksum", "") or secrets.hash_token(dot_token.token)


def import_application(app):
    """Our client for a DOT Application, with the same client_id and secret."""
    if app.authorization_grant_type not in GRANT_TYPES:
        raise ValueError(f"{app.client_id}: the {app.authorization_grant_type} grant has no equivalent here")
    public = app.client_type == "public"
    if public:
        secret_hash = ""
    elif getattr(app, "hash_client_secret", True):
        secret_hash = app.client_secret  # a Django password hash: checked once, then stored as SHA-256
    else:
        secret_hash = secrets.hash_token(app.client_secret)  # DOT kept it in the clear
    client = get_client_model()(
        client_id=app.client_id,
        name=app.name or app.client_id,
        client_type=app.client_type,
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        client_secret_hash=secret_hash,
        redirect_uris="\n".join(app.redirect_uris.split()),
        post_logout_redirect_uris="\n".join(app.post_logout_redirect_uris.split()),
        grant_types=GRANT_TYPES[app.authorization_grant_type],
        # never for a public client: any app can claim its client_id (RFC 8252 §8.6)
        skip_consent=app.skip_authorization and not public,
        owner=app.user,
    )
    client.full_clean()  # our rules are stricter: exact https (or loopback) redirect URIs
    client.save()
    return client


def import_access_token(dot_token, client, family=None):
    """A live DOT access token, found later by the hash of the value the client holds."""
    if family is None and dot_token.user is not None:
        family = Authorization.objects.create(
            client=client, user=dot_token.user, scope=dot_token.scope, created_at=dot_token.created
        )
    return AccessToken.objects.create(
        token_hash=checksum(dot_token), client=client, user=dot_token.user, authorization=family,
        scope=dot_token.scope, created_at=dot_token.created, expires_at=dot_token.expires,
    )


def import_refresh_token(dot_token, client):
    """A DOT refresh token and its access token, as one grant. DOT keeps the scope on the
    access token; a refresh token whose access token is gone cannot be carried over."""
    access = dot_token.access_token
    family = Authorization.objects.create(
        client=client, user=dot_token.user, scope=access.scope, created_at=dot_token.created
    )
    RefreshToken.objects.create(
        token_hash=checksum(dot_token), authorization=family, scope=access.scope, created_at=dot_token.created,
        expires_at=dot_token.created + timedelta(seconds=provider_settings.REFRESH_TOKEN_LIFETIME),
    )
    if access.expires > timezone.now():
        import_access_token(access, client, family)
    return family


@transaction.atomic
def import_everything(applications, refresh_tokens, access_tokens):
    """DOT's Application, RefreshToken and AccessToken rows (querysets or lists)."""
    clients = {app.pk: import_application(app) for app in applications}
    carried = set()
    for token in refresh_tokens:
        if token.revoked is None and token.access_token is not None:
            import_refresh_token(token, clients[token.application_id])
            carried.add(token.access_token.pk)
    for token in access_tokens:
        if token.pk not in carried and token.expires > timezone.now():
            import_access_token(token, clients[token.application_id])
    return clients
