"""Client authentication at the token endpoint (RFC 6749 §2.3, OAuth 2.1 §2.4 and §3.2.4),
exercised through ``client_credentials`` requests (the simplest grant that needs a client)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider.models import get_client_model
from oauth_provider.signals import client_authentication_failed
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.settings import oauth_settings
from tests.support.token_helpers import assert_error, post_form

from .conftest import basic_auth

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials", "scope": "read"}


@pytest.fixture
def api_client() -> HttpClient:
    return HttpClient()


@pytest.fixture
def failures():
    """Every client_authentication_failed the test triggers, as the receiver saw it."""
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append({"sender": sender, **kwargs})

    # connected for the client model as sender, as a host listening to client events connects
    client_authentication_failed.connect(receiver, sender=get_client_model())
    yield seen
    client_authentication_failed.disconnect(receiver, sender=get_client_model())


def raw_basic(text: str | bytes) -> str:
    """A Basic header built without form-urlencoding (what a careless client sends)."""
    data = text.encode() if isinstance(text, str) else text
    return "Basic " + base64.b64encode(data).decode()


def assert_token(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["access_token"] and body["token_type"] == "Bearer"
    return body


# -- client_secret_basic -----------------------------------------------------------------------


@pytest.mark.req("O21-2.4.1-client-secret-post")
def test_client_secret_basic_authenticates(api_client, conf_client):
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert_token(r)


ODD_CREDENTIALS = [
    ("rp:one", "se:cr:et"),
    ("100%-rp", "50%+50%=100%"),
    ("rp+plus", "a+b c"),
    ("rp with spaces", "  padded secret  "),
    ("rp-ünïcødé-客户", "sécret-密码-🔑"),
    ("a:%+ é", "b:%+ é"),
]


@pytest.mark.req("O21-2.4.1-basic-encoding")
@pytest.mark.parametrize(("client_id", "secret"), ODD_CREDENTIALS)
def test_basic_credentials_are_form_urlencoded_before_base64(api_client, client_id, secret):
    client = ClientFactory(client_id=client_id, raw_secret=secret)
    assert_token(post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, secret)))


@pytest.mark.req("O21-2.4.1-basic-encoding")
@pytest.mark.parametrize(("client_id", "secret"), ODD_CREDENTIALS)
def test_unencoded_basic_credentials_never_crash(api_client, client_id, secret):
    """Without the form-urlencoding step, ``:`` splits at the wrong place and ``%``/``+``
    decode to other characters, so those credentials must fail; spaces and non-ASCII decode
    to themselves, so those may pass. Either way: no 5xx."""
    ClientFactory(client_id=client_id, raw_secret=secret)
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=raw_basic(f"{client_id}:{secret}"))
    if any(c in client_id + secret for c in ":%+"):
        assert_error(r, "invalid_client")
    else:
        assert r.status_code == 200, r.content


@pytest.mark.req("O21-2.4.1-basic-encoding")
@pytest.mark.req("O21-3.2.4-401-basic")
@pytest.mark.parametrize(
    "header",
    [
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xc3(").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"id:secret").decode()[:-2],  # truncated padding
        "Basic " + base64.b64encode(b":").decode(),
        "Basic " + base64.b64encode(b"%zz:%").decode(),
        "Basic \u00e9\u00e9\u00e9",
        "BASIC " + base64.b64encode(b"x:y").decode(),
        "Basic " + "A" * 20_000,
    ],
)
def test_malformed_basic_header_is_invalid_client_not_500(api_client, header):
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=header)
    assert_error(r, "invalid_client")
    assert r["WWW-Authenticate"].startswith("Basic")


@pytest.mark.req("O21-3.2.4-401-basic")
def test_wrong_secret_with_basic_is_401_with_a_basic_challenge(api_client, conf_client, failures):
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret + "x"))
    assert_error(r, "invalid_client")
    assert r["WWW-Authenticate"].startswith("Basic ")
    assert [(f["client_id"], f["method"]) for f in failures] == [(conf_client.client_id, "client_secret_basic")]
    assert failures[0]["request"].path == "/o/token/"
    # it did send a secret: the hint for a client that sent only its client_id is not for it
    assert r.json()["error_description"] == "Client authentication failed."


@pytest.mark.req("O21-2.4.1-client-secret-post")
def test_basic_and_a_differing_body_client_id_is_invalid_client(api_client, conf_client):
    other = ClientFactory()
    r = post_form(
        api_client, {**CC, "client_id": other.client_id},
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    assert_error(r, "invalid_client")
    # the same client_id in the body as in the header is fine
    r = post_form(
        api_client, {**CC, "client_id": conf_client.client_id},
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    assert_token(r)


# -- client_secret_post ------------------------------------------------------------------------


@pytest.mark.req("O21-2.4.1-client-secret-post")
def test_client_secret_post_for_a_client_registered_with_it(api_client):
    client = ClientFactory(token_endpoint_auth_method="client_secret_post")
    assert_token(post_form(api_client, {**CC, "client_id": client.client_id, "client_secret": client.raw_secret}))
    r = post_form(api_client, {**CC, "client_id": client.client_id, "client_secret": "wrong"})
    body = assert_error(r, "invalid_client")
    assert body["error"] == "invalid_client"


@pytest.mark.req("O21-2.4.1-client-secret-post")
def test_client_secret_without_client_id_is_invalid_client(api_client):
    client = ClientFactory(token_endpoint_auth_method="client_secret_post")
    assert_error(post_form(api_client, {**CC, "client_secret": client.raw_secret}), "invalid_client")


# -- either standard place for the secret, unless the host is strict (issue 12, item 16) -------

STRICT = {"STRICT_CLIENT_AUTH_METHOD": True}


@pytest.mark.req("O21-2.4.1-client-secret-post")
def test_a_basic_client_may_send_its_secret_in_the_body(api_client, conf_client):
    """openid-client and mozilla-django-oidc send the secret in the body by default; the
    client registered (by default) for client_secret_basic still gets its token."""
    assert conf_client.token_endpoint_auth_method == "client_secret_basic"
    assert_token(post_form(api_client, {**CC, "client_id": conf_client.client_id,
                                        "client_secret": conf_client.raw_secret}))


@pytest.mark.req("O21-2.4.1-client-secret-post")
def test_a_post_client_may_send_its_secret_with_basic(api_client):
    client = ClientFactory(token_endpoint_auth_method="client_secret_post")
    assert_token(post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret)))


def test_a_wrong_secret_in_the_other_place_is_still_refused(api_client, conf_client, failures):
    r = post_form(api_client, {**CC, "client_id": conf_client.client_id, "client_secret": "wrong"})
    assert_error(r, "invalid_client")
    assert not r.has_header("WWW-Authenticate")  # Basic was not tried (RFC 6749 §5.2)
    assert [f["method"] for f in failures] == ["client_secret_post"]


@pytest.mark.req("DERIVED-client-policy")
def test_strict_basic_client_cannot_authenticate_with_client_secret_post(api_client, conf_client, failures, settings):
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, **STRICT}
    r = post_form(api_client, {**CC, "client_id": conf_client.client_id, "client_secret": conf_client.raw_secret})
    body = assert_error(r, "invalid_client")
    assert body["error_description"] == (
        "This client is registered for client_secret_basic: send client_id and secret in the "
        "Authorization header (HTTP Basic), not in the body."
    )
    assert [f["method"] for f in failures] == ["client_secret_post"]


@pytest.mark.req("DERIVED-client-policy")
def test_strict_post_client_cannot_authenticate_with_basic(api_client, settings):
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, **STRICT}
    client = ClientFactory(token_endpoint_auth_method="client_secret_post")
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    body = assert_error(r, "invalid_client")
    assert r["WWW-Authenticate"].startswith("Basic")
    assert "registered for client_secret_post: send client_id and client_secret in the form body" in (
        body["error_description"])


@pytest.mark.req("DERIVED-client-policy")
def test_a_client_registered_for_a_method_the_site_no_longer_offers_is_refused_not_crashed(
        api_client, conf_client, settings):
    """A client keeps the method it was registered for after the site drops that method from
    ``CLIENT_AUTH_METHODS``: the refusal names it (there is no hint text to give), never a 500."""
    settings.OAUTH_PROVIDER = {
        **settings.OAUTH_PROVIDER, **STRICT,
        "CLIENT_AUTH_METHODS": {"client_secret_post": "oauth_provider.client_auth.ClientSecretPost",
                                "none": "oauth_provider.client_auth.NoClientAuthentication"},
    }
    r = post_form(api_client, {**CC, "client_id": conf_client.client_id, "client_secret": conf_client.raw_secret})
    body = assert_error(r, "invalid_client")
    assert body["error_description"] == (
        "This client is registered for client_secret_basic: authenticate with client_secret_basic."
    )


def test_strict_mode_refusals_are_not_counted_as_guesses(api_client, conf_client, settings):
    """The secret was right, only its place was not: the client is never throttled for it."""
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, **STRICT}
    for _ in range(15):
        r = post_form(api_client, {**CC, "client_id": conf_client.client_id, "client_secret": "wrong"})
        assert r.status_code in (401, 429)
    r = post_form(api_client, {**CC, "client_id": conf_client.client_id, "client_secret": conf_client.raw_secret},
                  REMOTE_ADDR="203.0.113.50")
    assert r.status_code == 401 and "registered for client_secret_basic" in r.json()["error_description"]


@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_confidential_client_with_only_its_client_id_is_invalid_client(api_client, conf_client):
    assert_error(post_form(api_client, {**CC, "client_id": conf_client.client_id}), "invalid_client")


@pytest.mark.req("O21-3.2.4-one-auth-method")
def test_two_authentication_methods_at_once_is_invalid_request(api_client, conf_client):
    r = post_form(
        api_client, {**CC, "client_id": conf_client.client_id, "client_secret": conf_client.raw_secret},
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    body = assert_error(r, "invalid_request")
    assert "not both" in body["error_description"]  # says what to change


# -- public clients ------------------------------------------------------------------------------


@pytest.mark.req("O21-8.1-native-secret-not-auth")
@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_public_client_sending_a_secret_stays_public(api_client, public_client):
    # a secret the native app happens to ship (e.g. migrated from a system that gave every
    # client one) proves nothing: it neither authenticates nor unlocks client_credentials
    shipped = "shipped-in-the-app-binary"
    public_client.set_secret(shipped)
    public_client.save()
    for attempt in (
        {"data": {**CC, "client_id": public_client.client_id, "client_secret": shipped}},
        {"data": CC, "HTTP_AUTHORIZATION": basic_auth(public_client.client_id, shipped)},
    ):
        r = post_form(api_client, attempt.pop("data"), **attempt)
        assert r.status_code in (400, 401)
        assert r.json()["error"] in ("invalid_client", "unauthorized_client")
        assert "access_token" not in r.json()


def test_a_public_clients_basic_header_with_no_password_is_refused_saying_what_to_send(api_client, failures):
    """requests-oauthlib's default for a client without a secret is HTTP Basic with an empty
    password. It proves nothing (a public client has no secret) and is refused as before, but
    the description now says what a public client sends; an unknown or confidential client_id
    gets the usual words, so the answer tells nothing a client_id alone did not."""
    public, confidential = PublicClientFactory(), ClientFactory()
    body = {"grant_type": "refresh_token", "refresh_token": "whatever"}
    r = post_form(api_client, body, HTTP_AUTHORIZATION=basic_auth(public.client_id, ""))
    said = assert_error(r, "invalid_client")["error_description"]
    assert r.status_code == 401 and "public client" in said and "in the body" in said
    assert "no Authorization header" in said
    for client_id in (confidential.client_id, "no-such-client"):
        r = post_form(api_client, body, HTTP_AUTHORIZATION=basic_auth(client_id, ""))
        assert "public" not in assert_error(r, "invalid_client").get("error_description", "")
    assert len(failures) == 3  # each counted, as any failed authentication
    r = post_form(api_client, {**body, "client_id": public.client_id})
    assert assert_error(r, "invalid_grant")  # the body's client_id alone passes client authentication
    # where public clients cannot authenticate at all (no "none"), or for a disabled one, the
    # answer must not tell a public client_id from an unknown one
    disabled = PublicClientFactory(is_active=False)
    r = post_form(api_client, body, HTTP_AUTHORIZATION=basic_auth(disabled.client_id, ""))
    assert "public" not in assert_error(r, "invalid_client").get("error_description", "")
    secret_only = {"client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic",
                   "client_secret_post": "oauth_provider.client_auth.ClientSecretPost"}
    with override_settings(OAUTH_PROVIDER=oauth_settings(CLIENT_AUTH_METHODS=secret_only)):
        r = post_form(api_client, body, HTTP_AUTHORIZATION=basic_auth(public.client_id, ""))
        assert "public" not in assert_error(r, "invalid_client").get("error_description", "")


@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_public_client_registered_for_client_credentials_is_still_refused(api_client, public_client):
    # the model form refuses this combination; a row edited behind its back must not help
    type(public_client).objects.filter(pk=public_client.pk).update(
        grant_types="authorization_code client_credentials"
    )
    r = post_form(api_client, {**CC, "client_id": public_client.client_id})
    assert_error(r, "unauthorized_client")


# -- unknown and inactive clients ----------------------------------------------------------------


@pytest.mark.req("6749-5.2-error-shape")
def test_unknown_client_is_401(api_client, failures):
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth("no-such-client", "secret"))
    assert_error(r, "invalid_client")
    assert r["WWW-Authenticate"].startswith("Basic")
    r = post_form(api_client, {**CC, "client_id": "no-such-client"})
    assert_error(r, "invalid_client")
    assert [(f["client_id"], f["method"]) for f in failures] == [
        ("no-such-client", "client_secret_basic"), ("no-such-client", "none"),
    ]


@pytest.mark.req("6749-5.2-error-shape")
def test_inactive_client_is_401(api_client, failures):
    client = ClientFactory(is_active=False)
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    assert_error(r, "invalid_client")
    public = PublicClientFactory(is_active=False)
    r = post_form(api_client, {"grant_type": "refresh_token", "refresh_token": "x", "client_id": public.client_id})
    assert_error(r, "invalid_client")
    assert [f["client_id"] for f in failures] == [client.client_id, public.client_id]
    assert all(f["sender"] is type(client) for f in failures)


@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_no_credentials_at_all_is_401(api_client, conf_client):
    assert_error(post_form(api_client, CC), "invalid_client")


# -- secrets migrated from django-oauth-toolkit ----------------------------------------------------

PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"


@override_settings(PASSWORD_HASHERS=[PBKDF2])
def test_pbkdf2_secret_is_verified_once_then_stored_as_sha256(api_client):
    secret = "migrated-secret-from-dot"
    client = ClientFactory()
    client.client_secret_hash = make_password(secret)
    client.save()
    assert client.client_secret_hash.startswith("pbkdf2_sha256$")

    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, "wrong-" + secret))
    assert_error(r, "invalid_client")
    client.refresh_from_db()
    assert client.client_secret_hash.startswith("pbkdf2_sha256$")  # a wrong secret changes nothing

    assert_token(post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, secret)))
    client.refresh_from_db()
    assert client.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    # and the fast digest keeps working
    assert_token(post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, secret)))
    assert_error(
        post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, "wrong")), "invalid_client"
    )


def test_unknown_hasher_prefix_does_not_authenticate(api_client):
    client = ClientFactory()
    client.client_secret_hash = "nosuchhasher$1$salt$hash"
    client.save()
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, "nosuchhasher$1$salt$hash"))
    assert_error(r, "invalid_client")


# -- found by mutation testing (docs/mutation-report.md) ---------------------------------------------


def test_a_body_client_id_differing_from_basics_is_refused_whichever_sorts_first(api_client, conf_client):
    """RFC 6749 §2.3.1: one client per request. The comparison is equality, not an ordering."""
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    for other in (conf_client.client_id + "x", "0" + conf_client.client_id, "~", "0"):
        r = post_form(api_client, {"grant_type": "client_credentials", "scope": "read", "client_id": other},
                      HTTP_AUTHORIZATION=auth)
        assert_error(r, "invalid_client", 401)


@pytest.mark.parametrize("junk", ["!", "*", " ", "%3D"])
def test_basic_credentials_with_characters_outside_base64_are_malformed(api_client, conf_client, junk):
    """Strict base64 (RFC 7617 §2): characters outside the alphabet are not skipped over."""
    encoded = base64.b64encode(f"{conf_client.client_id}:{conf_client.raw_secret}".encode()).decode()
    tampered = encoded[:4] + junk + encoded[4:]
    r = post_form(api_client, {"grant_type": "client_credentials", "scope": "read"},
                  HTTP_AUTHORIZATION=f"Basic {tampered}")
    assert_error(r, "invalid_client", 401)


def test_an_authorization_header_of_another_scheme_is_not_basic(api_client, conf_client):
    """Only "Basic " starts HTTP Basic: a Bearer (or any other) header beside client_secret_post
    credentials is not a second authentication method."""
    conf_client.token_endpoint_auth_method = "client_secret_post"
    conf_client.save()
    body = {"grant_type": "client_credentials", "scope": "read", "client_id": conf_client.client_id,
            "client_secret": conf_client.raw_secret}
    for header in ("Bearer abc", "Digest abc", "basically abc"):
        assert post_form(api_client, body, HTTP_AUTHORIZATION=header).status_code == 200, header


# -- who has a secret, and what an unknown client is told ---------------------------------------


def test_a_public_client_is_given_no_secret_to_leak():
    """A public client cannot keep a secret (RFC 6749 §2.1), so none is generated for it: a
    secret printed for a mobile or browser app would be shipped to every user, and a
    confidential client registered for private_key_jwt authenticates with its key instead."""
    import io
    import json

    from django.core.management import call_command

    from oauth_provider.client_auth import uses_secret

    out = io.StringIO()
    call_command("createclient", "Phone app", "--public", "--redirect-uri", "https://app.example/cb",
                 "--json", stdout=out)
    public = json.loads(out.getvalue())
    assert public["client_secret"] is None
    client = get_client_model().objects.get(client_id=public["client_id"])
    assert not client.client_secret_hash
    assert uses_secret(client) is False
    confidential = ClientFactory()
    assert uses_secret(confidential) is True


@pytest.mark.parametrize("method_class", ["ClientSecretBasic", "ClientSecretPost"])
def test_a_secret_method_never_proves_an_unknown_client(method_class):
    """The contract a pluggable method inherits (``ClientAuthMethod.proves``): without a client
    no secret proves anything, whatever the secret, even one equal to the dummy compared
    against to keep the timing even."""
    from django.test import RequestFactory

    from oauth_provider import client_auth

    method = getattr(client_auth, method_class)()
    request = RequestFactory().post("/o/token/")
    assert method.proves(request, None, "anything") is False
    assert method.proves(request, None, "unknown-client") is False
    assert method.proves(request, None, None) is False


def test_an_unknown_client_sending_an_assertion_is_not_told_to_send_a_secret(api_client):
    """The hint about secrets belongs to a client that sent only its client_id (method
    ``none``); one that sent a client assertion for a client_id nobody registered gets the
    plain refusal, not advice about a secret it never had."""
    import json as _json
    import time

    def b64(value: dict) -> str:
        return base64.urlsafe_b64encode(_json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    assertion = ".".join((
        b64({"alg": "ES256", "typ": "JWT"}),
        b64({"iss": "nobody-here", "sub": "nobody-here", "aud": "https://testserver/o", "iat": now,
             "exp": now + 60, "jti": "unknown-client-1"}),
        "c2ln",
    ))
    response = post_form(api_client, {
        **CC, "client_id": "nobody-here", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    })
    body = assert_error(response, "invalid_client")
    assert "secret" not in body["error_description"]
    only_id = assert_error(post_form(api_client, {**CC, "client_id": "nobody-here"}), "invalid_client")
    assert "must send its secret" in only_id["error_description"]


def test_a_url_client_id_whose_document_cannot_be_fetched_is_an_unknown_client(api_client):
    """With client ID metadata documents on, a client_id URL nothing answers at names no client:
    401 ``invalid_client``, as for any unknown client_id (not a 500, nor the fetch error)."""
    from tests.support.settings import override_oauth

    with override_oauth(CLIENT_ID_METADATA_DOCUMENTS=True, ALLOW_INSECURE_LOOPBACK_FETCH=True,
                        FETCH={"timeout": 1, "connect_timeout": 1}):
        response = post_form(api_client, {
            "grant_type": "authorization_code", "code": "x" * 43, "code_verifier": "v" * 43,
            "redirect_uri": "http://127.0.0.1:3000/callback", "client_id": "http://127.0.0.1:1/client.json",
        })
    assert_error(response, "invalid_client")


def test_a_forged_client_assertion_is_counted_and_signalled_like_a_wrong_secret(api_client, failures):
    """A method's own refusal (here ``private_key_jwt``: a signature by another key) goes the
    same way as a wrong secret: ``client_authentication_failed`` is sent and the throttle
    counts it, so assertions cannot be tried unseen and without limit."""
    from tests.test_client_assertions import ec_key, make_client, sign

    client = make_client()
    forged = sign(client, key=ec_key())
    r = post_form(api_client, {**CC, "client_id": client.client_id, "client_assertion": forged,
                               "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert_error(r, "invalid_client")
    assert [(f["client_id"], f["method"]) for f in failures] == [(client.client_id, "private_key_jwt")]


def test_a_registered_method_class_that_predates_uses_secret_still_gets_a_secret(settings):
    """``uses_secret`` is optional on a host's method class: one written before it existed
    keeps what it had, a generated secret for its confidential clients."""
    from oauth_provider.client_auth import uses_secret
    from oauth_provider.conf import DEFAULTS

    methods = {**DEFAULTS["CLIENT_AUTH_METHODS"].default, "legacy_hmac": "tests.test_client_auth.LegacyMethod"}
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "CLIENT_AUTH_METHODS": methods}
    client = ClientFactory.build(token_endpoint_auth_method="legacy_hmac")
    assert uses_secret(client) is True


class LegacyMethod:
    """A client-authentication class as hosts wrote them before ``uses_secret`` existed."""

    name = "legacy_hmac"
    challenge = None
    hint = "sign the request"

    def attempted(self, request, params):
        return "legacy" in params

    def credentials(self, request, params):
        return params["client_id"], params["legacy"]


def test_with_metadata_documents_on_an_unknown_client_id_is_still_padded(api_client, monkeypatch):
    """Only a URL client_id goes to the metadata documents; any other still goes through the
    lookup timer, so turning the feature on does not let timing tell which client_ids exist."""
    from oauth_provider import client_auth
    from tests.support.settings import override_oauth

    padded = []
    monkeypatch.setattr(client_auth._lookup_timer, "missed", lambda started: padded.append(started))
    with override_oauth(CLIENT_ID_METADATA_DOCUMENTS=True):
        assert_error(post_form(api_client, {**CC, "client_id": "nobody-here", "client_secret": "x"}),
                     "invalid_client")
    assert len(padded) == 1


FEWER_ROUNDS = "tests.migration.hashers.FewerRoundsPBKDF2"


@override_settings(PASSWORD_HASHERS=[FEWER_ROUNDS])
def test_a_migrated_secret_is_not_hashed_again_for_an_address_past_its_failures(api_client, monkeypatch):
    """RFC 6819 §5.1.4.2.3 (the throttle), RFC 9700 §4.16 (no amplification): a secret
    migrated from django-oauth-toolkit is a password hash until the client's next
    authentication; checking one guess costs the hasher's full work (a million PBKDF2 rounds
    with Django's defaults, most of a second). Correct credentials are checked before the
    throttle, so anyone knowing such a client's client_id could make every request cost that
    much, past the throttle too. Once the caller's address has used up its failures, its
    guesses against a password-hashed secret are refused (429) without being hashed; another
    address, the client's, is checked as ever."""
    from oauth_provider.models import clients

    secret = "migrated-secret-from-dot"
    client = ClientFactory()
    client.client_secret_hash = make_password(secret)
    client.save()
    hashed: list[str] = []
    real = clients.check_password
    monkeypatch.setattr(clients, "check_password", lambda raw, stored: hashed.append(raw) or real(raw, stored))
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    statuses = [post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, f"guess-{n}"),
                          **attacker).status_code for n in range(14)]
    assert statuses == [401] * 10 + [429] * 4
    assert len(hashed) == 10  # the four past the threshold cost no hashing
    assert_token(post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, secret),
                           REMOTE_ADDR="203.0.113.9"))
    client.refresh_from_db()
    assert "$" not in client.client_secret_hash  # stored the fast way: nothing slow left to guess at


