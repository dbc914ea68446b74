import jwt  # PyJWT

jwks_client = jwt.PyJWKClient("https://example.com/o/jwks/")


def verify_access_token(token):
    """The claims of a JWT access token issued by https://example.com/o for our API, or raise
    jwt.InvalidTokenError."""
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")  # e.g. an ID token (RFC 9068 §4)
    key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key, algorithms=["RS256", "ES256", "EdDSA"],
        issuer="https://example.com/o", audience="https://example.com",
        options={"require": ["exp", "iat", "sub", "client_id", "jti"]},
    )
