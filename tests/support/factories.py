"""factory-boy factories for the models. ``ClientFactory`` keeps the raw secret it generated
on ``client.raw_secret`` so tests can authenticate with it."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model

from oauth_provider import secrets
from oauth_provider.models import (
    AccessToken,
    Authorization,
    AuthorizationCode,
    Consent,
    DeviceCode,
    RefreshToken,
    get_client_model,
)

REDIRECT_URI = "https://rp.example/cb"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("password")


class ClientFactory(factory.django.DjangoModelFactory):
    """A confidential client_secret_basic client for authorization_code + refresh_token
    (+ client_credentials), redirect URI https://rp.example/cb."""

    class Meta:
        model = get_client_model()
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Client {n}")
    client_type = "confidential"
    token_endpoint_auth_method = "client_secret_basic"
    redirect_uris = REDIRECT_URI
    grant_types = "authorization_code refresh_token client_credentials"
    allowed_scopes = ""

    @factory.post_generation
    def raw_secret(obj, create, extracted, **kwargs):  # noqa: N805
        if obj.client_type == "public":
            obj.raw_secret = None
        else:
            obj.raw_secret = extracted or obj.generate_secret()
            if extracted:
                obj.set_secret(extracted)
        obj.full_clean()
        if create:
            obj.save()


class PublicClientFactory(ClientFactory):
    """A public (native) client: PKCE only, loopback and private-use redirect URIs."""

    client_type = "public"
    token_endpoint_auth_method = "none"
    application_type = "native"
    redirect_uris = "http://127.0.0.1/cb com.example.app:/cb"
    grant_types = "authorization_code refresh_token"


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceClientFactory(ClientFactory):
    """A public device client (RFC 8628): no redirect URI, the device grant and refresh tokens
    (fixtures D1, D2 of the wave-2 checklist)."""

    client_type = "public"
    token_endpoint_auth_method = "none"
    redirect_uris = ""
    grant_types = f"{DEVICE_GRANT} refresh_token"


class AuthorizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Authorization

    client = factory.SubFactory(ClientFactory)
    user = factory.SubFactory(UserFactory)
    scope = "read"


class AccessTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessToken

    client = factory.SubFactory(ClientFactory)
    user = factory.SubFactory(UserFactory)
    scope = "read"
    token_hash = factory.LazyAttribute(lambda o: secrets.hash_token(o.raw))
    expires_at = factory.LazyFunction(lambda: secrets.now() + timedelta(hours=1))

    class Params:
        raw = factory.LazyFunction(secrets.generate_token)


class RefreshTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RefreshToken

    authorization = factory.SubFactory(AuthorizationFactory)
    scope = "read"
    token_hash = factory.LazyAttribute(lambda o: secrets.hash_token(o.raw))
    expires_at = factory.LazyFunction(lambda: secrets.now() + timedelta(days=30))

    class Params:
        raw = factory.LazyFunction(secrets.generate_token)


class AuthorizationCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuthorizationCode

    authorization = factory.SubFactory(AuthorizationFactory)
    redirect_uri = REDIRECT_URI
    code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 Appendix B
    code_challenge_method = "S256"
    code_hash = factory.LazyAttribute(lambda o: secrets.hash_token(o.raw))
    expires_at = factory.LazyFunction(lambda: secrets.now() + timedelta(seconds=60))

    class Params:
        raw = factory.LazyFunction(secrets.generate_token)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    user = factory.SubFactory(UserFactory)
    client = factory.SubFactory(ClientFactory)
    scope = "read"


class DeviceCodeFactory(factory.django.DjangoModelFactory):
    """A pending device authorization; ``raw`` is its device code, ``user_code`` its user code."""

    class Meta:
        model = DeviceCode

    client = factory.SubFactory(DeviceClientFactory)
    scope = "read"
    device_code_hash = factory.LazyAttribute(lambda o: secrets.hash_token(o.raw))
    user_code_hash = factory.LazyAttribute(
        lambda o: secrets.user_code_digest(secrets.normalize_user_code(o.user_code)))
    expires_at = factory.LazyFunction(lambda: secrets.now() + timedelta(seconds=600))

    class Params:
        raw = factory.LazyFunction(secrets.generate_token)
        user_code = factory.LazyFunction(secrets.generate_user_code)
