"""The documentation site tells the truth about the code.

* Every code block on every page under docs/ runs (tests/docs_examples/harness.py says how,
  block by block): settings excerpts pass the system checks, ``manage.py`` lines run through
  ``call_command``, curl lines are answered by the site in process, JSON and HTTP samples
  have the real keys and headers, Python runs or is the verbatim source of a module here.
* The generated reference blocks (docs/hooks/reference.py) cover exactly what the code has:
  every DEFAULTS key, every URL name (with the methods that answer), every command's real
  ``--help``, every signal, every system check.
* mkdocs.yml lists every page, and the tutorials' flows work end to end with the unmodified
  client library they show (Authlib).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.test.client import RequestFactory

from oauth_provider.issuing import issue_tokens
from oauth_provider.models import Authorization, get_client_model
from tests.support.factories import ClientFactory, PublicClientFactory, UserFactory
from tests.support.token_helpers import post_form

from .conftest import basic_auth, pkce_pair
from .docs_examples import harness

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
DOCS_SETTINGS = {
    "ROOT_URLCONF": "tests.docs_examples.consumer_site_urls",
    "OAUTH_PROVIDER": {
        "ISSUER": "https://example.com/o",
        "SCOPES": {"read": "Read your notes", "write": "Change your notes"},
    },
}
#: pages whose examples run inside a test of their own, after which that test goes on
OWN_TESTS = {"tutorials/log-in-with-your-site.md", "how-to/adapter.md", "how-to/service-accounts.md",
             # with django-oauth-toolkit installed: tests/migration/test_docs_page.py
             "migrating-from-dot.md"}


def load_reference():
    name = "oauth_provider_docs_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "hooks" / "reference.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


reference = load_reference()


# -- setups the pages' shell blocks ask for (setup=NAME) -------------------------------------
def logged_in_browser(session: harness.Session) -> Client:
    if session.browser is None:
        users = get_user_model()._default_manager
        user = users.filter(username="alice").first() or users.create_user("alice", "alice@example.com", PASSWORD)
        browser = Client(HTTP_HOST="example.com")
        assert browser.login(username=user.get_username(), password=PASSWORD)
        session.browser = browser
    return session.browser


def authorization_code(session: harness.Session) -> None:
    """What the client's redirect brings back: $CODE for the client $CLIENT_ID (all its scopes,
    its first redirect URI), approved by alice on the consent page, and its $VERIFIER."""
    client = get_client_model().objects.get(client_id=session.env["CLIENT_ID"])
    browser = logged_in_browser(session)
    verifier, challenge = pkce_pair()
    if "VERIFIER" in session.env:  # the page's own (a fixed example pair)
        verifier = session.env["VERIFIER"]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri_list[0],
        "scope": client.allowed_scopes, "state": "xyz", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = browser.get("/o/authorize/", params, secure=True)
    if page.status_code == 200:
        blob = re.search(r'name="oauth_request" value="([^"]+)"', page.content.decode()).group(1)
        page = browser.post("/o/authorize/", {"oauth_request": blob, "allow": "allow"}, secure=True)
    assert page.status_code == 302, page.content[:300]
    query = parse_qs(urlsplit(page["Location"]).query)
    session.env.update(CODE=query["code"][0], VERIFIER=verifier)


def service_client(session: harness.Session) -> None:
    """$CLIENT_ID and $CLIENT_SECRET of a confidential client allowed client_credentials."""
    client = ClientFactory(name="Docs service", grant_types="client_credentials", redirect_uris="")
    session.env.update(CLIENT_ID=client.client_id, CLIENT_SECRET=client.raw_secret)


def resource_server(session: harness.Session) -> None:
    """A resource-server client ($RS_ID, $RS_SECRET), a confidential client ($CLIENT_ID,
    $CLIENT_SECRET) holding alice's $TOKEN and $REFRESH_TOKEN, and a public client
    ($PUBLIC_CLIENT_ID) holding her $ACCESS_TOKEN."""
    user = UserFactory(username="alice")
    rs = ClientFactory(name="Search API", is_resource_server=True)
    web, app = ClientFactory(name="Notes web"), PublicClientFactory(name="Notes mobile")
    request = RequestFactory().post("/o/token/", secure=True, HTTP_HOST="example.com")
    issued = {}
    for client in (web, app):
        family = Authorization.objects.create(client=client, user=user, scope="read")
        issued[client] = issue_tokens(request, grant_type="authorization_code", client=client, user=user,
                                      scope="read", authorization=family, refresh_scope="read")
    session.env.update(
        RS_ID=rs.client_id, RS_SECRET=rs.raw_secret, CLIENT_ID=web.client_id, CLIENT_SECRET=web.raw_secret,
        TOKEN=issued[web].access_token, REFRESH_TOKEN=issued[web].refresh_token,
        PUBLIC_CLIENT_ID=app.client_id, ACCESS_TOKEN=issued[app].access_token,
    )


def pem_keys(session: harness.Session) -> None:
    """$KEY_FILE: a new RSA private key in PKCS#1 PEM (as `openssl genrsa` writes and DOT's
    docs show); $ENCRYPTED_KEY_FILE: a P-256 key in encrypted PKCS#8, its password in the
    environment variable OLD_KEY_PASSWORD."""
    import os
    import shutil
    import tempfile

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    folder = Path(tempfile.mkdtemp(prefix="docs-keys-"))
    session.stack.callback(shutil.rmtree, folder, ignore_errors=True)
    session.stack.callback(os.environ.pop, "OLD_KEY_PASSWORD", None)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    plain = folder / "oidc-private-key.pem"
    plain.write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ))
    os.environ["OLD_KEY_PASSWORD"] = "docs example password"
    encrypted = folder / "legacy-key.pem"
    encrypted.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"docs example password"),
    ))
    session.env.update(KEY_FILE=str(plain), ENCRYPTED_KEY_FILE=str(encrypted))


def device_approved(session: harness.Session) -> None:
    """alice enters $USER_CODE at the verification page and presses Allow (RFC 8628 §3.3)."""
    browser = logged_in_browser(session)
    page = browser.post("/o/device/", {"user_code": session.env["USER_CODE"]}, secure=True)
    assert page.status_code == 200, page.content[:500]
    blob = re.search(r'name="device_request" value="([^"]+)"', page.content.decode()).group(1)
    done = browser.post("/o/device/", {"device_request": blob, "allow": "allow"}, secure=True)
    assert b"Device connected" in done.content


SETUPS = {"authorization_code": authorization_code, "service_client": service_client,
          "resource_server": resource_server, "pem_keys": pem_keys, "device_approved": device_approved}


@pytest.fixture
def session(db):
    with override_settings(**DOCS_SETTINGS):
        page_session = harness.Session(setups=SETUPS)
        with page_session.stack:
            page_session.stack.enter_context(harness.requests_in_process())
            yield page_session


# -- every page --------------------------------------------------------------------------------
def test_every_block_has_a_known_kind():
    unknown = [f"{b.where} ({b.lang or 'no language'})" for p in harness.pages() for b in harness.blocks(p)
               if b.kind not in harness.RUNNERS]
    assert not unknown, f"blocks the docs tests do not know how to run: {unknown}"


@pytest.mark.parametrize("page", [p for p in harness.pages() if p not in OWN_TESTS])
def test_examples_on_page(page, session):
    harness.run_page(page, session)


def test_mkdocs_nav_lists_every_page_once():
    """As the site shows it: mkdocs.yml's nav after the hooks' on_config (run here without
    mkdocs, which the test extra does not install)."""
    nav = [{"page": page} for page in re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)]
    spec = importlib.util.spec_from_file_location("docs_hooks_under_test", ROOT / "docs" / "hooks" / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    config = hooks.on_config({"nav": nav, "docs_dir": str(ROOT / "docs")})
    listed = [next(iter(item.values())) for item in config["nav"]]
    assert sorted(listed) == sorted(set(listed)), f"listed twice: {[p for p in listed if listed.count(p) > 1]}"
    assert set(listed) == set(harness.pages())


# -- the OpenID Connect tutorial, walked through by a browser --------------------------------
class Browser:
    """A browser with one cookie jar per host, like a real one: the consumer site and the
    provider keep separate sessions."""

    def __init__(self) -> None:
        self.jars: dict[str, Client] = {}

    def visit(self, url: str, data: dict | None = None):
        parts = urlsplit(url)
        client = self.jars.setdefault(parts.netloc, Client())
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if data is None:
            return client.get(path, HTTP_HOST=parts.netloc, secure=True)
        return client.post(path, data, HTTP_HOST=parts.netloc, secure=True)

    def follow(self, response, base: str):
        assert response.status_code in (301, 302, 303), response.content[:500]
        location = response["Location"]
        return location if location.startswith("https://") else base + location


def test_oidc_tutorial_logs_in_with_authlib(session):
    harness.run_page("tutorials/log-in-with-your-site.md", session)
    from tests.docs_examples.consumer import views

    importlib.reload(views)  # registers the client with the settings the page configured
    get_user_model()._default_manager.create_user(
        "alice", "alice@example.com", PASSWORD, first_name="Alice", last_name="Liddell"
    )
    browser, provider, consumer = Browser(), "https://example.com", "https://consumer.example"

    assert b"Log in with Example" in browser.visit(consumer + "/").content
    authorize = browser.follow(browser.visit(consumer + "/login/"), consumer)
    assert authorize.startswith(provider + "/o/authorize/?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    login_page = browser.follow(browser.visit(authorize), provider)
    next_url = parse_qs(urlsplit(login_page).query)["next"][0]
    back = browser.visit(login_page, {"username": "alice", "password": PASSWORD, "next": next_url})
    consent = browser.visit(browser.follow(back, provider))
    assert consent.status_code == 200 and b"Consumer site" in consent.content
    blob = re.search(r'name="oauth_request" value="([^"]+)"', consent.content.decode()).group(1)
    callback = browser.follow(browser.visit(provider + "/o/authorize/", {"oauth_request": blob, "allow": "allow"}),
                              provider)
    assert callback.startswith(consumer + "/auth/callback/?code=")
    home = browser.visit(browser.follow(browser.visit(callback), consumer)).content.decode()
    assert "Hello Alice Liddell" in home
    for claim in ("iss: https://example.com/o", "email: alice@example.com", "at_hash: ", "nonce: ", "auth_time: "):
        assert claim in home, claim
    profile = browser.visit(consumer + "/profile/").content.decode()
    assert "email: alice@example.com" in profile and "preferred_username: alice" in profile

    end_session = browser.follow(browser.visit(consumer + "/logout/"), consumer)
    assert end_session.startswith(provider + "/o/logout/?id_token_hint=")
    assert browser.visit(end_session).status_code == 200
    assert "_auth_user_id" not in browser.jars["example.com"].session  # logged out at the provider too


# -- the generated reference ---------------------------------------------------------------------
def test_settings_reference_has_every_default():
    from oauth_provider.conf import DEFAULTS

    page = reference.expand((ROOT / "docs/reference/settings.md").read_text())
    for name, setting in DEFAULTS.items():
        assert f"### `{name}`" in page
        assert reference.rst_to_markdown(reference.one_line(setting.doc)) in page
        assert reference.render_value(setting.default) in page


def test_endpoint_reference_names_every_url():
    assert set(reference.ENDPOINTS) == reference.url_names()
    page = reference.expand((ROOT / "docs/reference/endpoints.md").read_text())
    for name in reference.ENDPOINTS:
        assert f"`{name}` | `{reference.endpoint_path(name)}`" in page


@pytest.mark.parametrize("name", sorted(reference.ENDPOINTS))
def test_endpoint_methods_are_the_ones_that_answer(name, user):
    """The methods listed answer (anything but 405); every other one is refused with 405."""
    enabled = reference.ENDPOINTS[name].enabled_by or {}
    with override_settings(ROOT_URLCONF="tests.urls", OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, **enabled}):
        path = reference.endpoint_path(name)
        browser = Client()
        browser.force_login(user)
        listed = {m.strip() for m in reference.ENDPOINTS[name].methods.split(",")}
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            status = browser.generic(method, path, secure=True).status_code
            if method in listed:
                assert status != 405, f"{method} {path} is documented but answers 405"
            else:
                assert status == 405, f"{method} {path} answers {status}; the reference does not list it"


@pytest.mark.parametrize("command", reference.COMMANDS)
def test_command_reference_is_the_real_help(command):
    from django.core.management import get_commands

    assert get_commands()[command] == "oauth_provider"
    page = reference.expand((ROOT / "docs/reference/commands.md").read_text())
    assert reference.command_help(command) in page
    for option in re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", (
        ROOT / f"oauth_provider/management/commands/{command}.py"
    ).read_text()):
        assert option in page, f"{command} {option} is missing from the reference"


def test_signal_reference_lists_every_signal():
    from django.dispatch import Signal

    from oauth_provider import signals

    real = {name for name, value in vars(signals).items() if isinstance(value, Signal)}
    assert set(reference.documented_signals()) == real
    page = reference.expand((ROOT / "docs/reference/signals.md").read_text())
    assert all(f"`oauth_provider.signals.{name}`" in page for name in real)


def test_check_reference_lists_every_check_id():
    source = "".join((ROOT / "oauth_provider" / name).read_text() for name in ("checks.py", "profile_checks.py"))
    in_code = set(re.findall(r'id="oauth_provider\.([EW]\d{3})"', source))
    # a profile's rules name the check each raises (oauth_provider/profiles.py)
    in_code |= set(re.findall(r'"oauth_provider\.([EW]\d{3})"', (ROOT / "oauth_provider/profiles.py").read_text()))
    assert set(reference.documented_checks()) == in_code
    page = reference.expand((ROOT / "docs/reference/checks.md").read_text())
    assert all(f"`oauth_provider.{check_id}`" in page for check_id in in_code)


def _one_argparse(text: str) -> str:
    """Python 3.13's argparse writes a short option's metavar once (``-v, --verbosity {0,1,2,3}``)."""
    return re.sub(r"(?m)^(\s+-\w) \S+, (--)", r"\1, \2", text)


@pytest.mark.parametrize("name", reference.STORED)
def test_the_stored_reference_blocks_are_current(name):
    """The reference pages keep their generated blocks, so they read whole on GitHub; a change to
    the code they describe must come with ``python docs/hooks/reference.py --write``."""
    text = (ROOT / "docs" / name).read_text()
    assert reference.END in text, f"docs/{name} has no stored block"
    assert _one_argparse(reference.expand(text)) == _one_argparse(text), (
        f"docs/{name} is stale: run python docs/hooks/reference.py --write")


def test_expanding_replaces_a_stored_block_and_is_idempotent():
    page = "# T\n\n<!-- generate: signals -->\n\nold text\n\n<!-- /generate -->\n\nafter\n"
    once = reference.expand(page)
    assert "old text" not in once and once.endswith("\n\nafter\n") and once.count(reference.END) == 1
    assert reference.expand(once) == once
    assert reference.expand("<!-- generate: signals -->") == once[len("# T\n\n"):-len("\n\nafter\n")]


def test_unknown_generated_block_is_an_error():
    with pytest.raises(ValueError):
        reference.expand("<!-- generate: nothing -->")


# -- how-to pages whose examples need a closer look ------------------------------------------------
def authorize(browser: Client, client, scope: str):
    """An authorization request by ``client`` in ``browser``: the consent page or the redirect."""
    _verifier, challenge = pkce_pair()
    return browser.get("/o/authorize/", {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri_list[0],
        "scope": scope, "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256",
    }, secure=True)


def test_adapter_page_policies_do_what_it_says(session):
    harness.run_page("how-to/adapter.md", session)
    browser = logged_in_browser(session)
    alice = get_user_model()._default_manager.get(username="alice")

    ours = ClientFactory(name="Intranet", owner=UserFactory(username="boss", is_staff=True))
    answer = authorize(browser, ours, "read")
    assert answer.status_code == 302 and "code" in parse_qs(urlsplit(answer["Location"]).query)

    beta = ClientFactory(name="Beta tester")
    answer = authorize(browser, beta, "read")
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer["Location"]).query)["error"] == ["access_denied"]
    from django.contrib.auth.models import Group

    alice.groups.add(Group.objects.create(name="beta"))
    assert authorize(browser, beta, "read").status_code == 200  # the consent page

    from oauth_provider.keys import create_key

    create_key(prepublish=False)
    verifier, challenge = pkce_pair()
    answer = browser.get("/o/authorize/", {
        "response_type": "code", "client_id": ours.client_id, "redirect_uri": ours.redirect_uri_list[0],
        "scope": "openid", "state": "s2", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
    }, secure=True)
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    tokens = post_form(Client(), {
        "grant_type": "authorization_code", "code": code, "redirect_uri": ours.redirect_uri_list[0],
        "code_verifier": verifier,
    }, "/o/token/", secure=True, HTTP_AUTHORIZATION=basic_auth(ours.client_id, ours.raw_secret))
    assert tokens.status_code == 200, tokens.content
    import jwt

    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd"]


def test_service_account_script_reads_the_api(session):
    harness.run_page("how-to/service-accounts.md", session)
    script = sys.modules["tests.docs_examples.service_client"]
    assert script.session.token["scope"] == "read"
    assert script.notes == {"owner": "", "client": session.env["NOTES_CLIENT_ID"], "scope": "read", "notes": []}


def test_key_encryption_keys_rotate_as_the_page_says(db):
    from oauth_provider import keys
    from oauth_provider.models import SigningKey

    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://example.com/o", "KEY_ENCRYPTION_KEYS": ["old"]}):
        first = keys.create_key(prepublish=False)
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://example.com/o", "KEY_ENCRYPTION_KEYS": ["new", "old"]}):
        assert keys.signing_key().kid == first.kid  # the old secret still decrypts
        second = keys.create_key()
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://example.com/o", "KEY_ENCRYPTION_KEYS": ["new"]}):
        assert keys.decrypt_private_key(SigningKey.objects.get(pk=second.pk).private_key)  # encrypted with the new
        with pytest.raises(ImproperlyConfigured):
            keys.decrypt_private_key(SigningKey.objects.get(pk=first.pk).private_key)


def test_readme_links_every_page():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    linked = set(re.findall(r"\]\(docs/([\w/.-]+\.md)\)", section))
    assert linked == set(harness.pages()) - {reference.CHECKLIST, reference.CHECKLIST_PART2}


def test_the_docs_extra_installs_what_the_docs_build_imports():
    """``pip install -e ".[docs]"`` then ``mkdocs build``: the hook (docs/hooks/) configures
    Django with tests.settings and loads its URLconf, so every third-party app installed there
    must come with the docs extra."""
    import importlib.metadata

    from django.conf import settings

    wanted = {re.split(r"[\[<>=!~ ]", r, maxsplit=1)[0].lower() for r in harness.pyproject_extra("docs")}
    providers = importlib.metadata.packages_distributions()
    for app in settings.INSTALLED_APPS:
        top = app.split(".")[0]
        if top in ("django", "oauth_provider", "tests"):
            continue
        assert {d.lower() for d in providers[top]} & wanted, f"the docs extra lacks the distribution of {app}"


def test_mutmut_is_configured_for_the_modules_the_mutation_run_covers():
    """``mutmut run`` in the checkout (docs/mutation-testing.md, the second tool) mutates
    exactly ``.ci/mutate``'s MODULES, and leaves out the tests it cannot fork (browser,
    servers) as ``.ci/crosscheck`` does."""
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    loader = importlib.machinery.SourceFileLoader("ci_crosscheck", str(root / ".ci" / "crosscheck"))
    spec = importlib.util.spec_from_loader("ci_crosscheck", loader)
    crosscheck = importlib.util.module_from_spec(spec)
    loader.exec_module(crosscheck)
    modules = list(crosscheck._mutate_module().MODULES)
    assert config["only_mutate"] == [f"oauth_provider/{m}" for m in modules]
    assert config["pytest_add_cli_args_test_selection"] == ["tests", *(f"--ignore={p}" for p in crosscheck.LEFT_OUT)]


def test_the_mcp_pages_introspection_check_refuses_a_token_for_another_resource():
    """docs/how-to/mcp.md's introspection snippet is an MCP server's audience check: an ``aud``
    string naming another resource whose URL starts with the server's must not pass (``in``
    on a string is a substring test), nor one naming nothing; a list naming it passes."""
    from unittest import mock

    text = (Path(__file__).resolve().parent.parent / "docs/how-to/mcp.md").read_text()
    snippet = re.search(r"```python\n(import requests\n\ndef introspect.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation's code
    answers = {
        "https://mcp.example.net/mcp/admin": None, "https://mcp.example.net/mcp2": None, None: None,
        "https://mcp.example.net/mcp": True, ("https://other.example/", "https://mcp.example.net/mcp"): True,
    }
    for aud, accepted in answers.items():
        answer = {"active": True, "sub": "1", "scope": "read",
                  **({"aud": list(aud) if isinstance(aud, tuple) else aud} if aud else {})}
        with mock.patch("requests.post") as post:
            post.return_value.json.return_value = answer
            assert (namespace["introspect"]("opaque") is not None) is bool(accepted), aud
