"""``manage.py rotatekeys --import FILE``: a host moving from another provider brings its
signing key (oauth_provider/key_import.py). Keys are made with ``cryptography`` and written
to files in every PEM form an operator may hold; the command is called as an operator would."""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from django.core.management import call_command
from django.core.management.base import CommandError
from joserfc import jws
from joserfc.jwk import KeySet

from oauth_provider import jwt, keys, secrets
from oauth_provider.key_import import KeyImportError, import_key
from oauth_provider.models import SigningKey

pytestmark = pytest.mark.django_db
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL  # PKCS#1 for RSA, SEC1 for EC
PEM = serialization.Encoding.PEM

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(private, fmt=PKCS8, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return private.private_bytes(PEM, fmt, encryption)


def write(tmp_path, data: bytes, name: str = "key.pem") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("rotatekeys", *args, stdout=out)
    return out.getvalue()


def published(client) -> dict[str, dict]:
    return {k["kid"]: k for k in client.get("/o/jwks/").json()["keys"]}


def _claims():
    now = int(secrets.now().timestamp())
    return {"iss": "https://testserver/o", "sub": "1", "iat": now, "exp": now + 300}


KINDS = [
    pytest.param(_RSA, PKCS8, "RS256", "PRIVATE KEY", id="rsa-pkcs8"),
    pytest.param(_RSA, TRADITIONAL, "RS256", "RSA PRIVATE KEY", id="rsa-pkcs1"),
    pytest.param(rsa.generate_private_key(public_exponent=65537, key_size=4096), PKCS8, "RS256", "PRIVATE KEY",
                 id="rsa-4096"),
    pytest.param(ec.generate_private_key(ec.SECP256R1()), PKCS8, "ES256", "PRIVATE KEY", id="p256-pkcs8"),
    pytest.param(ec.generate_private_key(ec.SECP256R1()), TRADITIONAL, "ES256", "EC PRIVATE KEY", id="p256-sec1"),
    pytest.param(ed25519.Ed25519PrivateKey.generate(), PKCS8, "EdDSA", "PRIVATE KEY", id="ed25519-pkcs8"),
]


@pytest.mark.parametrize(("private", "fmt", "algorithm", "label"), KINDS)
def test_each_kind_and_form_imports_and_signs_what_the_jwks_verifies(client, tmp_path, private, fmt, algorithm,
                                                                     label):
    pem = pem_of(private, fmt)
    assert pem.startswith(f"-----BEGIN {label}-----".encode())
    out = run("--import", write(tmp_path, pem))
    row = SigningKey.objects.get()
    assert f"Imported {algorithm} key {row.kid}" in out
    assert row.algorithm == algorithm
    # the kid of a generated key: the RFC 7638 thumbprint of the public key
    assert row.kid == keys.public_jwk(private.public_key(), algorithm)["kid"]
    # the first key signs at once (nothing signs yet, so nothing to pre-publish for)
    assert row.state == "active"
    token = jwt.encode(_claims())
    result = jws.deserialize_compact(token, KeySet.import_key_set(client.get("/o/jwks/").json()),
                                     algorithms=[algorithm])
    assert result.headers()["kid"] == row.kid


@pytest.mark.parametrize("private", [_RSA, ec.generate_private_key(ec.SECP256R1()),
                                     ed25519.Ed25519PrivateKey.generate()], ids=["rsa", "p256", "ed25519"])
def test_the_private_key_is_encrypted_at_rest(tmp_path, private):
    pem = pem_of(private)
    run("--import", write(tmp_path, pem))
    row = SigningKey.objects.get()
    body = pem.decode().splitlines()[1]
    assert "PRIVATE KEY" not in row.private_key and body not in row.private_key
    restored = serialization.load_pem_private_key(keys.decrypt_private_key(row.private_key), password=None)
    assert restored.private_bytes(PEM, PKCS8, serialization.NoEncryption()) == pem_of(private)


def test_the_kid_is_the_one_django_oauth_toolkit_publishes_for_the_same_key(tmp_path):
    """DOT's JWKS and ID-token headers use jwcrypto's ``JWK.from_pem(pem).thumbprint()``
    (oauth2_provider/views/oidc.py, oauth2_validators.py): the same key keeps its kid here."""
    jwcrypto = pytest.importorskip("jwcrypto.jwk")
    pem = pem_of(_RSA, TRADITIONAL)  # DOT's documented `openssl genrsa` output
    run("--import", write(tmp_path, pem))
    assert SigningKey.objects.get().kid == jwcrypto.JWK.from_pem(pem).thumbprint()
    for private in (ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()):
        row = import_key(pem_of(private), prepublish=False)
        assert row.kid == jwcrypto.JWK.from_pem(pem_of(private)).thumbprint()


def test_kid_option_keeps_the_kid_relying_parties_cached(client, tmp_path):
    run("--import", write(tmp_path, pem_of(_RSA)), "--kid", "legacy-2024-01")
    assert list(published(client)) == ["legacy-2024-01"]
    assert jwt.header(jwt.encode(_claims()))["kid"] == "legacy-2024-01"
    assert published(client)["legacy-2024-01"]["n"] == keys.public_jwk(_RSA.public_key(), "RS256")["n"]


def test_a_kid_starting_with_a_dash_imports_in_the_equals_form(tmp_path):
    """What docs/how-to/key-rotation.md tells an operator whose old kid starts with "-"."""
    run("--import", write(tmp_path, pem_of(_RSA)), "--kid=-Kj3_thumbprint-like")
    assert SigningKey.objects.get().kid == "-Kj3_thumbprint-like"


def test_the_kid_is_stable_across_forms_of_the_same_key():
    """PKCS#1 and PKCS#8 of one key are one key: same thumbprint, so the second is refused."""
    first = import_key(pem_of(_RSA, TRADITIONAL))
    with pytest.raises(KeyImportError, match=f"stored already, with kid '{first.kid}'"):
        import_key(pem_of(_RSA, PKCS8), kid="another")
    assert SigningKey.objects.count() == 1


@pytest.mark.parametrize("kid", ["", "has space", 'quo"te', "x" * 129, "new\nline", "ünï"])
def test_a_kid_that_would_not_travel_safely_is_refused(tmp_path, kid):
    with pytest.raises(CommandError, match="kid is 1 to 128"):
        run("--import", write(tmp_path, pem_of(_RSA)), "--kid", kid)
    assert not SigningKey.objects.exists()


def test_a_taken_kid_is_refused(tmp_path):
    existing = keys.create_key("ES256", prepublish=False)
    with pytest.raises(CommandError, match="exists already"):
        # "--kid=" form: a thumbprint starts with "-" one time in 64, which argparse reads as an option
        run("--import", write(tmp_path, pem_of(_RSA)), f"--kid={existing.kid}")
    assert SigningKey.objects.count() == 1


def test_an_import_beside_a_signing_key_is_prepublished_then_signs(client, tmp_path):
    old = keys.create_key("RS256", prepublish=False)
    run("--import", write(tmp_path, pem_of(_RSA)))
    new = SigningKey.objects.exclude(pk=old.pk).get()
    assert new.state == "next"
    assert set(published(client)) == {old.kid, new.kid}  # relying parties learn it first
    assert jwt.header(jwt.encode(_claims()))["kid"] == old.kid
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(days=1, seconds=1))  # SIGNING_KEY_PREPUBLICATION
    keys.clear_cache()
    assert jwt.header(jwt.encode(_claims()))["kid"] == new.kid
    assert SigningKey.objects.get(pk=old.pk).state == "retired"


