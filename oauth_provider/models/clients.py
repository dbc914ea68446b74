"""Registered clients: the one swappable model (``OAUTH_PROVIDER_CLIENT_MODEL``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import django
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models.constraints import BaseConstraint
from django.utils.translation import gettext_lazy as _

from .. import generators
from .. import secrets as _secrets
from ..redirect_uris import validate_redirect_uri

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
    """token_endpoint_auth_method values (RFC 7591 §2)."""

    CLIENT_SECRET_BASIC = "client_secret_basic", _("HTTP Basic (client_secret_basic)")
    CLIENT_SECRET_POST = "client_secret_post", _("Form body (client_secret_post)")
    NONE = "none", _("None (public client)")


class AccessTokenFormat(models.TextChoices):
    OPAQUE = "opaque", _("Opaque (checked against the database)")
    JWT = "jwt", _("JWT (RFC 9068, verified without the database)")


class GrantType(models.TextChoices):
    AUTHORIZATION_CODE = "authorization_code", _("Authorization code (with PKCE)")
    REFRESH_TOKEN = "refresh_token", _("Refresh token")
    CLIENT_CREDENTIALS = "client_credentials", _("Client credentials")


#: Links shown to users (RFC 7591 §2 client metadata) are web pages or images: http(s) only,
#: so a stored ``javascript:`` or ``data:`` URL can never reach an ``href`` or ``src``.
validate_http_url = URLValidator(schemes=["http", "https"], message=_("Enter an http:// or https:// URL."))
#: hosts whose plain-http URLs browsers treat as secure (Mixed Content §4.3: potentially
#: trustworthy), and which nothing outside the machine can see: local development
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_secure_image_url(value: str) -> bool:
    """May a page of ours load an image from ``value``? https, or http on a loopback host. An
    http logo on the consent page is mixed content, and lets anyone on the path see who is
    consenting to what, and change the picture."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    return scheme == "https" or (scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)


def validate_logo_url(value: str) -> None:
    """The logo is loaded by the consent page itself: https only (http on a loopback host, for
    local development)."""
    validate_http_url(value)
    if not is_secure_image_url(value):
        raise ValidationError(_("Enter an https:// URL (http only on 127.0.0.1, [::1] or localhost)."),
                              code="invalid")

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
        _("client ID"), max_length=100, unique=True, default=generators.generate_client_id
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
        _("token endpoint authentication"), max_length=64, choices=AuthMethod.choices,
        default=AuthMethod.CLIENT_SECRET_BASIC,
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
        help_text=_("May introspect tokens issued to other clients."),
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
    def post_logout_redirect_uri_list(self) -> list[str]:
        return _words(self.post_logout_redirect_uris)

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
    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        public = self.client_type == ClientType.PUBLIC
        for uri in self.redirect_uri_list:
            try:
                validate_redirect_uri(uri, public=public)
            except ValidationError as exc:
                errors.setdefault("redirect_uris", []).extend(exc.messages)
        for uri in self.post_logout_redirect_uri_list:
            try:
                validate_redirect_uri(uri, public=public)
            except ValidationError as exc:
                errors.setdefault("post_logout_redirect_uris", []).extend(exc.messages)
        grants = self.grant_type_list
        unknown = [g for g in grants if g not in GrantType.values]
        if unknown:
            errors.setdefault("grant_types", []).append(
                _("Unknown grant type: %(g)s") % {"g": " ".join(unknown)}
            )
        if not grants:
            errors.setdefault("grant_types", []).append(_("Choose at least one grant type."))
        if GrantType.AUTHORIZATION_CODE in grants and not self.redirect_uri_list:
            errors.setdefault("redirect_uris", []).append(
                _("The authorization_code grant needs at least one redirect URI.")
            )
        if public and GrantType.CLIENT_CREDENTIALS in grants:
            errors.setdefault("grant_types", []).append(
                _("client_credentials needs a confidential client (OAuth 2.1 §4.2).")
            )
        if public and self.token_endpoint_auth_method != AuthMethod.NONE:
            errors.setdefault("token_endpoint_auth_method", []).append(
                _("A public client authenticates with 'none'.")
            )
        if not public and self.token_endpoint_auth_method == AuthMethod.NONE:
            errors.setdefault("token_endpoint_auth_method", []).append(
                _("A confidential client must authenticate with its secret.")
            )
        if public and self.skip_consent:
            errors.setdefault("skip_consent", []).append(PUBLIC_SKIP_CONSENT_MESSAGE)
        if errors:
            raise ValidationError(errors)

    def get_constraints(self) -> list[tuple[type[models.Model], Sequence[BaseConstraint]]]:
        """The constraints :meth:`validate_constraints` checks: all but the skip_consent one,
        which :meth:`clean` already reports on its field (it would otherwise say it twice)."""
        suffix = PUBLIC_SKIP_CONSENT_CONSTRAINT.rpartition("%(class)s")[2]
        return [(model, [c for c in constraints if not c.name.endswith(suffix)])
                for model, constraints in super().get_constraints()]


class Client(AbstractClient):
    class Meta(AbstractClient.Meta):
        swappable = CLIENT_MODEL_SETTING
