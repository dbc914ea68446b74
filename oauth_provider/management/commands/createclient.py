"""``manage.py createclient``: register an OAuth client from the command line.

The client goes through the model's ``full_clean()``, which applies
:mod:`oauth_provider.client_metadata`, so the rules and messages are the admin's (and dynamic
registration's): exact redirect URIs by ``application_type`` (OAuth 2.1 §2.3.1, RFC 8252 §7),
registered grant types and authentication methods only, no ``client_credentials`` for public
clients (OAuth 2.1 §4.2), public clients authenticate with ``none``, ``private_key_jwt`` needs
public keys (``--jwks`` or ``--jwks-uri``). A confidential client with a secret method gets a
fresh 256-bit secret that is printed once; only its hash is stored.
"""

from __future__ import annotations

import json
from argparse import RawDescriptionHelpFormatter
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter

from ... import client_metadata, scopes
from ...client_auth import uses_secret
from ...models import AuthMethod, ClientType, get_client_model
from ...registry import client_auth_method_names, grant_type_names

if TYPE_CHECKING:
    from ...models import AbstractClient

DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
#: option (and RFC 7591 §2 metadata name) -> what it is
DISPLAY_URIS = {
    "logo_uri": "The client's logo",
    "client_uri": "The client's home page",
    "policy_uri": "The client's privacy policy",
    "tos_uri": "The client's terms of service",
}

