"""Token state: the family (:class:`Authorization`), codes, access and refresh tokens.

Every rule about whether one of these is live, spent, revoked or expired lives here, once,
in two spellings that must agree: ``is_live(now)`` / ``dead_reason(now)`` on a row (using the
rows already joined to it, and one query for a token obtained through another client by token
exchange), and ``.live(now)`` / ``.dead(now)`` on a queryset (in SQL, for
the admin, the connected-apps page and cleanup). Nothing above the model layer compares
``expires_at``, ``revoked_at``, ``rotated_at`` or ``consumed_at`` itself.

* **Live** means usable right now: unexpired, unrevoked, not spent, its family unrevoked, its
  client and user (if any) active (RFC 7662 §2.2's ``active``; RFC 6750 §3.1's valid token).
* **Dead** means nothing can ever come of the row again, so it may be deleted. A spent code or
  a rotated refresh token is not live but not dead either until it expires: presenting it
  again is how a stolen one is detected and its family revoked (RFC 6749 §4.1.2, RFC 9700
  §4.14.2). A deactivated client or user makes a token not live, never dead: it may come back.

Values are stored only as SHA-256 digests; one-time things are consumed by conditional UPDATEs
(:mod:`.store`); revoking a family revokes every token born of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connections, models, router
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from .. import denylist
from .. import secrets as _secrets
from ..conf import provider_settings
from .clients import client_model_label

if TYPE_CHECKING:
    from .clients import AbstractClient

#: why a row is not live, as :meth:`dead_reason` reports it; the protocol layer words the error
REVOKED = "revoked"
FAMILY_REVOKED = "family_revoked"
EXPIRED = "expired"
CONSUMED = "consumed"
ROTATED = "rotated"
CLIENT_INACTIVE = "client_inactive"
USER_INACTIVE = "user_inactive"

_Q = TypeVar("_Q", bound="models.QuerySet[Any]")
#: the longest chain of token exchanges (RFC 8693 ``act`` nesting) a token may come from,
#: through subject and actor tokens alike
EXCHANGE_MAX_DEPTH = 5


def _user_active(prefix: str) -> Q:
    """The user behind ``prefix`` (a nullable relation) is absent or active. A custom user
    model without an ``is_active`` column is always active, as Django's backends treat it."""
    try:
        get_user_model()._meta.get_field("is_active")
    except FieldDoesNotExist:
        return Q()
    return Q(**{f"{prefix}__isnull": True}) | Q(**{f"{prefix}__is_active": True})


def _holds_scope(name: str) -> Q:
    """A space-separated ``scope`` column holding the scope ``name`` as a whole word (and, where
    LIKE ignores case, other spellings of it too)."""
    return (Q(scope=name) | Q(scope__startswith=f"{name} ") | Q(scope__endswith=f" {name}")
            | Q(scope__contains=f" {name} "))


def _parties_reason(client: AbstractClient | None, user: Any | None) -> str | None:
    if client is not None and not client.is_active:
        return CLIENT_INACTIVE
    if user is not None and not getattr(user, "is_active", True):
        return USER_INACTIVE
    return None


def refresh_grace() -> timedelta:
    """``REFRESH_TOKEN_GRACE_PERIOD``: how long a rotated refresh token may be presented once
    more without counting as reuse (zero: never)."""
    return timedelta(seconds=provider_settings.REFRESH_TOKEN_GRACE_PERIOD or 0)


