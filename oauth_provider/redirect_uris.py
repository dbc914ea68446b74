"""Redirect-URI registration rules and request-time matching.

Registration (OAuth 2.1 §2.3.1, RFC 9700 §2.1 and §2.6, RFC 8252 §7):

* the complete absolute URI is registered: no fragment, no wildcard, no user-info;
* ``https`` with a host (a domain name or an IP address: no ``%``, ``;``, ``,`` and other
  delimiters RFC 3986 allows in a reg-name); ``http`` only on loopback hosts (``127.0.0.1``, ``[::1]``,
  ``localhost``), for native apps (RFC 8252 §7.3) and local development;
* private-use schemes (RFC 8252 §7.1) for public (native) clients only, and only in
  reverse-domain form (``com.example.app:/cb``, RFC 8252 §8.4);
* ``javascript:``, ``data:``, ``file:``, ``vbscript:``, ``blob:`` and the like are refused.

Matching (RFC 9700 §2.1, RFC 8252 §7.3): simple string equality, except that for a loopback
*IP literal* the port may differ, since native apps bind an ephemeral port.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about", "filesystem"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "localhost"})
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*$")
_ILLEGAL_CHARS = re.compile(r"[\x00-\x20\x7f\\<>\"{}|^`]")
# Loopback IP literal with an optional port: only the port may vary at request time. The port
# is ASCII digits ([0-9], never \d: in a str pattern \d also matches "٥" and "５", which int()
# reads as 5: RFC 3986 §3.2.3 port = *DIGIT, and DIGIT is ASCII, RFC 5234 B.1).
_LOOPBACK_IP = re.compile(r"^(http://(?:127\.0\.0\.1|\[::1\]))(?::([0-9]{1,5}))?((?:[/?].*)?)$", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
# RFC 3986 §3.2.2 lets a reg-name hold sub-delims and percent-encodings; no DNS name does, and
# pages show such a host as written while browsers decode it ("rp%2eexample" opens rp.example)
# or carry it into other syntax (a CSP source list ends at ";").
_NOT_IN_A_HOST = re.compile(r"[!$&'()*+,;=%]")
MAX_LENGTH = 2000


def validate_redirect_uri(uri: str, *, public: bool) -> None:
    """Raise :class:`ValidationError` unless ``uri`` may be registered for a client
    (``public`` says whether the client is public, i.e. may be a native app)."""
    if not uri or len(uri) > MAX_LENGTH:
        raise ValidationError(_("A redirect URI must be 1 to %(max)d characters."), params={"max": MAX_LENGTH})
    if _ILLEGAL_CHARS.search(uri):
        raise ValidationError(_("The redirect URI %(uri)s contains whitespace or an illegal character."),
                              params={"uri": uri})
    if "*" in uri:
        raise ValidationError(_("Wildcards are not allowed in redirect URIs: register each full URI."))
    if "#" in uri:
        raise ValidationError(_("A redirect URI must not contain a fragment (#)."))
    scheme, sep, _rest = uri.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise ValidationError(_("The redirect URI %(uri)s is not absolute."), params={"uri": uri})
    scheme = scheme.lower()
    if scheme in FORBIDDEN_SCHEMES:
        raise ValidationError(_("The %(scheme)s: scheme is not allowed."), params={"scheme": scheme})
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise ValidationError(_("The redirect URI %(uri)s is malformed."), params={"uri": uri}) from exc
    if "@" in parts.netloc:  # in any scheme: only there to make the address read as another
        raise ValidationError(_("A redirect URI must not contain user information (user@host)."))
    port = _port_text(parts.netloc)
    if port is not None and not valid_port(port):
        raise ValidationError(_("The redirect URI %(uri)s is malformed."), params={"uri": uri})
    if scheme in ("http", "https"):
        if not parts.netloc or not parts.hostname:
            raise ValidationError(_("The redirect URI %(uri)s has no host."), params={"uri": uri})
        if _NOT_IN_A_HOST.search(_host(parts.netloc)):
            raise ValidationError(_("The host of the redirect URI %(uri)s is not a domain name or an IP address."),
                                  params={"uri": uri})
        if scheme == "http" and _host(parts.netloc) not in LOOPBACK_HOSTS:
            raise ValidationError(
                _("Plain http is only allowed on loopback hosts (127.0.0.1, [::1], localhost); use https.")
            )
        return
    # A private-use scheme: native apps only, reverse-domain names only (RFC 8252 §7.1, §8.4).
    if not public:
        raise ValidationError(_("Private-use URI schemes are only allowed for public (native) clients."))
    if "." not in scheme:
        raise ValidationError(
            _("A private-use scheme must be a reverse domain name, like com.example.app:/callback.")
        )


def offered_as_link(uri: str) -> bool:
    """May a page of ours offer the matched redirect URI ``uri`` as a link? Only if it could be
    registered today (:func:`validate_redirect_uri`): a row written past the model's validation
    could hold a ``javascript:`` URI, inert in a ``Location`` header but run on this site's
    origin from an ``href``."""
    try:
        validate_redirect_uri(uri, public=True)
    except ValidationError:
        return False
    return True


def valid_port(text: str) -> bool:
    """Is ``text`` a port: ASCII digits only (no sign, space or other script's digits, which
    ``int()`` would read), 1 to 65535 (RFC 3986 §3.2.3, RFC 6335 §6)."""
    return _PORT.fullmatch(text) is not None and 0 < int(text) <= 65535


def _port_text(netloc: str) -> str | None:
    """The port as written in ``netloc`` (which holds no ``user@``), or None when the host
    ends it. After an ``[IPv6]`` literal only ``:port`` may follow (RFC 3986 §3.2.2-3.2.3):
    anything else there (``[::1]x]``, ``[::1]:1]:80``) comes back whole, so that
    :func:`valid_port` refuses it, instead of being read past."""
    if netloc.startswith("["):
        rest = netloc[netloc.find("]") + 1:]
        if not rest:
            return None
        return rest[1:] if rest.startswith(":") else rest
    if ":" not in netloc:
        return None
    return netloc.split(":", 1)[1]


def _host(netloc: str) -> str:
    """The host of ``netloc`` (no ``user@``; its port checked by :func:`_port_text`), lower-cased."""
    if netloc.startswith("["):
        return netloc.partition("]")[0].lower() + "]"
    return netloc.partition(":")[0].lower()


def origin(uri: str) -> tuple[str, str, int] | None:
    """The (scheme, host, port) of an http(s) ``uri``, the port made explicit (RFC 6454 §4),
    the host lower-cased; None for any other scheme or a malformed URI."""
    try:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        port = parts.port
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def matches(candidate: str, registered: str) -> bool:
    """Does ``candidate`` (from a request) match ``registered`` exactly, allowing only a
    different port on a loopback IP literal (RFC 8252 §7.3)?"""
    if candidate == registered:
        return True
    reg = _LOOPBACK_IP.fullmatch(registered)
    if reg is None:
        return False
    cand = _LOOPBACK_IP.fullmatch(candidate)
    if cand is None or (cand.group(2) is not None and not valid_port(cand.group(2))):
        return False
    return cand.group(1) == reg.group(1) and cand.group(3) == reg.group(3)


def find_match(candidate: str, registered: list[str]) -> str | None:
    """The registered URI ``candidate`` matches, or None."""
    for uri in registered:
        if matches(candidate, uri):
            return uri
    return None


def ascii_host(host: str) -> str:
    """``host`` as a page shows it for the user to check: a non-ASCII name in its IDNA
    (punycode) form, the name a browser (and :mod:`.fetch`) contacts, never a look-alike in
    another script ("gоogle.com" with a Cyrillic "о"). Raises ValueError when it has none."""
    return host if host.isascii() else host.encode("idna").decode("ascii")


def display_uri(uri: str) -> str:
    """``uri`` as a page shows it: its host through :func:`ascii_host` (a redirect URI has no
    user information); unchanged when it has no non-ASCII host or cannot be read."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if host.isascii():
            return uri
        shown = ascii_host(host)
        port = parts.port
    except ValueError:
        return uri
    return urlunsplit(parts._replace(netloc=f"{shown}:{port}" if port else shown))
