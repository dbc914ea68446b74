"""The front-channel logout page's CSP nonce (:mod:`oauth_provider.oidc.frontchannel`), which a
hand-made review made constant without a failing test (December 2026)."""

from __future__ import annotations

from oauth_provider.oidc import frontchannel


def test_the_pages_script_nonce_is_fresh_for_every_page_and_unguessable():
    """The logged-out page's only script runs by its CSP nonce; a nonce that repeats or can be
    guessed lets any markup that reaches the page run too (CSP3 §7.1: unique per response).
    Break: a constant ``csp_nonce`` in ``page_context``."""
    frame = frontchannel.LogoutFrame("RP", "https://rp.example/fc")
    contexts = [frontchannel.page_context([frame], "https://rp.example/bye") for _ in range(20)]
    nonces = {context["csp_nonce"] for context in contexts}
    assert len(nonces) == 20 and all(len(nonce) >= 22 for nonce in nonces)
    policy = frontchannel.page_policy(contexts[0])
    assert f"script-src 'nonce-{contexts[0]['csp_nonce']}'" in policy
    assert frontchannel.page_context([frame], None)["csp_nonce"] == ""  # no script, no nonce