class AuthorizationQuerySet(models.QuerySet["Authorization"]):
    def revoked(self) -> AuthorizationQuerySet:
        return self.filter(revoked_at__isnull=False)

    def live(self, now: datetime | None = None) -> AuthorizationQuerySet:
        """Families not revoked (a family has no expiry of its own: its tokens do)."""
        return self.filter(revoked_at__isnull=True)

    def holding_refresh_token(self, raw: str) -> AuthorizationQuerySet:
        """The family (at most one) of the refresh token whose value is ``raw``."""
        return self.filter(refresh_tokens__token_hash=_secrets.hash_token(raw))

    def holding_tokens(self, now: datetime | None = None) -> AuthorizationQuerySet:
        """Live families that can still mint tokens: one of their refresh tokens is live."""
        now = now or _secrets.now()
        return self.live(now).filter(
            Exists(RefreshToken.objects.live(now).filter(authorization=OuterRef("pk")))
        )

    def ending_with_login(self) -> AuthorizationQuerySet:
        """Families whose tokens last only as long as the user's login session: OpenID Connect
        grants (``openid``) without ``offline_access`` (OIDC Core §11: that scope asks for a
        refresh token usable "even when the End-User is not present (not logged in)"; without
        it, Back-Channel Logout 1.0 §2.7: refresh tokens "SHOULD be revoked" with the session)."""
        # SQL narrows (LIKE ignores case on SQLite and MySQL); the words are compared here, exactly
        # (RFC 6749 §3.3: scopes are case-sensitive). One statement, run now.
        found = self.filter(_holds_scope("openid")).values_list("pk", "scope")
        return self.filter(pk__in=[pk for pk, scope in found
                                   if "openid" in scope.split() and "offline_access" not in scope.split()])

    def of_login(self, session_id: str | None, auth_time: datetime | None) -> AuthorizationQuerySet:
        """The families one login made: those of its session (``sid``) and its login time to the
        second (``auth_time``, as an ID token carries them); a part not known is not filtered on."""
        found = self
        if session_id is not None:
            found = found.filter(session_id=session_id)
        if auth_time is not None:
            found = found.filter(auth_time__gte=auth_time, auth_time__lt=auth_time + timedelta(seconds=1))
        return found

    def of_id_token(self, session_id: str | None, auth_time: datetime | None,
                    issued_at: datetime | None) -> Authorization | None:
        """The live family an ID token stands for, or None: one of its login (:meth:`of_login`)
        made no later than the ID token (``issued_at``, its ``iat`` to the second), the latest
        of them. An ID token does not say which of one login's families it came from, so when
        one it may come from was revoked it stands for none: a live sibling (the same client,
        user and login, another authorization) must not bring back what was withdrawn."""
        found = self.of_login(session_id, auth_time)
        if issued_at is not None:
            found = found.filter(created_at__lt=issued_at + timedelta(seconds=1))
        # one statement: a revoked candidate sorts first, else the latest live one
        first = found.order_by(F("revoked_at").desc(nulls_last=True), "-created_at").first()
        return None if first is None or first.revoked_at is not None else first

    def dead(self, now: datetime | None = None) -> AuthorizationQuerySet:
        """Revoked families, and families older than ``REFRESH_TOKEN_LIFETIME`` with no code or
        token left that is not dead. The age guard spares a family created an instant before
        its first code."""
        now = now or _secrets.now()
        lifetime = timedelta(seconds=provider_settings.REFRESH_TOKEN_LIFETIME)
        # the family is unrevoked in this branch: a child is dead by its own state alone
        children = [
            Exists(model.objects.filter(authorization=OuterRef("pk")).exclude(model.objects.own_dead(now)))
            for model in (AuthorizationCode, AccessToken, RefreshToken)
        ]
        idle = Q(created_at__lte=now - lifetime) & ~children[0] & ~children[1] & ~children[2]
        return self.filter(Q(revoked_at__isnull=False) | idle)

    def revoke(self, when: datetime | None = None) -> int:
        """Revoke every family in the queryset (and so every token of each); their live JWT
        access tokens go on the denylist when it is enabled.

        A token obtained by token exchange with one of these families' tokens as the *actor*
        token (RFC 8693 §1.1, delegation) lives in its subject token's family, not the actor's:
        it is revoked here too, with what was exchanged from it (one more statement). An agent
        whose grant is withdrawn, or whose refresh token was replayed, keeps nothing it obtained
        for others with that grant's tokens. First, while ``self`` still selects the families
        (it may filter on them being unrevoked)."""
        when = when or _secrets.now()
        AccessToken.objects.filter(actor_token__authorization__in=self).revoke(when)
        if not denylist.enabled():
            return int(self.filter(revoked_at__isnull=True).update(revoked_at=when))
        # The JWTs to deny are read *after* the families are marked: a code exchange or refresh
        # storing a token reads its family under a shared lock (``{family_live}`` in
        # models/store.py), so it either ends before this UPDATE (its token is read below) or
        # finds the family revoked and stores nothing. Read before, a token stored in between
        # was never denied. The families are named first: ``self`` may select unrevoked ones.
        families = list(self.values_list("pk", flat=True))
        count = Authorization.objects.filter(pk__in=families, revoked_at__isnull=True).update(revoked_at=when)
        denylist.add(  # after the UPDATE: a cache failure can never undo the revocation
            AccessToken.objects.filter(authorization__in=families, revoked_at__isnull=True,
                                       expires_at__gt=denylist.still_accepted_after(when))
            .values_list("token_hash", "expires_at")
        )
        return int(count)


