"""django-oauth-toolkit's live tokens as ours, found by the same hash of the same value.

DOT keeps ``token_checksum``, the SHA-256 hex digest of the token (since 3.0; before, the
``token`` column alone), which is exactly this library's ``token_hash``
(:func:`oauth_provider.secrets.hash_token`): a bearer string a client holds keeps working
without the plaintext ever being read. DOT may keep refresh tokens in the clear
(``token``): only their digest is written here.

* a **live refresh token** (not revoked, its access token still there, inside DOT's
  ``REFRESH_TOKEN_EXPIRE_SECONDS``) becomes a refresh token in a family
  (:class:`~oauth_provider.models.Authorization`) with its access token, if that is unexpired;
  the family starts when DOT's token family did (its first refresh token), so
  ``REFRESH_TOKEN_LIFETIME`` counts from the original grant as it does for our own tokens
  (:func:`oauth_provider.issuing.refresh_expiry`), never beyond DOT's own deadline;
* a **live access token** without one is carried alone (a user's in a family of its own, a
  client's own ``client_credentials`` token without);
* a token restricted to resources (RFC 8707 ``resource``) keeps them as its audience when
  each is known here (``RESOURCES``, or the default resource) and the client may have it
  (:func:`oauth_provider.resources.requested`, the rules of a token request); otherwise it is
  skipped: carried without its audience it would be accepted by more APIs. A DOT token without
  ``resource`` (good at any API there) is good at the default resource here;
* revoked and expired tokens are skipped;
* DOT's ``Grant`` rows (authorization codes, RFC 6749 §4.1.2 recommends ten minutes at most)
  and device codes are skipped: a user in the middle of a login starts again; ``IDToken`` rows
  are only DOT's record of what it signed: the ID tokens relying parties hold verify with the
  imported key.

**Consent** is inferred only where DOT itself would have skipped the page: DOT's
``REQUEST_APPROVAL_PROMPT`` is ``"auto"`` (DOT then skips it while the user holds a live token
for those scopes), the client may have its consent remembered here
(:meth:`~oauth_provider.adapter.DefaultAdapter.can_remember_consent`: confidential clients, with
``REMEMBER_CONSENT``), and the user holds a live refresh token imported now: the scopes of those
grants are remembered, unless the user already has a decision here, which is left alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef, Q

from .. import resources
from .. import scopes as _scopes
from .. import secrets as _secrets
from ..errors import InvalidTarget
from ..issuing import refresh_expiry
from ..models import AbstractClient, AccessToken, Authorization, Consent, ImportedToken, RefreshToken
from ..models import imports as _imports
from ..registry import adapter
from .report import IMPORTED, PRESENT, REVOKED, Report

ACCESS = "access token"
REFRESH = "refresh token"
CONSENT = "consent"


@dataclass
class DotModels:
    """DOT's models in use (they are swappable there too) and the settings that matter."""

    application: Any
    access_token: Any
    refresh_token: Any
    grant: Any
    id_token: Any
    device_grant: Any | None
    refresh_lifetime: timedelta | None
    approval_prompt: str


@dataclass
class Run:
    """One import: the clients by DOT application pk, the clock, the report."""

    models: DotModels
    clients: dict[Any, Any]
    report: Report
    dry_run: bool
    batch_size: int
    now: datetime = field(default_factory=_secrets.now)
    #: (user pk, client_id) -> (user pk, client, scopes) of grants whose consent is inferred
    consents: dict[tuple[Any, str], tuple[Any, Any, set[str]]] = field(default_factory=dict)
    left_behind: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: clients that existed before this run, by pk: their tokens were imported by an earlier run
    earlier: set[Any] = field(default_factory=set)
    #: read once per batch: the hashes of the batch's tokens stored here already, of those an
    #: earlier run imported (stored here or not), and when each DOT token family of the batch began
    present: set[str] = field(default_factory=set)
    imported: set[str] = field(default_factory=set)
    #: what this batch imported, remembered with the batch (:class:`ImportedToken`)
    remembered: list[ImportedToken] = field(default_factory=list)
    family_starts: dict[Any, datetime] = field(default_factory=dict)
    unknown_scopes: set[str] = field(default_factory=set)


