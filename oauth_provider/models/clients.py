"""Registered clients: the one swappable model (``OAUTH_PROVIDER_CLIENT_MODEL``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import django
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models.constraints import BaseConstraint
from django.utils.translation import gettext_lazy as _

from .. import client_metadata, generators, resources
from .. import secrets as _secrets
from ..client_metadata import (  # noqa: F401  # re-exported: migrations name these here
    LOOPBACK_HOSTS,
    InvalidClientMetadata,
    is_secure_image_url,
    validate_http_url,
    validate_logo_url,
)
from ..conf import provider_settings

CLIENT_MODEL_SETTING = "OAUTH_PROVIDER_CLIENT_MODEL"
DEFAULT_CLIENT_MODEL = "oauth_provider.Client"


def client_model_label() -> str:
    """The ``app_label.ModelName`` of the client model in use."""
    return getattr(settings, CLIENT_MODEL_SETTING, DEFAULT_CLIENT_MODEL)


def get_client_model() -> Any:
    """The client model class in use (``OAUTH_PROVIDER_CLIENT_MODEL``)."""
    try:
        return django_apps.get_model(client_model_label(), require_ready=False)
    except (ValueError, LookupError) as exc:
        raise ImproperlyConfigured(
            f"{CLIENT_MODEL_SETTING} refers to {client_model_label()!r}, which is not an installed model."
        ) from exc


class ClientType(models.TextChoices):
    CONFIDENTIAL = "confidential", _("Confidential (can keep a secret: a server-side app)")
    PUBLIC = "public", _("Public (cannot keep a secret: SPA, mobile or desktop app)")


class AuthMethod(models.TextChoices):
    """The built-in token_endpoint_auth_method values (RFC 7591 §2), as named constants. A
    client may use any method registered in ``OAUTH_PROVIDER["CLIENT_AUTH_METHODS"]``."""

    CLIENT_SECRET_BASIC = "client_secret_basic", _("HTTP Basic (client_secret_basic)")
    CLIENT_SECRET_POST = "client_secret_post", _("Form body (client_secret_post)")
    PRIVATE_KEY_JWT = "private_key_jwt", _("Signed JWT assertion (private_key_jwt)")
    NONE = "none", _("None (public client)")


class ApplicationType(models.TextChoices):
    """OIDC Registration §2 ``application_type``: decides which redirect URIs are allowed."""

    WEB = "web", _("Web (a site: https redirect URIs)")
    NATIVE = "native", _("Native (a mobile, desktop or CLI app: private-use scheme or loopback redirect URIs)")


class RegistrationMethod(models.TextChoices):
    """How a client came to be registered."""

    ADMIN = "admin", _("Admin")
    COMMAND = "command", _("createclient command")
    DYNAMIC = "dynamic", _("Dynamic registration (RFC 7591)")
    METADATA_DOCUMENT = "metadata_document", _("Client ID metadata document")


class AccessTokenFormat(models.TextChoices):
    OPAQUE = "opaque", _("Opaque (checked against the database)")
    JWT = "jwt", _("JWT (RFC 9068, verified without the database)")


class GrantType(models.TextChoices):
    """The built-in grant types, as named constants. A client may use any grant type
    registered in ``OAUTH_PROVIDER["GRANT_TYPES"]``."""

    AUTHORIZATION_CODE = "authorization_code", _("Authorization code (with PKCE)")
    REFRESH_TOKEN = "refresh_token", _("Refresh token")
    CLIENT_CREDENTIALS = "client_credentials", _("Client credentials")
    DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code", _("Device authorization (RFC 8628)")
    TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange", _("Token exchange (RFC 8693)")
    JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer", _("JWT bearer assertion (RFC 7523)")


#: the name of the constraint that keeps ``skip_consent`` off public clients (RFC 8252 §8.6)
PUBLIC_SKIP_CONSENT_CONSTRAINT = "%(app_label)s_%(class)s_public_no_skip_consent"
PUBLIC_SKIP_CONSENT_MESSAGE = _(
    "A public client cannot skip the consent page: any app can claim its client_id (RFC 8252 §8.6)."
)


def _display_uri(verbose_name: Any, help_text: Any, *, image: bool = False) -> models.URLField[str, str]:
    return models.URLField(verbose_name, max_length=500, blank=True, help_text=help_text,
                           validators=[validate_logo_url if image else validate_http_url])


def check_constraint(condition: models.Q, name: str, message: Any) -> models.CheckConstraint:
    """A CheckConstraint on every supported Django: the argument is ``condition`` from 5.1 and
    ``check`` before (removed in 6.0). Migrations use it too, so they load on each version."""
    keyword = "condition" if django.VERSION >= (5, 1) else "check"
    arguments: dict[str, Any] = {keyword: condition, "name": name, "violation_error_message": message}
    return models.CheckConstraint(**arguments)


def public_skip_consent_constraint() -> models.CheckConstraint:
    """``skip_consent`` is never set on a public client, enforced by the database too."""
    return check_constraint(~models.Q(client_type="public", skip_consent=True),
                            PUBLIC_SKIP_CONSENT_CONSTRAINT, PUBLIC_SKIP_CONSENT_MESSAGE)


def _words(value: str) -> list[str]:
    return value.split()


class AbstractClient(models.Model):
    """A registered OAuth client. Subclass it (and set ``OAUTH_PROVIDER_CLIENT_MODEL``) to
    add fields; the protocol code only relies on the fields and methods defined here."""

    client_id = models.CharField(
        _("client ID"), max_length=255, unique=True, default=generators.generate_client_id,
        help_text=_("Generated, or the https URL of the client's metadata document (client ID metadata documents)."),
    )
    client_secret_hash = models.CharField(
        _("client secret (hash)"), max_length=255, blank=True, editable=False,
        help_text=_("Only a hash is stored. The secret itself is shown once, when it is created."),
    )
    name = models.CharField(_("name"), max_length=255)
    client_type = models.CharField(
        _("client type"), max_length=32, choices=ClientType.choices, default=ClientType.CONFIDENTIAL
    )
    token_endpoint_auth_method = models.CharField(
        _("token endpoint authentication"), max_length=64, default=AuthMethod.CLIENT_SECRET_BASIC,
        help_text=_("One of the methods in OAUTH_PROVIDER['CLIENT_AUTH_METHODS'].")
    )
    application_type = models.CharField(
        _("application type"), max_length=16, choices=ApplicationType.choices, default=ApplicationType.WEB,
        help_text=_("Web: https redirect URIs. Native: private-use scheme (com.example.app:/cb) or "
                    "loopback (http://127.0.0.1/cb) redirect URIs (OIDC Registration §2, RFC 8252)."),
    )
    redirect_uris = models.TextField(
        _("redirect URIs"), blank=True,
        help_text=_("One complete URI per line, matched exactly. https, or http on 127.0.0.1/[::1]/localhost."),
    )
    grant_types = models.CharField(
        _("grant types"), max_length=255, default="authorization_code refresh_token",
        help_text=_("Space-separated grant types the client may use."),
    )
    allowed_scopes = models.TextField(
        _("allowed scopes"), blank=True,
        help_text=_("Space-separated. Empty: every scope in OAUTH_PROVIDER['SCOPES']."),
    )
    skip_consent = models.BooleanField(
        _("skip consent"), default=False,
        help_text=_("A first-party confidential client: users are never shown the consent page. "
                    "Never for public clients."),
    )
    is_resource_server = models.BooleanField(
        _("resource server"), default=False,
        help_text=_("May introspect access tokens issued to other clients for the resources it serves."),
    )
    served_resources = models.TextField(
        _("resources served"), blank=True,
        help_text=_("For a resource server: the resource identifiers (RFC 8707) it serves, one per line, "
                    "from OAUTH_PROVIDER['RESOURCES']. It may introspect only access tokens meant for one "
                    "of them. Empty: the default resource (RESOURCE_IDENTIFIER)."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="%(app_label)s_%(class)s_owned",
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive clients cannot obtain or use tokens.")
    )
    post_logout_redirect_uris = models.TextField(
        _("post-logout redirect URIs"), blank=True,
        help_text=_("One complete URI per line, where RP-initiated logout may send the user back."),
    )
    access_token_format = models.CharField(
        _("access token format"), max_length=16, blank=True, choices=AccessTokenFormat.choices,
        help_text=_("Empty: the site default (OAUTH_PROVIDER['ACCESS_TOKEN_FORMAT'])."),
    )
    # Shown on the consent and connected-apps pages (RFC 7591 §2 names).
    logo_uri = _display_uri(
        _("logo URL"),
        _("An image shown next to the client's name (https; http only on 127.0.0.1, [::1] or localhost)."),
        image=True,
    )
    client_uri = _display_uri(_("home page"), _("The client's home page, linked from its name."))
    policy_uri = _display_uri(_("privacy policy"), _("How the client uses the data users let it see."))
    tos_uri = _display_uri(_("terms of service"), _("The client's terms of service."))
    # Keys and contacts (RFC 7591 §2).
    jwks = models.TextField(
        _("JWK Set"), blank=True,
        help_text=_('The client\'s public keys as a JWK Set ({"keys": [...]}), for private_key_jwt. '
                    "Public keys only; leave empty when the keys are at a JWK Set URL."),
    )
    jwks_uri = models.CharField(
        _("JWK Set URL"), max_length=500, blank=True,
        help_text=_("Where the client publishes its public keys (https), instead of the JWK Set above."),
    )
    token_endpoint_auth_signing_alg = models.CharField(
        _("assertion signing algorithm"), max_length=16, blank=True,
        choices=[(alg, alg) for alg in client_metadata.SIGNING_ALGORITHMS],
        help_text=_("The only algorithm accepted for this client's private_key_jwt assertions. "
                    "Empty: any asymmetric algorithm its keys support."),
    )
    contacts = models.TextField(
        _("contacts"), blank=True, help_text=_("E-mail addresses of people responsible for the client, one per line."),
    )
    software_id = models.CharField(
        _("software ID"), max_length=255, blank=True,
        help_text=_("Identifies the client software across its registrations (RFC 7591 §2)."),
    )
    software_version = models.CharField(_("software version"), max_length=255, blank=True)
    registration_method = models.CharField(
        _("registered by"), max_length=32, choices=RegistrationMethod.choices, default=RegistrationMethod.ADMIN,
        help_text=_("How the client was registered."),
    )
    # OpenID Connect Back-Channel Logout 1.0 §2.2
    backchannel_logout_uri = models.URLField(
        _("back-channel logout URI"), max_length=500, blank=True,
        help_text=_("Where the provider POSTs a signed logout token when the user logs out (https; http only "
                    "on a loopback host with ALLOW_INSECURE_LOOPBACK_FETCH). Empty: no back-channel logout."),
    )
    backchannel_logout_session_required = models.BooleanField(
        _("logout token must carry sid"), default=False,
        help_text=_("The client needs the session ID (sid) in logout tokens to find the session to end."),
    )
    # OpenID Connect Front-Channel Logout 1.0 §2
    frontchannel_logout_uri = models.URLField(
        _("front-channel logout URI"), max_length=500, blank=True,
        help_text=_("A page of the client that ends its session when the provider's logout page loads it in an "
                    "invisible iframe. Same scheme, host and port as a redirect URI; no fragment. Empty: no "
                    "front-channel logout."),
    )
    frontchannel_logout_session_required = models.BooleanField(
        _("front-channel logout needs iss and sid"), default=False,
        help_text=_("The provider adds iss and sid to the front-channel logout URI, so the client knows which "
                    "session to end."),
    )
    # RFC 9449 §5.2
    dpop_bound_access_tokens = models.BooleanField(
        _("DPoP-bound access tokens only"), default=False,
        help_text=_("The client always uses DPoP: a token request without a DPoP proof is refused (RFC 9449 §5.2)."),
    )
    # RFC 9126 §6, RFC 9101 §10.5 / OIDC Registration §2
    require_pushed_authorization_requests = models.BooleanField(
        _("require pushed authorization requests"), default=False,
        help_text=_("Accept this client's authorization requests only through the PAR endpoint (RFC 9126)."),
    )
    request_object_signing_alg = models.CharField(
        _("request object signing algorithm"), max_length=16, blank=True,
        choices=[(alg, alg) for alg in client_metadata.SIGNING_ALGORITHMS],
        help_text=_("The only algorithm accepted for this client's signed request objects (RFC 9101). "
                    "Empty: any asymmetric algorithm its keys support."),
    )
    require_signed_request_object = models.BooleanField(
        _("require signed request objects"), default=False,
        help_text=_("Accept this client's authorization requests only as a signed request object (RFC 9101 "
                    "§10.5), by value or pushed to the PAR endpoint."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        constraints = [public_skip_consent_constraint()]

    def __str__(self) -> str:
        return self.name or self.client_id

    # -- lists stored as text ------------------------------------------------------------
    @property
    def redirect_uri_list(self) -> list[str]:
        return _words(self.redirect_uris)

    @property
    def grant_type_list(self) -> list[str]:
        return _words(self.grant_types)

    @property
    def allowed_scope_tuple(self) -> tuple[str, ...] | None:
        """The client's scope allow-list, or None when it may ask for every registered scope."""
        words = _words(self.allowed_scopes)
        return tuple(words) if words else None

    @property
    def served_resource_list(self) -> list[str]:
        return _words(self.served_resources)

    @property
    def post_logout_redirect_uri_list(self) -> list[str]:
        return _words(self.post_logout_redirect_uris)

    @property
    def contact_list(self) -> list[str]:
        return [line.strip() for line in self.contacts.splitlines() if line.strip()]

    @property
    def jwks_dict(self) -> dict[str, Any] | None:
        """The registered JWK Set as an object (None when there is none or it is not JSON)."""
        if not self.jwks:
            return None
        try:
            value = json.loads(self.jwks)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def is_public(self) -> bool:
        return self.client_type == ClientType.PUBLIC

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.grant_type_list

    # -- secrets ---------------------------------------------------------------------------
    def set_secret(self, raw: str | None) -> None:
        """Store the hash of ``raw`` (None clears it, for public clients)."""
        self.client_secret_hash = _secrets.hash_token(raw) if raw else ""

    def generate_secret(self) -> str:
        """Give the client a fresh random secret; returns it (the only time it is seen)."""
        raw = _secrets.generate_token()
        self.set_secret(raw)
        return raw

    @property
    def has_password_hashed_secret(self) -> bool:
        """Is the secret stored as a Django password hash (migrated from django-oauth-toolkit,
        not converted yet)? Checking a guess against it costs the hasher's full work."""
        return "$" in (self.client_secret_hash or "")

    def check_secret(self, raw: str) -> bool:
        """Constant-time check of a presented secret.

        Secrets made here are SHA-256 digests. A secret migrated from django-oauth-toolkit as
        a Django password hash (``pbkdf2_sha256$...``) is verified once with Django's hashers
        and then re-stored as a digest, so later checks are fast.
        """
        stored = self.client_secret_hash
        if not stored:
            return False
        if "$" not in stored:
            return _secrets.constant_time_equals(_secrets.hash_token(raw), stored)
        try:
            identify_hasher(stored)
        except ValueError:
            return False
        try:
            matched = check_password(raw, stored)
        except ValueError:  # a corrupted stored hash: refuse, never a 500
            return False
        if not matched:
            return False
        self.set_secret(raw)
        type(self)._default_manager.filter(pk=self.pk).update(client_secret_hash=self.client_secret_hash)
        return True

    # -- validation ------------------------------------------------------------------------
    #: metadata name (RFC 7591 §2) -> the model field its errors belong to
    METADATA_FIELDS = {"client_name": "name", "scope": "allowed_scopes", "response_types": "grant_types",
                       "client_secret": "client_id", "client_secret_expires_at": "client_id"}

    def registered_metadata(self) -> dict[str, Any]:
        """This client's fields as RFC 7591 §2 metadata, as :func:`client_metadata.validate` reads it."""
        data: dict[str, Any] = {
            "client_name": self.name,
            "application_type": self.application_type,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "redirect_uris": self.redirect_uri_list,
            "post_logout_redirect_uris": self.post_logout_redirect_uri_list,
            "grant_types": self.grant_type_list,
            "scope": self.allowed_scopes.strip(),
            "contacts": self.contact_list,
            "jwks": self.jwks.strip(),
            "jwks_uri": self.jwks_uri.strip(),
            "software_id": self.software_id,
            "software_version": self.software_version,
            "token_endpoint_auth_signing_alg": self.token_endpoint_auth_signing_alg,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "backchannel_logout_session_required": self.backchannel_logout_session_required,
            "frontchannel_logout_uri": self.frontchannel_logout_uri,
            "frontchannel_logout_session_required": self.frontchannel_logout_session_required,
            "dpop_bound_access_tokens": self.dpop_bound_access_tokens,
            "require_pushed_authorization_requests": self.require_pushed_authorization_requests,
            "request_object_signing_alg": self.request_object_signing_alg,
            "require_signed_request_object": self.require_signed_request_object,
        }
        # Display URIs are checked by their own field validators (the same functions).
        return data

    def clean(self) -> None:
        """The RFC 7591 §2 rules of :mod:`oauth_provider.client_metadata` (one validator for the
        admin, ``createclient``, dynamic registration and metadata documents), plus the
        model's own: the client type agrees with the authentication method, and a public
        client never skips consent."""
        errors: dict[str, list[Any]] = {}
        source = self.registration_method if self.registration_method in client_metadata.SOURCES else "admin"
        try:
            client_metadata.validate(self.registered_metadata(), source=source)
        except InvalidClientMetadata as exc:
            for problem in exc.errors:
                name = self.METADATA_FIELDS.get(problem.field or "", problem.field or "")
                target = name if name in {f.name for f in self._meta.fields} else "__all__"
                if problem.description not in errors.get(target, []):
                    errors.setdefault(target, []).append(problem.description)
        public = self.client_type == ClientType.PUBLIC
        if public and self.token_endpoint_auth_method != AuthMethod.NONE:
            errors.setdefault("token_endpoint_auth_method", []).append(
                _("A public client authenticates with 'none'.")
            )
        if not public and self.token_endpoint_auth_method == AuthMethod.NONE:
            errors.setdefault("token_endpoint_auth_method", []).append(
                _("A confidential client must authenticate: with its secret, or with a signed assertion "
                  "(private_key_jwt).")
            )
        if public and self.skip_consent:
            errors.setdefault("skip_consent", []).append(PUBLIC_SKIP_CONSENT_MESSAGE)
        for problem in self._served_resource_problems():
            errors.setdefault("served_resources", []).append(problem)
        if errors:
            raise ValidationError(errors)

    def _served_resource_problems(self) -> list[Any]:
        """Each served resource must be a resource the provider knows (RFC 8707 §2: an
        absolute URI, compared as an exact string), and only a resource server serves any."""
        served = self.served_resource_list
        if not served:
            return []
        if not self.is_resource_server:
            return [_("Only a resource server serves resources: tick 'resource server' or leave this empty.")]
        known = {str(identifier) for identifier in provider_settings.RESOURCES or {}}
        try:
            known.add(resources.default_identifier())
        except ImproperlyConfigured:  # development mode: the default resource is each request's origin
            pass
        return [_("%(identifier)s is not a resource of OAUTH_PROVIDER['RESOURCES'] (nor the default "
                  "resource).") % {"identifier": identifier}
                for identifier in served if identifier not in known]

    def get_constraints(self) -> list[tuple[type[models.Model], Sequence[BaseConstraint]]]:
        """The constraints :meth:`validate_constraints` checks: all but the skip_consent one,
        which :meth:`clean` already reports on its field (it would otherwise say it twice)."""
        suffix = PUBLIC_SKIP_CONSENT_CONSTRAINT.rpartition("%(class)s")[2]
        return [(model, [c for c in constraints if not c.name.endswith(suffix)])
                for model, constraints in super().get_constraints()]


class Client(AbstractClient):
    class Meta(AbstractClient.Meta):
        swappable = CLIENT_MODEL_SETTING