def test_a_private_key_jwt_client_is_not_proven_by_a_leftover_secret():
    client = ClientFactory()
    # switched to private_key_jwt by host code / a data migration that left the hash behind
    get_client_model().objects.filter(pk=client.pk).update(token_endpoint_auth_method="private_key_jwt")
    r = post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    assert r.status_code == 401, r.content


def test_a_confidential_client_registered_as_none_is_not_proven_by_its_client_id():
    client = ClientFactory()
    get_client_model().objects.filter(pk=client.pk).update(token_endpoint_auth_method="none")  # no DB constraint
    r = post_form(HttpClient(), {**CC, "client_id": client.client_id})
    assert r.status_code == 401, r.content


def test_a_corrupted_password_hash_refuses_every_secret():
    client = ClientFactory()
    # a hash check_password cannot read (it raises ValueError): every secret is refused, no 500
    get_client_model().objects.filter(pk=client.pk).update(client_secret_hash="md5$$")
    r = post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, "anything"))
    assert r.status_code == 401, r.content


@pytest.mark.parametrize("path, view", [
    ("/o/token/", "oauth_provider.endpoints.token.TokenView"),
    ("/o/introspect/", "oauth_provider.endpoints.introspect.IntrospectionView"),
    ("/o/revoke/", "oauth_provider.endpoints.revoke.RevocationView"),
])
def test_backchannel_forms_are_hidden_from_error_reports(rf, path, view):
    from urllib.parse import urlencode

    from django.utils.module_loading import import_string

    client = ClientFactory()
    request = rf.post(path, urlencode({**CC, "client_id": client.client_id, "client_secret": client.raw_secret,
                                       "token": "x"}),
                      content_type="application/x-www-form-urlencoded")
    import_string(view).as_view()(request)
    assert request.sensitive_post_parameters == "__ALL__"