def checksum(token: Any) -> str:
    """The SHA-256 hex digest DOT keeps (``token_checksum``), or that of the value it kept in
    the clear: this library's ``token_hash`` either way."""
    return str(getattr(token, "token_checksum", "") or "") or _secrets.hash_token(token.token)


def batches(queryset: Any, size: int) -> Iterator[list[Any]]:
    """``queryset`` in primary-key order, ``size`` rows at a time (keyset pagination: rows
    written meanwhile neither shift nor repeat a batch)."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page[:size])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def import_tokens(run: Run) -> None:
    """Refresh tokens with their access tokens, then the other live access tokens, a
    transaction per batch; then the inferred consents; then what was left behind, counted."""
    dot = run.models
    if run.earlier:
        with transaction.atomic():
            carry_revocations(run)
    live_refresh = dot.refresh_token.objects.filter(revoked__isnull=True, access_token__isnull=False)
    for rows in batches(live_refresh.select_related("access_token"), run.batch_size):
        _read_batch(run, rows, [rt.access_token for rt in rows])
        with transaction.atomic():
            for rt in rows:
                _refresh_token(run, rt)
            _remember(run)
    held = dot.refresh_token.objects.filter(access_token=OuterRef("pk"), revoked__isnull=True)
    lone = dot.access_token.objects.filter(expires__gt=run.now).exclude(Exists(held))
    for rows in batches(lone, run.batch_size):
        _read_batch(run, [], rows)
        with transaction.atomic():
            for at in rows:
                _lone_access_token(run, at)
            _remember(run)
    with transaction.atomic():
        _remember_consents(run)
    _left_behind(run)


def carry_revocations(run: Run) -> None:
    """What DOT revoked since an earlier run, revoke here too: a refresh token DOT rotated or
    revoked (RFC 7009 §2.1, RFC 9700 §4.14.2) revokes its family here, an access token DOT
    deleted (its way of revoking) is revoked here. Only tokens an earlier run imported are
    looked at: those it remembered (:class:`ImportedToken`), and those created before their
    client was imported here (runs before the record was kept); tokens issued here since are
    this site's own."""
    dot = run.models
    if dot.refresh_token.objects.filter(token_checksum="").exists() or dot.access_token.objects.filter(
        token_checksum=""
    ).exists():
        run.report.note("token", "DOT", "rows without token_checksum: revocations at DOT since the last run are not "
                        "carried over (upgrade django-oauth-toolkit to 3.x and run its migrations)")
        return
    live_refresh = dot.refresh_token.objects.filter(revoked__isnull=True).values("token_checksum")
    # what is live here (the model's rule) but no longer live at DOT
    imported = ImportedToken.objects.filter(kind=_imports.REFRESH).values("token_hash")
    stale_refresh = RefreshToken.objects.live(run.now).filter(
        Q(token_hash__in=imported)
        | Q(authorization__client__in=run.earlier, created_at__lte=F("authorization__client__created_at")),
    ).exclude(token_hash__in=live_refresh)
    families = Authorization.objects.filter(pk__in=list(stale_refresh.values_list("authorization_id", flat=True)))
    live_access = dot.access_token.objects.filter(expires__gt=run.now).values("token_checksum")
    imported = ImportedToken.objects.filter(kind=_imports.ACCESS).values("token_hash")
    stale_access = AccessToken.objects.live(run.now).filter(
        Q(token_hash__in=imported) | Q(client__in=run.earlier, created_at__lte=F("client__created_at")),
    ).exclude(token_hash__in=live_access)
    if run.dry_run:
        run.report.count(REFRESH, REVOKED, stale_refresh.count())
        run.report.count(ACCESS, REVOKED, stale_access.count())
        return
    run.report.count(REFRESH, REVOKED, stale_refresh.count())
    families.revoke(run.now)
    run.report.count(ACCESS, REVOKED, stale_access.revoke(run.now))


