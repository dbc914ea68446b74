"""Import from django-oauth-toolkit (DOT), installed beside this library in the same database.

:func:`import_dot` reads DOT's own tables through its own models (swapped ones included) and
writes ours: applications as clients (:mod:`.dot_clients`), DOT's RSA signing keys with the
``kid`` DOT publishes (:mod:`.dot_keys`), then live refresh and access tokens and the consents
that can be inferred (:mod:`.dot_tokens`). Everything it refuses or leaves behind is in the
returned :class:`~.report.Report`, with the reason.

It is idempotent: a client whose ``client_id`` exists here, a key whose ``kid`` exists and a
token whose hash exists are left as they are (counted as already present), so running it
again, say once more just before the switch, adds only what is new. Each batch of rows is
written in one transaction; with ``dry_run`` nothing is written at all.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from ..models import get_client_model
from . import dot_clients, dot_keys, dot_tokens
from .report import IMPORTED, PRESENT, Report

DOT_APP = "oauth2_provider"
#: rows per transaction
BATCH_SIZE = 1000


def dot_models() -> dot_tokens.DotModels:
    """DOT's models and settings; ImproperlyConfigured when DOT is not installed."""
    if not apps.is_installed(DOT_APP):
        raise ImproperlyConfigured(
            "django-oauth-toolkit is not installed here: keep 'oauth2_provider' in INSTALLED_APPS (and its tables) "
            "until the import is done."
        )
    from oauth2_provider import models as dot
    from oauth2_provider.settings import oauth2_settings

    device = getattr(dot, "get_device_grant_model", None)
    lifetime = oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS
    if lifetime is not None and not hasattr(lifetime, "total_seconds"):
        from datetime import timedelta

        lifetime = timedelta(seconds=lifetime) if lifetime else None
    return dot_tokens.DotModels(
        application=dot.get_application_model(), access_token=dot.get_access_token_model(),
        refresh_token=dot.get_refresh_token_model(), grant=dot.get_grant_model(),
        id_token=dot.get_id_token_model(), device_grant=device() if device else None,
        refresh_lifetime=lifetime or None, approval_prompt=str(oauth2_settings.REQUEST_APPROVAL_PROMPT),
    )


def dot_settings() -> Any:
    from oauth2_provider.settings import oauth2_settings

    return oauth2_settings


def import_dot(*, dry_run: bool = False, batch_size: int = BATCH_SIZE, keys: bool = True) -> Report:
    """Import everything DOT holds that can keep working here; returns the report."""
    models = dot_models()
    report = Report(dry_run=dry_run)
    existing = set(get_client_model()._default_manager.values_list("pk", flat=True))
    clients = import_clients(models, report, dry_run=dry_run)
    if keys:
        with transaction.atomic():
            dot_keys.import_keys(dot_settings(), report, dry_run=dry_run)
    run = dot_tokens.Run(models=models, clients=clients, report=report, dry_run=dry_run, batch_size=batch_size,
                         earlier={c.pk for c in clients.values() if c.pk in existing})
    dot_tokens.import_tokens(run)
    return report


def import_clients(models: dot_tokens.DotModels, report: Report, *, dry_run: bool) -> dict[Any, Any]:
    """Our client for each DOT application that can be one, by the application's pk (an
    existing client with the same ``client_id`` is used as it is: never overwritten)."""
    existing = {c.client_id: c for c in get_client_model()._default_manager.all()}
    clients: dict[Any, Any] = {}
    for rows in dot_tokens.batches(models.application.objects.all(), BATCH_SIZE):
        with transaction.atomic():
            for app in rows:
                client = _import_client(app, existing, report, dry_run=dry_run)
                if client is not None:
                    clients[app.pk] = client
    return clients


def _import_client(app: Any, existing: dict[str, Any], report: Report, *, dry_run: bool) -> Any | None:
    kind, subject = dot_clients.KIND, f"{app.client_id} ({app.name or 'no name'})"
    if app.client_id in existing:
        report.count(kind, PRESENT)
        return existing[app.client_id]
    try:
        plan = dot_clients.plan_client(app)
        client = dot_clients.build_client(plan)
    except dot_clients.Refused as exc:
        report.refuse(kind, subject, str(exc))
        return None
    if not dry_run:
        client.save()
    report.count(kind, IMPORTED)
    for note in plan.notes:
        report.note(kind, subject, note)
    return client