def test_now_signs_with_the_imported_key_at_once(tmp_path):
    old = keys.create_key("RS256", prepublish=False)
    run("--import", write(tmp_path, pem_of(_RSA)), "--now")
    new = SigningKey.objects.exclude(pk=old.pk).get()
    assert new.state == "active"
    assert jwt.header(jwt.encode(_claims()))["kid"] == new.kid
    assert SigningKey.objects.get(pk=old.pk).retired_at is not None  # still published while its tokens live


def test_an_imported_key_signs_an_id_token_a_relying_party_verifies_with_the_jwks(oauth, conf_client, tmp_path):
    run("--import", write(tmp_path, pem_of(ec.generate_private_key(ec.SECP256R1()))), "--kid", "from-old-idp")
    body = oauth.tokens(conf_client, scope="openid read")
    keyset = KeySet.import_key_set(oauth.api.get("/o/jwks/").json())
    result = jws.deserialize_compact(body["id_token"], keyset, algorithms=["ES256"])
    assert result.headers()["kid"] == "from-old-idp"
    claims = json.loads(result.payload)
    assert claims["aud"] == conf_client.client_id and claims["iss"] == "https://testserver/o"


# -- encrypted keys --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL], ids=["pkcs8", "traditional"])
def test_an_encrypted_key_imports_with_its_password_from_the_environment(tmp_path, monkeypatch, fmt):
    path = write(tmp_path, pem_of(_RSA, fmt, password=b"correct horse"))
    monkeypatch.setenv("KEY_PASSWORD", "correct horse")
    run("--import", path, "--password-env", "KEY_PASSWORD")
    assert SigningKey.objects.get().kid == keys.public_jwk(_RSA.public_key(), "RS256")["kid"]