class Authorization(models.Model):
    """One grant by a user (or a client acting for itself) to a client: the family its
    codes and tokens belong to. Revoking it revokes them all at once."""

    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="oauth_authorizations",
    )
    scope = models.TextField(_("scope"), blank=True)
    created_at = models.DateTimeField(_("created"), default=_secrets.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    auth_time = models.DateTimeField(
        _("authenticated at"), null=True, blank=True,
        help_text=_("When the user logged in before granting (OIDC auth_time)."),
    )
    session_id = models.CharField(_("session ID"), max_length=64, blank=True, help_text=_("OIDC sid."))
    claims = models.JSONField(_("requested claims"), null=True, blank=True)
    auth_context = models.JSONField(
        _("authentication context"), null=True, blank=True, help_text=_("acr/amr of the login (OIDC).")
    )
    resources = models.TextField(
        _("resources"), blank=True, default="",
        help_text=_("The resources the grant covers (RFC 8707), space-separated; empty: the default resource."),
    )

    objects = AuthorizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("authorization")
        verbose_name_plural = _("authorizations")

    def __str__(self) -> str:
        return f"{self.client_id} / {self.user_id or '-'}: {self.scope}"

    def is_live(self, now: datetime | None = None) -> bool:
        """Not revoked."""
        return self.revoked_at is None

    def family_reason(self) -> str | None:
        """Why tokens of this family cannot be used: revoked, or its user deactivated (the
        user is joined wherever this is asked; no query)."""
        if self.revoked_at is not None:
            return FAMILY_REVOKED
        user = self.user if self.user_id is not None else None
        return _parties_reason(None, user)


class TokenQuerySet(models.QuerySet[Any]):
    """Shared by codes, access and refresh tokens: lookup by value and revocation."""

    def by_value(self: _Q, raw: str) -> _Q:
        """Rows whose stored hash is the hash of ``raw`` (at most one: unique index)."""
        return self.filter(**{self.model.HASH_FIELD: _secrets.hash_token(raw)})

    def expired(self: _Q, when: datetime | None = None) -> _Q:
        return self.filter(expires_at__lte=when or _secrets.now())

    def revoked(self: _Q) -> _Q:
        """Revoked, by itself or with its family."""
        return self.filter(Q(revoked_at__isnull=False) | Q(authorization__revoked_at__isnull=False))

    def revoke(self, when: datetime | None = None) -> int:
        """Revoke the rows not revoked yet; returns how many. Live JWT access tokens among
        them go on the denylist when it is enabled."""
        when = when or _secrets.now()
        count = self.filter(revoked_at__isnull=True).update(revoked_at=when)
        if count and self.model is AccessToken and denylist.enabled():
            # read after the UPDATE (what it revoked carries ``when``), so a token an exchange or
            # a grant stored while the UPDATE waited for it is among them; a cache failure can
            # never undo the revocation
            denylist.add(self.filter(revoked_at=when, expires_at__gt=denylist.still_accepted_after(when))
                         .values_list("token_hash", "expires_at"))
        return count


class AuthorizationCodeQuerySet(TokenQuerySet):
    def consumed(self) -> AuthorizationCodeQuerySet:
        return self.filter(consumed_at__isnull=False)

    def revoked(self) -> AuthorizationCodeQuerySet:
        return self.filter(authorization__revoked_at__isnull=False)

    def live(self, now: datetime | None = None) -> AuthorizationCodeQuerySet:
        now = now or _secrets.now()
        return self.filter(
            Q(expires_at__gt=now, consumed_at__isnull=True, authorization__revoked_at__isnull=True)
            & Q(authorization__client__is_active=True) & _user_active("authorization__user")
        )

    @staticmethod
    def own_dead(now: datetime) -> Q:
        return Q(expires_at__lte=now)

    def dead(self, now: datetime | None = None) -> AuthorizationCodeQuerySet:
        """Expired, or of a revoked family. A used code stays until it expires, so a replay
        before then still revokes its family (RFC 6749 §4.1.2)."""
        now = now or _secrets.now()
        return self.filter(self.own_dead(now) | Q(authorization__revoked_at__isnull=False))

    def revoke(self, when: datetime | None = None) -> int:
        """A code has no revocation of its own: revoking it revokes its family."""
        return Authorization.objects.filter(pk__in=self.values("authorization_id")).revoke(when)


class AuthorizationCode(models.Model):
    """An authorization code (RFC 6749 §4.1.2), single use, short-lived, PKCE-bound."""

    HASH_FIELD = "code_hash"

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    authorization = models.ForeignKey(Authorization, on_delete=models.CASCADE, related_name="codes")
    redirect_uri = models.TextField(
        blank=True, help_text=_("The redirect_uri sent with the request; empty if it was omitted.")
    )
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=10, default="S256")
    nonce = models.TextField(blank=True)
    dpop_jkt = models.CharField(
        _("DPoP key thumbprint"), max_length=43, blank=True, default="",
        help_text=_("The RFC 7638 thumbprint of the key the code is bound to (RFC 9449 §10, dpop_jkt): "
                    "only a DPoP proof by that key redeems it."),
    )
    created_at = models.DateTimeField(default=_secrets.now)
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    objects = AuthorizationCodeQuerySet.as_manager()

    class Meta:
        verbose_name = _("authorization code")
        verbose_name_plural = _("authorization codes")

    def __str__(self) -> str:
        return f"code {self.code_hash[:8]}…"

    def dead_reason(self, now: datetime | None = None) -> str | None:
        """Why the code cannot be redeemed now (None: it can), checked in this order: used
        (a replay, RFC 6749 §4.1.2), its family revoked, expired, its user deactivated. Uses
        the family and user joined to the row."""
        now = now or _secrets.now()
        if self.consumed_at is not None:
            return CONSUMED
        family = self.authorization
        if family.revoked_at is not None:
            return FAMILY_REVOKED
        if self.expires_at <= now:
            return EXPIRED
        return family.family_reason()

    def is_live(self, now: datetime | None = None) -> bool:
        return self.dead_reason(now) is None


