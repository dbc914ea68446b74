"""The admin's client form.

Lists the model stores as space-separated text are edited as a textarea (redirect URIs, one
per line) and as checkboxes (grant types, allowed scopes). The grant types and
authentication methods offered are those registered in ``OAUTH_PROVIDER["GRANT_TYPES"]`` and
``["CLIENT_AUTH_METHODS"]`` (an extension grant or method is assignable here as soon as it is
registered). The client type decides the authentication method when none is chosen: a public
client cannot keep a secret, so it authenticates with ``none`` (OAuth 2.1 §2.1, RFC 8252
§8.5); a confidential client defaults to its secret. Every other rule lives in
:mod:`oauth_provider.client_metadata`, which the model's ``clean()`` (run by the form) calls,
so the admin, the ``createclient`` command, dynamic registration and host code enforce the
same rules with the same messages.
"""

from __future__ import annotations

from typing import Any, cast

import django
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import scopes
from .models import AuthMethod, ClientType, GrantType, get_client_model
from .registry import client_auth_method_names, grant_type_names


def scope_choices(current: list[str]) -> list[tuple[str, str]]:
    """Checkbox choices for allowed scopes: every registered scope, plus any the client still
    holds that was since removed from ``SCOPES`` (so saving the form never drops it silently)."""
    registered = scopes.registered()
    choices = [(name, f"{name}: {desc}") for name, desc in registered.items()]
    choices += [(name, _("%(name)s (not in SCOPES)") % {"name": name}) for name in current
                if name not in registered]
    return choices


def display_url_field(name: str) -> forms.Field:
    """The form field of one of the client's display URLs (logo, home page, policy, terms).

    Declared on the form so a scheme-less entry becomes https:// on every Django version
    (Django 5.x warns until ``assume_scheme`` is given; 4.2 has no such argument)."""
    if django.VERSION >= (5, 0):
        field = get_client_model()._meta.get_field(name).formfield(assume_scheme="https")
    else:
        field = get_client_model()._meta.get_field(name).formfield(form_class=_HttpsURLField)
    assert field is not None
    return cast(forms.Field, field)


def labelled(names: list[str], labels: dict[str, Any], current: list[str]) -> list[tuple[str, Any]]:
    """Choices for registered ``names`` (the built-in ones with their labels), plus any value
    the client still holds that is no longer registered, so the form shows it."""
    choices: list[tuple[str, Any]] = [(name, labels.get(name, name)) for name in names]
    choices += [(name, _("%(name)s (not registered)") % {"name": name}) for name in current if name not in names]
    return choices