EPILOG = """\
examples:
  # a server-side web app (confidential, secret sent with HTTP Basic)
  manage.py createclient "Notes web" --redirect-uri https://notes.example/callback --scope "read write"

  # a native or single-page app (public: PKCE, no secret)
  manage.py createclient "Notes mobile" --public \\
      --redirect-uri com.example.notes:/callback http://127.0.0.1/callback

  # a TV app or CLI using the device authorization grant (RFC 8628): public, no redirect URI
  manage.py createclient "Notes TV" --grant-type urn:ietf:params:oauth:grant-type:device_code --public \\
      --grant-type refresh_token
  # a web app told when its users log out (OpenID Connect Back-Channel Logout)
  manage.py createclient "Notes web" --redirect-uri https://notes.example/callback \\
      --backchannel-logout-uri https://notes.example/oidc/backchannel-logout

  # a client whose requests must be pushed (RFC 9126) and signed with its key (RFC 9101)
  manage.py createclient "Bank app" --redirect-uri https://bank.example/cb --auth-method private_key_jwt \\
      --jwks-uri https://bank.example/jwks.json --require-pushed-authorization-requests

  # a backend service using client_credentials, as JSON for scripts
  manage.py createclient "Billing job" --grant-type client_credentials --scope read --json

The client secret is printed once and cannot be shown again: only its hash is stored.
"""


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's option ordering, with the epilog's examples kept as written."""


class Command(BaseCommand):
    # Line breaks are kept as written (RawDescriptionHelpFormatter).
    help = (
        "Register an OAuth client. Prints its client_id and, for a confidential client, its\n"
        "client secret, shown this once: only a hash of it is stored.\n"
        "\n"
        "Defaults: a confidential client authenticating with client_secret_basic, grant types\n"
        "authorization_code and refresh_token, and every scope in OAUTH_PROVIDER['SCOPES']."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("epilog", EPILOG)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Human-readable name, shown on the consent page.")
        parser.add_argument(
            "--redirect-uri", dest="redirect_uris", action="extend", nargs="+", default=[], metavar="URI",
            help="A redirect URI, registered exactly (repeatable; several may follow one flag). "
                 "Required for authorization_code.",
        )
        parser.add_argument(
            "--grant-type", dest="grant_types", action="extend", nargs="+", default=[], metavar="TYPE",
            help=f"A grant type registered in OAUTH_PROVIDER['GRANT_TYPES']: {', '.join(grant_type_names())} "
                 f"(repeatable). Default: {' '.join(DEFAULT_GRANT_TYPES)}.",
        )
        parser.add_argument(
            "--scope", dest="scopes", action="extend", nargs="+", default=[], metavar="SCOPE",
            help='Scopes the client may ask for, e.g. --scope "read write" (repeatable). '
                 "Default: every scope in OAUTH_PROVIDER['SCOPES'].",
        )
        parser.add_argument(
            "--post-logout-redirect-uri", dest="post_logout_redirect_uris", action="extend", nargs="+", default=[],
            metavar="URI", help="Where RP-initiated logout may send the user back (repeatable).",
        )
        parser.add_argument(
            "--backchannel-logout-uri", metavar="URL", default="",
            help="Where the provider POSTs a signed logout token when a user of this client logs out "
                 "(OpenID Connect Back-Channel Logout; https, checked like every URL the provider fetches).",
        )
        parser.add_argument(
            "--backchannel-logout-session-required", action="store_true",
            help="Logout tokens must carry the session ID (sid) the client's ID tokens carried.",
        )
        parser.add_argument(
            "--frontchannel-logout-uri", metavar="URL", default="",
            help="A page of the client that the provider's logout page loads in an invisible iframe so the "
                 "client ends its session (OpenID Connect Front-Channel Logout; same scheme, host and port "
                 "as a --redirect-uri, no fragment).",
        )
        parser.add_argument(
            "--frontchannel-logout-session-required", action="store_true",
            help="Add iss and sid (the sid the client's ID tokens carried) to the front-channel logout URI.",
        )
        parser.add_argument(
            "--dpop-bound-access-tokens", action="store_true",
            help="The client always uses DPoP (RFC 9449 §5.2): a token request without a DPoP proof is refused.",
        )
        for option, what in DISPLAY_URIS.items():
            parser.add_argument(f"--{option.replace('_', '-')}", dest=option, metavar="URL", default="",
                                help=f"{what}, shown on the consent page "
                                 f"({'https; http on a loopback host' if option == 'logo_uri' else 'http or https'}).")
        parser.add_argument("--public", action="store_true",
                            help="A public client (native or browser app): no secret, PKCE only.")
        parser.add_argument(
            "--auth-method", metavar="METHOD",
            help="How a confidential client authenticates: a method registered in "
                 f"OAUTH_PROVIDER['CLIENT_AUTH_METHODS'] ({', '.join(client_auth_method_names())}). "
                 "Default: client_secret_basic. private_key_jwt needs --jwks or --jwks-uri.",
        )
        parser.add_argument(
            "--application-type", choices=("web", "native"),
            help="web (https redirect URIs) or native (private-use scheme or loopback redirect URIs, RFC 8252). "
                 "Default: native when a redirect URI uses a private-use scheme, else web.",
        )
        parser.add_argument("--jwks", metavar="JSON", default="",
                            help="The client's public keys as a JWK Set, e.g. '{\"keys\": [...]}' (public keys only).")
        parser.add_argument("--jwks-uri", metavar="URL", default="",
                            help="Where the client publishes its JWK Set (https), instead of --jwks.")
        parser.add_argument("--signing-alg", dest="token_endpoint_auth_signing_alg", metavar="ALG", default="",
                            help="The only algorithm accepted for this client's assertions "
                                 f"({', '.join(client_metadata.SIGNING_ALGORITHMS)}). Default: any.")
        parser.add_argument("--request-object-signing-alg", metavar="ALG", default="",
                            help="The only algorithm accepted for this client's signed request objects "
                                 f"(RFC 9101; {', '.join(client_metadata.SIGNING_ALGORITHMS)}). Default: any.")
        parser.add_argument("--require-pushed-authorization-requests", action="store_true",
                            help="Accept this client's authorization requests only through the PAR endpoint "
                                 "(RFC 9126).")
        parser.add_argument("--require-signed-request-object", action="store_true",
                            help="Accept this client's authorization requests only as signed request objects "
                                 "(RFC 9101 section 10.5).")
        parser.add_argument("--contact", dest="contacts", action="extend", nargs="+", default=[], metavar="EMAIL",
                            help="E-mail address of someone responsible for the client (repeatable).")
        parser.add_argument("--software-id", default="", help="Identifies the client software (RFC 7591 §2).")
        parser.add_argument("--software-version", default="", help="The client software's version.")
        parser.add_argument("--skip-consent", action="store_true",
                            help="First-party confidential client: users are never shown the consent "
                                 "page (refused for --public: any app can claim a public client_id).")
        parser.add_argument("--resource-server", action="store_true",
                            help="May introspect access tokens issued to other clients for the resources it "
                                 "serves (--serves; without it, the default resource).")
        parser.add_argument("--serves", dest="served_resources", action="extend", nargs="+", default=[],
                            metavar="RESOURCE",
                            help="With --resource-server: a resource identifier of OAUTH_PROVIDER['RESOURCES'] "
                                 "whose access tokens it may introspect (repeatable).")
        parser.add_argument(
            "--access-token-format", choices=("opaque", "jwt"), default="",
            help="This client's access tokens: opaque or RFC 9068 JWTs (default: "
                 "OAUTH_PROVIDER['ACCESS_TOKEN_FORMAT']).",
        )
        parser.add_argument("--owner", metavar="USERNAME", help="The user who owns the client.")
        parser.add_argument("--json", action="store_true",
                            help="Print one JSON object (client_secret is null for a public client).")

    def handle(self, *args: Any, **options: Any) -> None:
        client = self.build(options)
        raw_secret = client.generate_secret() if uses_secret(client) else None
        try:
            client.full_clean()
        except ValidationError as exc:
            raise CommandError("The client is not valid:\n" + _describe(exc)) from exc
        client.save()
        if options["json"]:
            self.stdout.write(json.dumps(_as_dict(client, raw_secret)))
        else:
            self.report(client, raw_secret)

    def build(self, options: dict[str, Any]) -> Any:
        """An unsaved client from the options; raises :class:`CommandError` on bad input."""
        public = options["public"]
        if public and options["auth_method"]:
            raise CommandError("--auth-method is for confidential clients: a public client uses 'none'.")
        if options["auth_method"] == AuthMethod.NONE:
            raise CommandError("--auth-method none is a public client: use --public instead.")
        requested = [s for value in options["scopes"] for s in value.split()]
        known = scopes.registered()
        unknown = [s for s in requested if s not in known]
        if unknown:
            raise CommandError(
                f"Unknown scope: {' '.join(unknown)}. Known scopes (OAUTH_PROVIDER['SCOPES']): "
                f"{' '.join(known) or '(none)'}"
            )
        if public:
            method = AuthMethod.NONE
        else:
            method = options["auth_method"] or AuthMethod.CLIENT_SECRET_BASIC
        redirect_uris = list(dict.fromkeys(options["redirect_uris"]))
        application_type = options["application_type"] or (
            "native" if any(uri.partition(":")[0].lower() not in ("http", "https") for uri in redirect_uris)
            else "web")
        return get_client_model()(
            name=options["name"],
            client_type=ClientType.PUBLIC if public else ClientType.CONFIDENTIAL,
            token_endpoint_auth_method=method,
            application_type=application_type,
            registration_method="command",
            jwks=options["jwks"].strip(),
            jwks_uri=options["jwks_uri"].strip(),
            token_endpoint_auth_signing_alg=options["token_endpoint_auth_signing_alg"],
            contacts="\n".join(dict.fromkeys(options["contacts"])),
            software_id=options["software_id"],
            software_version=options["software_version"],
            redirect_uris="\n".join(redirect_uris),
            post_logout_redirect_uris="\n".join(dict.fromkeys(options["post_logout_redirect_uris"])),
            grant_types=" ".join(dict.fromkeys(options["grant_types"] or DEFAULT_GRANT_TYPES)),
            allowed_scopes=" ".join(dict.fromkeys(requested)),
            skip_consent=options["skip_consent"],
            is_resource_server=options["resource_server"],
            served_resources="\n".join(dict.fromkeys(options.get("served_resources", []))),
            access_token_format=options.get("access_token_format") or "",
            backchannel_logout_uri=options["backchannel_logout_uri"],
            backchannel_logout_session_required=options["backchannel_logout_session_required"],
            frontchannel_logout_uri=options["frontchannel_logout_uri"],
            frontchannel_logout_session_required=options["frontchannel_logout_session_required"],
            dpop_bound_access_tokens=options.get("dpop_bound_access_tokens", False),
            request_object_signing_alg=options["request_object_signing_alg"],
            require_pushed_authorization_requests=options["require_pushed_authorization_requests"],
            require_signed_request_object=options["require_signed_request_object"],
            owner=self.owner(options["owner"]),
            **{name: options[name] for name in DISPLAY_URIS},
        )

    @staticmethod
    def owner(username: str | None) -> Any:
        if not username:
            return None
        users = get_user_model()._default_manager
        try:
            return users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def report(self, client: AbstractClient, raw_secret: str | None) -> None:
        self.stdout.write(self.style.SUCCESS(f"Created {client.client_type} client {client.name!r}."))
        self.stdout.write(f"client_id:     {client.client_id}")
        if raw_secret is None:
            why = ("a public client uses PKCE" if client.is_public
                   else f"it authenticates with {client.token_endpoint_auth_method}")
            self.stdout.write(f"client_secret: (none: {why})")
            return
        self.stdout.write(f"client_secret: {raw_secret}")
        self.stdout.write(self.style.WARNING(
            "Copy the secret now, it will not be shown again: only its hash is stored."
        ))


def _as_dict(client: AbstractClient, raw_secret: str | None) -> dict[str, Any]:
    """The client as registered (RFC 7591 §3.2.1 names, from :func:`client_metadata.to_dict`),
    with its secret and the site's own fields."""
    data: dict[str, Any] = {
        "client_id": client.client_id,
        "client_secret": raw_secret,
        "name": client.name,
        "client_type": client.client_type,
        "skip_consent": client.skip_consent,
        "is_resource_server": client.is_resource_server,
    }
    if client.is_resource_server:
        data["served_resources"] = client.served_resource_list
    data.update(client_metadata.to_dict(client))
    if client.access_token_format:
        data["access_token_format"] = client.access_token_format
    return data


def _describe(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return "\n".join(f"  {m}" for m in exc.messages)
    return "\n".join(f"  {field}: {m}" for field, errs in exc.message_dict.items() for m in errs)