class AccessTokenQuerySet(TokenQuerySet):
    def live(self, now: datetime | None = None) -> AccessTokenQuerySet:
        now = now or _secrets.now()
        return self.filter(
            Q(expires_at__gt=now, revoked_at__isnull=True)
            & (Q(authorization__isnull=True) | Q(authorization__revoked_at__isnull=True))
            & Q(client__is_active=True) & _user_active("user")
            # a token exchanged for another client's token is in that client's family
            & (Q(authorization__isnull=True) | Q(authorization__client__is_active=True))
            # ... and stops while any client it was obtained from, up the chain, is deactivated
            & ~Q(pk__in=AccessToken.objects.filter(client__is_active=False).with_exchanged())
        )

    @staticmethod
    def own_dead(now: datetime) -> Q:
        return Q(expires_at__lte=now) | Q(revoked_at__isnull=False)

    def dead(self, now: datetime | None = None) -> AccessTokenQuerySet:
        """Expired, revoked, or of a revoked family."""
        now = now or _secrets.now()
        return self.filter(self.own_dead(now) | Q(authorization__revoked_at__isnull=False))

    def with_exchanged(self) -> AccessTokenQuerySet:
        """These tokens and every token obtained from them by token exchange, as the subject
        token or as the actor token, down to :data:`EXCHANGE_MAX_DEPTH` links (RFC 8693: a token
        issued for a subject token, or to an actor by delegation, must not outlive its
        revocation). One queryset, so revoking it is still one UPDATE.

        The generations are one recursive query (``WITH RECURSIVE``), each found from the one
        above through the ``subject_token`` or the ``actor_token`` index: the database reads
        only the family tree. (A join per generation, OR-ed together, made it read every
        token.) The SQL around this queryset's own is written here rather than built from
        nested querysets, whose construction alone cost milliseconds per revocation."""
        # for an UPDATE: the database the queryset was pinned to with using(), else the router's
        # database for writes (self.db would be the one for reads)
        using = getattr(self, "_db", None) or router.db_for_write(AccessToken)
        connection = connections[using]
        try:
            base, params = self.order_by().values("pk").query.get_compiler(connection=connection).as_sql()
        except EmptyResultSet:  # none() or pk__in=[]: nothing to revoke, nothing exchanged from it
            return self.none()
        quote = connection.ops.quote_name
        table = quote(AccessToken._meta.db_table)
        pk = quote(AccessToken._meta.pk.column) if AccessToken._meta.pk else "id"
        subject = quote(AccessToken.subject_token.field.column)
        actor = quote(AccessToken.actor_token.field.column)
        tree, depth, first, token = quote("exchanged"), quote("depth"), quote("revoked"), quote("obtained")
        # One recursive query: the base once, then each generation from the one above through
        # either link (a join per generation nested the one above in its text).
        sql = (
            f"WITH RECURSIVE {tree} ({pk}, {depth}) AS ("  # noqa: S608
            f"SELECT {first}.{pk}, 0 FROM {table} {first} WHERE {first}.{pk} IN ({base}) "
            f"UNION ALL SELECT {token}.{pk}, {tree}.{depth} + 1 FROM {table} {token} "
            f"INNER JOIN {tree} ON ({token}.{subject} = {tree}.{pk} OR {token}.{actor} = {tree}.{pk}) "
            f"WHERE {tree}.{depth} < {EXCHANGE_MAX_DEPTH:d}"
            f") SELECT {tree}.{pk} FROM {tree}"
        )
        # S611: the only text here is Django's compiled SQL (values as parameters) and quoted names
        return AccessToken.objects.using(using).filter(pk__in=RawSQL(sql, tuple(params)))  # noqa: S611

    def ancestry_reason(self, pk: int) -> str | None:
        """Why the token ``pk`` is dead because of a token it was obtained from by token
        exchange (as the subject or the actor token, up to :data:`EXCHANGE_MAX_DEPTH` links):
        :data:`REVOKED` when one of them, or its family, was revoked; :data:`CLIENT_INACTIVE`
        when one is of a deactivated client; None when none is. One query: the chain upwards
        (``WITH RECURSIVE``, by primary key), its families and its clients.

        A token whose ancestor was revoked was revoked with it (:meth:`revoke`); this rule keeps
        it dead also where its row was missed (a row restored from a backup, an exchange stored
        by other code than this library's)."""
        using = getattr(self, "_db", None) or router.db_for_read(AccessToken)
        connection = connections[using]
        quote = connection.ops.quote_name
        table = quote(AccessToken._meta.db_table)
        pk_col = quote(AccessToken._meta.pk.column) if AccessToken._meta.pk else "id"
        subject = quote(AccessToken.subject_token.field.column)
        actor = quote(AccessToken.actor_token.field.column)
        client = quote(AccessToken.client.field.column)
        family = quote(AccessToken.authorization.field.column)
        revoked = quote("revoked_at")
        client_model = AccessToken.client.field.related_model
        clients = quote(client_model._meta.db_table)
        families = quote(Authorization._meta.db_table)
        up, depth, row = quote("derived_from"), quote("depth"), quote("ancestor")
        columns = f"{pk_col}, {subject}, {actor}, {client}, {family}, {revoked}"
        sql = (
            f"WITH RECURSIVE {up} ({columns}, {depth}) AS ("  # noqa: S608
            f"SELECT {columns}, 0 FROM {table} WHERE {pk_col} = %s "
            f"UNION ALL SELECT {row}.{pk_col}, {row}.{subject}, {row}.{actor}, {row}.{client}, {row}.{family}, "
            f"{row}.{revoked}, {up}.{depth} + 1 "
            f"FROM {table} {row} INNER JOIN {up} ON ({row}.{pk_col} = {up}.{subject} OR {row}.{pk_col} = {up}.{actor}) "
            f"WHERE {up}.{depth} < {EXCHANGE_MAX_DEPTH:d}"
            f") SELECT {up}.{revoked}, {families}.{revoked}, {clients}.{quote('is_active')} FROM {up} "
            f"INNER JOIN {clients} ON {clients}.{quote(client_model._meta.pk.column)} = {up}.{client} "
            f"LEFT JOIN {families} ON {families}.{quote(Authorization._meta.pk.column)} = {up}.{family}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, (pk,))
            rows = cursor.fetchall()
        if any(token_revoked is not None or family_revoked is not None for token_revoked, family_revoked, _ in rows):
            return REVOKED
        if not all(active for _, _, active in rows):
            return CLIENT_INACTIVE
        return None

    def revoke(self, when: datetime | None = None) -> int:
        """Revoke the tokens and what was exchanged for them (:meth:`with_exchanged`).

        Twice: an exchange storing a token from one of these holds that token's row while it
        stores (:func:`oauth_provider.models.store.exchanged_from`), so the first UPDATE waits
        for it, but read the tree before it was stored; the second, a new statement, reads the
        tree again and revokes what such an exchange stored (an outside race review found up to
        49 of 49 racing exchanges left live). An exchange starting later finds the token
        revoked and stores nothing. When the first revoked nothing, nothing was held for it:
        no second statement."""
        when = when or _secrets.now()
        count = TokenQuerySet.revoke(self.with_exchanged(), when)
        return count + TokenQuerySet.revoke(self.with_exchanged(), when) if count else 0


class AccessToken(models.Model):
    """A bearer access token (RFC 6750): opaque, or an RFC 9068 JWT whose digest is stored here
    so introspection, revocation and family revocation see it like any other."""

    HASH_FIELD = "token_hash"

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="oauth_access_tokens",
    )
    authorization = models.ForeignKey(
        Authorization, null=True, blank=True, on_delete=models.CASCADE, related_name="access_tokens"
    )
    scope = models.TextField(blank=True)
    audience = models.TextField(
        _("audience"), blank=True, default="",
        help_text=_("The resources the token is good at (RFC 8707), space-separated; empty: the default resource."),
    )
    created_at = models.DateTimeField(default=_secrets.now)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    subject_token = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="exchanged_tokens",
        verbose_name=_("exchanged from"),
        help_text=_("The token this one was obtained for by token exchange (RFC 8693); revoking that "
                    "token revokes this one."),
    )
    actor_token = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("actor token"),
        help_text=_("The token of the actor this one was obtained with by token exchange (RFC 8693 §1.1); "
                    "revoking that token revokes this one."),
    )
    act = models.JSONField(
        _("actor"), null=True, blank=True,
        help_text=_("The act claim (RFC 8693 §4.1): who acts for the subject, earlier actors nested."),
    )
    exchange_depth = models.PositiveSmallIntegerField(
        _("exchange depth"), default=0,
        help_text=_("How many token exchanges lie between this token and one issued by another grant."),
    )
    dpop_jkt = models.CharField(
        _("DPoP key thumbprint"), max_length=43, blank=True, default="",
        help_text=_("The RFC 7638 thumbprint of the key the token is bound to (RFC 9449 §6, cnf.jkt): it is "
                    "accepted only with a DPoP proof by that key. Empty: a bearer token."),
    )

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")

    def __str__(self) -> str:
        return f"access token {self.token_hash[:8]}…"

    def dead_reason(self, now: datetime | None = None) -> str | None:
        """Why the token is not usable now (None: it is). Uses the client, user and family
        joined to the row (the bearer lookup joins all three: no query), and one query only for
        a token from token exchange whose chain may hold another client: the family's client
        (one exchange of another client's token), or every client up the chain (a longer
        chain, an actor token, a subject outside any family)."""
        now = now or _secrets.now()
        if self.revoked_at is not None:
            return REVOKED
        if self.expires_at <= now:
            return EXPIRED
        family = self.authorization if self.authorization_id is not None else None
        if family is not None and family.revoked_at is not None:
            return FAMILY_REVOKED
        reason = _parties_reason(self.client, self.user if self.user_id is not None else None)
        if reason is not None:
            return reason
        if self._may_come_from_another_client(family):
            # a chain of exchanges, an actor token, or a subject outside any family: every token
            # it came from must be unrevoked and its client active, the family's among them (one
            # query, only for these)
            return AccessToken.objects.ancestry_reason(self.pk)
        if family is not None and family.client_id != self.client_id:
            # exchanged once for another client's token (RFC 8693): it joined that token's family,
            # and lives no longer than the family's client is active (one query, only here)
            return _parties_reason(family.client, None)
        return None

    def _may_come_from_another_client(self, family: Authorization | None) -> bool:
        """Could a token this one was obtained from be of a client not checked yet? Not for a
        token no exchange made, nor for one exchanged once, with no actor, for a token of a
        family: that subject token is its family's client's (checked above)."""
        if self.subject_token_id is None and self.actor_token_id is None:
            return False
        return self.actor_token_id is not None or self.exchange_depth > 1 or family is None

    def is_live(self, now: datetime | None = None) -> bool:
        """Unexpired, unrevoked, its family unrevoked, its client, its family's client, the
        clients of the tokens it was exchanged from, and its user active."""
        return self.dead_reason(now) is None

    def is_active(self, when: datetime | None = None) -> bool:
        """Deprecated spelling of :meth:`is_live`."""
        return self.is_live(when)


