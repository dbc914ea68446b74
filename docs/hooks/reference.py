"""The generated parts of the reference pages, built from the code so they cannot drift.

A page asks for a generated block with a marker on a line of its own::

    <!-- generate: settings -->            every key of oauth_provider.conf.DEFAULTS
    <!-- generate: endpoints -->           every URL name of oauth_provider.urls and root_urls
    <!-- generate: command createclient --> the command's real ``--help``
    <!-- generate: signals -->             the signals, from oauth_provider/signals.py's docstring
    <!-- generate: checks -->              the system checks, from oauth_provider/checks.py's docstring

:func:`expand` puts the block after each marker, closed by ``<!-- /generate -->``, replacing
what a previous expansion left there. The reference pages keep their blocks in the repository
(``python docs/hooks/reference.py --write``), so they read whole where Markdown is shown as it
is (GitHub, an editor); tests/test_docs.py fails when one is stale, and the MkDocs hook expands
them again at every build. It needs Django configured with the provider installed and mounted
at ``/o/`` (the hook and ``--write`` use ``tests.settings``; tests/test_docs.py runs under the
same settings and checks every block against the code it describes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: the security checklist's copy in docs/, when the checkout has one (tests/support/security_report.py reads it)
CHECKLIST = "security-checklist.md"
#: part 2: the rules of the wave-2 features (device flow, registration, DPoP, PAR/JAR, logout, FAPI 2.0)
CHECKLIST_PART2 = "security-checklist-wave2.md"
MARKER = re.compile(r"^<!-- generate: ([\w-]+)(?: ([\w-]+))? -->$(?:\n.*?^<!-- /generate -->$)?", re.M | re.S)
END = "<!-- /generate -->"
#: the pages whose blocks are kept in the repository (docs/security.md's link depends on the checkout)
STORED = ("reference/settings.md", "reference/endpoints.md", "reference/commands.md", "reference/signals.md",
          "reference/checks.md")
COMMANDS = ("createclient", "cleartokens", "sendlogouts", "rotatekeys", "import_dot", "createregistrationtoken")
#: argparse wraps help at the terminal width; fix it so the page does not depend on who builds it
HELP_COLUMNS = "100"


def rst_to_markdown(text: str) -> str:
    """The RST of our docstrings as Markdown: ``code`` and :role:`~dotted.Name` become `code`."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"`\1`", text)
    return text.replace("``", "`")


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- settings ------------------------------------------------------------------------------
def render_value(value: Any) -> str:
    """A default as Python source a reader could paste into ``OAUTH_PROVIDER``."""
    if isinstance(value, dict) and value:
        lines = ["{"] + [f"    {k!r}: {v!r}," for k, v in value.items()] + ["}"]
        return "\n".join(lines).replace("'", '"')
    return repr(value).replace("'", '"')


def type_names(setting: Any) -> str:
    names = [t.__name__ for t in setting.types]
    if setting.nullable:
        names.append("None")
    return " or ".join(f"`{n}`" for n in names)


def settings_reference() -> str:
    from oauth_provider.conf import DEFAULTS

    out = ["| Key | Type | Default |", "| --- | --- | --- |"]
    for name, setting in DEFAULTS.items():
        default = render_value(setting.default)
        shown = f"`{default}`" if "\n" not in default else "see below"
        out.append(f"| [`{name}`](#{name.lower()}) | {type_names(setting)} | {shown} |")
    for name, setting in DEFAULTS.items():
        out += ["", f"### `{name}`", "", rst_to_markdown(one_line(setting.doc)), ""]
        out.append(f"Type: {type_names(setting)}. Default:")
        out += ["", "```python", render_value(setting.default), "```"]
    return "\n".join(out)


# -- endpoints -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    methods: str
    auth: str
    spec: str
    what: str
    #: values for the path converters, to show a concrete path
    example: dict[str, str] | None = None
    #: OAUTH_PROVIDER values that turn the endpoint on (off, it answers 404 to everything)
    enabled_by: dict[str, Any] | None = None