def test_a_registered_method_class_without_proves_checks_the_secret(api_client, settings, failures):
    """``proves`` is optional on a host's method class too: one without it is held to the
    client's secret, the right one accepted, a wrong one or an unknown client_id refused."""
    from oauth_provider.conf import DEFAULTS

    methods = {**DEFAULTS["CLIENT_AUTH_METHODS"].default, "legacy_hmac": "tests.test_client_auth.LegacyMethod"}
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "CLIENT_AUTH_METHODS": methods}
    client = ClientFactory(token_endpoint_auth_method="legacy_hmac", raw_secret="the-legacy-secret")
    assert_token(post_form(api_client, {**CC, "client_id": client.client_id, "legacy": "the-legacy-secret"}))
    for client_id, secret in ((client.client_id, "not-the-secret"), ("nobody-here", "the-legacy-secret"),
                              (client.client_id, "the-legacy-secret ")):
        r = post_form(api_client, {**CC, "client_id": client_id, "legacy": secret})
        assert_error(r, "invalid_client")
    assert [f["method"] for f in failures] == ["legacy_hmac"] * 3


@pytest.mark.parametrize(("data", "authorization", "description"), [
    ({}, "Basic !!!", "Malformed HTTP Basic credentials."),
    ({}, raw_basic("no-colon-here"), "Malformed HTTP Basic credentials."),
    ({"client_id": "someone-else"}, "basic-of-client",
     "client_id in the body differs from the one in the Authorization header."),
    ({"client_secret": "s3cret"}, None, "client_secret was sent without client_id."),
    ({"client_id": "conf", "client_secret": "s3cret"}, "basic-of-client",
     "The client used more than one authentication method: send the secret either in the Authorization "
     "header or in the body, not both."),
    ({}, None, "No client authentication was provided: send the client_id (and the secret of a confidential "
               "client, in the Authorization header or the body)."),
    ({"client_id": "conf"}, None, "Client authentication failed: the client_id is unknown, or the client is "
                                  "confidential and must send its secret."),
])
def test_each_refusal_tells_the_client_developer_what_to_change(api_client, conf_client, data, authorization,
                                                                description):
    """RFC 6749 §5.2 ``error_description``: human-readable text helping the developer. Each
    refusal says what was wrong, not one catch-all text."""
    data = {key: conf_client.client_id if value == "conf" else value for key, value in data.items()}
    extra = {}
    if authorization == "basic-of-client":
        extra["HTTP_AUTHORIZATION"] = basic_auth(conf_client.client_id, conf_client.raw_secret)
    elif authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    r = post_form(api_client, {**CC, **data}, **extra)
    assert r.status_code in (400, 401), r.content
    assert r.json()["error_description"] == description