def _read_batch(run: Run, refresh: list[Any], access: list[Any]) -> None:
    """What a batch needs to know about this side, in four queries whatever its size: which
    of its tokens are here already, which an earlier run imported, and when its DOT token
    families began."""
    refresh_digests, access_digests = [checksum(t) for t in refresh], [checksum(t) for t in access]
    run.present = set(RefreshToken.objects.filter(token_hash__in=refresh_digests)
                      .values_list("token_hash", flat=True)) if refresh else set()
    run.present |= set(AccessToken.objects.filter(token_hash__in=access_digests)
                       .values_list("token_hash", flat=True))
    run.imported = set(ImportedToken.objects.filter(token_hash__in=refresh_digests + access_digests)
                       .values_list("token_hash", flat=True))
    families = {t.token_family for t in refresh if getattr(t, "token_family", None)}
    run.family_starts = dict(
        run.models.refresh_token.objects.filter(token_family__in=families).values("token_family")
        .annotate(first=Min("created")).values_list("token_family", "first")
    ) if families else {}


def _client(run: Run, token: Any, kind: str) -> AbstractClient | None:
    client = run.clients.get(token.application_id)
    if client is None:
        run.left_behind[(kind, "its application was not imported")] += 1
    return client


def _gone_here(run: Run, token: Any, client: AbstractClient, kind: str) -> bool:
    """A token an earlier run imported and missing here: revoked and cleaned up here since.
    Never brought back. Known by the run's record (:class:`ImportedToken`), or, for runs
    before the record was kept, as a token of a client imported by an earlier run and created
    at DOT before that run."""
    if checksum(token) in run.imported or (client.pk in run.earlier and token.created <= client.created_at):
        run.left_behind[(kind, "imported by an earlier run and deleted here since (revoked, then cleaned up): "
                               "not brought back")] += 1
        return True
    return False


def _audience(run: Run, client: AbstractClient, kind: str, token: Any) -> str | None:
    """The stored audience of ``token``'s RFC 8707 ``resource`` list ("" when it has none), or
    None when this site cannot keep it (an unknown resource, or one the client may not have):
    then the token is left behind rather than widened."""
    values = [str(v) for v in (getattr(token, "resource", None) or [])]
    if not values:
        return ""
    try:
        return resources.store(resources.requested(values, client, required=False))
    except InvalidTarget as exc:
        run.left_behind[(kind, f"restricted to resources (RFC 8707) not kept here: {exc.description}")] += 1
        return None


def _refresh_token(run: Run, rt: Any) -> None:
    report, access = run.report, rt.access_token
    client = _client(run, rt, REFRESH)
    if client is None:
        return
    covered = _audience(run, client, REFRESH, rt)
    if covered is None:
        return
    deadline = access.expires + run.models.refresh_lifetime if run.models.refresh_lifetime else None
    if deadline is not None and deadline <= run.now:
        run.left_behind[(REFRESH, "expired (DOT's REFRESH_TOKEN_EXPIRE_SECONDS)")] += 1
        return
    digest = checksum(rt)
    if digest in run.present:
        report.count(REFRESH, PRESENT)
        if access.expires > run.now:
            _lone_access_token(run, access)
        return
    if _gone_here(run, rt, client, REFRESH):
        return
    family = Authorization(
        client=client,  # type: ignore[misc]  # the FK is to the swappable client model
        user_id=rt.user_id, scope=access.scope, resources=covered, created_at=_family_start(run, rt),
    )
    expires = refresh_expiry(family, run.now)
    if deadline is not None:
        expires = min(expires, deadline)
    if expires <= run.now:
        run.left_behind[(REFRESH, "older than REFRESH_TOKEN_LIFETIME, counted from the original grant")] += 1
        _lone_access_token(run, access)
        return
    _note_scopes(run, access.scope)
    if not run.dry_run:
        family.save()
        RefreshToken.objects.create(token_hash=digest, authorization=family, scope=access.scope,
                                    created_at=rt.created, expires_at=expires)
        run.remembered.append(ImportedToken(token_hash=digest, kind=_imports.REFRESH, expires_at=expires))
    run.present.add(digest)
    report.count(REFRESH, IMPORTED)
    if access.expires > run.now:
        _access_token(run, access, client, family)
    if _may_infer_consent(run, client):
        _user, _client_row, granted = run.consents.setdefault(
            (rt.user_id, client.client_id), (rt.user_id, client, set())
        )
        granted.update(access.scope.split())