class _HttpsURLField(forms.URLField):
    """Django 4.2's URLField assumes http:// for a scheme-less entry; these links assume https://."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and "://" not in value and ":" not in value.split("/")[0]:
            value = "https://" + value.strip()
        return super().to_python(value)


class ClientForm(forms.ModelForm):  # type: ignore[type-arg]  # the model is chosen at run time
    """ModelForm for the client model in use (``get_client_model()``)."""

    redirect_uris = forms.CharField(
        label=_("redirect URIs"), required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false"}),
        help_text=_("One complete URI per line, matched exactly: no wildcards, no fragment. https, or "
                    "http on 127.0.0.1/[::1]; reverse-domain schemes (com.example.app:/cb) for "
                    "public native apps."),
    )
    grant_types = forms.MultipleChoiceField(
        label=_("grant types"), widget=forms.CheckboxSelectMultiple,
        help_text=_("The grant types registered in OAUTH_PROVIDER['GRANT_TYPES']."),
    )
    token_endpoint_auth_method = forms.ChoiceField(
        label=_("token endpoint authentication"), required=False,
        help_text=_("Derived from the client type when left empty: 'none' for a public client, "
                    "client_secret_basic for a confidential one."),
    )
    contacts = forms.CharField(
        label=_("contacts"), required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("E-mail addresses of people responsible for the client, one per line."),
    )
    jwks = forms.CharField(
        label=_("JWK Set"), required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false"}),
        help_text=_('The client\'s public keys, for private_key_jwt: {"keys": [...]}. Public keys only.'),
    )
    allowed_scopes = forms.MultipleChoiceField(
        label=_("allowed scopes"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: the client may ask for every scope in OAUTH_PROVIDER['SCOPES']."),
    )
    logo_uri = display_url_field("logo_uri")
    client_uri = display_url_field("client_uri")
    policy_uri = display_url_field("policy_uri")
    tos_uri = display_url_field("tos_uri")
    backchannel_logout_uri = display_url_field("backchannel_logout_uri")
    frontchannel_logout_uri = display_url_field("frontchannel_logout_uri")

    class Meta:
        model = get_client_model()
        # Every field, so a swapped client model's own fields are edited too.
        fields = "__all__"  # noqa: DJ007
        widgets = {"client_type": forms.RadioSelect, "application_type": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        # The model stores lists as text; the widgets want lists.
        self.initial["redirect_uris"] = "\n".join(instance.redirect_uri_list)
        self.initial["grant_types"] = instance.grant_type_list
        self.initial["contacts"] = "\n".join(instance.contact_list)
        self.initial["allowed_scopes"] = list(instance.allowed_scope_tuple or ())
        # Built per form, not at import, so a changed OAUTH_PROVIDER["SCOPES"] shows up at once.
        scope_field = cast(forms.MultipleChoiceField, self.fields["allowed_scopes"])
        scope_field.choices = scope_choices(self.initial["allowed_scopes"])
        grant_field = cast(forms.MultipleChoiceField, self.fields["grant_types"])
        registered = grant_type_names()
        if instance.pk is None:  # the model's default grants, where they are registered
            self.initial["grant_types"] = [g for g in self.initial["grant_types"] if g in registered]
        grant_field.choices = labelled(registered, dict(GrantType.choices), self.initial["grant_types"])
        if "application_type" in self.fields:
            self.fields["application_type"].required = False
        method_field = cast(forms.ChoiceField, self.fields["token_endpoint_auth_method"])
        current = [instance.token_endpoint_auth_method] if instance.pk else []
        method_field.choices = [("", "---------"), *labelled(
            client_auth_method_names(), dict(AuthMethod.choices), current)]

    def clean_redirect_uris(self) -> str:
        lines: list[str] = []
        for line in self.cleaned_data["redirect_uris"].splitlines():
            uri = line.strip()
            if not uri:
                continue
            if any(ch.isspace() for ch in uri):
                raise ValidationError(_("Put one URI per line; %(uri)s contains a space."),
                                      params={"uri": uri}, code="whitespace")
            if uri not in lines:
                lines.append(uri)
        return "\n".join(lines)

    def clean_application_type(self) -> str:
        """Left empty: native when a redirect URI uses a private-use scheme (as ``createclient``
        decides), else the client's current type (``web`` for a new one)."""
        value = self.cleaned_data.get("application_type") or ""
        if value:
            return str(value)
        uris = str(self.data.get(self.add_prefix("redirect_uris"), "")).split()
        if any(uri.partition(":")[0].lower() not in ("http", "https") for uri in uris):
            return "native"
        return str(self.instance.application_type or "web")

    def clean_served_resources(self) -> str:
        return "\n".join(dict.fromkeys(str(self.cleaned_data.get("served_resources") or "").split()))

    def clean_contacts(self) -> str:
        return "\n".join(line.strip() for line in self.cleaned_data["contacts"].splitlines() if line.strip())

    def clean_jwks(self) -> str:
        return str(self.cleaned_data["jwks"]).strip()

    def clean_grant_types(self) -> str:
        return " ".join(self.cleaned_data["grant_types"])

    def clean_allowed_scopes(self) -> str:
        return " ".join(self.cleaned_data["allowed_scopes"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        client_type = data.get("client_type")
        method = data.get("token_endpoint_auth_method")
        if client_type == ClientType.PUBLIC:
            data["token_endpoint_auth_method"] = AuthMethod.NONE
        elif client_type == ClientType.CONFIDENTIAL and method in (None, "", AuthMethod.NONE):
            data["token_endpoint_auth_method"] = AuthMethod.CLIENT_SECRET_BASIC
        if data.get("token_endpoint_auth_method"):
            # construct_instance() skips a defaulted field missing from the POST data; set it
            # here too so the derived method is what the model validates and saves.
            self.instance.token_endpoint_auth_method = data["token_endpoint_auth_method"]
        return data