class RefreshTokenQuerySet(TokenQuerySet):
    def rotated(self) -> RefreshTokenQuerySet:
        return self.filter(rotated_at__isnull=False)

    def live(self, now: datetime | None = None) -> RefreshTokenQuerySet:
        """Refresh tokens that can be redeemed now: the current one of each chain, and a
        rotated one still inside ``REFRESH_TOKEN_GRACE_PERIOD`` (and not yet replayed)."""
        now = now or _secrets.now()
        grace = refresh_grace()
        unrotated = Q(rotated_at__isnull=True)
        if grace:
            unrotated |= Q(rotated_at__gt=now - grace, shared_at__isnull=True)
        return self.filter(
            unrotated & Q(expires_at__gt=now, revoked_at__isnull=True, authorization__revoked_at__isnull=True)
            & Q(authorization__client__is_active=True) & _user_active("authorization__user")
        )

    def dead(self, now: datetime | None = None) -> RefreshTokenQuerySet:
        """Expired, revoked or of a revoked family. A rotated token stays until it expires:
        presenting it again is how a stolen one is detected (RFC 9700 §4.14.2)."""
        now = now or _secrets.now()
        return self.filter(self.own_dead(now) | Q(authorization__revoked_at__isnull=False))

    @staticmethod
    def own_dead(now: datetime) -> Q:
        return Q(expires_at__lte=now) | Q(revoked_at__isnull=False)