#: Every URL name the two URLconfs define. tests/test_docs.py fails when a name is added to
#: the code but not here, or when a method listed here answers 405 (or one not listed does not).
ENDPOINTS: dict[str, Endpoint] = {
    "oauth_provider:authorize": Endpoint(
        "GET, POST", "the user's session (login page otherwise)", "RFC 6749 §4.1, OAuth 2.1 §4.1, RFC 7636, "
        "RFC 9207, OIDC Core §3.1.2",
        "Authorization request: code + PKCE S256; login, consent page, the code back with `state` and `iss`.",
    ),
    "oauth_provider:token": Endpoint(
        "POST", "client: `client_secret_basic`, `client_secret_post` or `none` (public)",
        "RFC 6749 §3.2, §5; OAuth 2.1 §3.2; RFC 8628 §3.4", "Tokens for `authorization_code`, `refresh_token`, "
        "`client_credentials` and the device code (`urn:ietf:params:oauth:grant-type:device_code`). CORS open.",
    ),
    "oauth_provider:par": Endpoint(
        "POST", "client: as at the token endpoint (incl. `none` for public clients)", "RFC 9126 §2, RFC 9101 §6",
        "Pushed authorization request: the request's parameters (or a signed `request` object) in, 201 with a "
        "single-use `request_uri` and `expires_in` out; errors as JSON. 404 when `PUSHED_AUTHORIZATION_REQUESTS` "
        "is off. CORS open.",
    ),
    "oauth_provider:metadata": Endpoint(
        "GET, HEAD", "none", "RFC 8414 §3", "Authorization-server metadata. CORS open, cacheable 5 minutes.",
    ),
    "oauth_provider:openid-configuration": Endpoint(
        "GET, HEAD", "none", "OpenID Connect Discovery 1.0 §4", "OpenID Provider metadata (404 when "
        "`OIDC_ENABLED` is off).",
    ),
    "oauth_provider:jwks": Endpoint(
        "GET, HEAD", "none", "RFC 7517 §5, OIDC Core §10.1", "Public signing keys: next, active and retired "
        "keys whose tokens may live (404 when `OIDC_ENABLED` is off).",
    ),
    "oauth_provider:userinfo": Endpoint(
        "GET, POST", "bearer access token with `openid`", "OIDC Core §5.3", "The user's claims for the "
        "granted scopes. CORS open.",
    ),
    "oauth_provider:end_session": Endpoint(
        "GET, POST", "the user's session; `id_token_hint` or a confirmation page", "OpenID Connect "
        "RP-Initiated Logout 1.0", "Log the user out and send them to a registered post-logout URI.",
    ),
    "oauth_provider:introspect": Endpoint(
        "POST", "confidential client (public clients get 401)", "RFC 7662",
        "Token state for the client that owns it, or for a resource-server client.",
    ),
    "oauth_provider:revoke": Endpoint(
        "POST", "client (a public client sends its `client_id`)", "RFC 7009",
        "Revoke an access token, or a refresh token with its whole grant. CORS open.",
    ),
    "oauth_provider:device_authorization": Endpoint(
        "POST", "client, as at the token endpoint (a public client sends its `client_id`)", "RFC 8628 §3.1-3.2",
        "A device code and a user code for a client registered for the device grant (404 when the grant "
        "is not in `GRANT_TYPES`).",
    ),
    "oauth_provider:device": Endpoint(
        "GET, POST", "the user's session (login page otherwise); POST is CSRF-protected", "RFC 8628 §3.3, §5",
        "The verification page: the user types the code, then approves or denies on the consent page.",
    ),
    "oauth_provider:connected_apps": Endpoint(
        "GET, POST", "the user's session; POST is CSRF-protected", "RFC 7009 §2.1 (the cascade)",
        "The user's authorized apps, each with a Revoke button.",
    ),
    "oauth_provider:registration": Endpoint(
        "POST", "none (`\"open\"`), an initial access token (`\"token\"`) or the adapter", "RFC 7591 §3",
        "Dynamic client registration: client metadata in, client information (and a registration access "
        "token) out. 404 unless `DYNAMIC_REGISTRATION` is on. CORS open.",
        enabled_by={"DYNAMIC_REGISTRATION": "open"},
    ),
    "oauth_provider:registration-client": Endpoint(
        "GET, PUT, DELETE", "the client's registration access token (bearer)", "RFC 7592 §2",
        "Read, replace or delete one dynamic registration (the `registration_client_uri`). CORS open.",
        {"client_id": "abc123"}, enabled_by={"DYNAMIC_REGISTRATION": "open"},
    ),
    "oauth_provider_root:metadata": Endpoint(
        "GET, HEAD", "none", "RFC 8414 §3", "The metadata of an issuer without a path (404 for one with a path).",
    ),
    "oauth_provider_root:metadata-path": Endpoint(
        "GET, HEAD", "none", "RFC 8414 §3.1", "The metadata at the path-inserted location of an issuer with a "
        "path.", {"issuer_path": "o"},
    ),
    "oauth_provider_root:protected-resource": Endpoint(
        "GET, HEAD", "none", "RFC 9728 §3", "Protected-resource metadata of an API at the site's origin.",
    ),
    "oauth_provider_root:protected-resource-path": Endpoint(
        "GET, HEAD", "none", "RFC 9728 §3.1", "The same for a `RESOURCE_IDENTIFIER` with a path.",
        {"resource_path": "api"},
    ),
}


def endpoint_path(name: str) -> str:
    from django.urls import reverse

    return reverse(name, kwargs=ENDPOINTS[name].example)


def url_names() -> set[str]:
    """Every named URL of ``oauth_provider.urls`` and ``oauth_provider.root_urls``."""
    from oauth_provider import root_urls, urls

    return {f"{module.app_name}:{p.name}" for module in (urls, root_urls) for p in module.urlpatterns if p.name}