@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL], ids=["pkcs8", "traditional"])
def test_an_encrypted_key_without_a_password_is_refused(tmp_path, fmt):
    with pytest.raises(CommandError, match="encrypted: give its password with --password-env"):
        run("--import", write(tmp_path, pem_of(_RSA, fmt, password=b"secret")))
    assert not SigningKey.objects.exists()


def test_a_wrong_password_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KEY_PASSWORD", "wrong")
    with pytest.raises(CommandError, match="cannot be decrypted: wrong password"):
        run("--import", write(tmp_path, pem_of(_RSA, password=b"secret")), "--password-env", "KEY_PASSWORD")
    assert not SigningKey.objects.exists()


def test_an_unset_password_variable_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("KEY_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="KEY_PASSWORD is not set"):
        run("--import", write(tmp_path, pem_of(_RSA, password=b"secret")), "--password-env", "KEY_PASSWORD")


def test_a_password_for_an_unencrypted_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KEY_PASSWORD", "secret")
    with pytest.raises(CommandError, match="not encrypted"):
        run("--import", write(tmp_path, pem_of(_RSA)), "--password-env", "KEY_PASSWORD")


def test_the_password_prompt_needs_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="needs a terminal"):
        run("--import", write(tmp_path, pem_of(_RSA, password=b"secret")), "--password-prompt")


def test_the_password_prompt_reads_the_password_with_getpass(tmp_path, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Tty(""))
    monkeypatch.setattr("getpass.getpass", lambda prompt: "secret")
    run("--import", write(tmp_path, pem_of(_RSA, password=b"secret")), "--password-prompt")
    assert SigningKey.objects.count() == 1


def test_standard_input_is_read_for_a_dash(monkeypatch):
    class Stdin:
        buffer = io.BytesIO(pem_of(_RSA))

    monkeypatch.setattr(sys, "stdin", Stdin())
    run("--import", "-")
    assert SigningKey.objects.count() == 1


# -- refusals --------------------------------------------------------------------------------
def _public(private) -> bytes:
    return private.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