def _family_start(run: Run, rt: Any) -> datetime:
    """When the grant began: the first refresh token of DOT's token family (rotation keeps the
    family), or this one's creation."""
    first = run.family_starts.get(getattr(rt, "token_family", None))
    return min(first, rt.created) if first is not None else rt.created  # type: ignore[no-any-return]


def _lone_access_token(run: Run, at: Any) -> None:
    if at.expires <= run.now:  # counted with DOT's other expired tokens (_left_behind)
        return
    client = _client(run, at, ACCESS)
    if client is None:
        return
    family = None
    if at.user_id is not None:  # a user's grant: a family, so revoking the grant reaches it
        covered = _audience(run, client, ACCESS, at)
        if covered is None:
            return
        family = Authorization(
            client=client,  # type: ignore[misc]  # the FK is to the swappable client model
            user_id=at.user_id, scope=at.scope, resources=covered, created_at=at.created,
        )
    _access_token(run, at, client, family)


def _access_token(run: Run, at: Any, client: AbstractClient, family: Authorization | None) -> None:
    digest = checksum(at)
    if digest in run.present:
        run.report.count(ACCESS, PRESENT)
        return
    if _gone_here(run, at, client, ACCESS):
        return
    audience = _audience(run, client, ACCESS, at)
    if audience is None:
        return
    _note_scopes(run, at.scope)
    if not run.dry_run:
        if family is not None and family.pk is None:
            family.save()
        AccessToken.objects.create(token_hash=digest, client=client, user_id=at.user_id, authorization=family,
                                   scope=at.scope, audience=audience, created_at=at.created, expires_at=at.expires)
        run.remembered.append(ImportedToken(token_hash=digest, kind=_imports.ACCESS, expires_at=at.expires))
    run.present.add(digest)
    run.report.count(ACCESS, IMPORTED)


def _remember(run: Run) -> None:
    """Record what the batch imported, in the batch's transaction (one INSERT)."""
    if run.remembered:
        ImportedToken.objects.bulk_create(run.remembered)
        run.remembered.clear()


def _note_scopes(run: Run, scope: str) -> None:
    run.unknown_scopes.update(s for s in scope.split() if s not in _scopes.registered())


def _may_infer_consent(run: Run, client: AbstractClient) -> bool:
    return run.models.approval_prompt == "auto" and adapter().can_remember_consent(client)


def _remember_consents(run: Run) -> None:
    for user_pk, client, granted in run.consents.values():
        exists = client.pk is not None and Consent.objects.filter(user_id=user_pk, client_id=client.pk).exists()
        if exists:
            run.report.count(CONSENT, PRESENT)
            continue
        if not run.dry_run:
            Consent.objects.create(user_id=user_pk, client=client, scope=_scopes.join(sorted(granted)))
        run.report.count(CONSENT, IMPORTED)


def _left_behind(run: Run) -> None:
    report, dot = run.report, run.models
    for (kind, reason), n in sorted(run.left_behind.items()):
        report.skip(kind, f"({n})", reason, n)
    expired = dot.access_token.objects.filter(expires__lte=run.now).count()
    if expired:
        report.skip(ACCESS, f"({expired})", "expired", expired)
    revoked = dot.refresh_token.objects.filter(revoked__isnull=False).count()
    if revoked:
        report.skip(REFRESH, f"({revoked})", "revoked or rotated", revoked)
    codes = dot.grant.objects.filter(expires__gt=run.now).count()
    if codes:
        report.skip("authorization code", f"({codes})", "codes live a minute or so: a user in the middle of a "
                    "login starts again", codes)
    if dot.device_grant is not None:
        devices = dot.device_grant.objects.filter(expires__gt=run.now).count()
        if devices:
            report.skip("device code", f"({devices})", "pending device logins start again", devices)
    id_tokens = dot.id_token.objects.filter(expires__gt=run.now).count()
    if id_tokens:
        report.skip("ID token", f"({id_tokens})", "not stored here: the ID tokens relying parties hold verify "
                    "with the imported signing key", id_tokens)
    if run.unknown_scopes:
        report.note("scope", " ".join(sorted(run.unknown_scopes)),
                    "carried on tokens but not in OAUTH_PROVIDER['SCOPES']: add them, or views requiring them "
                    "refuse these tokens")
