"""Django admin for clients, grants and tokens.

Only hashes are stored, so nothing here can show a code, token or client secret. A new client
secret (on creating a confidential client, or with the "Generate a new client secret" action)
is shown once, in an admin message rendered on the very response that made it: it is never
put in a redirect, so it never waits in the message cookie or the session.

Codes, tokens and families are minted by the protocol only, so they cannot be added here;
the "Revoke" actions set ``revoked_at`` (revoking a family revokes every token born of it,
RFC 9700 §4.14.2). Lists use ``list_select_related`` and no full-table counts, so they stay
cheap on large tables.

With a swapped client model (``OAUTH_PROVIDER_CLIENT_MODEL``) register it yourself::

    from django.contrib import admin
    from oauth_provider.admin import ClientAdmin

    admin.site.register(MyClient, ClientAdmin)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import display_for_value
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import keys, secrets
from .client_auth import uses_secret
from .forms import ClientForm
from .models import (
    AccessToken,
    Authorization,
    AuthorizationCode,
    Client,
    Consent,
    DeviceCode,
    ImportedToken,
    LogoutDelivery,
    RefreshToken,
    SigningKey,
)
from .models.registrations import ClientRegistration, InitialAccessToken, InitialAccessTokenQuerySet
from .models.tokens import revoke_client_tokens

SECRET_TEMPLATE = "oauth_provider/admin_client_secret.html"
StatusSelect = Callable[[Any, datetime], Any]
#: a status filter choice: its label (a lazy string) and the function narrowing a queryset to
#: it at a given time (the model layer's ``.live(now)``, ``.revoked()``, ``.expired(now)``...)
State = tuple[Any, StatusSelect]


def _user_search(prefix: str) -> str:
    return f"{prefix}__{get_user_model().USERNAME_FIELD}"


def _short_hash(value: str) -> str:
    return f"{value[:12]}…" if value else "-"


def _secret_columns() -> set[tuple[Any, str]]:
    """(model, field) pairs no admin filter may touch: the encrypted private signing key and
    the hashes of secrets, tokens and codes (and users' password hashes)."""
    from .models import get_client_model

    return {
        (SigningKey, "private_key"), (get_client_model(), "client_secret_hash"),
        (AccessToken, "token_hash"), (RefreshToken, "token_hash"), (AuthorizationCode, "code_hash"),
        (DeviceCode, "device_code_hash"), (DeviceCode, "user_code_hash"), (get_user_model(), "password"),
        (ImportedToken, "token_hash"), (InitialAccessToken, "token_hash"), (ClientRegistration, "token_hash"),
    }


def reaches_secret(model: Any, lookup: str) -> bool:
    """Does the changelist lookup ``lookup`` on ``model`` (``private_key__regex``,
    ``authorization__codes__code_hash__startswith``...) filter on a secret column?"""
    from django.core.exceptions import FieldDoesNotExist

    secret = _secret_columns()
    for part in lookup.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or lookup name: the path ends here
        if (model, field.name) in secret:
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class NoSecretLookups(admin.ModelAdmin):  # type: ignore[type-arg]  # a base for every model
    """Refuses changelist filters on secret columns. Django allows any lookup on a model's own
    fields (``?private_key__regex=^gA``), which answers, row by row, what a column holds to
    anyone who may view the list; refused lookups are Django's 400
    (``DisallowedModelAdminLookup``)."""

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        if reaches_secret(self.model, lookup):
            return False
        if request is None:  # Django 4.2 passes no request
            return super().lookup_allowed(lookup, value)  # type: ignore[call-arg]
        return super().lookup_allowed(lookup, value, request)


class StatusFilter(admin.SimpleListFilter):
    """"Status" filter whose choices come from the model admin's ``status_filters()``:
    name -> (label, function of (queryset, now) narrowing the queryset)."""

    title = _("status")
    parameter_name = "status"

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.states: dict[str, State] = model_admin.status_filters()
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, label) for name, (label, _q) in self.states.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        state = self.states.get(self.value() or "")
        return state[1](queryset, secrets.now()) if state else queryset