REFUSED = [
    pytest.param(_public(_RSA), "public key, which cannot sign", id="rsa-public-key"),
    pytest.param(_RSA.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1),
                 "rsa public key, which cannot sign", id="pkcs1-public-key"),
    pytest.param(_public(ec.generate_private_key(ec.SECP256R1())), "public key", id="ec-public-key"),
    pytest.param(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "1024 bits", id="rsa-1024"),
    pytest.param(pem_of(rsa.generate_private_key(public_exponent=3, key_size=2048)), "exponent is below 65537",
                 id="rsa-e3"),
    pytest.param(pem_of(ec.generate_private_key(ec.SECP384R1())), "secp384r1; only P-256", id="p384"),
    pytest.param(pem_of(ec.generate_private_key(ec.SECP521R1()), TRADITIONAL), "secp521r1", id="p521-sec1"),
    pytest.param(pem_of(ec.generate_private_key(ec.SECP256K1())), "secp256k1", id="secp256k1"),
    pytest.param(pem_of(ed448.Ed448PrivateKey.generate()), "Ed448PrivateKey cannot sign", id="ed448"),
    pytest.param(pem_of(dsa.generate_private_key(2048)), "DSAPrivateKey cannot sign", id="dsa"),
    pytest.param(b"not a key at all", "not a PEM key", id="not-pem"),
    pytest.param(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot be read", id="garbage"),
    pytest.param(pem_of(_RSA) + pem_of(ec.generate_private_key(ec.SECP256R1())), "2 PEM blocks", id="two-keys"),
    pytest.param(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate", id="cert"),
    pytest.param(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "not a private key", id="crl"),
    pytest.param(b"x" * 70_000, "larger than 64 KB", id="huge"),
]


@pytest.mark.parametrize(("pem", "message"), REFUSED)
def test_what_cannot_be_a_signing_key_is_refused_with_a_reason(tmp_path, client, pem, message):
    with pytest.raises(CommandError) as excinfo:
        run("--import", write(tmp_path, pem))
    assert message.lower() in str(excinfo.value).lower()
    assert not SigningKey.objects.exists()
    assert client.get("/o/jwks/").json() == {"keys": []}


def test_the_refusal_never_echoes_key_material(tmp_path):
    pem = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(CommandError) as excinfo:
        run("--import", write(tmp_path, pem))
    body = pem.decode().splitlines()[1]
    assert body[:20] not in str(excinfo.value)


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run("--import", str(tmp_path / "absent.pem"))


@pytest.mark.parametrize("extra", [["--algorithm", "ES256"], ["--list"]])
def test_options_that_contradict_an_import_are_refused(tmp_path, extra):
    with pytest.raises(CommandError):
        run("--import", write(tmp_path, pem_of(_RSA)), *extra)
    assert not SigningKey.objects.exists()


@pytest.mark.parametrize("extra", [["--kid", "x"], ["--password-env", "X"], ["--password-prompt"]])
def test_import_options_without_an_import_are_refused(extra):
    with pytest.raises(CommandError, match="go with --import"):
        run(*extra)
    assert not SigningKey.objects.exists()


# -- what an operator's key work must never leave behind (outside review, session 17) ---------

def _fresh_rsa_pem(tmp_path, name: str = "fresh.pem") -> str:
    return write(tmp_path, pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)), name)


def _hand_clock(monkeypatch, start: float) -> list[float]:
    clock = [start]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(keys._cache, "last_miss_reload", start - 5)
    return clock


def test_a_kid_imported_again_for_other_material_is_not_served_from_a_workers_old_copy(tmp_path, monkeypatch):
    """A key deleted and a new one imported under the same ``kid`` (elsewhere: another worker
    or node): a worker that held the old key must load the new material once the change is
    announced, not keep signing and verifying with the deleted key."""
    run("--import", _fresh_rsa_pem(tmp_path, "one.pem"), "--kid=legacy")
    clock = _hand_clock(monkeypatch, 9000.0)
    keys.clear_cache()
    keys.signing_key()  # this worker holds the first "legacy" key
    held = keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at
    SigningKey.objects.filter(kid="legacy").delete()
    run("--import", _fresh_rsa_pem(tmp_path, "two.pem"), "--kid=legacy", "--now")
    keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at = held
    clock[0] += 1.5  # past the generation check: the change was announced
    stored = SigningKey.objects.get(kid="legacy").public_jwk
    assert keys.signing_key().public_jwk["n"] == stored["n"]
    assert keys.verification_key("legacy").public_jwk["n"] == stored["n"]