def test_a_disabled_client_with_the_right_secret_is_told_so_and_signalled_with_its_request(api_client, failures):
    client = ClientFactory(is_active=False)
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    assert assert_error(r, "invalid_client")["error_description"] == "This client is disabled."
    assert [(f["client_id"], f["request"].path) for f in failures] == [(client.client_id, "/o/token/")]


def test_forged_client_assertions_from_many_addresses_lock_that_client_id(api_client):
    """A method's own refusal counts against the client it names, as a wrong secret does:
    ten forged ``private_key_jwt`` assertions, each from another address, and the eleventh
    is throttled (429) from an address that never failed; another client is not."""
    from tests.test_client_assertions import ec_key, make_client, sign

    client = make_client()
    body = {**CC, "client_id": client.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    for i in range(10):
        r = post_form(api_client, {**body, "client_assertion": sign(client, key=ec_key())},
                      REMOTE_ADDR=f"192.0.2.{i + 1}")
        assert r.status_code == 401, r.content
    r = post_form(api_client, {**body, "client_assertion": sign(client, key=ec_key())}, REMOTE_ADDR="192.0.2.200")
    assert r.status_code == 429, r.content
    other = ClientFactory()
    r = post_form(api_client, CC, HTTP_AUTHORIZATION=basic_auth(other.client_id, other.raw_secret + "x"),
                  REMOTE_ADDR="192.0.2.200")
    assert r.status_code == 401