def _token_states() -> dict[str, State]:
    """States of an access or refresh token, as the model layer defines them."""
    return {
        "active": (_("Active"), lambda qs, now: qs.live(now)),
        "expired": (_("Expired"), lambda qs, now: qs.expired(now)),
        "revoked": (_("Revoked"), lambda qs, now: qs.revoked()),
    }


class ClientAdmin(NoSecretLookups):
    """Admin for the client model; works for a swapped model too (extra fields are shown in
    an "Other" section)."""

    form = ClientForm
    list_display = ("name", "client_id", "client_type", "token_endpoint_auth_method", "registration_method",
                    "is_active", "skip_consent", "owner", "created_at")
    list_filter = ("client_type", "application_type", "token_endpoint_auth_method", "registration_method",
                   "is_active", "skip_consent", "is_resource_server")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("secret", "registration_method", "created_at", "updated_at")
    actions = ("generate_new_secret", "deactivate", "revoke_all_tokens")
    ordering = ("name",)
    fieldsets_spec: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (None, ("name", "client_id", "client_type", "application_type", "token_endpoint_auth_method",
                "is_active")),
        (_("Redirects, grants and scopes"), ("redirect_uris", "post_logout_redirect_uris", "grant_types",
                                             "allowed_scopes")),
        (_("Keys (private_key_jwt)"), ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg")),
        (_("Protected authorization requests (PAR, JAR)"), ("require_pushed_authorization_requests",
                                                            "request_object_signing_alg",
                                                            "require_signed_request_object")),
        (_("Shown to users"), ("logo_uri", "client_uri", "policy_uri", "tos_uri")),
        (_("Software and contacts"), ("software_id", "software_version", "contacts")),
        (_("Back-channel logout"), ("backchannel_logout_uri", "backchannel_logout_session_required")),
        (_("Front-channel logout"), ("frontchannel_logout_uri", "frontchannel_logout_session_required")),
        (_("Trust"), ("skip_consent", "is_resource_server", "served_resources", "owner", "access_token_format",
                      "dpop_bound_access_tokens")),
        (_("Secret and history"), ("secret", "registration_method", "created_at", "updated_at")),
    )

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("name", "client_id", _user_search("owner"))

    @admin.display(description=_("client secret"))
    def secret(self, obj: Any) -> str:
        """Whether there is one, never its hash: a client imported from django-oauth-toolkit
        may hold a password hash of a secret a person chose, which anyone allowed to view
        clients could otherwise take away and attack offline."""
        if not obj.client_secret_hash:
            return str(_("none"))
        if obj.has_password_hashed_secret:
            return str(_("set (imported, a password hash until its first use)"))
        return str(_("set (only its SHA-256 digest is stored)"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Changing a client_id would orphan every deployed copy of the client's configuration.
        extra = ("client_id",) if obj is not None else ()
        return (*extra, *self.readonly_fields)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        spec = self.fieldsets_spec if obj is not None else self.fieldsets_spec[:-1]
        known = {name for _title, names in self.fieldsets_spec for name in names}
        sets: list[tuple[Any, dict[str, Any]]] = [(title, {"fields": names}) for title, names in spec]
        extra = [f for f in self.get_fields(request, obj) if f not in known]
        if extra:
            sets.append((_("Other"), {"fields": extra}))
        return sets

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.registration_method = "admin"
        if not uses_secret(obj):
            # A public client, or one proving itself with a signed assertion: no secret to keep.
            obj.set_secret(None)
        elif not obj.client_secret_hash:
            obj._new_secret = obj.generate_secret()
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        raw = getattr(obj, "_new_secret", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, _("The client “%(name)s” was added.") % {"name": obj}, messages.SUCCESS)
        self.announce_secret(request, obj, raw)
        return self.secret_response(request, [obj])

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        raw = getattr(obj, "_new_secret", None)
        if raw is None:
            return super().response_change(request, obj)
        self.message_user(request, _("The client “%(name)s” is now confidential.") % {"name": obj},
                          messages.SUCCESS)
        self.announce_secret(request, obj, raw)
        return self.secret_response(request, [obj])

    def announce_secret(self, request: HttpRequest, obj: Any, raw: str) -> None:
        """Add the one-time message carrying ``raw``; only :meth:`secret_response` may follow."""
        self.message_user(request, format_html(
            "Client secret for “{}” (client_id <code>{}</code>): <code>{}</code>. "
            "Copy it now, it will not be shown again: only its hash is stored.",
            obj, obj.client_id, raw,
        ), messages.WARNING)

    def secret_response(self, request: HttpRequest, clients: list[Any]) -> TemplateResponse:
        """Render the messages on this response rather than after a redirect, so a secret is
        never stored in the message cookie or session (it would sit there in clear)."""
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Copy the client secret now"),
            "clients": clients,
        }
        response = TemplateResponse(request, SECRET_TEMPLATE, context)
        add_never_cache_headers(response)
        return response

    @admin.action(description=_("Generate a new client secret"), permissions=["change"])
    def generate_new_secret(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        issued = []
        for client in queryset:
            if client.is_public:
                self.message_user(request, _("“%(name)s” is a public client: it has no secret.")
                                  % {"name": client}, messages.WARNING)
                continue
            if not uses_secret(client):
                self.message_user(request, _("“%(name)s” authenticates with %(method)s: it has no secret.")
                                  % {"name": client, "method": client.token_endpoint_auth_method},
                                  messages.WARNING)
                continue
            raw = client.generate_secret()
            client.save(update_fields=["client_secret_hash", "updated_at"])
            self.log_change(request, client, "Generated a new client secret.")
            self.announce_secret(request, client, raw)
            issued.append(client)
        return self.secret_response(request, issued) if issued else None

    @admin.action(description=_("Deactivate"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = queryset.update(is_active=False)
        self.message_user(request, ngettext("%(n)d client deactivated.", "%(n)d clients deactivated.",
                                            count) % {"n": count}, messages.SUCCESS)

    @admin.action(description=_("Revoke all tokens"), permissions=["change"])
    def revoke_all_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Revoke every family of the clients (and so each code, access and refresh token of
        it), and the access tokens issued outside a family (client_credentials)."""
        families, loose = revoke_client_tokens(queryset)
        self.message_user(request, _("Revoked %(f)d authorizations and %(t)d client-credentials tokens.")
                          % {"f": families, "t": loose}, messages.SUCCESS)


class _ProtocolRowAdmin(NoSecretLookups):
    """Rows the protocol mints: never added by hand, listed newest first without a full count."""

    show_full_result_count = False
    ordering = ("-pk",)
    list_filter = (StatusFilter,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def status_filters(self) -> dict[str, State]:
        raise NotImplementedError

    def _revoke(self, request: HttpRequest, queryset: Any) -> None:
        count = queryset.revoke()
        self.message_user(request, _("%(n)d revoked.") % {"n": count}, messages.SUCCESS)


@admin.register(Authorization)
class AuthorizationAdmin(_ProtocolRowAdmin):
    list_display = ("id", "client", "user", "scope", "created_at", "revoked_at")
    list_select_related = ("client", "user")
    raw_id_fields = ("client", "user")
    readonly_fields = ("client", "user", "scope", "resources", "created_at", "revoked_at", "auth_time", "session_id",
                       "claims", "auth_context")
    actions = ("revoke",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("client__name", "client__client_id", _user_search("user"))

    def status_filters(self) -> dict[str, State]:
        return {"active": (_("Active"), lambda qs, now: qs.live(now)),
                "revoked": (_("Revoked"), lambda qs, now: qs.revoked())}

    @admin.action(description=_("Revoke (with every code and token of the grant)"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._revoke(request, queryset)


@admin.register(AuthorizationCode)
class AuthorizationCodeAdmin(_ProtocolRowAdmin):
    list_display = ("hash_prefix", "client", "user", "created_at", "expires_at", "consumed_at")
    list_select_related = ("authorization__client", "authorization__user")
    raw_id_fields = ("authorization",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("authorization__client__name", "authorization__client__client_id",
                _user_search("authorization__user"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a code is a one-time credential: view or delete it, never edit it

    def status_filters(self) -> dict[str, State]:
        return {
            "active": (_("Unused"), lambda qs, now: qs.live(now)),
            "consumed": (_("Used"), lambda qs, now: qs.consumed()),
            "expired": (_("Expired"), lambda qs, now: qs.expired(now)),
            # of a revoked family: a replayed code's, or one the user or an admin revoked
            "revoked": (_("Revoked"), lambda qs, now: qs.revoked()),
        }

    @admin.display(description=_("code (hash)"), ordering="code_hash")
    def hash_prefix(self, obj: AuthorizationCode) -> str:
        return _short_hash(obj.code_hash)

    @admin.display(description=_("client"))
    def client(self, obj: AuthorizationCode) -> Any:
        return obj.authorization.client

    @admin.display(description=_("user"))
    def user(self, obj: AuthorizationCode) -> Any:
        return obj.authorization.user or "-"


@admin.register(DeviceCode)
class DeviceCodeAdmin(_ProtocolRowAdmin):
    """Device authorizations (RFC 8628), read-only: neither code is shown (the device code is a
    bearer credential, the user code would let a viewer claim a pending device; only keyed
    digests are stored anyway)."""

    list_display = ("id", "client", "user", "status", "scope", "created_at", "expires_at", "decided_at",
                    "consumed_at")
    list_select_related = ("client", "user")
    fields = ("client", "user", "status", "scope", "resources", "auth_time", "interval", "last_polled_at",
              "created_at", "expires_at", "decided_at", "consumed_at")
    readonly_fields = fields

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("client__name", "client__client_id", _user_search("user"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # minted and decided by the protocol only: view or delete

    def status_filters(self) -> dict[str, State]:
        return {
            "live": (_("Live"), lambda qs, now: qs.live(now)),
            "pending": (_("Pending"), lambda qs, now: qs.pending(now)),
            "expired": (_("Expired"), lambda qs, now: qs.dead(now)),
        }


class _TokenAdmin(_ProtocolRowAdmin):
    actions = ("revoke",)
    exclude = ("revoked_at",)  # shown by revoked(), which also tells of the family's revocation

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Everything is what the protocol issued; revoking is the "Revoke" action, and it is
        # final (an editable revoked_at would let staff un-revoke a token).
        return [
            "revoked" if f.name == "revoked_at" else f.name
            for f in self.model._meta.concrete_fields if f.name != "id"
        ]

    @admin.display(description=_("revoked at"), ordering="revoked_at")
    def revoked(self, obj: Any) -> Any:
        """The token's own revocation, else its family's (revoking a grant revokes every token
        born of it without touching their rows)."""
        if obj.revoked_at is not None:
            return display_for_value(obj.revoked_at, "-")
        family = obj.authorization
        if family is not None and family.revoked_at is not None:
            return _("%(when)s (its grant was revoked)") % {"when": display_for_value(family.revoked_at, "-")}
        return "-"

    @admin.display(description=_("token (hash)"), ordering="token_hash")
    def hash_prefix(self, obj: Any) -> str:
        return _short_hash(obj.token_hash)

    @admin.action(description=_("Revoke"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._revoke(request, queryset)


@admin.register(AccessToken)
class AccessTokenAdmin(_TokenAdmin):
    """A token obtained by token exchange (RFC 8693) shows the token it was exchanged for and
    its actor chain (``act``); revoking a token revokes what was exchanged for it or with it
    as the actor."""

    list_display = ("hash_prefix", "client", "user", "scope", "audience", "created_at", "expires_at",
                    "exchanged_from", "revoked")
    list_select_related = ("client", "user", "authorization", "subject_token")
    raw_id_fields = ("client", "user", "authorization", "subject_token", "actor_token")

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("client__name", "client__client_id", _user_search("user"))

    def status_filters(self) -> dict[str, State]:
        states = _token_states()
        states["exchanged"] = (_("From a token exchange"), lambda qs, now: qs.filter(subject_token__isnull=False))
        return states

    @admin.display(description=_("exchanged from"), ordering="subject_token")
    def exchanged_from(self, obj: AccessToken) -> str:
        subject = obj.subject_token
        return _short_hash(subject.token_hash) if subject is not None else "-"


@admin.register(RefreshToken)
class RefreshTokenAdmin(_TokenAdmin):
    list_display = ("hash_prefix", "client", "user", "scope", "created_at", "expires_at", "rotated_at",
                    "revoked")
    list_select_related = ("authorization__client", "authorization__user")
    raw_id_fields = ("authorization",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("authorization__client__name", "authorization__client__client_id",
                _user_search("authorization__user"))

    def status_filters(self) -> dict[str, State]:
        states = _token_states()
        states["rotated"] = (_("Rotated"), lambda qs, now: qs.rotated())
        return states

    @admin.display(description=_("client"))
    def client(self, obj: RefreshToken) -> Any:
        return obj.authorization.client

    @admin.display(description=_("user"))
    def user(self, obj: RefreshToken) -> Any:
        return obj.authorization.user or "-"


@admin.register(Consent)
class ConsentAdmin(NoSecretLookups):
    """Deleting a consent makes the user see the consent page again; it does not revoke the
    tokens already issued (use "Revoke" on the authorizations for that)."""

    list_display = ("user", "client", "scope", "updated_at")
    list_select_related = ("user", "client")
    raw_id_fields = ("user", "client")
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-pk",)
    show_full_result_count = False

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("client__name", "client__client_id", _user_search("user"))


@admin.register(SigningKey)
class SigningKeyAdmin(NoSecretLookups):
    """Signing keys are made by rotation only (the action below, or ``manage.py rotatekeys``);
    the private key is encrypted and never shown. Deleting a key that still signs or whose
    tokens are alive breaks those tokens: retire it by rotating instead."""

    list_display = ("kid", "algorithm", "state", "not_before", "retired_at", "created_at")
    list_filter = ("algorithm",)
    readonly_fields = ("kid", "algorithm", "public_jwk", "created_at", "not_before", "retired_at")
    exclude = ("private_key",)
    ordering = ("-not_before",)
    actions = ["rotate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("state"))
    def state(self, obj: SigningKey) -> str:
        return obj.state

    @admin.action(description=_("Rotate: publish a new key that signs after the pre-publication time"),
                  permissions=["change"])
    def rotate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        key = keys.create_key()
        self.message_user(
            request,
            _("New %(alg)s key %(kid)s; it signs from %(when)s.")
            % {"alg": key.algorithm, "kid": key.kid, "when": key.not_before.isoformat()},
            messages.SUCCESS,
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # "Rotate" acts on the key set, not on a selection: run it with nothing ticked too.
        if request.method == "POST" and request.POST.get("action") == "rotate":
            post = request.POST.copy()
            if not post.getlist(ACTION_CHECKBOX_NAME):
                post.setlist(ACTION_CHECKBOX_NAME, [str(pk) for pk in SigningKey.objects.values_list("pk", flat=True)])
            request.POST = post  # type: ignore[assignment]
        return super().changelist_view(request, extra_context)


@admin.register(ImportedToken)
class ImportedTokenAdmin(NoSecretLookups):
    """What ``import_dot`` carried over from django-oauth-toolkit (:mod:`oauth_provider.models.imports`):
    a record per token, kept after the token is revoked and cleaned up so a later run does not
    bring it back. Read-only; deleting a record lets a later run import that token again while
    DOT holds it as live."""

    list_display = ("hash_prefix", "kind", "imported_at", "expires_at")
    list_filter = ("kind",)
    readonly_fields = ("kind", "imported_at", "expires_at")
    ordering = ("-pk",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("token (hash)"), ordering="token_hash")
    def hash_prefix(self, obj: ImportedToken) -> str:
        return _short_hash(obj.token_hash)


@admin.register(LogoutDelivery)
class LogoutDeliveryAdmin(_ProtocolRowAdmin):
    """Back-channel logout deliveries (:mod:`oauth_provider.oidc.logout`): what was sent, what
    waits for a retry and what was given up on, with the client's last answer. "Send now"
    makes the selected pending ones due and sends them; ``cleartokens`` removes finished ones
    after a week."""

    list_display = ("id", "client", "subject", "reason", "state", "attempts", "next_attempt_at", "delivered_at",
                    "last_status", "last_error")
    list_select_related = ("client",)
    readonly_fields = ("client", "issuer", "subject", "session_id", "reason", "created_at", "attempts",
                       "next_attempt_at", "delivered_at", "failed_at", "last_status", "last_error")
    actions = ("send_now",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("client__name", "client__client_id", "subject")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # the list (and its action) only, for staff allowed to change deliveries: a row is the
        # protocol's record
        return obj is None and super().has_change_permission(request, obj)

    def status_filters(self) -> dict[str, State]:
        return {
            "pending": (_("Pending"), lambda qs, now: qs.pending()),
            "delivered": (_("Delivered"), lambda qs, now: qs.filter(delivered_at__isnull=False)),
            "failed": (_("Given up"), lambda qs, now: qs.filter(failed_at__isnull=False)),
        }

    @admin.display(description=_("state"))
    def state(self, obj: LogoutDelivery) -> str:
        return obj.state

    @admin.action(description=_("Send now (pending ones)"), permissions=["change"])
    def send_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        from .oidc.logout import deliver

        now = secrets.now()
        ids = list(LogoutDelivery.objects.pending().filter(pk__in=queryset.values("pk")).values_list("pk", flat=True))
        LogoutDelivery.objects.filter(pk__in=ids, next_attempt_at__gt=now).update(next_attempt_at=now)
        counts = deliver(ids, now=now)
        self.message_user(request, _("%(delivered)d delivered, %(retried)d to retry, %(failed)d given up.") % counts,
                          messages.SUCCESS if not counts["retried"] + counts["failed"] else messages.WARNING)


@admin.register(InitialAccessToken)
class InitialAccessTokenAdmin(NoSecretLookups):
    """Initial access tokens for dynamic registration (RFC 7591 §3) are made by
    ``manage.py createregistrationtoken`` (the token is printed once; only its hash is kept).
    Here they are listed and revoked."""

    list_display = ("__str__", "usable", "uses_left", "expires_at", "revoked_at", "created_at")
    # what a token may do is set when it is made; revoking (the action) is final: an editable
    # revoked_at, uses_left or expires_at would bring back or stretch a credential that opens
    # registration
    readonly_fields = ("expires_at", "uses_left", "revoked_at", "created_by", "created_at")
    fields = ("description", "expires_at", "uses_left", "revoked_at", "created_by", "created_at")
    ordering = ("-pk",)
    actions = ("revoke",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("usable"), boolean=True)
    def usable(self, obj: InitialAccessToken) -> bool:
        return obj.is_usable()

    @admin.action(description=_("Revoke the selected initial access tokens"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: InitialAccessTokenQuerySet) -> None:
        count = queryset.revoke()
        self.message_user(request, ngettext("Revoked %(n)d token.", "Revoked %(n)d tokens.", count) % {"n": count},
                          messages.SUCCESS)


@admin.register(ClientRegistration)
class ClientRegistrationAdmin(NoSecretLookups):
    """Clients that registered themselves (RFC 7591), with where from and with which initial
    access token. The registration access token is stored as a hash only. Deleting a row here
    takes away the client's RFC 7592 access (the client itself stays, and ``cleartokens`` no longer
    deletes it when idle, see ``DYNAMIC_CLIENT_IDLE_TIMEOUT``; deactivate it there)."""

    list_display = ("client", "registered_from", "initial_token", "created_at", "updated_at", "last_used_at")
    list_select_related = ("client", "initial_token")
    readonly_fields = ("client", "registered_from", "initial_token", "created_at", "updated_at", "last_used_at")
    exclude = ("token_hash",)
    ordering = ("-pk",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("client__name", "client__client_id", "registered_from")


if not Client._meta.swapped:
    admin.site.register(Client, ClientAdmin)