@pytest.mark.parametrize("kid", ["legacy.2024", "key:1", "a+b/c=", "v~1"])
def test_a_kid_the_import_accepts_signs_tokens_we_verify(tmp_path, kid):
    """``rotatekeys --import --kid`` and our verifier agree on what a kid may be: a narrower
    verifier made every token signed with such a key unusable (ID tokens, access tokens)."""
    run("--import", write(tmp_path, pem_of(_RSA)), f"--kid={kid}")
    token = jwt.encode(_claims(), typ=jwt.ACCESS_TOKEN_TYP)
    assert jwt.decode(token, typ=jwt.ACCESS_TOKEN_TYP, issuer="https://testserver/o")["sub"] == "1"


@pytest.mark.parametrize("flag", [("--compromised",), ("--now",), ("--algorithm", "ES256")])
def test_list_with_an_action_is_refused_rather_than_ignored(flag):
    """The emergency command must never look done when nothing was withdrawn."""
    keys.create_key("RS256", prepublish=False)
    with pytest.raises(CommandError, match="--list only lists"):
        run("--list", *flag)
    assert SigningKey.objects.count() == 1 and SigningKey.objects.get().retired_at is None


def test_an_imported_key_for_a_compromised_one_withdraws_the_others(client, tmp_path):
    old = keys.create_key("RS256", prepublish=False)
    leaked = jwt.encode(_claims())
    run("--import", _fresh_rsa_pem(tmp_path), "--compromised")
    keys.clear_cache()
    assert old.kid not in published(client)
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(leaked, typ=None, issuer="https://testserver/o")


def test_the_jwks_publishes_public_members_only_even_from_a_bad_row(client):
    key = keys.create_key("RS256", prepublish=False)
    d = keys.signing_key().private.private_numbers().d
    SigningKey.objects.filter(pk=key.pk).update(
        public_jwk={**key.public_jwk, "d": str(d), "p": "x", "q": "y", "k": "z"})
    keys.clear_cache()
    (only,) = published(client).values()
    assert not {"d", "p", "q", "k"} & set(only)


def test_a_retired_key_stays_published_for_the_longest_access_token(client, settings):
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(ACCESS_TOKEN_LIFETIME=7200, ID_TOKEN_LIFETIME=600)
    old = keys.create_key("RS256", prepublish=False)
    keys.create_key("RS256", prepublish=False)
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(hours=1))  # past the ID tokens', within the access tokens'
    keys.clear_cache()
    assert old.kid in published(client)


def test_a_worker_reloads_a_key_whose_material_or_start_changed_under_the_same_kid(tmp_path, monkeypatch):
    """The cache keeps a loaded key only while its row is the same key: new material with the
    same dates, or the same material re-dated, is loaded again once the change is announced."""
    run("--import", _fresh_rsa_pem(tmp_path, "one.pem"), "--kid=legacy")
    clock = _hand_clock(monkeypatch, 9000.0)
    keys.clear_cache()
    first = keys.signing_key()
    private = keys.generate_private_key("RS256")  # other material, moved under "legacy" by hand
    jwk = {**keys.public_jwk(private.public_key(), "RS256"), "kid": "legacy"}
    SigningKey.objects.filter(kid="legacy").update(
        private_key=keys.encrypt_private_key(pem_of(private)), public_jwk=jwk)
    keys.announce_change()
    clock[0] += 1.5
    assert keys.verification_key("legacy").public_jwk["n"] == jwk["n"] != first.public_jwk["n"]
    start = SigningKey.objects.get(kid="legacy").not_before
    for moved in (start - timedelta(seconds=30), start + timedelta(seconds=30)):
        SigningKey.objects.filter(kid="legacy").update(not_before=moved)
        keys.announce_change()
        clock[0] += 1.5
        assert keys.verification_key("legacy").not_before == moved