def endpoints_reference() -> str:
    out = ["| URL name | Path | Methods | Authentication | Spec | What |", "| --- | --- | --- | --- | --- | --- |"]
    for name, e in ENDPOINTS.items():
        out.append(f"| `{name}` | `{endpoint_path(name)}` | {e.methods} | {e.auth} | {e.spec} | {e.what} |")
    return "\n".join(out)


# -- management commands -------------------------------------------------------------------
def command_help(name: str) -> str:
    """The real ``manage.py NAME --help``."""
    from django.core.management import load_command_class

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        command = load_command_class("oauth_provider", name)
        text = command.create_parser("manage.py", name).format_help()
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return text.rstrip()


def command_reference(name: str) -> str:
    if name not in COMMANDS:
        raise ValueError(f"no command {name!r} to document")
    return "```text\n$ python manage.py " + name + " --help\n" + command_help(name) + "\n```"


# -- signals -------------------------------------------------------------------------------
def documented_signals() -> dict[str, str]:
    """name -> description, from the definition list in oauth_provider/signals.py's docstring."""
    from oauth_provider import signals

    doc = signals.__doc__ or ""
    found = re.findall(r"^``(\w+)``\n((?:    .*\n?)+)", doc, re.M)
    return {name: one_line(text) for name, text in found}


def signals_reference() -> str:
    out = ["| Signal | Keyword arguments (besides `sender`, the client model) |", "| --- | --- |"]
    for name, text in documented_signals().items():
        out.append(f"| `oauth_provider.signals.{name}` | {rst_to_markdown(text)} |")
    return "\n".join(out)


# -- system checks -------------------------------------------------------------------------
def documented_checks() -> dict[str, str]:
    """id -> description, from the table in oauth_provider/checks.py's docstring."""
    from oauth_provider import checks

    doc = checks.__doc__ or ""
    table = doc.split("=====", 2)[2].rsplit("=====", 1)[0] if doc.count("=====") >= 4 else ""
    rows: dict[str, str] = {}
    current = None
    for line in table.splitlines():
        match = re.match(r"^([EW]\d{3})\s+(.*)$", line)
        if match:
            current = match.group(1)
            rows[current] = match.group(2)
        elif current and line.strip() and not line.startswith("="):
            rows[current] += " " + line.strip()
    return {k: one_line(v) for k, v in rows.items()}


def checks_reference() -> str:
    out = ["| ID | Level | When |", "| --- | --- | --- |"]
    for check_id, text in documented_checks().items():
        level = "Error" if check_id.startswith("E") else "Warning"
        out.append(f"| `oauth_provider.{check_id}` | {level} | {rst_to_markdown(text)} |")
    return "\n".join(out)


# -- the security checklist --------------------------------------------------------------
def checklist_link() -> str:
    from pathlib import Path

    if not (Path(__file__).resolve().parents[1] / CHECKLIST).exists():
        return ""
    part2 = (Path(__file__).resolve().parents[1] / CHECKLIST_PART2).exists()
    return (f"The rules, each with the black-box test that proves it, are in the [security checklist]({CHECKLIST})"
            + (f" and its [part 2]({CHECKLIST_PART2}) for the later features." if part2 else "."))


# -- the expander --------------------------------------------------------------------------
GENERATORS: dict[str, Callable[..., str]] = {
    "settings": settings_reference,
    "endpoints": endpoints_reference,
    "command": command_reference,
    "signals": signals_reference,
    "checks": checks_reference,
    "checklist-link": checklist_link,
}


def expand(markdown: str) -> str:
    """``markdown`` with a fresh block after every ``<!-- generate: ... -->`` marker (the old one,
    up to ``<!-- /generate -->``, replaced); an empty block leaves the marker alone."""

    def replace(match: re.Match[str]) -> str:
        kind, argument = match.group(1), match.group(2)
        generator = GENERATORS.get(kind)
        if generator is None:
            raise ValueError(f"unknown generated block {kind!r}")
        block = generator(argument) if argument else generator()
        marker = f"<!-- generate: {kind}{' ' + argument if argument else ''} -->"
        return f"{marker}\n\n{block}\n\n{END}" if block else marker

    return MARKER.sub(replace, markdown)


def write() -> list[str]:
    """Expand the blocks of :data:`STORED` in place; the pages that changed."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1]
    changed = []
    for name in STORED:
        page = docs / name
        text = page.read_text()
        fresh = expand(text)
        if fresh != text:
            page.write_text(fresh)
            changed.append(name)
    return changed


def setup_django() -> None:
    """Configure Django with the test settings (the provider mounted at /o/) if nobody has."""
    import sys
    from pathlib import Path

    import django
    from django.conf import settings

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
        django.setup()


__all__ = ["ENDPOINTS", "expand", "setup_django", "write"]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python docs/hooks/reference.py --write   (rewrites the reference pages' generated blocks)")
    setup_django()
    for name in write():
        print(f"rewrote docs/{name}")