class RefreshToken(models.Model):
    """A refresh token, rotated on every use (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)."""

    HASH_FIELD = "token_hash"

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    authorization = models.ForeignKey(Authorization, on_delete=models.CASCADE, related_name="refresh_tokens")
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField(default=_secrets.now)
    expires_at = models.DateTimeField(db_index=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    #: when a grace retry handed this token out a second time: two holders have it, so once it
    #: is rotated, any second presentation is reuse (its own grace was spent in advance)
    shared_at = models.DateTimeField(null=True, blank=True, editable=False)
    dpop_jkt = models.CharField(
        _("DPoP key thumbprint"), max_length=43, blank=True, default="",
        help_text=_("The RFC 7638 thumbprint of the key a public client's refresh token is bound to (RFC 9449 §5): "
                    "only a DPoP proof by that key refreshes it."),
    )

    objects = RefreshTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("refresh token")
        verbose_name_plural = _("refresh tokens")

    def __str__(self) -> str:
        return f"refresh token {self.token_hash[:8]}…"

    def in_grace(self, now: datetime | None = None) -> bool:
        """Rotated less than ``REFRESH_TOKEN_GRACE_PERIOD`` ago, so one more presentation is
        a concurrent client's retry rather than reuse."""
        grace = refresh_grace()
        return (bool(grace) and self.shared_at is None and self.rotated_at is not None
                and self.rotated_at > (now or _secrets.now()) - grace)

    def dead_reason(self, now: datetime | None = None) -> str | None:
        """Why the token cannot be redeemed now (None: it can), in this order: its family
        revoked; rotated, outside the grace period or already presented once inside it (reuse,
        RFC 9700 §4.14.2, even after expiry); revoked; expired; its client or user deactivated.
        Uses the family, and the family's client and user, joined to the row."""
        now = now or _secrets.now()
        family = self.authorization
        if family.revoked_at is not None:
            return FAMILY_REVOKED
        if self.rotated_at is not None and (self.revoked_at is not None or not self.in_grace(now)):
            return ROTATED
        if self.revoked_at is not None:
            return REVOKED
        if self.expires_at <= now:
            return EXPIRED
        return _parties_reason(family.client, family.user if family.user_id is not None else None)

    def is_live(self, now: datetime | None = None) -> bool:
        return self.dead_reason(now) is None


def revoke_client_tokens(clients: Any, now: datetime | None = None) -> tuple[int, int]:
    """Revoke everything ``clients`` (a client queryset) hold: every family (and so each of
    its codes and tokens) and every access token issued outside a family (client_credentials).
    Returns (families revoked, such access tokens revoked)."""
    now = now or _secrets.now()
    families = Authorization.objects.filter(client__in=clients).revoke(now)
    # a token exchanged for another client's token belongs to that token's family (RFC 8693)
    loose = AccessToken.objects.filter(
        Q(authorization__isnull=True) | Q(subject_token__isnull=False), client__in=clients,
    ).revoke(now)
    return families, loose
